"""The publisher contract on ``ServiceBusPublisher``, through the SDK's own message and batch classes.

There is no Service Bus server here: the SDK's ``ServiceBusMessage``/``ServiceBusMessageBatch`` are
real, the sender records what it was given (``tests/unit/test_servicebus_publisher.py``). Duplicate
detection is the namespace's job, so "reaches the topic once" is what the broker keeps: messages
with the same ``MessageId`` inside the window count once, as Service Bus drops them.
"""

from __future__ import annotations

from shared.adapters.azure.servicebus_publisher import ServiceBusPublisher
from shared.ports import FakeClock, MessagePublisher
from tests.contract.publisher_contract import Observed, PublisherContract
from tests.unit.test_servicebus_publisher import FakeServiceBusSender, make


class TestServiceBusPublisher(PublisherContract):
    def make_publisher(self, clock: FakeClock) -> MessagePublisher:
        self.sender = FakeServiceBusSender()
        publisher, _ = make(self.sender)
        return publisher

    def observed(self, publisher: MessagePublisher, clock: FakeClock) -> list[Observed]:
        assert isinstance(publisher, ServiceBusPublisher)
        sent = [m for batch in self.sender.sent for m in batch.added]
        sent += [m for messages, _at in self.sender.scheduled for m in messages]
        kept: dict[str, Observed] = {}
        for m in sent:  # the broker's duplicate detection keeps the first of each MessageId
            props = {str(k.decode() if isinstance(k, bytes) else k): v
                     for k, v in (m.application_properties or {}).items()}
            kept.setdefault(str(m.message_id), Observed(
                str(m.message_id), b"".join(m.body), props, m.content_type, m.subject, m.correlation_id,
                m.scheduled_enqueue_time_utc))
        order = [str(m.message_id) for m in sent]
        return sorted(kept.values(), key=lambda o: order.index(o.message_id))
