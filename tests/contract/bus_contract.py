"""The bus contract: every ``Bus`` adapter must pass these cases (subclass ``BusContract``).

The cases are the Service Bus behaviours the factory relies on. They run on a ``FakeClock`` so
locks, schedules, TTLs and the duplicate-detection window are exercised without sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from shared.ports import Bus, FakeClock, LockLostError, OutgoingMessage, PropertyValue, SubscriptionSpec

WINDOW = timedelta(minutes=10)  # duplicate-detection window every adapter under test must use


def msg(
    message_id: str, type_: str = "X", *, body: bytes | None = None, **props: str | int | float | bool | None
) -> OutgoingMessage:
    return OutgoingMessage(
        message_id=message_id,
        body=body if body is not None else f'{{"id": "{message_id}"}}'.encode(),
        application_properties={"type": type_, **props},
    )


class BusContract:
    """Abstract case. Subclasses implement ``make_bus(clock)`` with a 10-minute dedup window."""

    def make_bus(self, clock: FakeClock) -> Bus:
        raise NotImplementedError

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def bus(self, clock: FakeClock) -> Iterator[Bus]:
        bus = self.make_bus(clock)
        yield bus
        close = getattr(bus, "close", None)
        if close is not None:
            close()

    @staticmethod
    def sub(bus: Bus, name: str, sql_filter: str = "1=1", **kw: object) -> str:
        bus.ensure_subscription(SubscriptionSpec(name, sql_filter, **kw))  # type: ignore[arg-type]
        return name

    # ------------------------------------------------------------------ routing

    def test_publish_fans_out_to_every_subscription_whose_filter_matches(self, bus: Bus) -> None:
        a = self.sub(bus, "a", "type IN ('X')")
        b = self.sub(bus, "b", "type IN ('X', 'Y')")
        c = self.sub(bus, "c", "type = 'Z'")
        bus.publish([msg("m1", "X"), msg("m2", "Y")])
        assert [m.message_id for m in bus.receive(a, 10)] == ["m1"]
        assert [m.message_id for m in bus.receive(b, 10)] == ["m1", "m2"]
        assert bus.receive(c, 10) == []

    def test_message_matching_no_filter_is_delivered_nowhere(self, bus: Bus) -> None:
        a = self.sub(bus, "a", "type = 'X' AND tenantId = 't1'")
        bus.publish([msg("m1", "X", tenantId="t2"), msg("m2", "W", tenantId="t1")])
        assert bus.receive(a, 10) == []
        assert bus.next_due(a) is None

    def test_filters_see_system_properties(self, bus: Bus) -> None:
        a = self.sub(bus, "a", "sys.Label = 'greeting' AND sys.CorrelationId = 'c1'")
        bus.publish([
            OutgoingMessage("m1", b"{}", {"type": "X"}, subject="greeting", correlation_id="c1"),
            OutgoingMessage("m2", b"{}", {"type": "X"}, subject="other", correlation_id="c1"),
        ])
        assert [m.message_id for m in bus.receive(a, 10)] == ["m1"]

    def test_manifest_style_filter_routes_retry_commands_by_target(self, bus: Bus) -> None:
        expr = (
            "(type IN ('A', 'B') OR (type = 'AgentRetryRequested' AND targetAgent = 'x')) "
            "AND tenantId = 't1'"
        )
        x = self.sub(bus, "x", expr)
        bus.publish([
            msg("m1", "A", tenantId="t1"),
            msg("m2", "AgentRetryRequested", targetAgent="x", tenantId="t1"),
            msg("m3", "AgentRetryRequested", targetAgent="y", tenantId="t1"),
            msg("m4", "B", tenantId="t2"),
        ])
        assert [m.message_id for m in bus.receive(x, 10)] == ["m1", "m2"]

    def test_message_round_trips_body_properties_and_headers(self, bus: Bus, clock: FakeClock) -> None:
        a = self.sub(bus, "a")
        props: dict[str, PropertyValue] = {
            "type": "X", "version": "1.2.0", "n": 3, "ratio": 0.5, "flag": True, "none": None,
        }
        bus.publish([OutgoingMessage(
            "m1", b"\x00\xffbinary", props, content_type="application/json", subject="s", correlation_id="c",
        )])
        (got,) = bus.receive(a)
        assert got.body == b"\x00\xffbinary"
        assert dict(got.application_properties) == props
        assert (got.content_type, got.subject, got.correlation_id) == ("application/json", "s", "c")
        assert got.subscription == "a"
        assert got.enqueued_time == clock.now()
        assert got.delivery_count == 1
        assert got.scheduled_enqueue_time is None

    def test_available_messages_are_received_in_sequence_order(self, bus: Bus) -> None:
        a = self.sub(bus, "a")
        bus.publish([msg(f"m{i}") for i in range(5)])
        bus.publish([msg("m5")])
        got = bus.receive(a, 10)
        assert [m.message_id for m in got] == [f"m{i}" for i in range(6)]
        seqs = [m.sequence_number for m in got]
        assert seqs == sorted(seqs) and len(set(seqs)) == 6

    def test_redelivered_message_keeps_its_place_in_sequence_order(self, bus: Bus, clock: FakeClock) -> None:
        a = self.sub(bus, "a", lock_duration=timedelta(seconds=60))
        bus.publish([msg("m1")])
        bus.receive(a)
        clock.advance(30)
        bus.publish([msg("m2")])
        clock.advance(31)
        assert [m.message_id for m in bus.receive(a, 10)] == ["m1", "m2"]

    def test_future_scheduled_messages_do_not_hold_back_later_ones(self, bus: Bus, clock: FakeClock) -> None:
        a = self.sub(bus, "a")
        later = clock.now() + timedelta(hours=1)
        bus.publish([
            OutgoingMessage(f"t{i}", b"{}", {"type": "X"}, scheduled_enqueue_time=later) for i in range(3)
        ])
        bus.publish([msg("m1")])
        assert [m.message_id for m in bus.receive(a, 10)] == ["m1"]

    # ------------------------------------------------------------------ duplicate detection

    def test_republish_within_window_is_dropped_for_all_subscriptions(
        self, bus: Bus, clock: FakeClock
    ) -> None:
        a, b = self.sub(bus, "a"), self.sub(bus, "b")
        bus.publish([msg("m1"), msg("m1")])
        clock.advance(WINDOW.total_seconds() - 60)
        bus.publish([msg("m1", body=b"second")])
        assert len(bus.receive(a, 10)) == 1
        assert len(bus.receive(b, 10)) == 1

    def test_republish_after_window_is_accepted_again(self, bus: Bus, clock: FakeClock) -> None:
        a = self.sub(bus, "a")
        bus.publish([msg("m1")])
        clock.advance(WINDOW.total_seconds() - 60)
        bus.publish([msg("m1")])  # dropped, and does not extend the window
        clock.advance(120)
        bus.publish([msg("m1", body=b"again")])
        got = bus.receive(a, 10)
        assert [m.body for m in got] == [b'{"id": "m1"}', b"again"]

    # ------------------------------------------------------------------ peek-lock

    def test_locked_messages_are_not_delivered_to_another_receiver(self, bus: Bus) -> None:
        a = self.sub(bus, "a")
        bus.publish([msg("m1"), msg("m2"), msg("m3")])
        first = bus.receive(a, 2)
        second = bus.receive(a, 5)
        assert [m.message_id for m in first] == ["m1", "m2"]
        assert [m.message_id for m in second] == ["m3"]
        assert bus.receive(a, 5) == []
        tokens = {m.lock_token for m in first + second}
        assert len(tokens) == 3

    def test_completed_message_is_never_redelivered(self, bus: Bus, clock: FakeClock) -> None:
        a = self.sub(bus, "a")
        bus.publish([msg("m1")])
        (got,) = bus.receive(a)
        bus.complete(got.lock_token)
        clock.advance(3600)
        assert bus.receive(a) == []
        assert bus.next_due(a) is None

    def test_receive_sets_lock_from_subscription_or_explicit_duration(
        self, bus: Bus, clock: FakeClock
    ) -> None:
        a = self.sub(bus, "a", lock_duration=timedelta(seconds=30))
        bus.publish([msg("m1"), msg("m2")])
        (one,) = bus.receive(a)
        (two,) = bus.receive(a, lock_duration=timedelta(minutes=5))
        assert one.locked_until == clock.now() + timedelta(seconds=30)
        assert two.locked_until == clock.now() + timedelta(minutes=5)

    def test_renewing_a_lock_keeps_the_message_invisible(self, bus: Bus, clock: FakeClock) -> None:
        a = self.sub(bus, "a", lock_duration=timedelta(seconds=60))
        bus.publish([msg("m1")])
        (got,) = bus.receive(a)
        clock.advance(50)
        renewed = bus.renew_lock(got.lock_token)
        assert renewed == clock.now() + timedelta(seconds=60)
        clock.advance(50)
        assert bus.receive(a) == []
        bus.complete(got.lock_token)
        clock.advance(120)
        assert bus.receive(a) == []

    def test_expired_lock_redelivers_and_old_token_is_lost(self, bus: Bus, clock: FakeClock) -> None:
        a = self.sub(bus, "a", lock_duration=timedelta(seconds=60))
        bus.publish([msg("m1")])
        (first,) = bus.receive(a)
        clock.advance(61)
        (second,) = bus.receive(a)
        assert second.message_id == "m1"
        assert second.delivery_count == first.delivery_count + 1 == 2
        assert second.lock_token != first.lock_token
        for settle in (bus.complete, bus.abandon, bus.renew_lock):
            with pytest.raises(LockLostError):
                settle(first.lock_token)
        with pytest.raises(LockLostError):
            bus.dead_letter(first.lock_token, "Late", "too late")
        bus.complete(second.lock_token)

    def test_settling_after_lock_expiry_without_redelivery_raises_lock_lost(
        self, bus: Bus, clock: FakeClock
    ) -> None:
        a = self.sub(bus, "a", lock_duration=timedelta(seconds=60))
        bus.publish([msg("m1")])
        (got,) = bus.receive(a)
        clock.advance(60)
        with pytest.raises(LockLostError):
            bus.complete(got.lock_token)
        assert [m.message_id for m in bus.receive(a)] == ["m1"]

    def test_unknown_lock_token_raises_lock_lost(self, bus: Bus) -> None:
        self.sub(bus, "a")
        with pytest.raises(LockLostError):
            bus.complete("no-such-token")

    def test_abandon_releases_the_lock_at_once_and_keeps_the_place(self, bus: Bus) -> None:
        a = self.sub(bus, "a")
        bus.publish([msg("m1"), msg("m2")])
        (first,) = bus.receive(a)
        bus.abandon(first.lock_token)
        again = bus.receive(a, 2)
        assert [m.message_id for m in again] == ["m1", "m2"]
        assert [m.delivery_count for m in again] == [2, 1]
        with pytest.raises(LockLostError):
            bus.complete(first.lock_token)

    # ------------------------------------------------------------------ dead-letter queue

    def test_max_delivery_count_moves_message_to_dead_letter_queue(self, bus: Bus) -> None:
        a = self.sub(bus, "a", max_delivery_count=3)
        bus.publish([msg("m1")])
        deliveries = 0
        while got := bus.receive(a):
            deliveries += 1
            bus.abandon(got[0].lock_token)
            assert deliveries <= 3, "delivered more often than max_delivery_count"
        assert deliveries == 3
        (dead,) = bus.dead_letters(a)
        assert dead.reason == "MaxDeliveryCountExceeded"
        assert "3" in dead.description
        assert dead.delivery_count == 3
        assert dead.message_id == "m1"

    def test_max_delivery_count_counts_lock_expiries(self, bus: Bus, clock: FakeClock) -> None:
        a = self.sub(bus, "a", max_delivery_count=2, lock_duration=timedelta(seconds=10))
        bus.publish([msg("m1")])
        assert len(bus.receive(a)) == 1
        clock.advance(11)
        assert len(bus.receive(a)) == 1
        clock.advance(11)
        assert bus.receive(a) == []
        assert [d.reason for d in bus.dead_letters(a)] == ["MaxDeliveryCountExceeded"]

    def test_dead_letter_records_reason_and_description(self, bus: Bus, clock: FakeClock) -> None:
        a, b = self.sub(bus, "a"), self.sub(bus, "b")
        bus.publish([msg("m1", body=b"payload", tenantId="t1")])
        (got,) = bus.receive(a)
        bus.dead_letter(got.lock_token, "SchemaValidationFailed", "payload.name is required")
        (dead,) = bus.dead_letters(a)
        assert (dead.subscription, dead.message_id, dead.body) == ("a", "m1", b"payload")
        assert (dead.reason, dead.description) == ("SchemaValidationFailed", "payload.name is required")
        assert dead.application_properties["tenantId"] == "t1"
        assert dead.delivery_count == 1
        assert dead.dead_lettered_at == clock.now()
        assert bus.dead_letters(b) == []
        assert [d.message_id for d in bus.dead_letters()] == ["m1"]
        assert bus.receive(a) == []
        assert len(bus.receive(b)) == 1
        with pytest.raises(LockLostError):
            bus.complete(got.lock_token)

    def test_resubmit_returns_dead_letter_to_its_subscription_only(self, bus: Bus) -> None:
        a, b = self.sub(bus, "a"), self.sub(bus, "b")
        bus.publish([msg("m1", body=b"payload", tenantId="t1")])
        (got,) = bus.receive(a)
        bus.dead_letter(got.lock_token, "Poison", "handler crashed")
        (dead,) = bus.dead_letters(a)
        for m in bus.receive(b):
            bus.complete(m.lock_token)
        bus.resubmit(a, dead.sequence_number)
        assert bus.dead_letters(a) == []
        (again,) = bus.receive(a)
        assert (again.message_id, again.body) == ("m1", b"payload")
        assert again.application_properties["tenantId"] == "t1"
        assert again.delivery_count == 1
        assert bus.receive(b) == []

    def test_resubmit_of_unknown_dead_letter_raises(self, bus: Bus) -> None:
        a = self.sub(bus, "a")
        with pytest.raises(LookupError):
            bus.resubmit(a, 12345)

    # ------------------------------------------------------------------ scheduling and TTL

    def test_scheduled_message_is_not_receivable_before_its_time(self, bus: Bus, clock: FakeClock) -> None:
        a = self.sub(bus, "a")
        at = clock.now() + timedelta(seconds=30)
        bus.publish([OutgoingMessage("m1", b"{}", {"type": "X"}, scheduled_enqueue_time=at)])
        assert bus.receive(a) == []
        assert bus.next_due(a) == at
        clock.advance(29)
        assert bus.receive(a) == []
        clock.advance(1)
        (got,) = bus.receive(a)
        assert got.scheduled_enqueue_time == at

    def test_expired_message_is_never_delivered_and_is_dead_lettered(
        self, bus: Bus, clock: FakeClock
    ) -> None:
        a = self.sub(bus, "a", dead_lettering_on_expiration=True)
        bus.publish([
            OutgoingMessage("m1", b"{}", {"type": "X"}, time_to_live=timedelta(seconds=10)),
            OutgoingMessage("m2", b"{}", {"type": "X"}, time_to_live=timedelta(seconds=100)),
        ])
        clock.advance(11)
        assert [m.message_id for m in bus.receive(a, 10)] == ["m2"]
        (dead,) = bus.dead_letters(a)
        assert (dead.message_id, dead.reason) == ("m1", "TTLExpiredException")

    def test_expired_message_is_dropped_when_subscription_does_not_dead_letter(
        self, bus: Bus, clock: FakeClock
    ) -> None:
        a = self.sub(bus, "a", dead_lettering_on_expiration=False)
        bus.publish([OutgoingMessage("m1", b"{}", {"type": "X"}, time_to_live=timedelta(seconds=10))])
        clock.advance(11)
        assert bus.receive(a) == []
        assert bus.dead_letters(a) == []
        assert bus.next_due(a) is None

    def test_received_message_reports_expiry_from_ttl(self, bus: Bus, clock: FakeClock) -> None:
        a = self.sub(bus, "a")
        bus.publish([OutgoingMessage("m1", b"{}", {"type": "X"}, time_to_live=timedelta(hours=1))])
        (got,) = bus.receive(a)
        assert got.expires_at == clock.now() + timedelta(hours=1)
        assert got.time_to_live == timedelta(hours=1)

    # ------------------------------------------------------------------ next_due

    def test_next_due_is_none_now_or_earliest_lock_or_schedule(self, bus: Bus, clock: FakeClock) -> None:
        a = self.sub(bus, "a", lock_duration=timedelta(seconds=60))
        assert bus.next_due(a) is None
        bus.publish([msg("m1")])
        assert bus.next_due(a) == clock.now()
        (got,) = bus.receive(a)
        assert bus.next_due(a) == got.locked_until
        later = clock.now() + timedelta(seconds=20)
        bus.publish([OutgoingMessage("m2", b"{}", {"type": "X"}, scheduled_enqueue_time=later)])
        assert bus.next_due(a) == later
        clock.advance(20)
        assert bus.next_due(a) == clock.now()
