"""``ServiceBusPublisher`` through the SDK's own message and batch classes and a recording sender."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusMessageBatch
from azure.servicebus.exceptions import ServiceBusConnectionError

from shared.adapters.azure.clients import AzureConnectionError, servicebus_client, servicebus_publisher
from shared.adapters.azure.servicebus_publisher import PublishError, ServiceBusPublisher, to_servicebus_message
from shared.ports import OutgoingMessage
from shared.settings import load_settings


class RecordingBatch(ServiceBusMessageBatch):
    """The SDK's batch (real size accounting), remembering what was added."""

    def __init__(self, max_size_in_bytes: int | None = None) -> None:
        super().__init__(max_size_in_bytes=max_size_in_bytes)
        self.added: list[ServiceBusMessage] = []

    def add_message(self, message: Any) -> None:
        super().add_message(message)
        self.added.append(message)


class FakeServiceBusSender:
    def __init__(self, batch_bytes: int = 262_144, fail_with: Exception | None = None) -> None:
        self.batch_bytes = batch_bytes
        self.fail_with = fail_with
        self.sent: list[RecordingBatch] = []
        self.scheduled: list[tuple[list[ServiceBusMessage], datetime]] = []
        self.closed = False

    def create_message_batch(self, max_size_in_bytes: int | None = None) -> RecordingBatch:
        return RecordingBatch(max_size_in_bytes or self.batch_bytes)

    def send_messages(self, batch: RecordingBatch) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(batch)

    def schedule_messages(self, messages: list[ServiceBusMessage], schedule_time_utc: datetime) -> list[int]:
        self.scheduled.append((list(messages), schedule_time_utc))
        return list(range(len(messages)))

    def close(self) -> None:
        self.closed = True


class FakeServiceBusClient:
    def __init__(self, sender: FakeServiceBusSender) -> None:
        self.sender = sender
        self.topics: list[str] = []
        self.closed = False

    def get_topic_sender(self, topic_name: str) -> FakeServiceBusSender:
        self.topics.append(topic_name)
        return self.sender

    def close(self) -> None:
        self.closed = True


def make(sender: FakeServiceBusSender, **kw: Any) -> tuple[ServiceBusPublisher, list[FakeServiceBusClient]]:
    clients: list[FakeServiceBusClient] = []

    def factory() -> FakeServiceBusClient:
        clients.append(FakeServiceBusClient(sender))
        return clients[-1]

    return ServiceBusPublisher("factory-events", client_factory=factory, **kw), clients


def event(i: int, body_size: int = 100, **kw: Any) -> OutgoingMessage:
    return OutgoingMessage(
        message_id=f"evt-{i}",
        body=b"x" * body_size,
        application_properties={
            "type": "VisionDrafted", "version": "1.0.0", "tenantId": "t1", "projectId": "p1",
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "attempt": 2,
        },
        **kw,
    )


def test_message_maps_id_properties_and_headers() -> None:
    message = event(
        1, subject="VisionDrafted", correlation_id="corr-1", time_to_live=timedelta(hours=1),
        content_type="application/cloudevents+json; charset=utf-8",
    )
    sb = to_servicebus_message(message)
    assert sb.message_id == "evt-1"
    expected = {(b"traceparent" if k == "traceparent" else k): v
                for k, v in message.application_properties.items()}
    assert sb.application_properties == expected  # trace context under the SDK's own bytes keys
    assert sb.content_type == "application/cloudevents+json; charset=utf-8"
    assert sb.subject == "VisionDrafted"
    assert sb.correlation_id == "corr-1"
    assert sb.time_to_live == timedelta(hours=1)
    assert b"".join(sb.body) == message.body
    assert sb.scheduled_enqueue_time_utc is None


def test_immediate_messages_are_sent_in_one_batch_when_they_fit() -> None:
    sender = FakeServiceBusSender()
    publisher, clients = make(sender)
    publisher.publish([event(i) for i in range(10)])
    assert [len(b) for b in sender.sent] == [10]
    assert [m.message_id for m in sender.sent[0].added] == [f"evt-{i}" for i in range(10)]
    assert clients[0].topics == ["factory-events"]
    assert (sender.sent[0].added[3].application_properties or {})["tenantId"] == "t1"


def test_a_full_batch_is_sent_and_a_new_one_started() -> None:
    sender = FakeServiceBusSender(batch_bytes=2048)
    publisher, _ = make(sender)
    publisher.publish([event(i, body_size=600) for i in range(7)])
    sizes = [len(b) for b in sender.sent]
    assert len(sizes) > 1
    assert sum(sizes) == 7
    sent_ids = [m.message_id for b in sender.sent for m in b.added]
    assert sent_ids == [f"evt-{i}" for i in range(7)]


