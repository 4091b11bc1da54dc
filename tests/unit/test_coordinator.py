"""The coordinator FSM engine and the flow definitions in contracts/flows."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from shared.contracts import CONTRACTS_DIR
from shared.contracts.manifests import RETRY_COMMAND, TIMEOUT_TARGET
from shared.contracts.registry import default_registry
from shared.mesh.coordinators.engine import apply, replay
from shared.mesh.coordinators.flow import FlowDefinitionError, FlowVersionError, load_flows, parse_flow
from shared.mesh.coordinators.guards import CANCELLED

NOW = "2026-01-01T00:00:00+00:00"
FLOWS = load_flows(frozenset(default_registry().types()))
_ids = iter(range(1_000_000))


def ev(type_: str, **data: Any) -> dict[str, Any]:
    return {"id": f"e{next(_ids)}", "type": type_, "data": data, "time": NOW}


def run(flow_id: str, events: list[dict[str, Any]], inst: dict[str, Any] | None = None,
        log: list[dict[str, Any]] | None = None) -> tuple[dict[str, Any] | None, list[Any]]:
    flow = FLOWS[flow_id]
    emits: list[Any] = []
    by_id = {e["id"]: e for e in (log or [])}
    for e in events:
        by_id[e["id"]] = e
        step = apply(flow, inst, e, now=NOW, instance_id="p1", find_event=by_id.get)
        inst = step.instance if step.instance is not None else inst
        emits += step.emits
    return inst, emits


def types(emits: list[Any]) -> list[str]:
    return [e.type for e in emits]


def test_every_flow_in_contracts_loads_and_validates() -> None:
    flows = FLOWS
    assert set(flows) == {"project-lifecycle", "microservice-assembly", "release-manager", "documentation"}


def test_microservice_assembly_walks_to_completed_on_the_happy_path() -> None:
    inst, emits = run("microservice-assembly", [
        ev("ApiContractDefined"), ev("MicroserviceScaffolded"), ev("CodeGenerated"),
        ev("SecurityReviewCompleted", highestSeverity="low"),  # arrives while testing: recorded
        ev("TestsPassed", service="svc"), ev("ServiceDeployed", service="svc"), ev("ReleaseTriggered")])
    assert inst is not None
    assert [h["to"] for h in inst["history"]] == ["scaffolding", "coding", "testing", "securing", "deploying",
                                                 "releasing", "completed"]
    assert types(emits).count("CoordinatorStateChanged") == 7


def test_a_high_security_finding_does_not_fail_the_assembly_the_release_gate_holds_it_instead() -> None:
    inst, _ = run("microservice-assembly", [
        ev("ApiContractDefined"), ev("MicroserviceScaffolded"), ev("CodeGenerated"), ev("TestsPassed"),
        ev("SecurityReviewCompleted", highestSeverity="high")])
    assert inst is not None and inst["state"] == "deploying" and inst["failure"] is None


def test_release_manager_approves_only_when_tests_security_and_infra_are_in() -> None:
    events = [ev("ProjectInitialized", release={"environment": "dev", "approvalRequired": False}),
              ev("TestsPassed", service="svc", reportDigest="sha256:" + "a" * 64),
              ev("SecurityReviewCompleted", highestSeverity="medium", service="svc",
                 artifacts=[{"path": "security/svc-review.json", "digest": "sha256:" + "b" * 64}])]
    inst, emits = run("release-manager", [ev("BlueprintCreated", services=["svc"]), *events])
    assert inst is not None and inst["state"] == "collecting" and "ReleaseApproved" not in types(emits)
    inst, emits = run("release-manager", [ev("InfrastructureBlueprintCreated", service="svc")], inst)
    assert inst is not None and inst["state"] == "collecting" and "ReleaseApproved" not in types(emits)
    inst, emits = run("release-manager", [ev("ServiceDeployed", service="svc")], inst)  # the local smoke test
    assert inst is not None and inst["state"] == "approved"
    (approved,) = [e for e in emits if e.type == "ReleaseApproved"]
    assert approved.data == {"projectId": "p1", "service": "svc", "testsReportDigest": "sha256:" + "a" * 64,
                             "securityReviewDigest": "sha256:" + "b" * 64}


def test_failed_tests_close_the_release_gate() -> None:
    inst, emits = run("release-manager", [ev("InfrastructureBlueprintCreated"), ev("TestsFailed", reason="x"),
                                          ev("SecurityReviewCompleted", highestSeverity="none"),
                                          ev("TestsPassed")])
    assert inst is not None and inst["state"] == "blocked"
    assert "ReleaseApproved" not in types(emits)


def test_entering_a_state_with_a_timeout_schedules_a_flow_timeout() -> None:
    inst, emits = run("microservice-assembly", [ev("ApiContractDefined")])
    timeouts = [e for e in emits if e.type == "FlowTimeout"]
    assert [t.data["state"] for t in timeouts] == ["awaitingContract", "scaffolding"]
    assert timeouts[1].delay_seconds == 900
    assert inst is not None and timeouts[1].data["stateVersion"] == inst["version"]


def test_a_flow_timeout_is_addressed_to_its_own_flow() -> None:
    _inst, emits = run("microservice-assembly", [ev("BlueprintCreated")])
    timeouts = [e for e in emits if e.type == "FlowTimeout"]
    assert timeouts and all(t.properties == {TIMEOUT_TARGET: "microservice-assembly"} for t in timeouts)


def test_late_timeout_for_a_state_that_moved_on_changes_nothing() -> None:
    inst, emits = run("microservice-assembly", [ev("ApiContractDefined")])
    stale = next(e for e in emits if e.type == "FlowTimeout" and e.data["state"] == "awaitingContract")
    flow = FLOWS["microservice-assembly"]
    step = apply(flow, inst, ev("FlowTimeout", **stale.data), now=NOW, instance_id="p1")
    assert step.instance is None and step.emits == []


def test_current_timeout_moves_to_the_timeout_state_with_a_reason() -> None:
    inst, emits = run("microservice-assembly", [ev("ApiContractDefined")])
    current = [e for e in emits if e.type == "FlowTimeout"][-1]
    inst, _ = run("microservice-assembly", [ev("FlowTimeout", **current.data)], inst)
    assert inst is not None and inst["state"] == "failed"
    assert inst["failure"] == "timed out in state 'scaffolding' after 900s"


def test_agent_failure_is_retried_up_to_max_attempts_then_fails_the_flow() -> None:
    code = ev("CodeGenerated")
    inst, _ = run("microservice-assembly", [ev("ApiContractDefined"), ev("MicroserviceScaffolded"), code])
    failed = {"agent": "qa-engineer", "failedEventId": code["id"], "failedEventType": "CodeGenerated",
              "reason": "boom", "permanent": False}
    retries = []
    for attempt in range(3):
        inst, emits = run("microservice-assembly", [ev("AgentFailed", attempt=attempt, **failed)], inst, log=[code])
        retries += [e for e in emits if e.type == RETRY_COMMAND]
    assert [r.data["attempt"] for r in retries] == [1, 2]
    assert retries[0].properties == {"targetAgent": "qa-engineer"}
    assert retries[0].data["originalEvent"]["id"] == code["id"]
    assert retries[1].delay_seconds == 2  # exponential back-off
    assert inst is not None and inst["state"] == "failed"
    assert inst["failure"].startswith("agent qa-engineer failed on CodeGenerated (2 retries exhausted): boom")


def test_permanent_agent_failure_is_not_retried() -> None:
    code = ev("CodeGenerated")
    inst, _ = run("microservice-assembly", [ev("ApiContractDefined")])
    inst, emits = run("microservice-assembly", [ev("AgentFailed", agent="backend-developer",
                                                   failedEventId=code["id"], failedEventType="CodeGenerated",
                                                   reason="bad input", permanent=True)], inst, log=[code])
    assert RETRY_COMMAND not in types(emits)
    assert inst is not None and inst["state"] == "failed"


def test_failures_of_agents_another_flow_supervises_are_ignored() -> None:
    inst, emits = run("microservice-assembly", [ev("ApiContractDefined")])
    before = copy.deepcopy(inst)
    inst, emits = run("microservice-assembly", [ev("AgentFailed", agent="vision-architect", failedEventId="x",
                                                   failedEventType="ProjectInitialized", reason="r")], inst)
    assert inst is not None and before is not None and inst["state"] == before["state"] == "scaffolding"
    assert emits == []


@pytest.mark.parametrize(("action", "target", "expected"), [
    ("skip", None, "coding"), ("force", "releasing", "releasing"), ("cancel", None, CANCELLED)])
def test_manual_control_moves_the_flow_and_records_the_actor(action: str, target: str | None,
                                                             expected: str) -> None:
    inst, _ = run("microservice-assembly", [ev("ApiContractDefined")])
    data = {"flow": "microservice-assembly", "instanceId": "p1", "action": action, "actor": "alice"}
    if target:
        data["targetState"] = target
    inst, emits = run("microservice-assembly", [ev("FlowControlRequested", **data)], inst)
    assert inst is not None and inst["state"] == expected
    change = next(e for e in emits if e.type == "CoordinatorStateChanged")
    assert change.data["actor"] == "alice" and change.data["to"] == expected


def test_manual_retry_reopens_a_failed_flow_and_re_requests_the_failed_step() -> None:
    code = ev("CodeGenerated")
    inst, _ = run("microservice-assembly", [ev("ApiContractDefined"), ev("MicroserviceScaffolded"), code])
    inst, _ = run("microservice-assembly", [ev("AgentFailed", agent="qa-engineer", failedEventId=code["id"],
                                               failedEventType="CodeGenerated", reason="r", permanent=True)],
                  inst, log=[code])
    assert inst is not None and inst["state"] == "failed"
    inst, emits = run("microservice-assembly", [ev("FlowControlRequested", flow="microservice-assembly",
                                                   instanceId="p1", action="retry", actor="bob")], inst, log=[code])
    assert inst is not None and inst["state"] == "testing" and inst["failure"] is None
    assert any(e.type == RETRY_COMMAND and e.data["agent"] == "qa-engineer" for e in emits)


def test_forcing_an_undefined_state_is_refused_with_the_defined_states() -> None:
    inst, _ = run("microservice-assembly", [ev("ApiContractDefined")])
    with pytest.raises(FlowDefinitionError, match="defined states are"):
        run("microservice-assembly", [ev("FlowControlRequested", flow="microservice-assembly", instanceId="p1",
                                         action="force", targetState="nowhere", actor="a")], inst)


def _flow_doc() -> dict[str, Any]:
    return yaml.safe_load((CONTRACTS_DIR / "flows" / "documentation.yaml").read_text())


def test_unreachable_state_is_rejected_at_load() -> None:
    doc = _flow_doc()
    doc["states"]["orphan"] = {"terminal": True}
    with pytest.raises(FlowDefinitionError, match=r"\['orphan'\] can never be reached"):
        parse_flow(doc, "doc.yaml")


def test_transition_to_an_undefined_state_is_rejected_at_load() -> None:
    doc = _flow_doc()
    doc["states"]["writing"][True]["DocumentationGenerated"] = "publishd"
    with pytest.raises(FlowDefinitionError, match="undefined state 'publishd'"):
        parse_flow(doc, "doc.yaml")


def test_event_without_a_contract_is_rejected_at_load() -> None:
    doc = _flow_doc()
    doc["states"]["writing"][True]["DocsMaybeDone"] = "published"
    doc["subscribesTo"].append("DocsMaybeDone")
    with pytest.raises(FlowDefinitionError, match=r"events \['DocsMaybeDone'\] have no contract"):
        parse_flow(doc, "doc.yaml", known_events={"ReleaseTriggered", "DocumentationGenerated", "AgentFailed",
                                                  "FlowTimeout", "FlowControlRequested"})


def test_subscription_missing_a_handled_event_is_rejected_at_load() -> None:
    doc = _flow_doc()
    doc["subscribesTo"].remove("DocumentationGenerated")
    with pytest.raises(FlowDefinitionError, match="missing from subscribesTo"):
        parse_flow(doc, "doc.yaml")


def test_replaying_a_stored_log_gives_the_same_state_and_actions() -> None:
    events = [ev("ApiContractDefined"), ev("MicroserviceScaffolded"), ev("CodeGenerated"), ev("TestsPassed"),
              ev("SecurityReviewCompleted", highestSeverity="none"), ev("ServiceDeployed")]
    live, emits = run("microservice-assembly", events)
    log = events + [{"id": f"c{i}", "type": "CoordinatorStateChanged", "data": dict(e.data), "time": NOW}
                    for i, e in enumerate(x for x in emits if x.type == "CoordinatorStateChanged")]
    replayed = replay(FLOWS["microservice-assembly"], log, "p1")
    assert replayed is not None and live is not None
    assert replayed["state"] == live["state"] == "releasing"
    assert replayed["history"] == live["history"]


def test_a_project_completes_only_when_every_service_is_released_and_documented() -> None:
    inst, emits = run("project-lifecycle", [ev("ProjectInitialized"), ev("VisionDocumentCreated"),
                                            ev("ProductPlanCreated"), ev("BlueprintCreated", services=["a", "b"]),
                                            ev("ReleaseTriggered", service="a")])
    assert inst is not None and inst["state"] == "building"
    inst, emits = run("project-lifecycle", [ev("ReleaseTriggered", service="b"),
                                            ev("DocumentationGenerated", service="b")], inst)
    assert inst is not None and inst["state"] == "documenting" and "ProjectCompleted" not in types(emits)
    inst, emits = run("project-lifecycle", [ev("DocumentationGenerated", service="a")], inst)
    assert inst is not None and inst["state"] == "completed" and "ProjectCompleted" in types(emits)



def test_replaying_a_log_the_definition_cannot_explain_fails_with_a_version_error() -> None:
    log = [ev("ApiContractDefined"),
           {"id": "c0", "type": "CoordinatorStateChanged", "time": NOW,
            "data": {"flow": "microservice-assembly", "flowVersion": "0.9.0", "instanceId": "p1",
                     "from": "awaitingContract", "to": "designing", "trigger": "ApiContractDefined"}}]
    with pytest.raises(FlowVersionError, match=r"written by microservice-assembly@0.9.0"):
        replay(FLOWS["microservice-assembly"], log, "p1")


def test_instance_from_another_major_version_is_refused() -> None:
    inst, _ = run("documentation", [ev("ReleaseTriggered")])
    assert inst is not None
    inst["flowVersion"] = "3.0.0"
    with pytest.raises(FlowVersionError, match="migrate the instance"):
        run("documentation", [ev("DocumentationGenerated")], inst)


def test_an_event_that_arrives_before_the_state_that_handles_it_is_applied_on_entry() -> None:
    # ReleaseTriggered and DocumentationGenerated are handled concurrently: the second may win the race
    inst, emits = run("project-lifecycle", [ev("ProjectInitialized"), ev("VisionDocumentCreated"),
                                            ev("ProductPlanCreated"), ev("BlueprintCreated", services=["svc"]),
                                            ev("DocumentationGenerated", service="svc"),
                                            ev("ReleaseTriggered", service="svc")])
    assert inst is not None and inst["state"] == "completed"
    assert [h["to"] for h in inst["history"]][-2:] == ["documenting", "completed"]
    assert inst["deferred"] == []
    assert "ProjectCompleted" in types(emits)


def test_an_always_transition_that_stays_does_not_block_deferred_events() -> None:
    inst, _ = run("release-manager", [ev("ReleaseTriggered", service="svc"), ev("ProjectInitialized"),
                                      ev("BlueprintCreated", services=["svc"]), ev("TestsPassed", service="svc"),
                                      ev("InfrastructureBlueprintCreated", service="svc"),
                                      ev("ServiceDeployed", service="svc"),
                                      ev("SecurityReviewCompleted", highestSeverity="none", service="svc")])
    assert inst is not None and inst["state"] == "released"


def test_the_release_gate_waits_for_every_service_then_approves_each() -> None:
    ready = [ev(t, service=s) for s in ("a", "b") for t in ("TestsPassed", "SecurityReviewCompleted",
                                                          "InfrastructureBlueprintCreated", "ServiceDeployed")]
    inst, emits = run("release-manager", [ev("ProjectInitialized"), ev("BlueprintCreated", services=["a", "b"]),
                                          *ready[:4], *ready[4:7]])
    assert inst is not None and inst["state"] == "collecting"  # b has not been deployed yet
    inst, emits = run("release-manager", [ready[7]], inst)
    assert inst is not None and inst["state"] == "approved"
    assert sorted(e.data["service"] for e in emits if e.type == "ReleaseApproved") == ["a", "b"]
    inst, _ = run("release-manager", [ev("ReleaseTriggered", service="a")], inst)
    assert inst is not None and inst["state"] == "approved"
    inst, _ = run("release-manager", [ev("ReleaseTriggered", service="b")], inst)
    assert inst is not None and inst["state"] == "released"


# --------------------------------------------------------------------------- human approval gates


def _ready_for_release(approval: bool) -> list[dict[str, Any]]:
    return [ev("ProjectInitialized", release={"environment": "prod" if approval else "dev",
                                              "approvalRequired": approval}),
            ev("BlueprintCreated", services=["svc"]),
            ev("TestsPassed", service="svc", reportDigest="sha256:" + "a" * 64),
            ev("SecurityReviewCompleted", highestSeverity="none", service="svc"),
            ev("InfrastructureBlueprintCreated", service="svc"), ev("ServiceDeployed", service="svc")]


def test_a_release_to_an_environment_that_requires_approval_waits_for_a_person() -> None:
    inst, emits = run("release-manager", _ready_for_release(True))
    assert inst is not None and inst["state"] == "awaitingApproval"
    assert "ReleaseApproved" not in types(emits)
    (timeout,) = [e for e in emits if e.type == "FlowTimeout" and e.data["state"] == "awaitingApproval"]
    assert timeout.delay_seconds == 1800
    inst, emits = run("release-manager", [ev("ReleaseApprovalGranted", projectId="p1", environment="prod",
                                             actor="alice", reason="reviewed the report")], inst)
    assert inst is not None and inst["state"] == "approved"
    assert "ReleaseApproved" in types(emits)
    assert inst["history"][-1] == {"from": "awaitingApproval", "to": "approved", "trigger": "ReleaseApprovalGranted",
                                   "at": NOW, "actor": "alice"}
    (change,) = [e for e in emits if e.type == "CoordinatorStateChanged"]
    assert change.data["actor"] == "alice"


def test_a_rejected_release_ends_the_gate_saying_who_and_why() -> None:
    inst, _ = run("release-manager", _ready_for_release(True))
    inst, emits = run("release-manager", [ev("ReleaseApprovalRejected", projectId="p1", actor="bob",
                                             reason="no release on Fridays")], inst)
    assert inst is not None and inst["state"] == "rejected"
    assert inst["failure"] == "the release was rejected by bob: no release on Fridays"
    assert "ReleaseApproved" not in types(emits)


def test_no_decision_before_the_approval_timeout_rejects() -> None:
    inst, emits = run("release-manager", _ready_for_release(True))
    assert inst is not None
    (timeout,) = [e for e in emits if e.type == "FlowTimeout" and e.data["state"] == "awaitingApproval"]
    inst, _ = run("release-manager", [ev("FlowTimeout", **timeout.data)], inst)
    assert inst is not None and inst["state"] == "rejected"
    assert "timed out in state 'awaitingApproval'" in inst["failure"]


def test_an_environment_without_approval_releases_straight_away() -> None:
    inst, emits = run("release-manager", _ready_for_release(False))
    assert inst is not None and inst["state"] == "approved" and "ReleaseApproved" in types(emits)


SECRET = {"id": "SEC001:app/settings.py:3", "ruleId": "SEC001", "severity": "critical", "file": "app/settings.py",
          "line": 3, "message": "a private key is written in the code"}


def _with_security_finding(severity: str, approval: bool = False) -> list[dict[str, Any]]:
    events = _ready_for_release(approval)
    events[3] = ev("SecurityReviewCompleted", highestSeverity=severity, service="svc",
                   findings=[SECRET | {"severity": severity}])
    return events


@pytest.mark.parametrize("severity", ["high", "critical"])
def test_a_severe_security_finding_holds_the_release_until_an_approval_overrides_it(severity: str) -> None:
    inst, emits = run("release-manager", _with_security_finding(severity))  # dev: no approval needed otherwise
    assert inst is not None and inst["state"] == "awaitingApproval" and "ReleaseApproved" not in types(emits)
    grant = {"projectId": "p1", "environment": "dev", "actor": "alice", "reason": "accepted"}
    inst, emits = run("release-manager", [ev("ReleaseApprovalGranted", **grant)], inst)
    assert inst is not None and inst["state"] == "awaitingApproval" and "ReleaseApproved" not in types(emits)
    inst, emits = run("release-manager", [ev("ReleaseApprovalGranted", **grant,
                                             overriddenFindings=["svc/SEC001:app/settings.py:3"])], inst)
    assert inst is not None and inst["state"] == "approved" and "ReleaseApproved" in types(emits)
    assert inst["history"][-1]["actor"] == "alice"


def test_a_held_release_is_rejected_by_a_person_or_by_the_approval_timeout() -> None:
    held, emits = run("release-manager", _with_security_finding("critical"))
    inst, _ = run("release-manager", [ev("ReleaseApprovalRejected", projectId="p1", actor="bob",
                                         reason="fix the key first")], copy.deepcopy(held))
    assert inst is not None and inst["state"] == "rejected"
    assert inst["failure"] == "the release was rejected by bob: fix the key first"
    (timeout,) = [e for e in emits if e.type == "FlowTimeout" and e.data["state"] == "awaitingApproval"]
    inst, _ = run("release-manager", [ev("FlowTimeout", **timeout.data)], held)
    assert inst is not None and inst["state"] == "rejected"


def test_a_medium_security_finding_or_a_high_policy_finding_does_not_hold_a_release() -> None:
    events = _with_security_finding("medium")
    events[4] = ev("InfrastructureBlueprintCreated", service="svc", findings=[
        {"id": "IB004/cosmos", "ruleId": "IB004", "severity": "high", "message": "no backup"}])
    inst, emits = run("release-manager", events)
    assert inst is not None and inst["state"] == "approved" and "ReleaseApproved" in types(emits)


def test_an_override_must_name_the_finding_of_every_service_that_holds_the_release() -> None:
    ready = [ev(t, service=s) for s in ("a", "b") for t in ("TestsPassed", "InfrastructureBlueprintCreated",
                                                          "ServiceDeployed")]
    reviews = [ev("SecurityReviewCompleted", service=s, highestSeverity="high",
                  findings=[SECRET | {"severity": "high"}]) for s in ("a", "b")]
    policy = ev("InfrastructureBlueprintCreated", service="b", findings=[
        {"id": "IB010/tenancy", "ruleId": "IB010", "severity": "critical", "message": "eastus is outside eu"}])
    inst, _ = run("release-manager", [ev("ProjectInitialized"), ev("BlueprintCreated", services=["a", "b"]),
                                      *ready, *reviews, policy])
    assert inst is not None and inst["state"] == "awaitingApproval"
    grant = {"projectId": "p1", "actor": "alice", "reason": "accepted"}
    partial = ["a/SEC001:app/settings.py:3", "b/SEC001:app/settings.py:3"]
    inst, _ = run("release-manager", [ev("ReleaseApprovalGranted", **grant, overriddenFindings=partial)], inst)
    assert inst is not None and inst["state"] == "awaitingApproval"
    inst, _ = run("release-manager", [ev("ReleaseApprovalGranted", **grant,
                                         overriddenFindings=[*partial, "b/IB010/tenancy"])], inst)
    assert inst is not None and inst["state"] == "approved"


def test_a_rejected_release_fails_the_project() -> None:
    inst, _ = run("project-lifecycle", [ev("ProjectInitialized"), ev("VisionDocumentCreated"),
                                        ev("ProductPlanCreated"), ev("BlueprintCreated")])
    inst, _ = run("project-lifecycle", [ev("CoordinatorStateChanged", flow="release-manager", to="rejected")], inst)
    assert inst is not None and inst["state"] == "failed"


def test_a_join_emits_the_same_ids_whichever_event_completes_it() -> None:
    """The release gate approves on whichever of its four inputs comes last; what it emits (and every id
    downstream, e.g. a release's provenance) must not depend on that order: a resumed run, whose redelivered
    messages come late, released with another provenance (tests/e2e/test_mesh.py's flaky comparison)."""
    from itertools import permutations

    from shared.adapters.memory.spans import MemorySpanStore
    from shared.contracts.envelope import make_envelope
    from shared.handling.publishing import EventPublisher
    from shared.handling.telemetry import Metrics, Tracer
    from shared.ports import SystemClock

    registry = default_registry()
    flow = load_flows(frozenset(registry.types()))["release-manager"]
    inputs = {"ProjectInitialized": {"release": {"environment": "dev", "approvalRequired": False}},
              "BlueprintCreated": {"services": ["svc"]},
              "TestsPassed": {"service": "svc", "reportDigest": "sha256:" + "1" * 64},
              "SecurityReviewCompleted": {"service": "svc", "highestSeverity": "low",
                                          "artifacts": [{"path": "r.json", "digest": "sha256:" + "2" * 64}]},
              "InfrastructureBlueprintCreated": {"service": "svc"},
              "ServiceDeployed": {"service": "svc"}}
    clock = SystemClock()
    publisher = EventPublisher(bus=None, state=None, registry=registry, signing_key=b"k",  # type: ignore[arg-type]
                               clock=clock, metrics=Metrics(), tracer=Tracer(MemorySpanStore()))
    approvals: set[str] = set()
    for order in list(permutations(inputs))[::29]:  # 25 of the 720 orders, each input last in some
        inst: dict[str, Any] | None = None
        for etype in order:
            step = apply(flow, inst, {"id": f"{etype}-id", "type": etype, "data": inputs[etype]},
                         now="2026-01-01T00:00:00+00:00", instance_id="p1")
            inst = step.instance or inst
            cause = make_envelope("ProjectCompleted", "1.0.0", {"projectId": "p1", "outcome": "released"},
                                  source="x", tenant_id="t", trace_id="0" * 32, time=clock.now(),
                                  id=f"{etype}-id", project_id="p1")
            for record in publisher.prepare(step.emits, consumer="release-manager", cause=cause):
                if record.message.application_properties["type"] == "ReleaseApproved":
                    approvals.add(record.message.message_id)
        assert inst is not None and inst["state"] == "approved", inst["state"]
    assert len(approvals) == 1, approvals
