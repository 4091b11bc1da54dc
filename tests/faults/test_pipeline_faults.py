"""Fault tests of the handling pipeline on the embedded bus and state store (fake clock, no sleeps)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from shared.bootstrap import Runtime
from shared.contracts.envelope import Envelope
from shared.host.local import to_functions_message
from shared.ports import FakeClock, OutgoingMessage
from tests.conftest import signed_event
from tests.faults.harness import INPUT, Harness


@pytest.fixture
def harness(runtime: Runtime) -> Iterator[Harness]:
    h = Harness(runtime)
    yield h
    h.host.close()


def completed(rt: Runtime, n: int = 0) -> Envelope:
    return signed_event(rt, INPUT, {"projectId": "p1", "outcome": "released"}, id=f"00000000-0000-4000-8000-{n:012d}")


def test_duplicate_delivery_and_redelivery_after_completion_have_one_effect(harness: Harness,
                                                                           runtime: Runtime) -> None:
    event = completed(runtime)
    harness.publish(event)
    harness.publish(event)  # re-publish inside the window: dropped by duplicate detection
    harness.run()
    # the same message delivered again after completion (e.g. a resubmit by hand) is a no-op
    msg = to_functions_message(_as_received(runtime, event))
    outcome = harness.pipeline.handle("counter", msg)
    assert outcome.status == "duplicate"
    assert harness.state() is not None and harness.state()["count"] == 1  # type: ignore[index]
    assert len(harness.outputs()) == 1


def test_four_concurrent_events_on_one_state_document_are_all_applied(harness: Harness, runtime: Runtime) -> None:
    barrier = threading.Barrier(4, timeout=10)

    def collide(call: int, _event: Envelope) -> None:
        if call <= 4:
            barrier.wait()  # all four read the same ETag before any of them writes

    harness.handler.before_decide = collide
    for n in range(4):
        harness.publish(completed(runtime, n))
    harness.run()
    state = harness.state()
    assert state is not None and state["count"] == 4
    assert sorted(state["events"]) == sorted(completed(runtime, n).id for n in range(4))
    assert harness.handler.calls > 4  # the losers re-applied on a fresh read
    assert len(harness.outputs()) == 4


def test_concurrent_first_events_create_exactly_one_document(harness: Harness, runtime: Runtime) -> None:
    barrier = threading.Barrier(3, timeout=10)
    harness.handler.before_decide = lambda call, _e: barrier.wait() if call <= 3 else None
    for n in range(3):
        harness.publish(completed(runtime, n))
    harness.run()
    docs = runtime.state.query("counter:p1")
    assert [d.id for d in docs if d.id == "counter"] == ["counter"]
    assert harness.state()["count"] == 3  # type: ignore[index]


def test_stale_write_never_overwrites(harness: Harness, runtime: Runtime) -> None:
    harness.publish(completed(runtime, 1))
    harness.run()
    stale = runtime.state.get("counter:p1", "counter")
    assert stale is not None
    harness.publish(completed(runtime, 2))
    harness.run()
    from shared.ports import PreconditionFailedError

    with pytest.raises(PreconditionFailedError):
        runtime.state.replace("counter:p1", "counter", {"count": 0, "events": []}, stale.etag)
    assert harness.state()["count"] == 2  # type: ignore[index]


def test_crash_after_state_commit_before_publish_loses_nothing(harness: Harness, runtime: Runtime,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    real_publish = runtime.bus.publish
    crashed = []

    def crash_once(messages: list[OutgoingMessage]) -> None:
        if not crashed and any(m.application_properties.get("type") != INPUT for m in messages):
            crashed.append(True)
            raise ConnectionError("process died between commit and publish")
        real_publish(messages)

    monkeypatch.setattr(runtime.bus, "publish", crash_once)
    harness.publish(completed(runtime))
    harness.run()
    assert crashed
    assert harness.state()["count"] == 1  # type: ignore[index]
    assert len(harness.outputs()) == 1  # relayed on redelivery, exactly once
    assert runtime.state.pending_outbox() == []


def test_crash_after_publish_before_marking_published_creates_no_ghost_event(
        harness: Harness, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    real_mark = runtime.state.mark_published
    crashed = []

    def crash_once(ids: list[str], consumer: str) -> None:
        if not crashed:
            crashed.append(True)
            raise ConnectionError("process died after publish")
        real_mark(ids, consumer)

    monkeypatch.setattr(runtime.state, "mark_published", crash_once)
    harness.publish(completed(runtime))
    harness.run()
    assert crashed
    assert harness.state()["count"] == 1  # type: ignore[index]
    assert len(harness.outputs()) == 1  # the re-send had the same id: dropped by duplicate detection


def test_poison_message_is_tried_exactly_max_delivery_count_times_then_dead_lettered(
        harness: Harness, runtime: Runtime) -> None:
    def boom(_call: int, _event: Envelope) -> None:
        raise RuntimeError("downstream unavailable")

    harness.handler.fail = boom
    harness.publish(completed(runtime))
    harness.run()
    assert harness.handler.calls == 3
    assert runtime.receiver is not None
    (dead,) = runtime.receiver.dead_letters("counter")
    assert dead.reason == "MaxDeliveryCountExceeded"
    assert dead.delivery_count == 3
    assert harness.state() is None


def test_permanent_error_is_dead_lettered_at_once_with_its_reason(harness: Harness, runtime: Runtime) -> None:
    event = completed(runtime)
    tampered = event.model_copy(update={"data": {"projectId": "p1", "outcome": "cancelled"}})
    runtime.bus.publish([tampered.to_message()])
    runtime.bus.publish([OutgoingMessage("bad-1", b"{not json", {"type": INPUT})])
    harness.run()
    assert harness.handler.calls == 0
    assert runtime.receiver is not None
    dead = {d.message_id: d for d in runtime.receiver.dead_letters("counter")}
    assert dead[event.id].reason == "SignatureInvalid" and dead[event.id].delivery_count == 1
    assert dead["bad-1"].reason == "InvalidEnvelope" and dead["bad-1"].delivery_count == 1


def test_resubmitted_dead_letter_has_no_double_effect(harness: Harness, runtime: Runtime) -> None:
    assert runtime.receiver is not None
    event = completed(runtime)
    harness.publish(event)
    (received,) = runtime.receiver.receive("counter")
    assert harness.pipeline.handle("counter", to_functions_message(received)).status == "completed"
    runtime.receiver.dead_letter(received.lock_token, "HostTimeout", "the host gave up before completing")
    (dead,) = runtime.receiver.dead_letters("counter")
    runtime.receiver.resubmit("counter", dead.sequence_number)
    harness.run()
    assert harness.deliveries[-1].outcome == "completed"
    assert harness.state()["count"] == 1  # type: ignore[index]
    assert len(harness.outputs()) == 1


def test_lock_expiry_during_a_slow_handler_has_no_double_effect(harness: Harness, runtime: Runtime,
                                                                 clock: FakeClock) -> None:
    assert runtime.receiver is not None
    event = completed(runtime)
    harness.publish(event)
    (first,) = runtime.receiver.receive("counter")

    def slow(call: int, _event: Envelope) -> None:
        if call == 1:  # the first delivery is slow: its lock expires and another instance takes over
            clock.advance(31)
            (second,) = runtime.receiver.receive("counter")
            assert second.delivery_count == 2
            assert harness.pipeline.handle("counter", to_functions_message(second)).status == "completed"
            runtime.receiver.complete(second.lock_token)

    harness.handler.before_decide = slow
    outcome = harness.pipeline.handle("counter", to_functions_message(first))
    assert outcome.status == "duplicate"  # the slow one lost the inbox race and committed nothing
    from shared.ports import LockLostError

    with pytest.raises(LockLostError):
        runtime.receiver.complete(first.lock_token)
    assert harness.state()["count"] == 1  # type: ignore[index]
    assert len(harness.outputs()) == 1


def test_late_scheduled_timeout_for_a_state_that_moved_on_is_a_no_op(runtime: Runtime, clock: FakeClock) -> None:
    from shared.host.local import build_host

    host, _ = build_host(runtime, project_dir=__import__("pathlib").Path("."))
    try:
        contract = signed_event(runtime, "ApiContractDefined", {
            "projectId": "p1", "service": "svc", "artifacts": [], "openapiDigest": "sha256:" + "0" * 64,
            "endpointCount": 1})
        # drive only the microservice-assembly coordinator (one instance per service)
        host.functions = [f for f in host.functions if f.subscription == "microservice-assembly"]
        runtime.publisher.publish_envelopes([contract])
        host.run_until_idle()
        doc = runtime.state.get("microservice-assembly:p1/svc", "instance")
        assert doc is not None and doc.body["state"] == "scaffolding"
        # the awaitingContract timeout was scheduled when the instance was created; let it fire late
        clock.advance(4000)
        host.run_until_idle()
        after = runtime.state.get("microservice-assembly:p1/svc", "instance")
        assert after is not None
        assert after.body["state"] == "failed"  # the *scaffolding* timeout (900 s) is due too and applies
        assert after.body["failure"].startswith("timed out in state 'scaffolding'")
        assert [h["to"] for h in after.body["history"]] == ["scaffolding", "failed"]  # awaitingContract's was a no-op
    finally:
        host.close()


def _as_received(rt: Runtime, event: Envelope):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from shared.ports import ReceivedMessage

    m = event.to_message()
    now = rt.clock.now()
    return ReceivedMessage("counter", 999, m.message_id, m.body, m.application_properties, m.content_type,
                           m.subject, m.correlation_id, 1, now, None, None, now + timedelta(seconds=30), "manual-token")
