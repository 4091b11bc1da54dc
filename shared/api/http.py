"""The HTTP API (HTTP-triggered functions; also served by ``factory host`` on localhost).

Errors are RFC 9457 problem details (``application/problem+json``) that say what failed,
why, and what to do next.
"""

from __future__ import annotations

import functools
import json
import mimetypes
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import azure.functions as func

from shared.api import views
from shared.bootstrap import Runtime
from shared.contracts.envelope import make_envelope, new_trace_id, valid_id
from shared.contracts.errors import MessageTooLargeError
from shared.handling.traceview import build_tree
from shared.mesh.steps import execution_id_for, load_execution
from shared.ports import ResubmitTooEarlyError
from shared.product.approvals import ApprovalError, decide_release
from shared.product.drafts import DraftError, confirm_draft, draft_status, submit_text
from shared.product.intent import IntentError, intent_from_mapping, parse_intent_text
from shared.product.projects import ReleaseTarget, project_files, project_status, start_project
from shared.product.usage import model_usage
from shared.runtime import get_runtime

PROBLEM = "application/problem+json"
HttpHandler = Callable[[func.HttpRequest], func.HttpResponse]


def problem(status: int, title: str, detail: str, *, type_: str = "about:blank",
            extra: Mapping[str, Any] | None = None) -> func.HttpResponse:
    body = {"type": type_, "title": title, "status": status, "detail": detail, **(extra or {})}
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype=PROBLEM)


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json",
                             headers=dict(headers or {}))


