"""Agent lanes: event types of an agent that get a subscription and a function of their own, so work that
finishes a project is not queued behind work that starts the next one (Azure's priority-queue pattern)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.adapters.sqlite.bus import SqliteBus
from shared.adapters.sqlite.sql_filter import compile_filter, system_properties
from shared.contracts.manifests import (
    RETRY_COMMAND,
    Consumer,
    ManifestError,
    all_subscriptions,
    consumer,
    load_consumers,
)
from shared.ports import OutgoingMessage, SubscriptionSpec

SYS = system_properties(message_id="m", subject=None, correlation_id=None, content_type=None)


def _agent(tmp_path: Path, lanes: str, name: str = "builder") -> tuple[Consumer, ...]:
    agents = tmp_path / "agents"
    agents.mkdir(exist_ok=True)
    (agents / f"{name}.yaml").write_text(
        f"id: {name}\nsubscribesTo:\n  ProjectInitialized: vision.write_vision\n"
        f"  BlueprintCreated: vision.write_vision\n  TestsPassed: vision.write_vision\n{lanes}", encoding="utf-8")
    return load_consumers.__wrapped__(tmp_path)


def _takes(sql: str, props: dict[str, str]) -> bool:
    return bool(compile_filter(sql)(props, SYS))


def test_a_lane_takes_its_event_types_from_the_main_subscription_and_retries_stay_on_the_main(tmp_path: Path) -> None:
    (builder,) = _agent(tmp_path, "lanes:\n  slow: [BlueprintCreated]\n")
    main, slow = builder.subscriptions

    assert (main.name, main.function_name, main.lane) == ("builder", "agent_builder", None)
    assert (slow.name, slow.function_name, slow.lane) == ("builder-slow", "agent_builder_slow", "slow")
    assert main.event_types == ("ProjectInitialized", "TestsPassed") and slow.event_types == ("BlueprintCreated",)
    retry = {"type": RETRY_COMMAND, "targetAgent": "builder"}
    for event_type, taker in (("ProjectInitialized", main), ("TestsPassed", main), ("BlueprintCreated", slow)):
        event = {"type": event_type}
        assert [s.name for s in builder.subscriptions if _takes(s.sql_filter, event)] == [taker.name]
        assert [s.name for s in builder.subscriptions if s.takes(event_type, event)] == [taker.name]
    assert _takes(main.sql_filter, retry) and not _takes(slow.sql_filter, retry)
    assert builder.sql_filter == main.sql_filter and builder.subscription == "builder"


def test_a_lane_keeps_the_agents_tenant_scope(tmp_path: Path) -> None:
    (builder,) = _agent(tmp_path, "tenantScope: acme\nlanes:\n  slow: [BlueprintCreated]\n")
    slow = builder.subscriptions[1]

    assert _takes(slow.sql_filter, {"type": "BlueprintCreated", "tenantId": "acme"})
    assert not _takes(slow.sql_filter, {"type": "BlueprintCreated", "tenantId": "other"})


@pytest.mark.parametrize(("lanes", "message"), [
    ("lanes:\n  slow: [Unheard]\n", "Unheard is not in subscribesTo"),
    ("lanes:\n  slow: [BlueprintCreated]\n  slower: [BlueprintCreated]\n", "already in another lane"),
    ("lanes:\n  a: [ProjectInitialized, BlueprintCreated]\n  b: [TestsPassed]\n", "leave at least one to the main"),
    ("lanes:\n  Slow_Lane: [BlueprintCreated]\n", "lower-case letters and digits"),
    ("lanes:\n  slow: []\n", "non-empty list of event types"),
    ("lanes: [BlueprintCreated]\n", "maps a lane name to event types"),
    (f"lanes:\n  {'x' * 45}: [BlueprintCreated]\n", "longer than 50 characters"),
])
def test_a_malformed_lane_is_refused_with_what_to_change(tmp_path: Path, lanes: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        _agent(tmp_path, lanes)


def test_a_lane_whose_subscription_name_is_another_consumers_is_refused(tmp_path: Path) -> None:
    _agent(tmp_path, "", name="builder-slow")

    with pytest.raises(ManifestError, match=r"subscription names must be unique.*builder-slow"):
        _agent(tmp_path, "lanes:\n  slow: [BlueprintCreated]\n")


def test_only_agents_have_lanes(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "gatekeeper.yaml").write_text("id: gatekeeper\nsubscribesTo: [TestsPassed]\nlanes:\n  x: [TestsPassed]\n",
                                           encoding="utf-8")
    with pytest.raises(ManifestError, match="only agents have lanes"):
        load_consumers.__wrapped__(tmp_path)


def test_a_project_whose_tests_passed_is_not_queued_behind_the_gates_of_projects_submitted_after_it(
        tmp_path: Path) -> None:
    """The devops-engineer's gate has its own subscription: on the bus, a ``TestsPassed`` published after
    many ``TestSuiteGenerated`` is the first message its subscription hands out."""
    devops = consumer("devops-engineer")
    with SqliteBus(tmp_path / "bus.db") as bus:
        for s in devops.subscriptions:
            bus.ensure_subscription(SubscriptionSpec(s.name, s.sql_filter))
        bus.publish([OutgoingMessage(message_id=f"gate-{i}", body=b"{}",
                                     application_properties={"type": "TestSuiteGenerated"}) for i in range(20)])
        bus.publish([OutgoingMessage(message_id="deploy-0", body=b"{}",
                                     application_properties={"type": "TestsPassed"})])

        (first,) = bus.receive("devops-engineer", 1)
        gates = bus.receive("devops-engineer-gate", 50)

    assert first.message_id == "deploy-0"
    assert [m.message_id for m in gates] == [f"gate-{i}" for i in range(20)]


def test_every_subscription_has_its_own_function_in_the_trigger_index() -> None:
    import json

    from functions.servicebus import INDEX

    subs = all_subscriptions(load_consumers())
    entries = json.loads(INDEX.read_text(encoding="utf-8"))["triggers"]

    assert [(e["name"], e["subscription"], e["functionName"]) for e in entries] == [
        (s.consumer.name, s.name, s.function_name) for s in subs]
    assert any(s.lane == "gate" and s.consumer.name == "devops-engineer" for s in subs)
