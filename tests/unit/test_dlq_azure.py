"""``factory dlq`` on the Azure adapters: Service Bus's dead-letter sub-queues through the SDK's own classes
(received messages decoded from real AMQP bytes; only the network is replaced), and the dead letters the
pipeline records in Cosmos DB (on the cosmosdb-server the tests start)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusSubQueue
from azure.servicebus._pyamqp._decode import decode_payload
from azure.servicebus._pyamqp._encode import encode_payload
from azure.servicebus._transport._pyamqp_transport import PyamqpTransport
from azure.servicebus.amqp import AmqpAnnotatedMessage
from typer.testing import CliRunner

from shared.adapters.azure.clients import servicebus_dead_letter_queue
from shared.adapters.azure.servicebus_deadletters import DeadLetterNotFoundError, ServiceBusDeadLetterQueue
from shared.bootstrap import Runtime, bootstrap
from shared.cli import dlq as dlq_cli
from shared.cli.main import app
from shared.handling.settlement import DEAD_LETTER_PARTITION, RecordAndCompleteSettlement
from shared.ports import FakeClock, OutgoingMessage, ResubmitTooEarlyError
from shared.settings import load_settings
from tests.cosmosdb_server import CosmosServer

ENQUEUED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def received(sequence_number: int, message_id: str, *, reason: str = "MaxDeliveryCountExceeded") -> Any:
    """A ``ServiceBusReceivedMessage`` as the SDK builds it from a dead-letter sub-queue's AMQP transfer."""
    amqp = AmqpAnnotatedMessage(
        data_body=[f'{{"id": "{message_id}"}}'.encode()], header={"delivery_count": 10},
        properties={"message_id": message_id, "content_type": "application/cloudevents+json; charset=utf-8",
                    "subject": "ProjectInitialized", "correlation_id": "corr"},
        application_properties={"type": "ProjectInitialized", "tenantId": "t1", b"traceparent": TRACEPARENT,
                                "DeadLetterReason": reason, "DeadLetterErrorDescription": "handler kept failing"},
        annotations={b"x-opt-sequence-number": sequence_number,
                     b"x-opt-enqueued-time": int(ENQUEUED.timestamp() * 1000)})
    encoded = encode_payload(bytearray(), PyamqpTransport.to_outgoing_amqp_message(amqp))
    return ServiceBusReceivedMessage(decode_payload(memoryview(bytes(encoded))), receiver=None)


class FakeDeadLetterReceiver:
    """The calls the adapter makes on ``ServiceBusReceiver`` for a dead-letter sub-queue."""

    def __init__(self, messages: list[Any]) -> None:
        self.messages = messages
        self.completed: list[int] = []
        self.abandoned: list[int] = []

    def __enter__(self) -> FakeDeadLetterReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def peek_messages(self, max_message_count: int, sequence_number: int = 0) -> list[Any]:
        return [m for m in self.messages if m.sequence_number >= sequence_number][:max_message_count]

    def receive_messages(self, max_message_count: int, max_wait_time: float) -> list[Any]:
        return [m for m in self.messages if m.sequence_number not in self.completed][:max_message_count]

    def complete_message(self, message: Any) -> None:
        self.completed.append(message.sequence_number)

    def abandon_message(self, message: Any) -> None:
        self.abandoned.append(message.sequence_number)


class FakeSender:
    def __init__(self) -> None:
        self.sent: list[ServiceBusMessage] = []

    def __enter__(self) -> FakeSender:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def send_messages(self, message: ServiceBusMessage) -> None:
        self.sent.append(message)


class FakeClient:
    def __init__(self, queues: dict[str, FakeDeadLetterReceiver]) -> None:
        self.queues = queues
        self.sender = FakeSender()
        self.opened: list[tuple[str, str, Any]] = []

    def get_subscription_receiver(self, topic_name: str, subscription_name: str, sub_queue: Any,
                                  receive_mode: Any) -> FakeDeadLetterReceiver:
        self.opened.append((topic_name, subscription_name, sub_queue))
        return self.queues[subscription_name]

    def get_topic_sender(self, topic_name: str) -> FakeSender:
        return self.sender


