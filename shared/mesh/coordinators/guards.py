"""Guards and actions a flow YAML names: pure functions of the event data and the instance document.

A guard decides whether a transition is taken (``guard: findingsOverridden``); an action builds the
events a state emits on entry (``actions: [approveRelease]``). Add one here and name it in the
YAML; ``parse_flow`` refuses names it does not know.

The engine keeps, besides the latest event of each type (``seen``), the latest per service
(``byService``), so a project-level flow can wait for every service of the blueprint
(``everyServiceReleased``) and emit one event per service (``approveRelease``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared.ports.skills import Emit
from shared.product.findings import held_findings, overridden

CANCELLED = "cancelled"

Guard = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]  # (event data, instance) -> bool
Action = Callable[[Mapping[str, Any]], "Emit | list[Emit]"]  # instance -> event(s) to emit

#: what the release gate needs from every service before a release
READY_TO_RELEASE = ("TestsPassed", "SecurityReviewCompleted", "InfrastructureBlueprintCreated", "ServiceDeployed")

#: terminal states of another flow that fail the project (``rejected``: a person refused the release)
FAILED_STATES = ("failed", CANCELLED, "rejected")


def _is_other_flow_failed(data: Mapping[str, Any], inst: Mapping[str, Any]) -> bool:
    return data.get("flow") != inst.get("flow") and data.get("to") in FAILED_STATES


def _approval_required(data: Mapping[str, Any], inst: Mapping[str, Any]) -> bool:
    """The release target needs a person's approval (stamped on ProjectInitialized from the settings)."""
    release = _seen_data(inst, "ProjectInitialized").get("release") or {}
    return bool(release.get("approvalRequired", False))


def _approval_or_held_findings(data: Mapping[str, Any], inst: Mapping[str, Any]) -> bool:
    """A person decides: the environment requires approval, or findings hold the release for an audited override
    (a critical policy finding, a high or critical security finding: ``shared/product/findings.py``)."""
    return _approval_required(data, inst) or bool(held_findings(inst))


def _findings_overridden(data: Mapping[str, Any], inst: Mapping[str, Any]) -> bool:
    """The approval names every finding that holds the release (``overriddenFindings``); true when none does."""
    return overridden(data, held_findings(inst))


def blueprint_services(inst: Mapping[str, Any]) -> list[str]:
    return list(_seen_data(inst, "BlueprintCreated").get("services") or [])


def services_seen(inst: Mapping[str, Any], event_type: str) -> set[str]:
    return set(inst.get("byService", {}).get(event_type, {}))


def _every_service(*event_types: str) -> Guard:
    """True once each of ``event_types`` was seen for every service of the blueprint."""

    def guard(data: Mapping[str, Any], inst: Mapping[str, Any]) -> bool:
        wanted = set(blueprint_services(inst))
        return bool(wanted) and all(wanted <= services_seen(inst, t) for t in event_types)

    return guard


def project_of(instance_id: str) -> str:
    """The project of a flow instance: ``<project>`` or ``<project>/<service>``."""
    return instance_id.split("/", 1)[0]


def _seen_data(inst: Mapping[str, Any], event_type: str) -> Mapping[str, Any]:
    seen = inst.get("seen", {}).get(event_type)
    return seen.get("data", {}) if seen else {}


def _service_data(inst: Mapping[str, Any], event_type: str, service: str) -> Mapping[str, Any]:
    seen = inst.get("byService", {}).get(event_type, {}).get(service)
    return seen.get("data", {}) if seen else {}


def _release_approved(inst: Mapping[str, Any]) -> list[Emit]:
    """One ``ReleaseApproved`` per service of the blueprint (or for the one service seen, without a blueprint)."""
    services = blueprint_services(inst) or [str(_seen_data(inst, "TestsPassed").get("service", ""))]
    emits = []
    for service in services:
        tests = _service_data(inst, "TestsPassed", service) or _seen_data(inst, "TestsPassed")
        review = _service_data(inst, "SecurityReviewCompleted", service) or _seen_data(inst, "SecurityReviewCompleted")
        review_digest = next((a["digest"] for a in review.get("artifacts", []) if a["path"].endswith(".json")),
                             (review.get("artifacts") or [{"digest": ""}])[0]["digest"])
        emits.append(Emit("ReleaseApproved", {
            "projectId": project_of(inst["instanceId"]),
            "service": service,
            "testsReportDigest": tests.get("reportDigest", ""),
            "securityReviewDigest": review_digest,
        }))
    return emits


def _project_released(inst: Mapping[str, Any]) -> Emit:
    return Emit("ProjectCompleted", {"projectId": inst["instanceId"], "outcome": "released"})


def _project_failed(inst: Mapping[str, Any]) -> Emit:
    reason = inst.get("failure") or "a flow of this project failed"
    return Emit("ProjectCompleted", {"projectId": inst["instanceId"], "outcome": "failed", "reason": reason})


def _project_cancelled(inst: Mapping[str, Any]) -> Emit:
    reason = inst.get("failure") or "the project was cancelled"
    return Emit("ProjectCompleted", {"projectId": inst["instanceId"], "outcome": CANCELLED, "reason": reason})


GUARDS: dict[str, Guard] = {
    "approvalOrHeldFindings": _approval_or_held_findings,
    "findingsOverridden": _findings_overridden,
    "otherFlowFailed": _is_other_flow_failed,
    "approvalRequired": _approval_required,
    "everyServiceReadyToRelease": _every_service(*READY_TO_RELEASE),
    "everyServiceReleased": _every_service("ReleaseTriggered"),
    "everyServiceDocumented": _every_service("DocumentationGenerated"),
}
ACTIONS: dict[str, Action] = {
    "approveRelease": _release_approved,
    "projectReleased": _project_released,
    "projectFailed": _project_failed,
    "projectCancelled": _project_cancelled,
}


def run_action(name: str, inst: Mapping[str, Any]) -> list[Emit]:
    """The events action ``name`` emits for ``inst`` (an action may emit one or several)."""
    result = ACTIONS[name](inst)
    return list(result) if isinstance(result, list) else [result]


def probe_instance() -> dict[str, Any]:
    """A minimal instance for asking an action which event type it emits (topology)."""
    return {"instanceId": "probe", "seen": {}, "failure": None}
