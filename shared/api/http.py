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

from shared.contracts.envelope import make_envelope, new_trace_id
from shared.handling.traceview import build_tree
from shared.mesh.steps import execution_id_for, load_execution
from shared.product.intent import IntentError, intent_from_mapping
from shared.product.projects import project_files, project_status, start_project
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


def create_project(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/projects: an intent as JSON or YAML → 202 with projectId and traceId."""
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
    started = start_project(rt, intent, run_id=req.params.get("runId", ""), source="http-api")
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
        "tests": st.tests, "artifacts": sorted(project_files(rt, project_id)),
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
    return func.HttpResponse(rt.artifacts.get(digest), status_code=200, mimetype=mime,
                             headers={"ETag": f'"{digest}"', "X-Content-Digest": digest})


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
