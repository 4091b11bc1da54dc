"""Cancel means stop, and a tenant acts only on its own projects (through the real local host)."""

from __future__ import annotations

import errno
from pathlib import Path

from shared.adapters.filesystem.artifacts import FilesystemArtifactStore
from shared.bootstrap import Runtime, bootstrap
from shared.host.local import LocalHost, build_host, drive
from shared.ports import ArtifactRef
from shared.ports.skills import Emit
from shared.product.approvals import ApprovalError, decide_release
from shared.product.intent import load_intent
from shared.product.projects import ReleaseTarget, project_status, start_project
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
INTENT = ROOT / "examples" / "task-tracker.yaml"


def runtime(home: Path) -> tuple[Runtime, LocalHost]:
    rt = bootstrap(Settings(FACTORY_HOME=home))  # type: ignore[call-arg]
    host, _ = build_host(rt)
    return rt, host


def control(rt: Runtime, project_id: str, flow: str, action: str, *, tenant: str, trace_id: str,
            instance: str | None = None) -> str:
    env = rt.publisher.publish_new(Emit("FlowControlRequested", {"flow": flow, "instanceId": instance or project_id,
                                                                 "action": action, "actor": "alice"}),
                                   source="operator", tenant_id=tenant, trace_id=trace_id, project_id=project_id)
    return env.id


def test_a_cancelled_project_publishes_nothing_further_and_ends_cancelled(tmp_path: Path) -> None:
    rt, host = runtime(tmp_path)
    try:
        project = start_project(rt, load_intent(INTENT), release=ReleaseTarget("prod", approval_required=True))
        host.run_until_idle()
        before = project_status(rt, project.project_id)
        assert before.flows["release-manager"]["state"] == "awaitingApproval", before.flows
        service = next(e["data"]["service"] for e in before.events if e["type"] == "TestsPassed")
        # `flow cancel` of the service's assembly flow (an instance per service: <project>/<service>)
        cancel_id = control(rt, project.project_id, "microservice-assembly", "cancel", tenant="acme",
                            trace_id=project.trace_id, instance=f"{project.project_id}/{service}")
        host.run_until_idle()
        status = project_status(rt, project.project_id)
        assert status.outcome == "cancelled", (status.outcome, status.reason)
        assert status.flows["project-lifecycle"]["state"] == "cancelled"
        # an approval after the cancellation is refused, and nothing is released
        try:
            decide_release(rt, project.project_id, "approve", actor="bob", reason="ok", source="cli")
            refused = None
        except ApprovalError as exc:
            refused = exc
        assert refused is not None and refused.status == 409 and "cancelled" in str(refused)
        host.run_until_idle()
    finally:
        host.close()
    events = rt.state.events_for_project(project.project_id)
    types = [e["type"] for e in events]
    assert "ReleaseApproved" not in types and "ReleaseTriggered" not in types
    after = types[[e["id"] for e in events].index(cancel_id) + 1:]
    # after the cancel: the audit of the cancellations and the project's end, nothing else
    assert set(after) <= {"CoordinatorStateChanged", "ProjectCompleted"}, after
    assert types.count("ProjectCompleted") == 1


def test_a_signed_command_from_another_tenant_is_refused_and_dead_lettered_with_the_reason(tmp_path: Path) -> None:
    rt, host = runtime(tmp_path)
    try:
        project = start_project(rt, load_intent(INTENT), release=ReleaseTarget("prod", approval_required=True))
        host.run_until_idle()
        # mallory names acme's project as the instance, inside her own project id and as the project itself
        control(rt, project.project_id, "release-manager", "cancel", tenant="mallory", trace_id=project.trace_id)
        host.run_until_idle()
    finally:
        host.close()
    status = project_status(rt, project.project_id)
    assert status.flows["release-manager"]["state"] == "awaitingApproval"
    assert status.outcome is None
    assert rt.dead_letter_queue is not None
    refused = [d for d in rt.dead_letter_queue.dead_letters() if d.reason == "TenantBoundaryViolation"]
    assert refused and all("mallory" in d.description for d in refused), refused


class ReadOnlyArtifacts(FilesystemArtifactStore):
    """The embedded artifact store on a file system that can turn read-only (EROFS), like a full or remounted disk."""

    read_only = False

    def put(self, data: bytes, media_type: str = "application/octet-stream") -> ArtifactRef:
        if self.read_only:
            raise OSError(errno.EROFS, "Read-only file system", str(self.root))
        return super().put(data, media_type)


def test_an_infrastructure_failure_fails_the_project_with_the_reason_and_flow_retry_restarts_it(
        tmp_path: Path) -> None:
    store = ReadOnlyArtifacts(tmp_path / "artifacts")
    store.read_only = True
    rt = bootstrap(Settings(FACTORY_HOME=tmp_path, FACTORY_MAX_DELIVERY_COUNT=2),  # type: ignore[call-arg]
                   artifacts=store)
    host, _ = build_host(rt)
    try:
        project = start_project(rt, load_intent(INTENT))
        failed = drive(rt, host, project.project_id, timeout=120, stall_after=5)
        assert failed.outcome == "failed" and "Read-only file system" in (failed.reason or ""), failed.reason
        assert failed.flows["project-lifecycle"]["state"] == "failed"
        store.read_only = False  # the operator fixed the disk
        control(rt, project.project_id, "project-lifecycle", "retry", tenant="acme", trace_id=project.trace_id)
        host.run_until_idle()  # the retry re-opens the project; then it runs to its end
        released = drive(rt, host, project.project_id, timeout=300, stall_after=30)
    finally:
        host.close()
    assert released.outcome == "released", (released.outcome, released.reason,
                                            released.flows["project-lifecycle"]["history"])
