"""``factory approve`` and ``factory reject``: a person decides on a release waiting for approval (audited)."""

from __future__ import annotations

from typing import Annotated

import typer

from shared.cli.common import BAD_INPUT, fail, open_runtime, require_project
from shared.cli.output import esc, say
from shared.contracts.errors import ContractError
from shared.product.approvals import ApprovalError, decide_release

ProjectArg = Annotated[str, typer.Argument(help="project id", metavar="PROJECT_ID")]
ActorOpt = Annotated[str, typer.Option("--as", help="who decides (recorded in the audit trail)", metavar="NAME")]
ReasonOpt = Annotated[str, typer.Option(help="why (recorded in the audit trail)", metavar="TEXT")]


def _decide(decision: str, project: str, actor: str, reason: str, override: bool = False) -> None:
    rt = open_runtime()
    require_project(rt, project)
    try:
        decided = decide_release(rt, project, decision, actor=actor, reason=reason, source="cli",
                                 override_findings=override)
    except ApprovalError as exc:
        if exc.findings:
            raise fail(f"could not {decision} the release of {project}", str(exc),
                       f"to release it anyway, override them (audited): `factory approve {project} --override-findings "
                       f"--as NAME --reason TEXT`; or end it: `factory reject {project} --as NAME --reason TEXT`",
                       BAD_INPUT) from exc
        raise fail(f"could not {decision} the release of {project}", str(exc),
                   f"check the project with `factory status {project}` (its release-manager must be in "
                   "awaitingApproval)", BAD_INPUT) from exc
    except ContractError as exc:
        raise fail(f"could not {decision} the release of {project}", str(exc),
                   "check --as NAME and --reason TEXT", BAD_INPUT) from exc
    verb = "approved" if decision == "approve" else "rejected"
    say(f"{verb} the release of {esc(project)} to {esc(decided.environment)} as {esc(decided.actor)} "
        f"(event {esc(decided.event.id)}); a running `factory host` applies it, or rerun the project's "
        "`factory run` command")


def approve(
    project: ProjectArg, actor: ActorOpt, reason: ReasonOpt,
    override_findings: Annotated[bool, typer.Option("--override-findings", help="release despite the findings "
                                                    "that hold it (a critical policy finding, a high or critical "
                                                    "security finding); the override is recorded with who, why and "
                                                    "the findings")] = False,
) -> None:
    """Approve a release that waits for approval (publishes ReleaseApprovalGranted with who and why)."""
    _decide("approve", project, actor, reason, override_findings)


def reject(project: ProjectArg, actor: ActorOpt, reason: ReasonOpt) -> None:
    """Reject a release that waits for approval (publishes ReleaseApprovalRejected with who and why)."""
    _decide("reject", project, actor, reason)


def register(app: typer.Typer) -> None:
    """Add ``approve`` and ``reject`` to ``app``."""
    app.command()(approve)
    app.command()(reject)
