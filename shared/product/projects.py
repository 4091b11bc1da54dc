"""Projects: starting one from an intent, reading its status, exporting its repository."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.contracts.envelope import Envelope, make_envelope
from shared.contracts.manifests import load_consumers

PROJECT_NAMESPACE = uuid.UUID("0b9e3f7e-63a4-4f0c-a8f1-1f2b6c3d4e5f")


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


def start_project(runtime: Any, intent: Any, *, run_id: str = "", source: str = "cli") -> StartedProject:
    """Publish ``ProjectInitialized`` for a validated intent. Re-publishing is deduplicated."""
    payload = intent.to_payload()
    project_id, trace_id = project_identity(payload, run_id)
    data: dict[str, Any] = {
        "projectId": project_id,
        "productName": payload["product"].get("displayName") or payload["product"]["name"],
        "intent": payload,
        "intentDigest": "sha256:" + hashlib.sha256(_canonical(payload)).hexdigest(),
    }
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
    return StartedProject(project_id, trace_id, env)


@dataclass
class ProjectStatus:
    project_id: str
    trace_id: str | None
    outcome: str | None  # released | failed | cancelled | None (running)
    reason: str | None
    flows: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    tests: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.outcome is not None


def project_status(runtime: Any, project_id: str) -> ProjectStatus:
    events = runtime.state.events_for_project(project_id)
    trace_id = events[0]["traceId"] if events else None
    done = next((e for e in reversed(events) if e["type"] == "ProjectCompleted"), None)
    flows: dict[str, dict[str, Any]] = {}
    for c in load_consumers():
        if c.kind == "coordinator":
            doc = runtime.state.get(f"{c.name}:{project_id}", "instance")
            if doc is not None:
                flows[c.name] = doc.body
    tests = next((e for e in reversed(events) if e["type"] in ("TestsPassed", "TestsFailed")), None)
    reason = done["data"].get("reason") if done else None
    if done and done["data"].get("outcome") == "failed" and not reason:
        reason = next((f.get("failure") for f in flows.values() if f.get("failure")), None)
    return ProjectStatus(project_id, trace_id, done["data"]["outcome"] if done else None, reason, flows, events,
                         {"type": tests["type"], **tests["data"]} if tests else None)


def project_files(runtime: Any, project_id: str) -> dict[str, str]:
    """The project's files as path -> digest: the latest artifact for each path, in event order."""
    from shared.mesh.agents.project import manifest_files

    files: dict[str, str] = {}
    for event in runtime.state.events_for_project(project_id):
        data = event.get("data", {})
        if event["type"] == "MicroserviceScaffolded":  # the skeleton lives in the scaffold manifest
            manifest = json.loads(runtime.artifacts.get(data["manifestDigest"]))
            for rel, digest in manifest_files(manifest).items():
                files[f"services/{data['service']}/{rel}"] = digest
        for ref in data.get("artifacts", []) or []:
            files[ref["path"]] = ref["digest"]
    return dict(sorted(files.items()))


def export_repository(runtime: Any, project_id: str, out_dir: Path) -> str | None:
    """Write the project's artifacts to ``out_dir`` and commit them (dulwich) with provenance.

    Returns the commit id, or None when the project has no artifacts yet.
    """
    from shared.scaffold.output import commit_tree

    files = project_files(runtime, project_id)
    if not files:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    for rel, digest in sorted(files.items()):
        target = (out_dir / rel).resolve()
        if not str(target).startswith(str(out_dir.resolve())):
            raise ValueError(f"artifact path {rel!r} escapes the repository folder")
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


def drive(runtime: Any, host: Any, project_id: str, *, timeout: float = 900.0,
          on_tick: Any = None, stall_after: float = 60.0) -> ProjectStatus:
    """Run the local host until the project completes, times out, or only far-off timers remain.

    ``on_tick(status)`` is called about ten times a second (the CLI's live table).
    """
    import time

    started = time.perf_counter()
    last = 0.0
    quiet_since: float | None = None
    status = project_status(runtime, project_id)

    def until() -> bool:
        nonlocal last, status, quiet_since
        now = time.perf_counter()
        if now - last < 0.1:
            return False
        last = now
        status = project_status(runtime, project_id)
        if on_tick is not None:
            on_tick(status)
        if status.done or now - started > timeout:
            return True
        due = host.next_due_in()
        if host.inflight() == 0 and (due is None or due > stall_after):
            # nothing in flight and only far-off timers left: stalled, once it stays so for a moment
            quiet_since = quiet_since or now
            return now - quiet_since > 2.0
        quiet_since = None
        return False

    host.run(until=until)
    return project_status(runtime, project_id)
