"""Read models behind the HTTP API's JSON and Studio's pages: one function per view, over the runtime's ports.

Projects (paged, with outcome and duration), one project (flows with their state diagrams, tests,
artifacts, findings, the approval it waits for), the trace as a waterfall, dead letters, the
topology split into the happy path and the failure edges, and the templates.
"""

from __future__ import annotations

import base64
import fnmatch
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.bootstrap import Runtime
from shared.contracts.manifests import RETRY_COMMAND
from shared.handling.settlement import DEAD_LETTER_PARTITION
from shared.mesh.coordinators.flow import FlowDefinition
from shared.mesh.topology import analyse
from shared.product.findings import held_findings
from shared.product.projects import ProjectStatus, list_projects, project_files, project_findings, project_status
from shared.product.usage import model_usage

MAX_PAGE_SIZE = 100
#: the state a release waits in for a person's decision (contracts/flows/release-manager.yaml)
AWAITING_APPROVAL = "awaitingApproval"
RELEASE_FLOW = "release-manager"


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def outcome_of(status: ProjectStatus) -> str:
    """released | failed | cancelled | awaiting approval | running."""
    if status.outcome:
        return status.outcome
    if status.flows.get(RELEASE_FLOW, {}).get("state") == AWAITING_APPROVAL:
        return "awaiting approval"
    return "running"


def held_release_findings(status: ProjectStatus) -> list[dict[str, Any]]:
    """The findings an approval must override, while the release waits for one (shared/product/findings.py)."""
    release = status.flows.get(RELEASE_FLOW) or {}
    return held_findings(release) if release.get("state") == AWAITING_APPROVAL else []


def duration_seconds(status: ProjectStatus, now: datetime) -> float | None:
    if not status.events:
        return None
    start = _parse_time(status.events[0].get("time"))
    done = next((e for e in reversed(status.events) if e["type"] == "ProjectCompleted"), None)
    end = _parse_time(done.get("time")) if done else now
    if start is None or end is None:
        return None
    return round(max(0.0, (end - start).total_seconds()), 3)


def release_target(status: ProjectStatus) -> dict[str, Any]:
    first = next((e for e in status.events if e["type"] == "ProjectInitialized"), None)
    release = (first or {}).get("data", {}).get("release") or {}
    return {"environment": release.get("environment", "dev"),
            "approvalRequired": bool(release.get("approvalRequired", False))}


