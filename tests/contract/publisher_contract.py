"""The publisher contract: every ``MessagePublisher`` must pass these cases (subclass ``PublisherContract``).

What the pipeline relies on when it publishes an outbox: every message reaches the topic with its
id, body, properties and headers; a message scheduled for later is not delivered before its time;
re-publishing a message id is harmless (duplicate detection is the broker's, never an error);
publishing nothing is a no-op. Each subclass says how it observes what reached the topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from shared.ports import FakeClock, MessagePublisher, OutgoingMessage, PropertyValue


@dataclass(frozen=True)
class Observed:
    """A message as the topic received it (transport-neutral)."""

    message_id: str
    body: bytes
    application_properties: dict[str, PropertyValue]
    content_type: str | None
    subject: str | None
    correlation_id: str | None
    scheduled_enqueue_time: datetime | None


def message(message_id: str, **kw: object) -> OutgoingMessage:
    return OutgoingMessage(
        message_id=message_id, body=f'{{"id": "{message_id}"}}'.encode(),
        application_properties={"type": "ContractProbe", "version": "1.0.0", "tenantId": "t1", "attempt": 2},
        **kw,  # type: ignore[arg-type]
    )


class PublisherContract:
    """Abstract case: ``make_publisher(clock)`` and ``observed(publisher, clock)`` per adapter."""

    def make_publisher(self, clock: FakeClock) -> MessagePublisher:
        raise NotImplementedError

    def observed(self, publisher: MessagePublisher, clock: FakeClock) -> list[Observed]:
        """What reached the topic so far, in publish order, each message once."""
        raise NotImplementedError

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def publisher(self, clock: FakeClock) -> MessagePublisher:
        return self.make_publisher(clock)

    def test_every_message_reaches_the_topic_with_its_id_body_and_properties(
            self, publisher: MessagePublisher, clock: FakeClock) -> None:
        sent = [message(f"m{i}", subject="ContractProbe", correlation_id=f"c{i}") for i in range(5)]
        publisher.publish(sent)
        got = self.observed(publisher, clock)
        assert [o.message_id for o in got] == [m.message_id for m in sent]
        for o, m in zip(got, sent, strict=True):
            assert o.body == m.body
            assert o.application_properties == dict(m.application_properties)
            assert (o.content_type, o.subject, o.correlation_id) == (m.content_type, m.subject, m.correlation_id)

    def test_publishing_nothing_is_a_no_op(self, publisher: MessagePublisher, clock: FakeClock) -> None:
        publisher.publish([])
        assert self.observed(publisher, clock) == []

    def test_re_publishing_a_message_id_is_not_an_error_and_reaches_the_topic_once(
            self, publisher: MessagePublisher, clock: FakeClock) -> None:
        publisher.publish([message("dup")])
        publisher.publish([message("dup")])
        assert [o.message_id for o in self.observed(publisher, clock)].count("dup") == 1

    def test_a_scheduled_message_carries_its_enqueue_time(
            self, publisher: MessagePublisher, clock: FakeClock) -> None:
        at = clock.now() + timedelta(minutes=5)
        publisher.publish([message("later", scheduled_enqueue_time=at), message("now")])
        got = {o.message_id: o for o in self.observed(publisher, clock)}
        assert got["later"].scheduled_enqueue_time == at
        assert got["now"].scheduled_enqueue_time is None
