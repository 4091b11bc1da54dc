"""Human approval of a release: a person approves or rejects, with who and why, as an audited event.

The release-manager flow waits in ``awaitingApproval`` when the project releases to an environment
that requires approval (``FACTORY_APPROVAL_REQUIRED``; prod by default). ``decide_release`` is the one
use case behind ``factory approve|reject``, ``POST /api/projects/{id}/approval`` and Studio's buttons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.contracts.envelope import Envelope
from shared.ports.skills import Emit
from shared.product.findings import finding_key, findings_text, held_findings
from shared.product.projects import ProjectRuntime, project_status

RELEASE_FLOW = "release-manager"
AWAITING_APPROVAL = "awaitingApproval"
DECISIONS = {"approve": "ReleaseApprovalGranted", "reject": "ReleaseApprovalRejected"}


class ApprovalError(ValueError):
    """The decision cannot be taken. ``status`` is the HTTP status that fits (404, 409, 422); ``findings``:
    the findings an approval must override (a 409 for a missing override)."""

    def __init__(self, status: int, message: str, findings: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.findings = [dict(f) for f in findings]


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

    A release held by findings (``shared/product/findings.py``: policy critical, security high or critical) is
    approved only with ``override_findings``: the findings it overrides are named in the audited reason and in
    the event's ``overriddenFindings``, which the release gate checks.
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
    if status.outcome is not None:
        raise ApprovalError(409, f"project '{project_id}' has ended ({status.outcome}): there is no release to decide")
    release = status.flows.get(RELEASE_FLOW)
    state = release["state"] if release else "not started"
    if state != AWAITING_APPROVAL:
        raise ApprovalError(409, f"the release of '{project_id}' is not waiting for approval (release-manager is "
                            f"in '{state}'); a release waits for a decision when its environment requires approval or "
                            "findings hold it")
    held = held_findings(release)
    overrides: list[str] = []
    if decision == "approve" and held:
        names = findings_text(held)
        if not override_findings:
            raise ApprovalError(409, f"the release of '{project_id}' is held by {len(held)} finding(s) that need "
                                f"an override: {names}; approving overrides them: say so explicitly "
                                "(--override-findings, \"overrideFindings\": true in the body, or Studio's "
                                "\"override these findings\")", held)
        reason = f"{reason} (overrides findings: {names})"
        overrides = [finding_key(f) for f in held]
    first = status.events[0]
    environment = str((first.get("data", {}).get("release") or {}).get("environment", "prod"))
    data: dict[str, Any] = {"projectId": project_id, "environment": environment, "actor": actor, "reason": reason}
    if overrides:
        data["overriddenFindings"] = overrides
    env = runtime.publisher.publish_new(Emit(DECISIONS[decision], data), source=source,
                                        tenant_id=str(first["tenantId"]), trace_id=status.trace_id,
                                        project_id=project_id)
    return Decision(project_id, decision, actor, reason, environment, env)