def test_explicit_max_batch_size_is_passed_to_the_sdk() -> None:
    sender = FakeServiceBusSender()
    publisher, _ = make(sender, max_batch_size_in_bytes=1500)
    publisher.publish([event(i, body_size=600) for i in range(4)])
    assert len(sender.sent) >= 2


def test_message_too_large_for_any_batch_names_the_message_and_the_fix() -> None:
    sender = FakeServiceBusSender(batch_bytes=1024)
    publisher, _ = make(sender)
    with pytest.raises(PublishError, match=r"evt-9 .*artifact"):
        publisher.publish([event(9, body_size=4096)])
    assert sender.sent == []


def test_scheduled_messages_go_through_schedule_messages_grouped_by_time() -> None:
    sender = FakeServiceBusSender()
    publisher, _ = make(sender)
    t1 = datetime(2026, 1, 1, 12, tzinfo=UTC)
    t2 = t1 + timedelta(minutes=5)
    publisher.publish([
        event(1, scheduled_enqueue_time=t2),
        event(2),
        event(3, scheduled_enqueue_time=t1),
        event(4, scheduled_enqueue_time=t2),
    ])
    assert [m.message_id for b in sender.sent for m in b.added] == ["evt-2"]
    assert [([m.message_id for m in msgs], at) for msgs, at in sender.scheduled] == [
        (["evt-3"], t1),
        (["evt-1", "evt-4"], t2),
    ]
    assert sender.scheduled[0][0][0].scheduled_enqueue_time_utc == t1


def test_sender_is_reused_across_publishes_and_closed_once() -> None:
    sender = FakeServiceBusSender()
    publisher, clients = make(sender)
    publisher.publish([event(1)])
    publisher.publish([event(2)])
    publisher.publish([])
    assert len(clients) == 1
    publisher.close()
    assert sender.closed and clients[0].closed


def test_sdk_failure_becomes_publish_error_with_next_steps() -> None:
    sender = FakeServiceBusSender(fail_with=ServiceBusConnectionError(message="amqp link detached"))
    publisher, _ = make(sender)
    with pytest.raises(PublishError, match=r"ServiceBusConnection.*Data Sender") as info:
        publisher.publish([event(1)])
    assert isinstance(info.value.__cause__, ServiceBusConnectionError)
    assert sender.closed, "a failed link is closed so the next publish reconnects"


def test_publish_after_a_failure_opens_a_new_connection() -> None:
    sender = FakeServiceBusSender(fail_with=ServiceBusConnectionError(message="amqp link detached"))
    publisher, clients = make(sender)
    with pytest.raises(PublishError):
        publisher.publish([event(1)])
    sender.fail_with = None
    publisher.publish([event(1)])
    assert len(clients) == 2
    assert [m.message_id for b in sender.sent for m in b.added] == ["evt-1"]


def test_missing_connection_is_rejected_with_the_settings_to_use() -> None:
    settings = load_settings(FACTORY_SIGNING_KEY="k" * 32)
    with pytest.raises(AzureConnectionError, match="ServiceBusConnection__fullyQualifiedNamespace"):
        servicebus_client(settings)


def test_from_settings_uses_the_connection_string(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ServiceBusConnection", "Endpoint=sb://example.servicebus.windows.net/;"
                       "SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0")
    monkeypatch.setenv("FACTORY_TOPIC", "other-topic")
    publisher = servicebus_publisher(load_settings())
    assert publisher.topic == "other-topic"
    client = publisher._client_factory()
    assert client.fully_qualified_namespace == "example.servicebus.windows.net"
    client.close()


def test_identity_form_uses_default_credential_with_managed_identity_client_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import azure.identity

    made: list[dict[str, Any]] = []

    class RecordingCredential:
        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)

        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise AssertionError("no token is requested before the first send")

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", RecordingCredential)
    monkeypatch.setenv("ServiceBusConnection__fullyQualifiedNamespace", "ns.servicebus.windows.net")
    monkeypatch.setenv("AZURE_CLIENT_ID", "cid")
    client = servicebus_publisher(load_settings())._client_factory()
    assert made == [{"managed_identity_client_id": "cid"}]
    assert client.fully_qualified_namespace == "ns.servicebus.windows.net"
    client.close()


def test_importing_the_adapter_does_not_import_the_sdk() -> None:
    code = (
        "import sys; import shared.adapters.azure.servicebus_publisher; "
        "print('azure.servicebus' in sys.modules, 'azure.identity' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
