"""``InMemoryStateStore``: the state contract in plain dicts, for fast unit tests of handlers.

Same semantics as ``SqliteStateStore`` (it runs the same contract case), one process only.
Bodies are deep-copied in and out, so callers can never mutate stored state by accident.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.adapters.records import new_etag, sortable_time, validate_envelope
from shared.ports import (
    Clock,
    ConflictError,
    Document,
    NotFoundError,
    OutboxRecord,
    PreconditionFailedError,
    SystemClock,
    UnitOfWork,
    Write,
)


@dataclass
class _Outbox:
    seq: int
    record: OutboxRecord
    published_at: str | None = None


class InMemoryStateStore:
    """Documents, inbox, outbox and event log in memory, guarded by one lock."""

    def __init__(self, *, clock: Clock = SystemClock()) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._documents: dict[tuple[str, str], Document] = {}
        self._inbox: set[tuple[str, str]] = set()
        self._outbox: dict[tuple[str, str], _Outbox] = {}
        self._events: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self._seq = 0

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    # ------------------------------------------------------------------ documents

    def get(self, partition: str, id: str) -> Document | None:
        with self._lock:
            found = self._documents.get((partition, id))
            return None if found is None else copy.deepcopy(found)

    def create(self, partition: str, id: str, body: dict[str, Any]) -> Document:
        return self.commit(UnitOfWork(partition, "", None, [Write("create", id, body)]))[0]

    def replace(self, partition: str, id: str, body: dict[str, Any], etag: str) -> Document:
        return self.commit(UnitOfWork(partition, "", None, [Write("replace", id, body, etag)]))[0]

    def upsert(self, partition: str, id: str, body: dict[str, Any]) -> Document:
        return self.commit(UnitOfWork(partition, "", None, [Write("upsert", id, body)]))[0]

    def query(self, partition: str, id_prefix: str = "") -> list[Document]:
        with self._lock:
            return [
                copy.deepcopy(document)
                for (p, id_), document in sorted(self._documents.items())
                if p == partition and id_.startswith(id_prefix)
            ]

    # ------------------------------------------------------------------ unit of work

    def commit(self, unit: UnitOfWork) -> list[Document]:
        with self._lock:
            documents = dict(self._documents)  # scratch copy: applied only if every step succeeds
            where = f"partition {unit.partition!r}"
            if unit.inbox_event_id is not None and (unit.consumer, unit.inbox_event_id) in self._inbox:
                raise ConflictError(
                    f"event {unit.inbox_event_id!r} was already processed by {unit.consumer!r} "
                    "(inbox record exists): drop this delivery, nothing was written"
                )
            written: list[Document] = []
            for write in unit.writes:
                key = (unit.partition, write.id)
                current = documents.get(key)
                if write.op == "create" and current is not None:
                    raise ConflictError(f"cannot create document {write.id!r} in {where}: it already exists")
                if write.op in ("replace", "delete"):
                    if write.op == "replace" and write.etag is None:
                        raise ValueError(f"cannot replace {write.id!r} without an ETag: read it first")
                    if current is None:
                        raise NotFoundError(
                            f"cannot {write.op} document {write.id!r} in {where}: it does not exist"
                        )
                    if write.etag is not None and current.etag != write.etag:
                        raise PreconditionFailedError(
                            f"cannot {write.op} document {write.id!r} in {where}: it changed since it was "
                            "read (stale ETag). Reload it and re-apply the change."
                        )
                if write.op == "delete":
                    del documents[key]
                    continue
                if write.op not in ("create", "replace", "upsert"):
                    raise ValueError(f"unknown write operation {write.op!r}")
                documents[key] = Document(unit.partition, write.id, copy.deepcopy(write.body), new_etag())
                written.append(copy.deepcopy(documents[key]))
            for record in unit.outbox:
                if (record.consumer, record.message.message_id) in self._outbox:
                    raise ConflictError(
                        f"outbox already holds message {record.message.message_id!r} for {record.consumer!r}"
                    )
            self._documents = documents
            if unit.inbox_event_id is not None:
                self._inbox.add((unit.consumer, unit.inbox_event_id))
            for record in unit.outbox:
                self._outbox[(record.consumer, record.message.message_id)] = _Outbox(self._next(), record)
            return written

    def inbox_contains(self, consumer: str, event_id: str) -> bool:
        with self._lock:
            return (consumer, event_id) in self._inbox

    # ------------------------------------------------------------------ outbox

    def pending_outbox(
        self, consumer: str | None = None, source_event_id: str | None = None, limit: int = 1000
    ) -> list[OutboxRecord]:
        with self._lock:
            pending = sorted(
                (
                    entry
                    for entry in self._outbox.values()
                    if entry.published_at is None
                    and (consumer is None or entry.record.consumer == consumer)
                    and (source_event_id is None or entry.record.source_event_id == source_event_id)
                ),
                key=lambda entry: entry.seq,
            )
            return [entry.record for entry in pending[:limit]]

    def mark_published(self, message_ids: Iterable[str], consumer: str) -> None:
        now = self._clock.now().isoformat()
        with self._lock:
            for message_id in message_ids:
                entry = self._outbox.get((consumer, message_id))
                if entry is not None and entry.published_at is None:
                    entry.published_at = now

    # ------------------------------------------------------------------ event log

    def append_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        for event in events:
            validate_envelope(event)
        with self._lock:
            for event in events:
                key = str(event["id"])
                if key not in self._events:
                    stored = copy.deepcopy(dict(event))
                    self._events[key] = (sortable_time(event["time"]), self._next(), stored)

    def _select(self, field: str, value: str) -> list[dict[str, Any]]:
        with self._lock:
            chosen = [entry for entry in self._events.values() if entry[2].get(field) == value]
        return [copy.deepcopy(body) for _, _, body in sorted(chosen, key=lambda entry: entry[:2])]

    def events_for_trace(self, trace_id: str) -> list[dict[str, Any]]:
        return self._select("traceId", trace_id)

    def events_for_project(self, project_id: str) -> list[dict[str, Any]]:
        return self._select("projectId", project_id)
