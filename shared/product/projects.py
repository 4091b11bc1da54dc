"""Projects: starting one from an intent, reading its status, exporting its repository."""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from shared.contracts.envelope import Envelope, make_envelope
from shared.contracts.registry import Registry
from shared.handling.publishing import EventPublisher
from shared.ports import ArtifactStore, Clock, ConflictError, StateStore
from shared.product.findings import findings_of, sort_findings
from shared.product.intent import Intent
from shared.scaffold.output import commit_tree, manifest_files

PROJECT_NAMESPACE = uuid.UUID("0b9e3f7e-63a4-4f0c-a8f1-1f2b6c3d4e5f")


class ProjectRuntime(Protocol):
    """What the project use cases need from the runtime (``shared.bootstrap.Runtime`` has it all)."""

    @property
    def registry(self) -> Registry: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def state(self) -> StateStore: ...

    @property
    def artifacts(self) -> ArtifactStore: ...

    @property
    def publisher(self) -> EventPublisher: ...

    @property
    def flows(self) -> Mapping[str, object]: ...

    @property
    def signing_key(self) -> bytes: ...


@dataclass(frozen=True)
class StartedProject:
    project_id: str
    trace_id: str
    event: Envelope


def _canonical(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def project_identity(intent_payload: Mapping[str, Any], run_id: str = "") -> tuple[str, str]:
    """Deterministic project id and trace id: the same intent (and run id) is the same project."""
    digest = hashlib.sha256(_canonical(intent_payload) + run_id.encode()).hexdigest()
    slug = str(intent_payload["product"]["name"])
    return f"{slug}-{digest[:10]}", hashlib.sha256(f"trace:{slug}:{digest}".encode()).hexdigest()[:32]


#: the state partition listing every started project (one small document each), for paging through them
PROJECTS_PARTITION = "projects"


@dataclass(frozen=True)
class ReleaseTarget:
    """Where a project releases to, and whether that environment waits for a person's approval."""

    environment: str = "dev"
    approval_required: bool = False


def start_project(runtime: ProjectRuntime, intent: Intent, *, run_id: str = "", source: str = "cli",
                  release: ReleaseTarget | None = None, project_id: str | None = None,
                  trace_id: str | None = None) -> StartedProject:
    """Publish ``ProjectInitialized`` for a validated intent. Re-publishing is deduplicated.

    ``project_id``/``trace_id``: a confirmed draft keeps the ids its free text was submitted under, so one
    trace runs from the text to the release (``shared/product/drafts.py``)."""
    payload = intent.to_payload()
    derived_project, derived_trace = project_identity(payload, run_id)
    project_id, trace_id = project_id or derived_project, trace_id or derived_trace
    data: dict[str, Any] = {
        "projectId": project_id,
        "productName": payload["product"].get("displayName") or payload["product"]["name"],
        "intent": payload,
        "intentDigest": "sha256:" + hashlib.sha256(_canonical(payload)).hexdigest(),
    }
    if release is not None:
        data["release"] = {"environment": release.environment, "approvalRequired": release.approval_required}
    if payload.get("ownerEmail"):
        data["ownerEmail"] = payload["ownerEmail"]
    info = runtime.registry.latest("ProjectInitialized")
    runtime.registry.validate("ProjectInitialized", info.version, data)
    env = make_envelope(
        "ProjectInitialized", info.version, data, source=source, tenant_id=payload["tenant"]["tenantId"],
        trace_id=trace_id, time=runtime.clock.now(), id=str(uuid.uuid5(PROJECT_NAMESPACE, project_id)),
        project_id=project_id, correlation_id=project_id, schema_uri=info.schema_uri,
    ).signed(runtime.signing_key)
    runtime.publisher.publish_envelopes([env])
    with contextlib.suppress(ConflictError):  # the same project started again keeps its first entry
        runtime.state.create(PROJECTS_PARTITION, project_id, {
            "projectId": project_id, "traceId": trace_id, "productName": data["productName"],
            "tenantId": payload["tenant"]["tenantId"], "startedAt": env.time.isoformat(), "source": source,
            "environment": release.environment if release else None})
    return StartedProject(project_id, trace_id, env)


def list_projects(runtime: ProjectRuntime) -> list[dict[str, Any]]:
    """Every started project's index entry, newest first."""
    docs = [d.body for d in runtime.state.query(PROJECTS_PARTITION)]
    return sorted(docs, key=lambda b: (str(b.get("startedAt", "")), str(b.get("projectId"))), reverse=True)


#: the flow that announces ``ProjectCompleted``, and its final states (contracts/flows/project-lifecycle.yaml)
LIFECYCLE_FLOW = "project-lifecycle"
LIFECYCLE_ENDS = ("completed", "failed", "cancelled")


@dataclass
class ProjectStatus:
    project_id: str
    trace_id: str | None
    outcome: str | None  # released | failed | cancelled | None (running)
    reason: str | None
    flows: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    tests: dict[str, Any] | None = None
    #: the latest TestsPassed/TestsFailed per service
    tests_by_service: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.outcome is not None


def project_status(runtime: ProjectRuntime, project_id: str) -> ProjectStatus:
    events = runtime.state.events_for_project(project_id)
    trace_id = events[0]["traceId"] if events else None
    done = next((e for e in reversed(events) if e["type"] == "ProjectCompleted"), None)
    flows: dict[str, dict[str, Any]] = {}
    blueprint = next((e for e in reversed(events) if e["type"] == "BlueprintCreated"), None)
    services = list(blueprint["data"].get("services", [])) if blueprint else []
    for name, flow in runtime.flows.items():
        if getattr(flow, "instance_per", None) == "service":  # one instance per service: "<flow>/<service>"
            for service in services:
                doc = runtime.state.get(f"{name}:{project_id}/{service}", "instance")
                if doc is not None:
                    flows[f"{name}/{service}"] = doc.body
            continue
        doc = runtime.state.get(f"{name}:{project_id}", "instance")
        if doc is not None:
            flows[name] = doc.body
    lifecycle = flows.get(LIFECYCLE_FLOW)
    if done is not None and lifecycle is not None and lifecycle.get("state") not in LIFECYCLE_ENDS:
        done = None  # `flow retry` re-opened the project after it had finished: it is running again
    tests = next((e for e in reversed(events) if e["type"] in ("TestsPassed", "TestsFailed")), None)
    reason = done["data"].get("reason") if done else None
    if done and done["data"].get("outcome") == "failed" and not reason:
        reason = next((f.get("failure") for f in flows.values() if f.get("failure")), None)
    by_service = {e["data"].get("service", ""): {"type": e["type"], **e["data"]}
                  for e in events if e["type"] in ("TestsPassed", "TestsFailed")}
    return ProjectStatus(project_id, trace_id, done["data"]["outcome"] if done else None, reason, flows, events,
                         {"type": tests["type"], **tests["data"]} if tests else None, by_service)


def project_findings(status: ProjectStatus) -> list[dict[str, Any]]:
    """Policy (infrastructure IB rules) and security findings of a project, most severe first."""
    return sort_findings(f for e in status.events for f in findings_of(e["type"], e.get("data", {})))


@dataclass(frozen=True)
class TestReportSummary:
    """The test gate's result for a project: counts, the failing tests by name, and the report's path."""

    outcome: str  # TestsPassed | TestsFailed
    service: str
    passed: int
    failed: int
    errors: int
    duration_ms: float | None
    report_path: str  # in the artifact store and in the exported repository
    failing: tuple[str, ...] = ()
    reason: str = ""

    __test__ = False  # not a pytest test class


def test_report_summaries(runtime: ProjectRuntime, status: ProjectStatus) -> list[TestReportSummary]:
    """The latest test gate result of every service, with the failing tests read from its stored report."""
    latest = status.tests_by_service or ({str(status.tests.get("service", "")): status.tests} if status.tests else {})
    out: list[TestReportSummary] = []
    for service, t in sorted(latest.items()):
        failing: list[str] = []
        try:
            report = json.loads(runtime.artifacts.get(str(t.get("reportDigest", ""))))
            failing = [f"{c.get('classname')}::{c.get('name')}" for c in report.get("cases", [])
                       if c.get("outcome") in ("failed", "error")]
        except (KeyError, OSError, ValueError):  # no report stored (yet): the counts still tell
            pass
        out.append(TestReportSummary(str(t["type"]), service, int(t.get("passed", 0)), int(t.get("failed", 0)),
                                     int(t.get("errors", 0)), t.get("durationMs"), f"reports/{service}-tests.json",
                                     tuple(failing), str(t.get("reason", ""))))
    return out


def project_files(runtime: ProjectRuntime, project_id: str) -> dict[str, str]:
    """The project's files as path -> digest: the latest artifact for each path, in event order."""
    files: dict[str, str] = {}
    for event in runtime.state.events_for_project(project_id):
        data = event.get("data", {})
        if event["type"] == "MicroserviceScaffolded":  # the skeleton lives in the scaffold manifest
            manifest = json.loads(runtime.artifacts.get(data["manifestDigest"]))
            for rel, digest in manifest_files(manifest).items():
                files[f"services/{data['service']}/{rel}"] = digest
        if event["type"] in ("TestsPassed", "TestsFailed") and data.get("reportDigest"):
            files[f"reports/{data['service']}-tests.json"] = data["reportDigest"]  # the test gate's report
        for ref in data.get("artifacts", []) or []:
            files[ref["path"]] = ref["digest"]
    return dict(sorted(files.items()))


def export_repository(runtime: ProjectRuntime, project_id: str, out_dir: Path) -> str | None:
    """Write the project's artifacts to ``out_dir`` and commit them (dulwich) with provenance.

    Returns the commit id, or None when the project has no artifacts yet.
    """
    files = project_files(runtime, project_id)
    if not files:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    root = out_dir.resolve()
    for rel, digest in sorted(files.items()):
        target = (out_dir / rel).resolve()
        if Path(rel).is_absolute() or target == root or not target.is_relative_to(root):
            raise ValueError(f"artifact path {rel!r} escapes the repository folder {root}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(runtime.artifacts.get(digest))
    provenance = {"projectId": project_id, "files": [{"path": p, "digest": d} for p, d in sorted(files.items())]}
    prov_path = out_dir / ".factory" / "provenance.json"
    prov_path.parent.mkdir(parents=True, exist_ok=True)
    prov_path.write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tree_hash = hashlib.sha256("".join(f"{p}\0{d}\n" for p, d in sorted(files.items())).encode()).hexdigest()
    events = runtime.state.events_for_project(project_id)
    trace = events[0]["traceId"] if events else ""
    message = (f"Generated by the software factory for project {project_id}\n\n"
               f"Factory-Project: {project_id}\nFactory-Trace: {trace}\n"
               f"Factory-Tree: sha256:{tree_hash}\nFactory-Files: {len(files)}\n")
    return str(commit_tree(out_dir, message))