#: the largest body a handler parses (the local server refuses larger ones before; on Azure this is the bound)
MAX_BODY_BYTES = 1024 * 1024
#: the deepest nesting of a JSON or flow-YAML body (an intent needs 6)
MAX_DEPTH = 32
#: at most this many problems are listed in a 422 (the rest are counted)
MAX_PROBLEMS = 50
TENANT_HEADER = "x-tenant-id"
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class BadRequest(ValueError):
    """The request cannot be read; the message says why (answered 400 or 413)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _depth(text: str) -> int:
    """How deeply ``[``/``{`` nest outside quoted strings: checked before any parser recurses."""
    depth = deepest = 0
    quote: str | None = None
    escaped = False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest
        elif ch in "]}":
            depth = max(0, depth - 1)
    return deepest


def _parse_body(req: func.HttpRequest) -> Any:
    """JSON or YAML (aliases refused), bounded in size and nesting before it is parsed."""
    raw = req.get_body()
    if not raw:
        raise BadRequest("the request body is empty")
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(f"the body is {len(raw):,} bytes; at most {MAX_BODY_BYTES:,}", 413)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from exc
    if _depth(text) > MAX_DEPTH:
        raise BadRequest(f"the body nests deeper than {MAX_DEPTH} levels")
    ctype = (req.headers.get("content-type") or "").lower()
    if "yaml" not in ctype:
        try:
            return json.loads(text)
        except RecursionError as exc:
            raise BadRequest("the body nests too deeply") from exc
        except json.JSONDecodeError as exc:
            if "json" in ctype:
                raise BadRequest(f"the body is not JSON: {exc}") from exc
    try:
        return parse_intent_text(text, "request body")  # YAML's safe loader without aliases, size bounded
    except IntentError as exc:
        raise BadRequest("; ".join(p.message for p in exc.problems)[:500]) from exc


def _tenant(req: func.HttpRequest) -> str | None:
    """The tenant a request speaks for (``x-tenant-id``), or None: the operator of this factory."""
    value: str | None = req.headers.get(TENANT_HEADER)
    if value is None:
        return None
    if not _TENANT.fullmatch(value):
        raise BadRequest(f"{TENANT_HEADER} must be 1 to 64 letters, digits, '-' or '_'; got {len(value)} "
                         "character(s)")
    return value


def _unreadable(exc: BadRequest, title: str) -> func.HttpResponse:
    return problem(exc.status, "Body too large" if exc.status == 413 else title, str(exc))


def answers_bad_requests(title: str) -> Callable[[HttpHandler], HttpHandler]:
    """A request that cannot be read (``BadRequest``: a bad ``x-tenant-id``, an oversized body...) is answered
    400/413 with ``title`` instead of reaching the handler's logic."""

    def wrap(handler: HttpHandler) -> HttpHandler:
        @functools.wraps(handler)
        def answer(req: func.HttpRequest) -> func.HttpResponse:
            try:
                return handler(req)
            except BadRequest as exc:
                return _unreadable(exc, title)

        return answer

    return wrap


def _owned(rt: Runtime, project_id: str, tenant: str | None) -> bool:
    """Whether ``tenant`` (None: the operator) may see ``project_id``; an unknown project counts as not."""
    if tenant is None:
        return True
    events = rt.state.events_for_project(project_id)
    return bool(events) and events[0].get("tenantId") == tenant


def _invalid_intent(exc: IntentError) -> func.HttpResponse:
    """422 with one bounded line per problem of the intent (at most ``MAX_PROBLEMS``; the rest are counted)."""
    shown = exc.problems[:MAX_PROBLEMS]
    return problem(422, "Invalid intent", f"{len(exc.problems)} problem(s) in the intent"
                   + (f" (the first {len(shown)} are listed)" if len(shown) < len(exc.problems) else "")
                   + "; fix them and resend", type_="https://factory.local/problems/invalid-intent",
                   extra={"errors": [{"path": p.path[:200], "message": p.message[:300],
                                      "allowed": list(p.allowed)[:50]} for p in shown]})


def _is_free_text(req: func.HttpRequest) -> bool:
    return (req.headers.get("content-type") or "").lower().split(";")[0].strip() == "text/plain"


@answers_bad_requests("Unreadable description")
def _submit_free_text(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/projects with text/plain: the description goes to the intent drafter → 202 with the draft's id."""
    rt = get_runtime()
    tenant = _tenant(req)
    if rt.model is None:
        return problem(422, "Free text needs a model", "a description in free text is drafted into an intent by a "
                       "model, and this factory has none configured (FACTORY_MODEL_PROVIDER); send the intent as "
                       "JSON or YAML instead (contracts/intent.schema.json)",
                       type_="https://factory.local/problems/no-model")
    raw = req.get_body()
    if len(raw) > MAX_BODY_BYTES:
        return problem(413, "Body too large", f"the body is {len(raw):,} bytes; at most {MAX_BODY_BYTES:,}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return problem(400, "Unreadable description", "the text/plain body is not UTF-8")
    environment = req.params.get("environment") or rt.settings.release_environment
    if not (0 < len(environment) <= 40):
        return problem(422, "Invalid environment", "environment must be 1 to 40 characters, e.g. dev, staging, prod")
    try:
        submitted = submit_text(rt, text, run_id=req.params.get("runId", ""), source="http-api",
                                release=release_for(rt, environment), tenant_id=tenant or "default")
    except DraftError as exc:
        return problem(exc.status, "Invalid description", str(exc))
    draft = f"/api/projects/{submitted.project_id}/draft"
    return _json(202, {"projectId": submitted.project_id, "traceId": submitted.trace_id, "status": draft,
                       "confirm": f"/api/projects/{submitted.project_id}/confirm"}, {"Location": draft})


@answers_bad_requests("Unreadable request")
def get_draft(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/projects/{id}/draft: the intent drafted from free text, its open questions, and its state."""
    project_id = req.route_params.get("id", "")
    tenant = _tenant(req)
    status = draft_status(get_runtime(), project_id)
    if status is None or (tenant is not None and status.tenant_id != tenant):
        return problem(404, "Unknown draft", f"no description was submitted as '{project_id}'; POST one to "
                       "/api/projects with Content-Type text/plain")
    return _json(200, {"projectId": project_id, "traceId": status.trace_id, "state": status.state,
                       "text": status.text, "draft": status.draft, "failure": status.failure,
                       "modelUsage": model_usage({"type": "SkillUsed", "data": u} for u in status.usage),
                       "confirm": f"/api/projects/{project_id}/confirm"})


@answers_bad_requests("Unreadable request")
def confirm_project_draft(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/projects/{id}/confirm: start the project from its draft (empty body) or from the intent in the body
    (a person's edit of the draft, JSON or YAML) → 202."""
    project_id = req.route_params.get("id", "")
    intent = None
    tenant = _tenant(req)
    if tenant is not None and not _owned(get_runtime(), project_id, tenant):
        return problem(404, "Unknown draft", f"no description was submitted as '{project_id}'")
    if req.get_body():
        try:
            doc = _parse_body(req)
        except BadRequest as exc:
            return _unreadable(exc, "Unreadable intent")
        try:
            intent = intent_from_mapping(doc, source="request body")
        except IntentError as exc:
            return _invalid_intent(exc)
    try:
        started = confirm_draft(get_runtime(), project_id, intent=intent, source="http-api")
    except DraftError as exc:
        title = {404: "Unknown draft", 409: "Draft not confirmable"}.get(exc.status, "Invalid draft")
        return problem(exc.status, title, str(exc))
    return _json(202, {"projectId": started.project_id, "traceId": started.trace_id,
                       "status": f"/api/projects/{started.project_id}"},
                 {"Location": f"/api/projects/{started.project_id}"})


@answers_bad_requests("Unreadable intent")
def create_project(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/projects: an intent as JSON or YAML → 202 with projectId and traceId; a description as text/plain
    → 202 with the id of its draft (confirm it with POST /api/projects/{id}/confirm)."""
    if _is_free_text(req):
        return _submit_free_text(req)
    tenant = _tenant(req)
    doc = _parse_body(req)
    try:
        intent = intent_from_mapping(doc, source="request body")
    except IntentError as exc:
        return _invalid_intent(exc)
    if tenant is not None and intent.tenant.tenant_id != tenant:
        return problem(403, "Wrong tenant", f"the intent's tenant.tenantId is not the {TENANT_HEADER} of the "
                       "request: a tenant starts projects for itself only")
    rt = get_runtime()
    environment = req.params.get("environment") or rt.settings.release_environment
    if not (0 < len(environment) <= 40):
        return problem(422, "Invalid environment", "environment must be 1 to 40 characters, e.g. dev, staging, prod")
    try:
        started = start_project(rt, intent, run_id=req.params.get("runId", ""), source="http-api",
                                release=release_for(rt, environment))
    except MessageTooLargeError as exc:
        return problem(413, "Intent too large", str(exc))
    return _json(202, {"projectId": started.project_id, "traceId": started.trace_id,
                       "status": f"/api/projects/{started.project_id}"},
                 {"Location": f"/api/projects/{started.project_id}"})


@answers_bad_requests("Invalid request")
def get_project(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/projects/{id}: outcome (running, awaiting approval, released, failed, cancelled), flows, tests,
    artifact paths; ``heldFindings``: what an approval must override while the release waits."""
    project_id = req.route_params.get("id", "")
    rt = get_runtime()
    tenant = _tenant(req)
    st = project_status(rt, project_id)
    if not st.events or (tenant is not None and st.events[0].get("tenantId") != tenant):
        return problem(404, "Unknown project", f"no project '{project_id}'; create one with POST /api/projects")
    return _json(200, {
        "projectId": project_id, "traceId": st.trace_id, "outcome": views.outcome_of(st), "reason": st.reason,
        "flows": {k: {"state": v["state"], "failure": v.get("failure")} for k, v in st.flows.items()},
        "heldFindings": views.held_release_findings(st),
        "tests": st.tests, "artifacts": sorted(project_files(rt, project_id)), "modelUsage": model_usage(st.events),
    })


@answers_bad_requests("Invalid request")
def get_artifact(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/projects/{id}/artifacts/{*path}: the latest artifact at that path."""
    project_id, path = req.route_params.get("id", ""), req.route_params.get("path", "")
    rt = get_runtime()
    if not _owned(rt, project_id, _tenant(req)):
        return problem(404, "Unknown project", f"no project '{project_id}'")
    files = project_files(rt, project_id)
    digest = files.get(path)
    if digest is None:
        return problem(404, "Unknown artifact", f"project '{project_id}' has no artifact '{path}'; list them with "
                       f"GET /api/projects/{project_id}")
    mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
    headers = {"ETag": f'"{digest}"', "X-Content-Digest": digest, "X-Content-Type-Options": "nosniff"}
    if req.params.get("download"):
        headers["Content-Disposition"] = f'attachment; filename="{path.rsplit("/", 1)[-1]}"'
    if req.headers.get("if-none-match") == f'"{digest}"':
        return func.HttpResponse(status_code=304, headers=headers)
    return func.HttpResponse(rt.artifacts.get(digest), status_code=200, mimetype=mime, headers=headers)


@answers_bad_requests("Invalid request")
def get_trace(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/traces/{traceId}: the causation tree as JSON."""
    trace_id = req.route_params.get("traceId", "")
    rt = get_runtime()
    tenant = _tenant(req)
    events = rt.state.events_for_trace(trace_id)
    if not events or (tenant is not None and events[0].get("tenantId") != tenant):
        return problem(404, "Unknown trace", f"no events for trace '{trace_id}'")
    return _json(200, {"traceId": trace_id,
                       "tree": [n.to_dict() for n in build_tree(events, rt.tracer.spans_for_trace(trace_id))]})


@answers_bad_requests("Unreadable request")
def execute_template(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/templates/{templateId}/execute: {parameters, idempotencyKey?} → 202 with executionId."""
    template_id = req.route_params.get("templateId", "")
    tenant = _tenant(req) or "default"
    doc = _parse_body(req) if req.get_body() else {}
    if not valid_id(template_id):
        return problem(400, "Invalid template id", "a template id is letters, digits, '.', '_' and '-' (list them "
                       "with GET /api/templates)")
    if not isinstance(doc, dict) or not isinstance(doc.get("parameters", {}), dict):
        return problem(400, "Invalid request", "send a JSON object like {\"parameters\": {\"name\": \"value\"}}")
    key = req.headers.get("idempotency-key") or doc.get("idempotencyKey") or str(uuid.uuid4())
    if not isinstance(key, str) or not 0 < len(key) <= 150:
        return problem(400, "Invalid idempotency key", "an idempotency key is a string of 1 to 150 characters")
    key = f"{tenant}:{key}"  # keys are per tenant: another tenant's same key is another execution
    data = {"idempotencyKey": key, "templateId": template_id, "parameters": doc.get("parameters", {}),
            "requestedBy": "http-api", "commit": bool(doc.get("commit", False))}
    if doc.get("templateVersion"):
        data["templateVersion"] = doc["templateVersion"]
    rt = get_runtime()
    info = rt.registry.latest("TemplateExecutionRequested")
    try:
        rt.registry.validate(info.name, info.version, data)
    except ValueError as exc:
        return problem(422, "Invalid template execution request", str(exc))
    execution_id = execution_id_for(key)
    env = make_envelope(info.name, info.version, data, source="http-api",
                        tenant_id=tenant, trace_id=new_trace_id(),
                        time=rt.clock.now(), id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"execute:{key}")),
                        schema_uri=info.schema_uri).signed(rt.signing_key)
    rt.publisher.publish_envelopes([env])
    return _json(202, {"executionId": execution_id, "traceId": env.trace_id,
                       "status": f"/api/executions/{execution_id}"},
                 {"Location": f"/api/executions/{execution_id}"})


@answers_bad_requests("Invalid request")
def get_execution(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/executions/{id}: the execution document (status, history, manifest digest)."""
    execution_id = req.route_params.get("id", "")
    tenant = _tenant(req)
    doc = load_execution(get_runtime().state, execution_id)
    if doc is None or (tenant is not None and doc.get("tenantId", "default") != tenant):
        return problem(404, "Unknown execution", f"no execution '{execution_id}' (yet): it appears once the "
                       "validate step has run; retry in a moment")
    return _json(200, doc)


# --------------------------------------------------------------------------- projects, health, views


def release_for(rt: Runtime, environment: str) -> ReleaseTarget:
    """The release target of a new project: the environment and whether the settings require approval there."""
    return ReleaseTarget(environment, rt.settings.requires_approval(environment))


def _int_param(req: func.HttpRequest, name: str, default: int, low: int, high: int) -> int:
    raw = req.params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"query parameter {name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise ValueError(f"query parameter {name}={value} is outside {low}..{high}")
    return value


@answers_bad_requests("Invalid request")
def list_projects(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/projects?page=1&pageSize=20: projects newest first, with outcome and duration."""
    tenant = _tenant(req)
    try:
        page = _int_param(req, "page", 1, 1, 10**6)
        size = _int_param(req, "pageSize", 20, 1, views.MAX_PAGE_SIZE)
    except ValueError as exc:
        return problem(400, "Invalid paging", f"{exc}; use ?page=1&pageSize=20 (pageSize up to "
                       f"{views.MAX_PAGE_SIZE})")
    return _json(200, views.projects_page(get_runtime(), page, size, tenant=tenant).to_dict("/api/projects"))


def get_health(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/health: the runtime answers, and which adapters it runs on."""
    rt = get_runtime()
    s = rt.settings
    return _json(200, {"status": "ok", "time": rt.clock.now().isoformat(),
                       "adapters": {"bus": s.factory_bus.value, "state": s.factory_state.value,
                                    "artifacts": s.factory_artifacts.value},
                       "model": rt.model.client.model if rt.model else None,
                       "consumers": len(rt.consumers), "flows": sorted(rt.flows),
                       "contracts": len(list(rt.registry.types()))})


def get_project_flows(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/projects/{id}/flows: each flow's state, history and state diagram (Mermaid)."""
    project_id = req.route_params.get("id", "")
    rt = get_runtime()
    detail = views.project_detail(rt, project_id)
    if detail is None:
        return problem(404, "Unknown project", f"no project '{project_id}'; list them with GET /api/projects")
    return _json(200, {"projectId": project_id, "flows": detail["flowDetails"], "approval": detail["approval"]})


def list_flows(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/flows: the coordinator flow definitions with their state diagrams."""
    rt = get_runtime()
    return _json(200, {"flows": [views.flow_view(f, None) for f in rt.flows.values()]})


def get_trace_waterfall(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/traces/{traceId}/waterfall: every handling on one time axis (offset, duration, outcome)."""
    trace_id = req.route_params.get("traceId", "")
    doc = views.waterfall(get_runtime(), trace_id)
    if doc is None:
        return problem(404, "Unknown trace", f"no events or handlings for trace '{trace_id}'")
    return _json(200, doc)


def get_topology(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/topology: the mesh, happy path first, failure edges apart, with warnings."""
    return _json(200, views.topology_view(get_runtime()))


def list_templates(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/templates: the scaffold templates with their parameters."""
    return _json(200, {"templates": views.templates_view(get_runtime())})


def list_dead_letters(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/deadletters[?subscription=S]: dead-lettered messages with reason, description and body."""
    return _json(200, {"deadLetters": views.dead_letters(get_runtime(), req.params.get("subscription") or None)})


def resubmit_dead_letter(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/deadletters/{subscription}/{sequence}/resubmit: back to its subscription (the inbox
    prevents a double effect)."""
    subscription, raw = req.route_params.get("subscription", ""), req.route_params.get("sequence", "")
    rt = get_runtime()
    queue = rt.dead_letter_queue
    if queue is None:
        return problem(409, "Resubmit not available", "no bus is configured; dead letters recorded in the state "
                       "store are resubmitted with `factory dlq resubmit <consumer> <message id>`")
    try:
        sequence = int(raw)
    except ValueError:
        return problem(400, "Invalid sequence number", f"{raw!r} is not a sequence number; take it from "
                       "GET /api/deadletters")
    known = {d.sequence_number for d in queue.dead_letters(subscription)}
    if sequence not in known:
        return problem(404, "Unknown dead letter", f"subscription '{subscription}' has no dead letter #{sequence}; "
                       "list them with GET /api/deadletters")
    try:
        queue.resubmit(subscription, sequence)
    except ResubmitTooEarlyError as exc:
        return problem(409, "Resubmit not possible yet", str(exc))
    return _json(202, {"subscription": subscription, "sequenceNumber": sequence, "status": "resubmitted"})


def decide_approval(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/projects/{id}/approval {decision: approve|reject, actor, reason, overrideFindings?}: a person's
    audited decision; a release held by findings is approved only with ``"overrideFindings": true``."""
    project_id = req.route_params.get("id", "")
    try:
        tenant = _tenant(req)
        doc = _parse_body(req)
    except BadRequest as exc:
        return problem(exc.status, "Unreadable decision", f"send JSON like {{\"decision\": \"approve\", \"actor\": "
                       f"\"alice\", \"reason\": \"reviewed\"}}: {exc}")
    if not _owned(get_runtime(), project_id, tenant):
        return problem(404, "Unknown project", f"no project '{project_id}'; list projects with GET /api/projects")
    if not isinstance(doc, dict):
        return problem(400, "Unreadable decision", "the body must be a JSON object with decision, actor and reason")
    try:
        decided = decide_release(get_runtime(), project_id, str(doc.get("decision", "")),
                                 actor=str(doc.get("actor") or ""), reason=str(doc.get("reason") or ""),
                                 source="http-api", override_findings=doc.get("overrideFindings") is True)
    except ApprovalError as exc:
        if exc.findings:  # held by findings: say which, so a script can show them before overriding
            return problem(exc.status, "Findings need an override", str(exc), extra={"findings": exc.findings})
        return problem(exc.status, {404: "Unknown project", 409: "Not awaiting approval"}.get(
            exc.status, "Invalid decision"), str(exc))
    return _json(202, {"projectId": project_id, "decision": decided.decision, "actor": decided.actor,
                       "reason": decided.reason, "environment": decided.environment, "eventId": decided.event.id,
                       "status": f"/api/projects/{project_id}"})
