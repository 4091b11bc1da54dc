"""Pipeline behaviour beyond the fault tests: upcasting and masked logging."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from shared.bootstrap import Runtime
from shared.contracts.envelope import Envelope
from shared.contracts.manifests import Consumer
from shared.handling.context import HandlingContext
from shared.handling.decisions import Decision, Route
from shared.host.local import to_functions_message
from shared.ports import Document, SubscriptionSpec
from tests.conftest import signed_event


class Recorder:
    def __init__(self, *types: str) -> None:
        self.consumer = Consumer("recorder", "coordinator", types)
        self.seen: list[Envelope] = []

    def subject(self, event: Envelope) -> Envelope:

        return event


    def route(self, event: Envelope) -> Route:
        return Route("recorder")

    def decide(self, event: Envelope, state: Document | None, ctx: HandlingContext) -> Decision:
        self.seen.append(event)
        return Decision()


def deliver(rt: Runtime, handler: Recorder, event: Envelope) -> Any:
    assert rt.receiver is not None
    rt.receiver.ensure_subscription(SubscriptionSpec("recorder", f"type = '{event.type}'"))
    rt.publisher.publish_envelopes([event])
    (received,) = rt.receiver.receive("recorder")
    return rt.pipeline_with({"recorder": handler}).handle("recorder", to_functions_message(received))


def test_an_old_major_is_upcast_before_the_handler_sees_it(runtime: Runtime) -> None:
    handler = Recorder("AgentFailed")
    old = signed_event(runtime, "AgentFailed", {"agent": "qa-engineer", "failedEventId": "e1",
                                                "failedEventType": "CodeGenerated", "reason": "boom"})
    old = old.model_copy(update={"version": "1.0.0"}).signed(runtime.signing_key)
    assert deliver(runtime, handler, old).status == "completed"
    (seen,) = handler.seen
    assert seen.version.startswith("2.")
    assert seen.data["attempt"] == 0 and seen.data["permanent"] is False


def test_sensitive_payload_fields_are_masked_in_logs(runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    handler = Recorder("ProjectInitialized")
    event = signed_event(runtime, "ProjectInitialized", {
        "projectId": "p1", "productName": "Demo", "intent": {"product": {"name": "demo"}},
        "ownerEmail": "owner@example.com"})
    with caplog.at_level(logging.DEBUG, logger="factory.pipeline"):
        assert deliver(runtime, handler, event).status == "completed"
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "admits ProjectInitialized" in text
    assert "owner@example.com" not in text
    assert "***" in text


def test_on_azure_a_permanent_failure_is_recorded_and_the_message_completed(runtime: Runtime) -> None:
    from shared.handling.settlement import DEAD_LETTER_PARTITION, RecordAndCompleteSettlement

    runtime.settlement = RecordAndCompleteSettlement(runtime.state, runtime.clock)
    handler = Recorder("ProjectCompleted")
    event = signed_event(runtime, "ProjectCompleted", {"projectId": "p1", "outcome": "released"})
    tampered = event.model_copy(update={"tenant_id": "other"})
    outcome = deliver(runtime, handler, tampered)  # returns normally: the host completes the message
    assert outcome.status == "dead-lettered" and handler.seen == []
    (record,) = runtime.state.query(DEAD_LETTER_PARTITION)
    assert record.body["reason"] == "SignatureInvalid" and record.body["consumer"] == "recorder"
    assert record.body["bodyBase64"]


def test_events_are_in_the_event_log_before_any_consumer_can_receive_them(runtime: Runtime,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # a consumer reacting at once reads the project's history: the event that woke it must be there
    event = signed_event(runtime, "ProjectCompleted", {"projectId": "p1", "outcome": "released"})
    seen_in_log: list[bool] = []
    real_publish = runtime.bus.publish

    def publish(messages: Any) -> None:
        logged = {e["id"] for e in runtime.state.events_for_project("p1")}
        seen_in_log.append(all(m.message_id in logged for m in messages))
        real_publish(messages)

    monkeypatch.setattr(runtime.bus, "publish", publish)
    runtime.publisher.publish_envelopes([event])
    outbox = runtime.publisher.prepare([__import__("shared.ports.skills", fromlist=["Emit"]).Emit(
        "ProjectCompleted", {"projectId": "p1", "outcome": "failed", "reason": "x"})], consumer="c", cause=event)
    runtime.publisher.publish_records(outbox)
    assert seen_in_log == [True, True]
