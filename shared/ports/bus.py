"""The bus port: publishing to the topic and, embedded, receiving under a peek-lock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

PropertyValue = str | int | float | bool | None


@dataclass(frozen=True)
class OutgoingMessage:
    """What a publisher sends: the Service Bus message shape, transport-neutral."""

    message_id: str
    body: bytes
    application_properties: Mapping[str, PropertyValue] = field(default_factory=dict)
    content_type: str = "application/cloudevents+json; charset=utf-8"
    subject: str | None = None
    correlation_id: str | None = None
    scheduled_enqueue_time: datetime | None = None
    time_to_live: timedelta | None = None


@dataclass(frozen=True)
class ReceivedMessage:
    """A message delivered under a peek-lock from one subscription."""

    subscription: str
    sequence_number: int
    message_id: str
    body: bytes
    application_properties: Mapping[str, PropertyValue]
    content_type: str | None
    subject: str | None
    correlation_id: str | None
    delivery_count: int
    enqueued_time: datetime
    scheduled_enqueue_time: datetime | None
    expires_at: datetime | None
    locked_until: datetime
    lock_token: str
    time_to_live: timedelta | None = None


@dataclass(frozen=True)
class DeadLetter:
    subscription: str
    sequence_number: int
    message_id: str
    body: bytes
    application_properties: Mapping[str, PropertyValue]
    delivery_count: int
    reason: str
    description: str
    dead_lettered_at: datetime


@dataclass(frozen=True)
class SubscriptionSpec:
    """One consumer's subscription on the topic, as the Bicep and the embedded bus create it."""

    name: str
    sql_filter: str = "1=1"
    max_delivery_count: int = 10
    lock_duration: timedelta = timedelta(seconds=60)
    dead_lettering_on_expiration: bool = True


class LockLostError(RuntimeError):
    """The lock on a message expired or the message was settled by someone else."""


class MessagePublisher(Protocol):
    """Sends messages to the topic. Duplicate detection by ``message_id`` is the broker's job."""

    def publish(self, messages: Sequence[OutgoingMessage]) -> None: ...


class ResubmitTooEarlyError(RuntimeError):
    """The broker's duplicate detection would silently drop a resubmitted copy (same message id, inside its
    window): the message stays dead-lettered; the error says from when a resubmission is possible."""


class DeadLetterQueue(Protocol):
    """The dead-lettered messages of the topic's subscriptions, for operators (``factory dlq``)."""

    def dead_letters(self, subscription: str | None = None) -> list[DeadLetter]: ...

    def resubmit(self, subscription: str, sequence_number: int) -> None:
        """Send the message back so its subscription receives it again; it leaves the dead-letter queue."""
        ...


class MessageReceiver(Protocol):
    """The receiving half of the bus (embedded host only; on Azure the Functions host receives)."""

    def ensure_subscription(self, spec: SubscriptionSpec) -> None: ...

    def receive(
        self, subscription: str, max_messages: int = 1, lock_duration: timedelta | None = None
    ) -> list[ReceivedMessage]: ...

    def renew_lock(self, lock_token: str) -> datetime: ...

    def complete(self, lock_token: str) -> None: ...

    def abandon(self, lock_token: str) -> None: ...

    def dead_letter(self, lock_token: str, reason: str, description: str = "") -> None: ...

    def dead_letters(self, subscription: str | None = None) -> list[DeadLetter]: ...

    def resubmit(self, subscription: str, sequence_number: int) -> None: ...

    def next_due(self, subscription: str) -> datetime | None: ...


@runtime_checkable
class Bus(MessagePublisher, MessageReceiver, Protocol):
    """A bus that both publishes and receives (the embedded ``SqliteBus``)."""
