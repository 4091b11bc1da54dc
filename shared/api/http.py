"""The HTTP API (HTTP-triggered functions; also served by ``factory host`` on localhost).

Errors are RFC 9457 problem details (``application/problem+json``) that say what failed,
why, and what to do next.
"""

from __future__ import annotations

import json
import mimetypes
import uuid
from collections.abc import Mapping
from typing import Any

import azure.functions as func
import yaml

from shared.api import views
from shared.bootstrap import Runtime
from shared.contracts.envelope import make_envelope, new_trace_id
from shared.handling.traceview import build_tree
from shared.mesh.steps import execution_id_for, load_execution
from shared.ports import ResubmitTooEarlyError
from shared.product.approvals import ApprovalError, decide_release
from shared.product.drafts import DraftError, confirm_draft, draft_status, submit_text
from shared.product.intent import IntentError, intent_from_mapping
from shared.product.projects import ReleaseTarget, project_files, project_status, start_project
from shared.product.usage import model_usage
from shared.runtime import get_runtime

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, *, type_: str = "about:blank",
            extra: Mapping[str, Any] | None = None) -> func.HttpResponse:
    body = {"type": type_, "title": title, "status": status, "detail": detail, **(extra or {})}
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype=PROBLEM)


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json",
                             headers=dict(headers or {}))


def _parse_body(req: func.HttpRequest) -> Any:

    raw = req.get_body()
    if not raw:
        raise ValueError("the request body is empty")
    ctype = (req.headers.get("content-type") or "").lower()
    if "yaml" in ctype:
        return yaml.safe_load(raw)
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return yaml.safe_load(raw)


def _is_free_text(req: func.HttpRequest) -> bool:
    return (req.headers.get("content-type") or "").lower().split(";")[0].strip() == "text/plain"


