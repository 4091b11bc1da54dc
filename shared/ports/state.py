"""The state port: documents with ETags, inbox and outbox, and the event log."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from shared.ports.bus import OutgoingMessage


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