def queue(client: FakeClient, now: datetime = ENQUEUED + timedelta(hours=1)) -> ServiceBusDeadLetterQueue:
    return ServiceBusDeadLetterQueue("factory-events", list(client.queues), client_factory=lambda: client,
                                     duplicate_detection_window=timedelta(minutes=10), clock=FakeClock(now))


def test_dead_letters_of_every_subscription_are_listed_with_their_reason() -> None:
    client = FakeClient({"vision-architect": FakeDeadLetterReceiver([received(7, "e-7"), received(9, "e-9")]),
                         "product-manager": FakeDeadLetterReceiver([received(3, "e-3", reason="TTLExpiredException")])})
    letters = queue(client).dead_letters()
    assert [(d.subscription, d.sequence_number, d.message_id, d.reason) for d in letters] == [
        ("vision-architect", 7, "e-7", "MaxDeliveryCountExceeded"), ("vision-architect", 9, "e-9",
                                                                      "MaxDeliveryCountExceeded"),
        ("product-manager", 3, "e-3", "TTLExpiredException")]
    assert letters[0].application_properties == {"type": "ProjectInitialized", "tenantId": "t1",
                                                 "traceparent": TRACEPARENT}
    assert letters[0].description == "handler kept failing" and letters[0].delivery_count == 10
    assert {sub_queue for _, _, sub_queue in client.opened} == {ServiceBusSubQueue.DEAD_LETTER}


def test_resubmit_sends_a_copy_to_the_topic_and_completes_only_that_dead_letter() -> None:
    dead = FakeDeadLetterReceiver([received(7, "e-7"), received(9, "e-9")])
    client = FakeClient({"vision-architect": dead})
    queue(client).resubmit("vision-architect", 9)
    (copy,) = client.sender.sent
    assert copy.message_id == "e-9" and b"".join(copy.body) == b'{"id": "e-9"}'
    assert (copy.subject, copy.correlation_id) == ("ProjectInitialized", "corr")
    props = {(k.decode() if isinstance(k, bytes) else k): v for k, v in (copy.application_properties or {}).items()}
    assert {k: (v.decode() if isinstance(v, bytes) else v) for k, v in props.items()} == {
        "type": "ProjectInitialized", "tenantId": "t1", "traceparent": TRACEPARENT}
    assert dead.completed == [9] and dead.abandoned == [7]


def test_resubmit_inside_the_duplicate_detection_window_is_refused_and_leaves_the_dead_letter() -> None:
    dead = FakeDeadLetterReceiver([received(9, "e-9")])
    client = FakeClient({"vision-architect": dead})
    with pytest.raises(ResubmitTooEarlyError, match="until 2026-01-01T12:10:00"):
        queue(client, now=ENQUEUED + timedelta(minutes=5)).resubmit("vision-architect", 9)
    assert client.sender.sent == [] and dead.completed == [] and dead.abandoned == [9]


def test_resubmit_of_an_unknown_sequence_number_names_the_command_to_list_them() -> None:
    dead = FakeDeadLetterReceiver([received(7, "e-7")])
    with pytest.raises(DeadLetterNotFoundError, match="factory dlq list"):
        queue(FakeClient({"vision-architect": dead})).resubmit("vision-architect", 8)
    assert dead.completed == [] and set(dead.abandoned) == {7}


def test_the_client_is_made_from_settings_on_first_use_only() -> None:
    settings = load_settings(ServiceBusConnection="Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=k;"
                                                  "SharedAccessKey=c2VjcmV0", FACTORY_TOPIC="t")
    made = servicebus_dead_letter_queue(settings, ["a", "b"])
    assert (made.topic, made.subscriptions, made.window) == ("t", ("a", "b"), timedelta(minutes=10))
    assert made._client is None  # building the runtime stays offline


# ----------------------------------------------------------------------------- the CLI on Azure adapters


class RecordingBus:
    def __init__(self) -> None:
        self.published: list[OutgoingMessage] = []

    def publish(self, messages: Any) -> None:
        self.published.extend(messages)