def project_summary(rt: Runtime, project_id: str, entry: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    status = project_status(rt, project_id)
    if not status.events:
        return None
    first = status.events[0]
    return {
        "projectId": project_id,
        "productName": (entry or {}).get("productName") or first.get("data", {}).get("productName", project_id),
        "traceId": status.trace_id,
        "tenantId": first.get("tenantId"),
        "outcome": outcome_of(status),
        "reason": status.reason,
        "startedAt": str(first.get("time")),
        "durationSeconds": duration_seconds(status, rt.clock.now()),
        "release": release_target(status),
        "flows": {k: v["state"] for k, v in status.flows.items()},
        "events": len(status.events),
    }


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    page: int
    page_size: int
    total: int

    def to_dict(self, path: str) -> dict[str, Any]:
        pages = max(1, -(-self.total // self.page_size))

        def link(n: int) -> str:
            return f"{path}?page={n}&pageSize={self.page_size}"

        return {"items": self.items, "page": self.page, "pageSize": self.page_size, "total": self.total,
                "pages": pages, "next": link(self.page + 1) if self.page < pages else None,
                "previous": link(self.page - 1) if self.page > 1 else None}


def projects_page(rt: Runtime, page: int = 1, page_size: int = 20, *, tenant: str | None = None) -> Page:
    """One page of projects, newest first (``page`` from 1, ``page_size`` up to ``MAX_PAGE_SIZE``); only
    ``tenant``'s when one is named."""
    entries = [e for e in list_projects(rt) if tenant is None or e.get("tenantId") == tenant]
    start = (page - 1) * page_size
    items = [s for e in entries[start:start + page_size]
             if (s := project_summary(rt, str(e["projectId"]), e)) is not None]
    return Page(items, page, page_size, len(entries))


# ----------------------------------------------------------------------------- flows


def _sid(name: str) -> str:
    return name.replace("-", "_")


def flow_mermaid(flow: FlowDefinition, current: str | None = None, visited: Sequence[str] = ()) -> str:
    """The flow as a Mermaid state diagram; the current state highlighted, visited states marked."""
    lines = ["stateDiagram-v2", f"  [*] --> {_sid(flow.initial)}"]
    edges: list[tuple[str, str, str]] = []
    for s in flow.states.values():
        for t in s.on.values():
            if t.target:
                edges.append((s.name, t.target, f"{t.event} [{t.guard}]" if t.guard else t.event))
            if t.otherwise:
                edges.append((s.name, t.otherwise, f"{t.event} (not {t.guard})"))
        for t in s.always:
            if t.target:
                edges.append((s.name, t.target, t.guard or "all in"))
            if t.otherwise:
                edges.append((s.name, t.otherwise, f"not {t.guard}"))
        if s.on_timeout:
            edges.append((s.name, s.on_timeout, "timeout"))
    if flow.supervises:
        for s in flow.states.values():
            if s.on and not s.terminal and s.name != flow.on_exhausted:
                edges.append((s.name, flow.on_exhausted, "agent failed"))
    seen: set[tuple[str, str]] = set()
    for a, b, label in edges:
        if (a, b) in seen:
            continue
        seen.add((a, b))
        lines.append(f"  {_sid(a)} --> {_sid(b)}: {label}")
    for s in flow.states.values():
        if s.terminal and s.name != "cancelled":
            lines.append(f"  {_sid(s.name)} --> [*]")
    lines.append("  classDef current fill:#ffd24d,stroke:#7a5c00,stroke-width:3px,color:#000,font-weight:bold")
    lines.append("  classDef visited fill:#d6ecff,stroke:#1f5fa8,color:#000")
    done = [v for v in dict.fromkeys(visited) if v != current and v in flow.states]
    if done:
        lines.append("  class " + ",".join(_sid(v) for v in done) + " visited")
    if current and current in flow.states:
        lines.append(f"  class {_sid(current)} current")
    return "\n".join(lines)


def flow_view(flow: FlowDefinition, instance: Mapping[str, Any] | None) -> dict[str, Any]:
    history = list((instance or {}).get("history", []))
    current = (instance or {}).get("state")
    visited = [flow.initial, *(h["to"] for h in history)] if instance else []
    return {
        "flow": flow.id, "version": flow.version, "description": flow.description,
        "state": current, "stateVersion": (instance or {}).get("version"),
        "failure": (instance or {}).get("failure"), "history": history,
        "terminal": bool(current and flow.states[current].terminal) if current in flow.states else False,
        "states": list(flow.states), "mermaid": flow_mermaid(flow, current, visited),
    }


# ----------------------------------------------------------------------------- one project


def _findings(status: ProjectStatus) -> list[dict[str, Any]]:
    return project_findings(status)


#: the artifacts a person looks for first, by label and path pattern
KEY_ARTIFACTS = (
    ("Test report", "reports/*-tests.json"),
    ("Service blueprint", "architecture/blueprint.json"),
    ("OpenAPI", "api/*.openapi.json"),
    ("Security review", "security/*-review.md"),
    ("Infrastructure blueprint", "infra/*/*/infrastructure-blueprint.json"),
    ("Bicep", "infra/*/*/bicep/main.bicep"),
    ("Release notes", "release/*-release-notes.md"),
)


def key_artifacts(files: Mapping[str, str]) -> list[dict[str, str]]:
    out = []
    for label, pattern in KEY_ARTIFACTS:
        for path in sorted(files):
            if fnmatch.fnmatchcase(path, pattern):
                out.append({"label": label, "path": path, "digest": files[path]})
    return out


def project_detail(rt: Runtime, project_id: str) -> dict[str, Any] | None:
    status = project_status(rt, project_id)
    if not status.events:
        return None
    summary = project_summary(rt, project_id)
    assert summary is not None
    files = project_files(rt, project_id)
    release = status.flows.get(RELEASE_FLOW, {})
    return {
        **summary,
        "flowDetails": [flow_view(rt.flows[name], status.flows.get(name)) for name in rt.flows],
        "tests": status.tests,
        "artifacts": [{"path": p, "digest": d} for p, d in files.items()],
        "keyArtifacts": key_artifacts(files),
        "findings": _findings(status),
        "modelUsage": model_usage(status.events),
        "approval": {**release_target(status), "pending": release.get("state") == AWAITING_APPROVAL,
                     "heldFindings": held_release_findings(status),
                     "decisions": [h for h in release.get("history", []) if h.get("actor")]},
        "version": fingerprint(status),
    }


def fingerprint(status: ProjectStatus) -> str:
    """Changes whenever anything shown for the project changes (the live view's cheap 'unchanged' check)."""
    flows = ",".join(f"{k}:{v.get('version')}" for k, v in sorted(status.flows.items()))
    return f"{len(status.events)}-{flows}-{status.outcome or ''}"


# ----------------------------------------------------------------------------- trace


def waterfall(rt: Runtime, trace_id: str) -> dict[str, Any] | None:
    """Every handling of the trace on one time axis: offset and duration in ms, outcome, retries."""
    spans = sorted(rt.tracer.spans_for_trace(trace_id), key=lambda s: (s.start, s.consumer))
    events = rt.state.events_for_trace(trace_id)
    if not spans and not events:
        return None
    types = {e["id"]: e["type"] for e in events}
    start = min([s.start for s in spans], default=None)
    end = max([s.end for s in spans], default=None)
    total = ((end - start).total_seconds() * 1000.0) if start and end else 0.0
    rows: list[dict[str, Any]] = []
    for s in spans:
        offset = (s.start - start).total_seconds() * 1000.0 if start else 0.0
        duration = (s.end - s.start).total_seconds() * 1000.0
        rows.append({
            "consumer": s.consumer, "eventType": s.event_type or types.get(s.event_id or "", ""),
            "eventId": s.event_id, "outcome": s.outcome, "offsetMs": round(offset, 3),
            "durationMs": round(duration, 3), "deliveryCount": int(str(s.attributes.get("deliveryCount") or 1)),
            "detail": str(s.attributes.get("detail") or ""),
            "leftPct": round(100.0 * offset / total, 3) if total else 0.0,
            "widthPct": round(max(0.4, 100.0 * duration / total), 3) if total else 100.0,
        })
    return {"traceId": trace_id, "totalMs": round(total, 3), "handlings": rows, "events": len(events),
            "retries": sum(1 for r in rows if int(r["deliveryCount"]) > 1),
            "failures": sum(1 for r in rows if r["outcome"] not in ("completed", "duplicate", "ok"))}


# ----------------------------------------------------------------------------- dead letters


def _body_text(body: bytes) -> tuple[str, dict[str, Any] | None]:
    text = body.decode("utf-8", errors="replace")
    try:
        doc = json.loads(text)
    except ValueError:
        return text[:20000], None
    return json.dumps(doc, indent=2)[:20000], doc if isinstance(doc, dict) else None


def dead_letters(rt: Runtime, subscription: str | None = None) -> list[dict[str, Any]]:
    """Dead letters of the bus (resubmittable) and the ones recorded by record-and-complete (Azure)."""
    out: list[dict[str, Any]] = []
    if rt.dead_letter_queue is not None:  # the embedded bus's, or Service Bus's sub-queues on Azure
        for d in rt.dead_letter_queue.dead_letters(subscription):
            text, doc = _body_text(d.body)
            out.append({
                "kind": "bus", "subscription": d.subscription, "id": str(d.sequence_number),
                "sequenceNumber": d.sequence_number, "messageId": d.message_id,
                "type": str(d.application_properties.get("type", "")), "deliveryCount": d.delivery_count,
                "reason": d.reason, "description": d.description, "deadLetteredAt": d.dead_lettered_at.isoformat(),
                "projectId": (doc or {}).get("projectId") or d.application_properties.get("projectId"),
                "body": text, "resubmittable": True})
    for item in rt.state.query(DEAD_LETTER_PARTITION):
        b = item.body
        if subscription and b["consumer"] != subscription:
            continue
        text, doc = _body_text(base64.b64decode(b.get("bodyBase64", "")))
        props = b.get("applicationProperties", {})
        out.append({
            "kind": "recorded", "subscription": b["consumer"], "id": b["messageId"], "sequenceNumber": None,
            "messageId": b["messageId"], "type": str(props.get("type", "")), "deliveryCount": b.get("deliveryCount"),
            "reason": b["reason"], "description": b["description"], "deadLetteredAt": b.get("deadLetteredAt"),
            "projectId": (doc or {}).get("projectId") or props.get("projectId"), "body": text,
            "resubmittable": False})
    return sorted(out, key=lambda d: str(d.get("deadLetteredAt") or ""), reverse=True)


# ----------------------------------------------------------------------------- topology

#: events that only appear when something goes wrong (drawn collapsed, after the happy path)
FAILURE_EVENTS = {"AgentFailed", RETRY_COMMAND, "TestsFailed", "TemplateExecutionFailed",
                  "TemplateExecutionRejected", "DeadLetterRecorded", "InfrastructureBlueprintRolledBack",
                  "FlowTimeout", "FlowControlRequested", "ReleaseApprovalRejected"}
#: audit traffic every coordinator emits and listens to (noise in a picture of the work)
AUDIT_EVENTS = {"CoordinatorStateChanged"}


def _mermaid_edges(edges: Sequence[tuple[str, str, str]], kinds: Mapping[str, str]) -> str:
    lines = ["flowchart LR"]
    nodes = sorted({n for s, _e, t in edges for n in (s, t)})
    for n in nodes:
        shape = {"agent": ("([", "])"), "coordinator": ("{{", "}}"), "step": ("[", "]")}.get(
            kinds.get(n, ""), ("[/", "/]"))
        lines.append(f"  {_sid(n)}{shape[0]}\"{n}\"{shape[1]}")
    for s, e, t in edges:
        lines.append(f"  {_sid(s)} -- {e} --> {_sid(t)}")
    return "\n".join(lines)


def topology_view(rt: Runtime, entrypoints: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """The mesh as a person reads it: the happy path first (in the order work flows), failure edges apart."""
    report = analyse(rt.consumers, rt.flows)
    kinds = {c.name: c.kind for c in rt.consumers}
    edges = [e for e in report.edges if e[1] not in AUDIT_EVENTS]
    entry = [("cli / http-api", "ProjectInitialized", c.name) for c in rt.consumers
             if "ProjectInitialized" in c.subscribes_to]
    work = [e for e in edges if e[1] not in FAILURE_EVENTS]
    # the work: edges into agents and scaffold steps; coordinators mostly observe (shown apart)
    happy = [e for e in work if kinds.get(e[2]) != "coordinator"]
    observed = sorted(e for e in work if kinds.get(e[2]) == "coordinator")
    failure = [e for e in edges if e[1] in FAILURE_EVENTS]
    entry = [e for e in entry if kinds.get(e[2]) != "coordinator"]
    # order the happy path by distance from ProjectInitialized (breadth first), so it reads left to right
    depth: dict[str, int] = {t: 0 for _s, _e, t in entry}
    for _ in range(len(kinds) + 1):
        for s, _e, t in happy:
            if s in depth and depth.get(t, 10**6) > depth[s] + 1:
                depth[t] = depth[s] + 1
    happy.sort(key=lambda e: (depth.get(e[0], 99), e[0], e[1], e[2]))
    return {
        "happyPath": [{"from": s, "event": e, "to": t} for s, e, t in entry + happy],
        "coordinatorEdges": [{"from": s, "event": e, "to": t} for s, e, t in observed],
        "failureEdges": [{"from": s, "event": e, "to": t} for s, e, t in sorted(failure)],
        "consumers": [{"name": c.name, "kind": c.kind, "subscribesTo": list(c.subscribes_to),
                       "emits": list(c.emits)} for c in rt.consumers],
        "mermaid": _mermaid_edges(entry + happy, kinds),
        "coordinatorMermaid": _mermaid_edges(observed, kinds),
        "failureMermaid": _mermaid_edges(sorted(failure), kinds),
        "warnings": report.warnings,
    }


def templates_view(rt: Runtime) -> list[dict[str, Any]]:
    out = []
    for entry in rt.catalog.list():
        try:
            out.append(entry.describe())
        except Exception as exc:  # one broken template must not hide the others
            out.append({"identity": getattr(entry, "identity", "?"), "error": str(exc)})
    return out
