"""Human approval of a release: a person approves or rejects, with who and why, as an audited event.

The release-manager flow waits in ``awaitingApproval`` when the project releases to an environment
that requires approval (``FACTORY_APPROVAL_REQUIRED``; prod by default). ``decide_release`` is the one
use case behind ``factory approve|reject``, ``POST /api/projects/{id}/approval`` and Studio's buttons.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts.envelope import Envelope
from shared.ports.skills import Emit
from shared.product.projects import ProjectRuntime, project_findings, project_status

RELEASE_FLOW = "release-manager"
AWAITING_APPROVAL = "awaitingApproval"
DECISIONS = {"approve": "ReleaseApprovalGranted", "reject": "ReleaseApprovalRejected"}


class ApprovalError(ValueError):
    """The decision cannot be taken. ``status`` is the HTTP status that fits (404, 409, 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Decision:
    project_id: str
    decision: str  # approve | reject
    actor: str
    reason: str
    environment: str
    event: Envelope


def decide_release(runtime: ProjectRuntime, project_id: str, decision: str, *, actor: str, reason: str,
                   source: str, override_findings: bool = False) -> Decision:
    """Publish ``ReleaseApprovalGranted``/``Rejected`` for a project whose release waits for approval.

    A release held by critical findings is approved only with ``override_findings``: the override and the
    findings it overrides go into the audited reason.
    """
    if decision not in DECISIONS:
        raise ApprovalError(422, f"decision must be one of {sorted(DECISIONS)}, not {decision!r}")
    actor, reason = actor.strip(), reason.strip()
    if not actor or len(actor) > 200:
        raise ApprovalError(422, "say who decides (1 to 200 characters): --as NAME, or \"actor\" in the body")
    if not reason:
        raise ApprovalError(422, "say why: --reason TEXT, or \"reason\" in the body (it goes into the audit trail)")
    status = project_status(runtime, project_id)
    if not status.events:
        raise ApprovalError(404, f"no project '{project_id}'; list projects with GET /api/projects")
    release = status.flows.get(RELEASE_FLOW)
    state = release["state"] if release else "not started"
    if state != AWAITING_APPROVAL:
        raise ApprovalError(409, f"the release of '{project_id}' is not waiting for approval (release-manager is "
                            f"in '{state}'); only a release to an environment that requires approval waits")
    critical = [f for f in project_findings(status) if f.get("severity") == "critical"]
    if decision == "approve" and critical:
        names = ", ".join(sorted({str(f.get("ruleId") or f.get("id")) for f in critical}))
        if not override_findings:
            raise ApprovalError(409, f"the release of '{project_id}' has {len(critical)} critical finding(s) "
                                f"({names}); approving it overrides them: say so explicitly (--override-findings, "
                                "or \"overrideFindings\": true in the body)")
        reason = f"{reason} (overrides critical findings: {names})"
    first = status.events[0]
    environment = str((first.get("data", {}).get("release") or {}).get("environment", "prod"))
    data = {"projectId": project_id, "environment": environment, "actor": actor, "reason": reason}
    env = runtime.publisher.publish_new(Emit(DECISIONS[decision], data), source=source,
                                        tenant_id=str(first["tenantId"]), trace_id=status.trace_id,
                                        project_id=project_id)
    return Decision(project_id, decision, actor, reason, environment, env)
