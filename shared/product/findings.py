"""Policy and security findings, and the one rule for which of them hold a release for a person.

A critical *policy* finding (an infrastructure blueprint rule such as IB010 data residency) and a *security*
finding of severity high or critical hold the release: the release-manager waits in ``awaitingApproval``
whatever the environment, and only an approval that names them (``overriddenFindings``, an audited override)
releases it. The release gate (``shared/mesh/coordinators/guards.py``), the approval use case
(``approvals.decide_release``) and the summaries (CLI, API, Studio) all ask this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: finding severities, most severe first
SEVERITIES = ("critical", "high", "medium", "low", "info")
#: the events that carry findings, and the kind of finding each carries
FINDING_EVENTS = {"InfrastructureBlueprintCreated": "policy", "SecurityReviewCompleted": "security"}
#: per kind, the severities that hold a release until a person overrides them
OVERRIDE_SEVERITIES: Mapping[str, frozenset[str]] = {
    "policy": frozenset({"critical"}),
    "security": frozenset({"high", "critical"}),
}


def findings_of(event_type: str, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The findings an event carries, each with its ``kind`` (policy | security) and ``service``.

    A security review whose ``highestSeverity`` is high or critical but which lists no such finding still
    counts: it yields one finding for that severity, so an inconsistent review cannot slip through the gate.
    """
    kind = FINDING_EVENTS.get(event_type)
    if kind is None:
        return []
    service = data.get("service")
    out = [{"kind": kind, "service": service, **f} for f in data.get("findings") or [] if isinstance(f, Mapping)]
    highest = str(data.get("highestSeverity") or "none")
    if kind == "security" and highest in OVERRIDE_SEVERITIES[kind] and not any(
            f.get("severity") == highest for f in out):
        out.append({"kind": kind, "service": service, "id": "highestSeverity", "severity": highest,
                    "message": f"the security review's highest severity is {highest} (no finding listed)"})
    return out


def sort_findings(findings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (order.get(str(f.get("severity")), 9), str(f.get("kind")),
                                           str(f.get("service")), str(f.get("id"))))


def needs_override(finding: Mapping[str, Any]) -> bool:
    """The finding holds the release until a person overrides it (policy critical, security high/critical)."""
    return str(finding.get("severity")) in OVERRIDE_SEVERITIES.get(str(finding.get("kind")), frozenset())


def finding_key(finding: Mapping[str, Any]) -> str:
    """What an approval names to override a finding: ``<service>/<finding id>`` (ids repeat across services)."""
    return f"{finding.get('service') or '-'}/{finding.get('id') or finding.get('ruleId')}"


def finding_label(finding: Mapping[str, Any]) -> str:
    """``critical policy IB010 (task-tracker)``: how a summary and an audited reason name a finding."""
    return (f"{finding.get('severity')} {finding.get('kind')} {finding.get('ruleId') or finding.get('id')}"
            f" ({finding.get('service') or 'project'})")


def findings_text(findings: Sequence[Mapping[str, Any]]) -> str:
    """The findings' labels, the same ones counted once: ``critical policy IB010 (svc), 2 x high security ...``."""
    counts: dict[str, int] = {}
    for f in findings:
        label = finding_label(f)
        counts[label] = counts.get(label, 0) + 1
    return ", ".join(label if n == 1 else f"{n} x {label}" for label, n in counts.items())


def held_findings(release: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The findings that hold a release, read from the release-manager's instance document: the latest
    review and infrastructure blueprint of every service (what the gate decided on)."""
    if not release:
        return []
    out: list[dict[str, Any]] = []
    for event_type in FINDING_EVENTS:
        per_service = release.get("byService", {}).get(event_type) or {}
        seen = [v for v in per_service.values()] or [s for s in [release.get("seen", {}).get(event_type)] if s]
        out += [f for s in seen for f in findings_of(event_type, s.get("data") or {}) if needs_override(f)]
    return sort_findings(out)


def overridden(data: Mapping[str, Any], held: Sequence[Mapping[str, Any]]) -> bool:
    """An approval (``ReleaseApprovalGranted``'s data) names every finding that holds the release."""
    named = {str(k) for k in data.get("overriddenFindings") or []}
    return all(finding_key(f) in named for f in held)