def _submit_free_text(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/projects with text/plain: the description goes to the intent drafter → 202 with the draft's id."""
    rt = get_runtime()
    if rt.model is None:
        return problem(422, "Free text needs a model", "a description in free text is drafted into an intent by a "
                       "model, and this factory has none configured (FACTORY_MODEL_PROVIDER); send the intent as "
                       "JSON or YAML instead (contracts/intent.schema.json)",
                       type_="https://factory.local/problems/no-model")
    try:
        text = req.get_body().decode("utf-8")
    except UnicodeDecodeError:
        return problem(400, "Unreadable description", "the text/plain body is not UTF-8")
    environment = req.params.get("environment") or rt.settings.release_environment
    if not (0 < len(environment) <= 40):
        return problem(422, "Invalid environment", "environment must be 1 to 40 characters, e.g. dev, staging, prod")
    try:
        submitted = submit_text(rt, text, run_id=req.params.get("runId", ""), source="http-api",
                                release=release_for(rt, environment))
    except DraftError as exc:
        return problem(exc.status, "Invalid description", str(exc))
    draft = f"/api/projects/{submitted.project_id}/draft"
    return _json(202, {"projectId": submitted.project_id, "traceId": submitted.trace_id, "status": draft,
                       "confirm": f"/api/projects/{submitted.project_id}/confirm"}, {"Location": draft})


def get_draft(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/projects/{id}/draft: the intent drafted from free text, its open questions, and its state."""
    project_id = req.route_params.get("id", "")
    status = draft_status(get_runtime(), project_id)
    if status is None:
        return problem(404, "Unknown draft", f"no description was submitted as '{project_id}'; POST one to "
                       "/api/projects with Content-Type text/plain")
    return _json(200, {"projectId": project_id, "traceId": status.trace_id, "state": status.state,
                       "text": status.text, "draft": status.draft, "failure": status.failure,
                       "modelUsage": model_usage({"type": "SkillUsed", "data": u} for u in status.usage),
                       "confirm": f"/api/projects/{project_id}/confirm"})


def confirm_project_draft(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/projects/{id}/confirm: start the project from its draft (empty body) or from the intent in the body
    (a person's edit of the draft, JSON or YAML) → 202."""
    project_id = req.route_params.get("id", "")
    intent = None
    if req.get_body():
        try:
            doc = _parse_body(req)
        except Exception as exc:
            return problem(400, "Unreadable intent", f"the body is neither JSON nor YAML: {exc}")
        try:
            intent = intent_from_mapping(doc, source="request body")
        except IntentError as exc:
            return problem(422, "Invalid intent", f"{len(exc.problems)} problem(s) in the intent; fix them and resend",
                           type_="https://factory.local/problems/invalid-intent",
                           extra={"errors": [{"path": p.path, "message": p.message, "allowed": list(p.allowed)}
                                             for p in exc.problems]})
    try:
        started = confirm_draft(get_runtime(), project_id, intent=intent, source="http-api")
    except DraftError as exc:
        title = {404: "Unknown draft", 409: "Draft not confirmable"}.get(exc.status, "Invalid draft")
        return problem(exc.status, title, str(exc))
    return _json(202, {"projectId": started.project_id, "traceId": started.trace_id,
                       "status": f"/api/projects/{started.project_id}"},
                 {"Location": f"/api/projects/{started.project_id}"})


def create_project(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/projects: an intent as JSON or YAML → 202 with projectId and traceId; a description as text/plain
    → 202 with the id of its draft (confirm it with POST /api/projects/{id}/confirm)."""
    if _is_free_text(req):
        return _submit_free_text(req)
    try:
        doc = _parse_body(req)
    except Exception as exc:
        return problem(400, "Unreadable intent", f"the body is neither JSON nor YAML: {exc}")
    try:
        intent = intent_from_mapping(doc, source="request body")
    except IntentError as exc:
        return problem(422, "Invalid intent", f"{len(exc.problems)} problem(s) in the intent; fix them and resend",
                       type_="https://factory.local/problems/invalid-intent",
                       extra={"errors": [{"path": p.path, "message": p.message, "allowed": list(p.allowed)}
                                         for p in exc.problems]})
    rt = get_runtime()
    environment = req.params.get("environment") or rt.settings.release_environment
    if not (0 < len(environment) <= 40):
        return problem(422, "Invalid environment", "environment must be 1 to 40 characters, e.g. dev, staging, prod")
    started = start_project(rt, intent, run_id=req.params.get("runId", ""), source="http-api",
                            release=release_for(rt, environment))
    return _json(202, {"projectId": started.project_id, "traceId": started.trace_id,
                       "status": f"/api/projects/{started.project_id}"},
                 {"Location": f"/api/projects/{started.project_id}"})


def get_project(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/projects/{id}: outcome, flows, tests and artifact paths."""
    project_id = req.route_params.get("id", "")
    rt = get_runtime()
    st = project_status(rt, project_id)
    if not st.events:
        return problem(404, "Unknown project", f"no project '{project_id}'; create one with POST /api/projects")
    return _json(200, {
        "projectId": project_id, "traceId": st.trace_id, "outcome": st.outcome or "running", "reason": st.reason,
        "flows": {k: {"state": v["state"], "failure": v.get("failure")} for k, v in st.flows.items()},
        "tests": st.tests, "artifacts": sorted(project_files(rt, project_id)), "modelUsage": model_usage(st.events),
    })


def get_artifact(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/projects/{id}/artifacts/{*path}: the latest artifact at that path."""
    project_id, path = req.route_params.get("id", ""), req.route_params.get("path", "")
    rt = get_runtime()
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


def get_trace(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/traces/{traceId}: the causation tree as JSON."""
    trace_id = req.route_params.get("traceId", "")
    rt = get_runtime()
    events = rt.state.events_for_trace(trace_id)
    if not events:
        return problem(404, "Unknown trace", f"no events for trace '{trace_id}'")
    return _json(200, {"traceId": trace_id,
                       "tree": [n.to_dict() for n in build_tree(events, rt.tracer.spans_for_trace(trace_id))]})


def execute_template(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/templates/{templateId}/execute: {parameters, idempotencyKey?} → 202 with executionId."""
    template_id = req.route_params.get("templateId", "")
    try:
        doc = _parse_body(req) if req.get_body() else {}
    except Exception as exc:
        return problem(400, "Unreadable request", str(exc))
    if not isinstance(doc, dict) or not isinstance(doc.get("parameters", {}), dict):
        return problem(400, "Invalid request", "send a JSON object like {\"parameters\": {\"name\": \"value\"}}")
    key = req.headers.get("idempotency-key") or doc.get("idempotencyKey") or str(uuid.uuid4())
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
                        tenant_id=req.headers.get("x-tenant-id") or "default", trace_id=new_trace_id(),
                        time=rt.clock.now(), id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"execute:{key}")),
                        schema_uri=info.schema_uri).signed(rt.signing_key)
    rt.publisher.publish_envelopes([env])
    return _json(202, {"executionId": execution_id, "traceId": env.trace_id,
                       "status": f"/api/executions/{execution_id}"},
                 {"Location": f"/api/executions/{execution_id}"})


def get_execution(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/executions/{id}: the execution document (status, history, manifest digest)."""
    execution_id = req.route_params.get("id", "")
    doc = load_execution(get_runtime().state, execution_id)
    if doc is None:
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


def list_projects(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/projects?page=1&pageSize=20: projects newest first, with outcome and duration."""
    try:
        page = _int_param(req, "page", 1, 1, 10**6)
        size = _int_param(req, "pageSize", 20, 1, views.MAX_PAGE_SIZE)
    except ValueError as exc:
        return problem(400, "Invalid paging", f"{exc}; use ?page=1&pageSize=20 (pageSize up to "
                       f"{views.MAX_PAGE_SIZE})")
    return _json(200, views.projects_page(get_runtime(), page, size).to_dict("/api/projects"))


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
    """POST /api/projects/{id}/approval {decision: approve|reject, actor, reason}: a person's audited decision."""
    project_id = req.route_params.get("id", "")
    try:
        doc = _parse_body(req)
    except Exception as exc:
        return problem(400, "Unreadable decision", f"send JSON like {{\"decision\": \"approve\", \"actor\": "
                       f"\"alice\", \"reason\": \"reviewed\"}}: {exc}")
    if not isinstance(doc, dict):
        return problem(400, "Unreadable decision", "the body must be a JSON object with decision, actor and reason")
    try:
        decided = decide_release(get_runtime(), project_id, str(doc.get("decision", "")),
                                 actor=str(doc.get("actor") or ""), reason=str(doc.get("reason") or ""),
                                 source="http-api", override_findings=doc.get("overrideFindings") is True)
    except ApprovalError as exc:
        return problem(exc.status, {404: "Unknown project", 409: "Not awaiting approval"}.get(
            exc.status, "Invalid decision"), str(exc))
    return _json(202, {"projectId": project_id, "decision": decided.decision, "actor": decided.actor,
                       "reason": decided.reason, "environment": decided.environment, "eventId": decided.event.id,
                       "status": f"/api/projects/{project_id}"})
