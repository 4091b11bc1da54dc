"""Typed ports: what the application needs from the outside world.

Adapters live in ``shared/adapters`` and are chosen only in ``shared/bootstrap.py``.
Every port has one abstract contract test case in ``tests/contract`` subclassed per adapter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

PropertyValue = str | int | float | bool | None


# --------------------------------------------------------------------------- clock


class Clock(Protocol):
    """Wall clock in UTC. Tests inject ``FakeClock`` so nothing sleeps."""

    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now = self._now + timedelta(seconds=seconds)
        return self._now


# --------------------------------------------------------------------------- bus


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


# --------------------------------------------------------------------------- state


class StateError(RuntimeError):
    pass


class ConflictError(StateError):
    """409: a document with this id already exists in the partition."""


class PreconditionFailedError(StateError):
    """412: the document changed since it was read (ETag mismatch). Reload and re-apply."""


class NotFoundError(StateError):
    """404: no such document."""


@dataclass(frozen=True)
class Document:
    partition: str
    id: str
    body: dict[str, Any]
    etag: str


@dataclass(frozen=True)
class Write:
    """One document write inside a unit of work. ``etag`` is required for ``replace``."""

    op: Literal["create", "replace", "upsert", "delete"]
    id: str
    body: dict[str, Any] = field(default_factory=dict)
    etag: str | None = None


@dataclass(frozen=True)
class OutboxRecord:
    """An event to publish once the unit of work has committed."""

    message: OutgoingMessage
    consumer: str
    source_event_id: str


@dataclass(frozen=True)
class UnitOfWork:
    """Everything one handling commits atomically in one partition.

    ``inbox_event_id`` is recorded as processed by ``consumer`` in the same transaction
    (it is the dedup record: committing it twice raises ``ConflictError``).
    """

    partition: str
    consumer: str
    inbox_event_id: str | None
    writes: Sequence[Write] = ()
    outbox: Sequence[OutboxRecord] = ()


class StateStore(Protocol):
    """Documents with optimistic concurrency, inbox and outbox, and the event log by trace."""

    def get(self, partition: str, id: str) -> Document | None: ...

    def create(self, partition: str, id: str, body: dict[str, Any]) -> Document: ...

    def replace(self, partition: str, id: str, body: dict[str, Any], etag: str) -> Document: ...

    def upsert(self, partition: str, id: str, body: dict[str, Any]) -> Document: ...

    def query(self, partition: str, id_prefix: str = "") -> list[Document]: ...

    def commit(self, unit: UnitOfWork) -> list[Document]:
        """Apply writes + inbox record + outbox records atomically.

        Raises ``ConflictError`` if the inbox record exists (already processed) or a create
        collides, ``PreconditionFailedError`` on a stale ETag. Nothing is written on error.
        """
        ...

    def inbox_contains(self, consumer: str, event_id: str) -> bool: ...

    def pending_outbox(self, consumer: str | None = None, source_event_id: str | None = None,
                       limit: int = 1000) -> list[OutboxRecord]: ...

    def mark_published(self, message_ids: Iterable[str], consumer: str) -> None: ...

    def append_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Append envelopes (dicts) to the event log; idempotent by envelope ``id``."""
        ...

    def events_for_trace(self, trace_id: str) -> list[dict[str, Any]]: ...

    def events_for_project(self, project_id: str) -> list[dict[str, Any]]: ...


# --------------------------------------------------------------------------- artifacts


@dataclass(frozen=True)
class ArtifactRef:
    digest: str  # "sha256:<hex>"
    size: int
    media_type: str = "application/octet-stream"


class ArtifactNotFoundError(KeyError):
    pass


class ArtifactStore(Protocol):
    """Content-addressed blobs: the address is the SHA-256 of the bytes."""

    def put(self, data: bytes, media_type: str = "application/octet-stream") -> ArtifactRef: ...

    def get(self, digest: str) -> bytes: ...

    def exists(self, digest: str) -> bool: ...


# --------------------------------------------------------------------------- traces


@dataclass(frozen=True)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    consumer: str
    event_id: str | None
    event_type: str | None
    start: datetime
    end: datetime
    outcome: str  # "ok" | "error" | "dead-lettered" | "duplicate"
    attributes: Mapping[str, PropertyValue] = field(default_factory=dict)


class SpanSink(Protocol):
    def record(self, span: SpanRecord) -> None: ...

    def spans_for_trace(self, trace_id: str) -> list[SpanRecord]: ...