class DeliveredMessage:
    """What the Python worker hands a trigger (the slice the settlement reads)."""

    def __init__(self, message_id: str, enqueued: datetime) -> None:
        self.message_id = message_id
        self.application_properties = {"type": "ProjectInitialized", "traceparent": TRACEPARENT}
        self.delivery_count = 1
        self.enqueued_time_utc = enqueued
        self.content_type = "application/cloudevents+json; charset=utf-8"
        self.correlation_id = "corr"
        self.subject = "ProjectInitialized"

    def get_body(self) -> bytes:
        return b'{"id": "' + self.message_id.encode() + b'"}'


@pytest.fixture
def azure_runtime(cosmos_server: CosmosServer, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Runtime, RecordingBus, FakeClient, FakeClock]]:
    """A runtime on the Azure adapters: state in Cosmos (the test server), Service Bus through fakes."""
    from shared.adapters.azure.clients import cosmos_state_store

    database = f"factory-{uuid.uuid4().hex[:8]}"
    settings = load_settings(FACTORY_HOME=str(tmp_path), FACTORY_STATE="cosmos", FACTORY_BUS="servicebus",
                             CosmosConnection=cosmos_server.connection_string, CosmosConnection__accountEndpoint=None,
                             FACTORY_COSMOS_DATABASE=database, FACTORY_SIGNING_KEY="test-" + uuid.uuid4().hex,
                             ServiceBusConnection="Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=k;"
                                                  "SharedAccessKey=c2VjcmV0")
    clock = FakeClock(ENQUEUED + timedelta(minutes=1))
    bus = RecordingBus()
    client = FakeClient({"vision-architect": FakeDeadLetterReceiver([received(9, "e-9")])})
    rt = bootstrap(settings, clock=clock, bus=bus, state=cosmos_state_store(settings, clock=clock,
                                                                             create_if_missing=True))
    rt.dead_letter_queue = queue(client, now=ENQUEUED + timedelta(hours=1))
    monkeypatch.setattr(dlq_cli, "open_runtime", lambda: rt)
    yield rt, bus, client, clock


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # the Cosmos server's own cert
def test_dlq_lists_and_resubmits_both_kinds_on_the_azure_adapters(
        azure_runtime: tuple[Runtime, RecordingBus, FakeClient, FakeClock]) -> None:
    rt, bus, client, clock = azure_runtime
    assert isinstance(rt.settlement, RecordAndCompleteSettlement)  # no receiver on Azure: record and complete
    rt.settlement.dead_letter("vision-architect", DeliveredMessage("e-1", ENQUEUED), "SignatureInvalid", "tampered")
    runner = CliRunner()

    listed = runner.invoke(app, ["dlq", "list"])
    assert listed.exit_code == 0, listed.output
    assert "SignatureInvalid" in listed.output and "e-1" in listed.output  # recorded, in Cosmos
    assert "MaxDeliveryCountExceeded" in listed.output  # Service Bus's sub-queue

    early = runner.invoke(app, ["dlq", "resubmit", "vision-architect", "e-1"])
    assert early.exit_code == 1 and "duplicate detection" in early.output and bus.published == []

    clock.advance(600)
    recorded = runner.invoke(app, ["dlq", "resubmit", "vision-architect", "e-1"])
    assert recorded.exit_code == 0, recorded.output
    (copy,) = bus.published
    assert (copy.message_id, copy.body, copy.correlation_id) == ("e-1", b'{"id": "e-1"}', "corr")
    assert copy.application_properties["type"] == "ProjectInitialized"
    assert rt.state.query(DEAD_LETTER_PARTITION) == []  # the record is gone

    from_bus = runner.invoke(app, ["dlq", "resubmit", "vision-architect", "9"])
    assert from_bus.exit_code == 0, from_bus.output
    assert [m.message_id for m in client.sender.sent] == ["e-9"]

    unknown = runner.invoke(app, ["dlq", "resubmit", "vision-architect", "e-404"])
    assert unknown.exit_code == 2 and "factory dlq list" in unknown.output
