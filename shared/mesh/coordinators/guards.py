"""Guards and actions a flow YAML names: pure functions of the event data and the instance document.

A guard decides whether a transition is taken (``guard: noHighFindings``); an action builds the
event a state emits on entry (``emit: approveRelease``). Add one here and name it in the YAML;
``parse_flow`` refuses names it does not know.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared.ports.skills import Emit

CANCELLED = "cancelled"

Guard = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]  # (event data, instance) -> bool
Action = Callable[[Mapping[str, Any]], Emit]  # instance -> event to emit

SEVERE = {"high", "critical"}


def _no_high_findings(data: Mapping[str, Any], inst: Mapping[str, Any]) -> bool:
    severity = data.get("highestSeverity") or _seen_data(inst, "SecurityReviewCompleted").get("highestSeverity")
    return str(severity or "none") not in SEVERE


def _no_critical_findings(data: Mapping[str, Any], inst: Mapping[str, Any]) -> bool:
    """No critical finding in this event (an infrastructure policy rule such as IB010 data residency)."""
    return not any(isinstance(f, Mapping) and f.get("severity") == "critical" for f in data.get("findings") or [])


#: terminal states of another flow that fail the project (``rejected``: a person refused the release)
FAILED_STATES = ("failed", CANCELLED, "rejected")


def _is_other_flow_failed(data: Mapping[str, Any], inst: Mapping[str, Any]) -> bool:
    return data.get("flow") != inst.get("flow") and data.get("to") in FAILED_STATES


def _approval_required(data: Mapping[str, Any], inst: Mapping[str, Any]) -> bool:
    """The release target needs a person's approval (stamped on ProjectInitialized from the settings)."""
    release = _seen_data(inst, "ProjectInitialized").get("release") or {}
    return bool(release.get("approvalRequired", False))


def _seen_data(inst: Mapping[str, Any], event_type: str) -> Mapping[str, Any]:
    seen = inst.get("seen", {}).get(event_type)
    return seen.get("data", {}) if seen else {}


def _release_approved(inst: Mapping[str, Any]) -> Emit:
    tests = _seen_data(inst, "TestsPassed")
    review = _seen_data(inst, "SecurityReviewCompleted")
    review_digest = next((a["digest"] for a in review.get("artifacts", []) if a["path"].endswith(".json")),
                         (review.get("artifacts") or [{"digest": ""}])[0]["digest"])
    return Emit("ReleaseApproved", {
        "projectId": inst["instanceId"],
        "service": tests.get("service", review.get("service", "")),
        "testsReportDigest": tests.get("reportDigest", ""),
        "securityReviewDigest": review_digest,
    })


def _project_released(inst: Mapping[str, Any]) -> Emit:
    return Emit("ProjectCompleted", {"projectId": inst["instanceId"], "outcome": "released"})


def _project_failed(inst: Mapping[str, Any]) -> Emit:
    reason = inst.get("failure") or "a flow of this project failed"
    return Emit("ProjectCompleted", {"projectId": inst["instanceId"], "outcome": "failed", "reason": reason})


GUARDS: dict[str, Guard] = {
    "noHighFindings": _no_high_findings,
    "noCriticalFindings": _no_critical_findings,
    "otherFlowFailed": _is_other_flow_failed,
    "approvalRequired": _approval_required,
}
ACTIONS: dict[str, Action] = {
    "approveRelease": _release_approved,
    "projectReleased": _project_released,
    "projectFailed": _project_failed,
}


def probe_instance() -> dict[str, Any]:
    """A minimal instance for asking an action which event type it emits (topology)."""
    return {"instanceId": "probe", "seen": {}, "failure": None}
