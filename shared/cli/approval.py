"""``factory approve`` and ``factory reject``: a person decides on a release waiting for approval (audited)."""

from __future__ import annotations

from typing import Annotated

import typer

from shared.cli.common import console, fail, open_runtime
from shared.product.approvals import ApprovalError, decide_release

ActorOpt = Annotated[str, typer.Option("--as", help="who decides (recorded in the audit trail)")]
ReasonOpt = Annotated[str, typer.Option(help="why (recorded in the audit trail)")]


def _decide(decision: str, project: str, actor: str, reason: str) -> None:
    try:
        decided = decide_release(open_runtime(), project, decision, actor=actor, reason=reason, source="cli")
    except ApprovalError as exc:
        raise fail(f"could not {decision} the release of {project}", str(exc),
                   "check the project with `factory status` (its release-manager must be in awaitingApproval)",
                   2) from exc
    verb = "approved" if decision == "approve" else "rejected"
    console.print(f"{verb} the release of {project} to {decided.environment} as {decided.actor} "
                  f"(event {decided.event.id}); a running `factory host` applies it")


def approve(project: Annotated[str, typer.Argument(help="project id")], actor: ActorOpt, reason: ReasonOpt) -> None:
    """Approve a release that waits for approval (publishes ReleaseApprovalGranted with who and why)."""
    _decide("approve", project, actor, reason)


def reject(project: Annotated[str, typer.Argument(help="project id")], actor: ActorOpt, reason: ReasonOpt) -> None:
    """Reject a release that waits for approval (publishes ReleaseApprovalRejected with who and why)."""
    _decide("reject", project, actor, reason)


def register(app: typer.Typer) -> None:
    """Add ``approve`` and ``reject`` to ``app``."""
    app.command()(approve)
    app.command()(reject)
