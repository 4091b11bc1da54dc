"""Factory Studio: server-rendered pages over the running factory (HTTP functions, like the API).

Each handler takes an ``azure.functions.HttpRequest`` and returns an ``HttpResponse``, so the same
pages run as HTTP functions on Azure (under ``/api/studio``) and in ``factory host`` (at ``/``).
Pages are jinja2 templates; live parts poll a fragment with htmx (a 204 when nothing changed);
diagrams are Mermaid, rendered in the browser from the vendored script. Forms work without
JavaScript (post, then redirect).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import mimetypes
import zipfile
from collections.abc import Mapping
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import azure.functions as func
import yaml
from jinja2 import Environment, FileSystemLoader, select_autoescape

from shared.api import views
from shared.api.http import get_artifact, problem, release_for
from shared.ports import ResubmitTooEarlyError
from shared.product.approvals import ApprovalError, decide_release
from shared.product.drafts import DraftError, confirm_draft, draft_status, submit_text
from shared.product.intent import IntentError, intent_from_mapping, parse_intent_text
from shared.product.projects import project_files, start_project
from shared.product.usage import model_usage
from shared.runtime import get_runtime

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
EXAMPLES = HERE.parents[1] / "examples"
AZURE_BASE = "/api/studio"

#: scripts and styles only from Studio itself (Mermaid's SVG carries inline styles)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@cache
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["duration"] = format_duration
    env.filters["pretty"] = lambda v: json.dumps(v, indent=2, default=str)
    return env


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Links:
    """URLs of Studio's pages for this request: at ``/`` locally, at ``/api/studio`` on Azure; a
    function key (``?code=``) the request carried is kept on every link."""

    def __init__(self, req: func.HttpRequest) -> None:
        path = urlsplit(req.url).path
        self.base = AZURE_BASE if path == AZURE_BASE or path.startswith(AZURE_BASE + "/") else ""
        self.code = req.params.get("code")

    def __call__(self, path: str = "", **params: Any) -> str:
        query = {k: v for k, v in params.items() if v is not None}
        if self.code:
            query["code"] = self.code
        url = f"{self.base}/{path.lstrip('/')}"
        return url + ("?" + urlencode(query) if query else "")


def _html(req: func.HttpRequest, template: str, status: int = 200, **context: Any) -> func.HttpResponse:
    """Render a page; an error for a client that does not ask for HTML is a problem+json instead."""
    if status >= 400 and not _wants_html(req):
        errors = context.get("errors") or []
        detail = context.get("error") or context.get("message") or "; ".join(
            f"{e.get('path') or '(top)'}: {e['message']}" for e in errors) or "the request was refused"
        return problem(status, HTTPStatus(status).phrase, str(detail),
                       extra={"errors": errors} if errors else None)
    links = Links(req)
    body = _env().get_template(template).render(url=links, static=lambda p: links(f"static/{p}"),
                                                quote=lambda s: quote(str(s), safe="/"), **context)
    return func.HttpResponse(body, status_code=status, mimetype="text/html", charset="utf-8",
                             headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})


def _redirect(req: func.HttpRequest, path: str, **params: Any) -> func.HttpResponse:
    return func.HttpResponse(status_code=303, headers={"Location": Links(req)(path, **params)})


def _form(req: func.HttpRequest) -> dict[str, str]:
    """A urlencoded form body as a dict of its first values."""
    raw = req.get_body().decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def _wants_html(req: func.HttpRequest) -> bool:
    return "text/html" in (req.headers.get("accept") or "")


def _not_found(req: func.HttpRequest, what: str) -> func.HttpResponse:
    """A page for a browser, a problem+json for anything else."""
    if _wants_html(req):
        return _html(req, "error.html", 404, title="Not found", message=what)
    return problem(404, "Not found", what)


# ----------------------------------------------------------------------------- projects


def _examples() -> dict[str, str]:
    if not EXAMPLES.is_dir():
        return {}
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.yaml")) if p.stem != "bad-intent"}


def _environments() -> list[dict[str, Any]]:
    rt = get_runtime()
    names = dict.fromkeys([rt.settings.release_environment, *rt.settings.approval_required])
    return [{"name": n, "approval": rt.settings.requires_approval(n)} for n in names]


def _projects_context(req: func.HttpRequest) -> dict[str, Any]:
    try:
        page = max(1, int(req.params.get("page") or 1))
    except ValueError:
        page = 1
    listing = views.projects_page(get_runtime(), page, 20)
    running = any(p["outcome"] in ("running", "awaiting approval") for p in listing.items)
    return {"listing": listing.to_dict(""), "page": page, "running": running}


def projects_page(req: func.HttpRequest, *, status: int = 200, errors: list[dict[str, Any]] | None = None,
                  form: Mapping[str, str] | None = None) -> func.HttpResponse:
    """GET /: every project with outcome and duration, and a form to submit an intent."""
    examples = _examples()
    default_env = get_runtime().settings.release_environment
    form = dict(form or {"intent": examples.get("task-tracker", ""), "environment": default_env})
    model = get_runtime().model
    return _html(req, "projects.html", status, examples=examples, environments=_environments(), form=form,
                 errors=errors or [], model=model.client.model if model else None, **_projects_context(req))


def projects_live(req: func.HttpRequest) -> func.HttpResponse:
    """The projects table alone (polled while something runs)."""
    return _html(req, "_projects_table.html", **_projects_context(req))


def start_project_form(req: func.HttpRequest) -> func.HttpResponse:
    """POST /projects (form): start a project from the intent text, then go to its page."""
    form = _form(req)
    text = form.get("intent", "")
    try:  # the same safe loader and limits as the CLI and the API (aliases refused, size bounded)
        doc = parse_intent_text(text, "Studio form") if text.strip() else None
    except IntentError as exc:
        return projects_page(req, status=400, form=form, errors=[
            {"path": "", "message": f"the intent is not valid YAML or JSON: {p.message[:300]}"} for p in exc.problems])
    try:
        intent = intent_from_mapping(doc, source="Studio form")
    except IntentError as exc:
        return projects_page(req, status=422, form=form, errors=[
            {"path": p.path, "message": p.message[:300], "allowed": list(p.allowed)[:50]} for p in exc.problems[:50]])
    rt = get_runtime()
    environment = (form.get("environment") or rt.settings.release_environment).strip()[:40] or "dev"
    started = start_project(rt, intent, run_id=form.get("runId", "").strip(), source="http-api",
                            release=release_for(rt, environment))
    return _redirect(req, f"projects/{started.project_id}")


def submit_draft_form(req: func.HttpRequest) -> func.HttpResponse:
    """POST /drafts (form): a description in free text goes to the intent drafter; then its draft page."""
    form = _form(req)
    rt = get_runtime()
    if rt.model is None:
        return projects_page(req, status=422, form=form, errors=[{"path": "description", "message": (
            "free text needs a model to draft an intent, and none is configured (FACTORY_MODEL_PROVIDER)")}])
    environment = (form.get("environment") or rt.settings.release_environment).strip()[:40] or "dev"
    try:
        submitted = submit_text(rt, form.get("description", ""), source="http-api",
                                release=release_for(rt, environment))
    except DraftError as exc:
        return projects_page(req, status=exc.status, form=form,
                             errors=[{"path": "description", "message": str(exc)}])
    return _redirect(req, f"drafts/{submitted.project_id}")


def draft_page(req: func.HttpRequest, *, status: int = 200, error: str | None = None,
               form: Mapping[str, str] | None = None) -> func.HttpResponse:
    """GET /drafts/{id}: the intent drafted from a description, its open questions; edit and confirm it."""
    project_id = req.route_params.get("id", "")
    draft = draft_status(get_runtime(), project_id)
    if draft is None:
        return _not_found(req, f"No draft '{project_id}'. Describe a product on the projects page.")
    intent_yaml = yaml.safe_dump(draft.draft["intent"], sort_keys=False, allow_unicode=True) if draft.draft else ""
    usage = model_usage({"type": "SkillUsed", "data": u} for u in draft.usage)
    return _html(req, "draft.html", status, d=draft, intent_yaml=intent_yaml, usage=usage, error=error,
                 form=form or {})


def confirm_draft_form(req: func.HttpRequest) -> func.HttpResponse:
    """POST /drafts/{id}/confirm (form): start the project from the (edited) draft; then its page."""
    project_id = req.route_params.get("id", "")
    form = _form(req)
    text = form.get("intent", "")
    try:  # the same safe loader and limits as the CLI and the API
        doc = parse_intent_text(text, "the confirmed draft") if text.strip() else None
    except IntentError as exc:
        return draft_page(req, status=400, error=f"the intent is not valid YAML or JSON: {exc}", form=form)
    try:
        intent = intent_from_mapping(doc, source="the confirmed draft") if doc is not None else None
    except IntentError as exc:
        return draft_page(req, status=422, error=str(exc), form=form)
    try:
        started = confirm_draft(get_runtime(), project_id, intent=intent, source="http-api")
    except DraftError as exc:
        if exc.status == 404:
            return _not_found(req, str(exc))
        return draft_page(req, status=exc.status, error=str(exc), form=form)
    return _redirect(req, f"projects/{started.project_id}")


def _project_context(project_id: str) -> dict[str, Any] | None:
    detail = views.project_detail(get_runtime(), project_id)
    if detail is None:
        return None
    done = detail["outcome"] in ("released", "failed", "cancelled")
    return {"p": detail, "live": not done}


def project_page(req: func.HttpRequest, *, status: int = 200, error: str | None = None,
                 form: Mapping[str, str] | None = None) -> func.HttpResponse:
    """GET /projects/{id}: flows with their state diagrams, approval, tests, findings, artifacts."""
    project_id = req.route_params.get("id", "")
    ctx = _project_context(project_id)
    if ctx is None:
        return _not_found(req, f"No project '{project_id}'. Start one from the projects page.")
    return _html(req, "project.html", status, error=error, form=form or {}, **ctx)


def project_live(req: func.HttpRequest) -> func.HttpResponse:
    """The live part of a project page; 204 when nothing changed since version ``v``."""
    ctx = _project_context(req.route_params.get("id", ""))
    if ctx is None:
        return problem(404, "Unknown project", f"no project '{req.route_params.get('id', '')}'")
    if req.params.get("v") == ctx["p"]["version"]:
        return func.HttpResponse(status_code=204)
    return _html(req, "_project_live.html", form={}, **ctx)


def approval_form(req: func.HttpRequest) -> func.HttpResponse:
    """POST /projects/{id}/approval (form): approve or reject the release, saying who and why."""
    project_id = req.route_params.get("id", "")
    form = _form(req)
    try:
        decide_release(get_runtime(), project_id, form.get("decision", ""), actor=form.get("actor", ""),
                       reason=form.get("reason", ""), source="http-api",
                       override_findings=form.get("overrideFindings") in ("1", "on", "true"))
    except ApprovalError as exc:
        if exc.status == 404:
            return _not_found(req, str(exc))
        return project_page(req, status=exc.status, error=str(exc), form=form)
    return _redirect(req, f"projects/{project_id}", decided=form.get("decision"))


def artifact_page(req: func.HttpRequest) -> func.HttpResponse:
    """GET /projects/{id}/files/{path}: view an artifact (``?download=1`` downloads it)."""
    project_id, path = req.route_params.get("id", ""), req.route_params.get("path", "")
    if req.params.get("download") or req.params.get("raw"):
        return get_artifact(req)
    rt = get_runtime()
    digest = project_files(rt, project_id).get(path)
    if digest is None:
        return _not_found(req, f"Project '{project_id}' has no artifact '{path}'.")
    content = rt.artifacts.get(digest)
    text: str | None
    try:
        text = content.decode("utf-8") if len(content) <= 2_000_000 else None
    except UnicodeDecodeError:
        text = None
    if text is not None and path.endswith(".json"):
        with contextlib.suppress(ValueError):
            text = json.dumps(json.loads(text), indent=2)
    return _html(req, "artifact.html", project_id=project_id, path=path, digest=digest, size=len(content),
                 text=text, mermaid=path.endswith(".mmd"))


def archive(req: func.HttpRequest) -> func.HttpResponse:
    """GET /projects/{id}/archive[?prefix=infra/]: the project's files (under a prefix) as one zip."""
    project_id, prefix = req.route_params.get("id", ""), req.params.get("prefix", "")
    rt = get_runtime()
    files = {p: d for p, d in project_files(rt, project_id).items() if p.startswith(prefix)}
    if not files:
        return _not_found(req, f"Project '{project_id}' has no artifacts under '{prefix or '/'}'.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, digest in sorted(files.items()):
            info = zipfile.ZipInfo(f"{project_id}/{path}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, rt.artifacts.get(digest))
    name = f"{project_id}-{prefix.strip('/').replace('/', '-') or 'all'}.zip"
    return func.HttpResponse(buffer.getvalue(), status_code=200, mimetype="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "X-Content-Type-Options": "nosniff"})


# ----------------------------------------------------------------------------- trace, dead letters, topology


def trace_page(req: func.HttpRequest) -> func.HttpResponse:
    """GET /traces/{traceId}: the handlings of one trace as a waterfall."""
    trace_id = req.route_params.get("traceId", "")
    rt = get_runtime()
    doc = views.waterfall(rt, trace_id)
    if doc is None:
        return _not_found(req, f"No events or handlings for trace '{trace_id}'.")
    events = rt.state.events_for_trace(trace_id)
    project_id = next((e.get("projectId") for e in events if e.get("projectId")), None)
    return _html(req, "trace.html", w=doc, project_id=project_id)


def dead_letters_page(req: func.HttpRequest, *, status: int = 200, error: str | None = None) -> func.HttpResponse:
    """GET /deadletters: reason, description and body of every dead letter, with a resubmit button."""
    return _html(req, "deadletters.html", status, items=views.dead_letters(get_runtime()), error=error,
                 resubmitted=req.params.get("resubmitted"))


def resubmit_form(req: func.HttpRequest) -> func.HttpResponse:
    """POST /deadletters/{subscription}/{sequence}/resubmit (form)."""
    subscription, raw = req.route_params.get("subscription", ""), req.route_params.get("sequence", "")
    queue = get_runtime().dead_letter_queue
    if queue is None:
        return dead_letters_page(req, status=409, error="No bus is configured; recorded dead letters are "
                                 "resubmitted with `factory dlq resubmit <consumer> <message id>`.")
    if not raw.isdigit() or int(raw) not in {d.sequence_number for d in queue.dead_letters(subscription)}:
        return dead_letters_page(req, status=404, error=f"{subscription} has no dead letter #{raw} (any more).")
    try:
        queue.resubmit(subscription, int(raw))
    except ResubmitTooEarlyError as exc:
        return dead_letters_page(req, status=409, error=str(exc))
    return _redirect(req, "deadletters", resubmitted=f"{subscription}#{raw}")


def topology_page(req: func.HttpRequest) -> func.HttpResponse:
    """GET /topology: the happy path first, failure edges collapsed."""
    return _html(req, "topology.html", t=views.topology_view(get_runtime()))


def templates_page(req: func.HttpRequest) -> func.HttpResponse:
    """GET /templates: the scaffold templates with their parameters."""
    return _html(req, "templates.html", templates=views.templates_view(get_runtime()))


# ----------------------------------------------------------------------------- static files

_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png",
          ".ico": "image/x-icon", ".txt": "text/plain", ".woff2": "font/woff2"}


@cache
def _static(path: str) -> tuple[bytes, str] | None:
    target = (STATIC / path).resolve()
    if not target.is_file() or STATIC not in target.parents:
        return None
    content = target.read_bytes()
    return content, hashlib.sha256(content).hexdigest()[:32]


def static_file(req: func.HttpRequest) -> func.HttpResponse:
    """GET /static/{path}: Studio's CSS, script and the vendored htmx and Mermaid (cached, ETag)."""
    path = req.route_params.get("path", "")
    found = _static(path)
    if found is None:
        return problem(404, "Unknown static file", f"Studio has no static file {path!r}")
    content, etag = found
    headers = {"ETag": f'"{etag}"', "Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    if req.headers.get("if-none-match") == f'"{etag}"':
        return func.HttpResponse(status_code=304, headers=headers)
    suffix = Path(path).suffix
    mime = _TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    return func.HttpResponse(content, status_code=200, mimetype=mime, headers=headers)
