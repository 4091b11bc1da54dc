"""``SqliteStateStore``: the embedded state store (documents, inbox, outbox, event log) on one SQLite file.

Safe for several threads and several processes on the same file: WAL journal, every write in a
``BEGIN IMMEDIATE`` transaction (the write lock is taken up front, so a read-check-write inside one
transaction cannot interleave with another writer), and lock waits in fine steps (``locking.py``).
ETags are fresh ``uuid4`` hex strings per write.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from shared.adapters.records import new_etag, sortable_time, validate_envelope
from shared.adapters.sqlite import locking
from shared.ports import (
    Clock,
    ConflictError,
    Document,
    NotFoundError,
    OutboxRecord,
    OutgoingMessage,
    PreconditionFailedError,
    SystemClock,
    UnitOfWork,
    Write,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    partition TEXT NOT NULL,
    id        TEXT NOT NULL,
    body      TEXT NOT NULL,
    etag      TEXT NOT NULL,
    ts        TEXT NOT NULL,
    PRIMARY KEY (partition, id)
);
CREATE TABLE IF NOT EXISTS inbox (
    consumer     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    partition    TEXT NOT NULL,
    processed_at TEXT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq                    INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id             TEXT NOT NULL,
    consumer               TEXT NOT NULL,
    source_event_id        TEXT NOT NULL,
    partition              TEXT NOT NULL,
    body                   BLOB NOT NULL,
    application_properties TEXT NOT NULL,
    content_type           TEXT NOT NULL,
    subject                TEXT,
    correlation_id         TEXT,
    scheduled_enqueue_time TEXT,
    time_to_live_us        INTEGER,
    created_at             TEXT NOT NULL,
    published_at           TEXT,
    UNIQUE (consumer, message_id)
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (published_at, seq);
CREATE TABLE IF NOT EXISTS events (
    id          TEXT PRIMARY KEY,
    trace_id    TEXT NOT NULL,
    project_id  TEXT,
    type        TEXT NOT NULL,
    time        TEXT NOT NULL,
    body        TEXT NOT NULL,
    appended_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_trace ON events (trace_id, time);
CREATE INDEX IF NOT EXISTS events_by_project ON events (project_id, time);
"""


class SqliteStateStore:
    """State store on one SQLite file; see the module docstring for the concurrency model."""

    def __init__(
        self, path: Path | str, *, clock: Clock = SystemClock(), busy_timeout_ms: int = 30_000
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._create_schema()

    # ------------------------------------------------------------------ connections

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = locking.connect(self.path, busy_s=self._busy_timeout_ms / 1000)
            self._local.db = db
            with self._connections_lock:
                self._connections.append(db)
        return db

    def _read(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        """A read on this thread's connection (retried in the rare case SQLite answers busy)."""
        return locking.execute(self._connection(), sql, args, busy_s=self._busy_timeout_ms / 1000, path=self.path)

    def _create_schema(self) -> None:
        with self._transaction() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        busy_s = self._busy_timeout_ms / 1000
        locking.execute(db, "BEGIN IMMEDIATE", busy_s=busy_s, path=self.path)
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        locking.execute(db, "COMMIT", busy_s=busy_s, path=self.path)

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        with self._connections_lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()

    # ------------------------------------------------------------------ documents

    def get(self, partition: str, id: str) -> Document | None:
        row = self._read(
            "SELECT body, etag FROM documents WHERE partition = ? AND id = ?", (partition, id)
        ).fetchone()
        return None if row is None else Document(partition, id, json.loads(row[0]), row[1])

    def create(self, partition: str, id: str, body: dict[str, Any]) -> Document:
        with self._transaction() as db:
            return self._apply(db, partition, Write("create", id, body))  # type: ignore[return-value]

    def replace(self, partition: str, id: str, body: dict[str, Any], etag: str) -> Document:
        with self._transaction() as db:
            return self._apply(db, partition, Write("replace", id, body, etag))  # type: ignore[return-value]

    def upsert(self, partition: str, id: str, body: dict[str, Any]) -> Document:
        with self._transaction() as db:
            return self._apply(db, partition, Write("upsert", id, body))  # type: ignore[return-value]

    def query(self, partition: str, id_prefix: str = "") -> list[Document]:
        rows = self._read(
            "SELECT id, body, etag FROM documents WHERE partition = ? AND substr(id, 1, ?) = ? ORDER BY id",
            (partition, len(id_prefix), id_prefix),
        ).fetchall()
        return [Document(partition, row[0], json.loads(row[1]), row[2]) for row in rows]

    def _apply(self, db: sqlite3.Connection, partition: str, write: Write) -> Document | None:
        now = self._clock.now().isoformat()
        current = db.execute(
            "SELECT etag FROM documents WHERE partition = ? AND id = ?", (partition, write.id)
        ).fetchone()
        where = f"document {write.id!r} in partition {partition!r}"
        if write.op == "create":
            if current is not None:
                raise ConflictError(
                    f"cannot create {where}: it already exists. Read it and replace it with its ETag instead."
                )
        elif write.op == "replace":
            if write.etag is None:
                raise ValueError(f"cannot replace {where} without an ETag: read it first and pass its etag")
            if current is None:
                raise NotFoundError(f"cannot replace {where}: it does not exist. Create it instead.")
            if current[0] != write.etag:
                raise PreconditionFailedError(
                    f"cannot replace {where}: it changed since it was read (ETag {write.etag} is stale, "
                    f"current is {current[0]}). Reload it and re-apply the change."
                )
        elif write.op == "delete":
            if current is None:
                raise NotFoundError(f"cannot delete {where}: it does not exist.")
            if write.etag is not None and current[0] != write.etag:
                raise PreconditionFailedError(
                    f"cannot delete {where}: it changed since it was read (ETag {write.etag} is stale). "
                    "Reload it and decide again."
                )
            db.execute("DELETE FROM documents WHERE partition = ? AND id = ?", (partition, write.id))
            return None
        elif write.op != "upsert":
            raise ValueError(f"unknown write operation {write.op!r}: use create, replace, upsert or delete")
        etag = new_etag()
        db.execute(
            "INSERT INTO documents (partition, id, body, etag, ts) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (partition, id) DO UPDATE SET body = excluded.body, etag = excluded.etag, "
            "ts = excluded.ts",
            (partition, write.id, json.dumps(write.body, sort_keys=True), etag, now),
        )
        return Document(partition, write.id, json.loads(json.dumps(write.body)), etag)

    # ------------------------------------------------------------------ unit of work

    def commit(self, unit: UnitOfWork) -> list[Document]:
        now = self._clock.now().isoformat()
        written: list[Document] = []
        with self._transaction() as db:
            if unit.inbox_event_id is not None:
                try:
                    db.execute(
                        "INSERT INTO inbox (consumer, event_id, partition, processed_at) VALUES (?, ?, ?, ?)",
                        (unit.consumer, unit.inbox_event_id, unit.partition, now),
                    )
                except sqlite3.IntegrityError as error:
                    raise ConflictError(
                        f"event {unit.inbox_event_id!r} was already processed by {unit.consumer!r} "
                        "(inbox record exists): drop this delivery, nothing was written"
                    ) from error
            for write in unit.writes:
                document = self._apply(db, unit.partition, write)
                if document is not None:
                    written.append(document)
            for record in unit.outbox:
                self._insert_outbox(db, unit.partition, record, now)
        return written

    def inbox_contains(self, consumer: str, event_id: str) -> bool:
        row = self._read(
            "SELECT 1 FROM inbox WHERE consumer = ? AND event_id = ?", (consumer, event_id)
        ).fetchone()
        return row is not None

    # ------------------------------------------------------------------ outbox

    @staticmethod
    def _insert_outbox(db: sqlite3.Connection, partition: str, record: OutboxRecord, now: str) -> None:
        message = record.message
        ttl_us = None if message.time_to_live is None else message.time_to_live // timedelta(microseconds=1)
        scheduled_time = message.scheduled_enqueue_time
        scheduled = None if scheduled_time is None else scheduled_time.isoformat()
        try:
            db.execute(
                "INSERT INTO outbox (message_id, consumer, source_event_id, partition, body, "
                "application_properties, content_type, subject, correlation_id, scheduled_enqueue_time, "
                "time_to_live_us, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message.message_id,
                    record.consumer,
                    record.source_event_id,
                    partition,
                    bytes(message.body),
                    json.dumps(dict(message.application_properties)),
                    message.content_type,
                    message.subject,
                    message.correlation_id,
                    scheduled,
                    ttl_us,
                    now,
                ),
            )
        except sqlite3.IntegrityError as error:
            raise ConflictError(
                f"outbox already holds message {message.message_id!r} for {record.consumer!r}: "
                "output ids must be unique per consumer (derive them from the incoming event id and index)"
            ) from error

    def pending_outbox(
        self, consumer: str | None = None, source_event_id: str | None = None, limit: int = 1000
    ) -> list[OutboxRecord]:
        sql = (
            "SELECT message_id, consumer, source_event_id, body, application_properties, content_type, "
            "subject, correlation_id, scheduled_enqueue_time, time_to_live_us "
            "FROM outbox WHERE published_at IS NULL"
        )
        params: list[Any] = []
        if consumer is not None:
            sql += " AND consumer = ?"
            params.append(consumer)
        if source_event_id is not None:
            sql += " AND source_event_id = ?"
            params.append(source_event_id)
        sql += " ORDER BY seq LIMIT ?"
        params.append(limit)
        return [_outbox_record(row) for row in self._read(sql, params).fetchall()]

    def mark_published(self, message_ids: Iterable[str], consumer: str) -> None:
        ids = list(message_ids)
        if not ids:
            return
        now = self._clock.now().isoformat()
        with self._transaction() as db:
            db.executemany(
                "UPDATE outbox SET published_at = ? "
                "WHERE consumer = ? AND message_id = ? AND published_at IS NULL",
                [(now, consumer, message_id) for message_id in ids],
            )

    # ------------------------------------------------------------------ event log

    def append_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        for event in events:
            validate_envelope(event)
        now = self._clock.now().isoformat()
        with self._transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO events (id, trace_id, project_id, type, time, body, appended_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        str(event["id"]),
                        str(event["traceId"]),
                        None if event.get("projectId") is None else str(event["projectId"]),
                        str(event["type"]),
                        sortable_time(event["time"]),
                        json.dumps(dict(event), default=str),
                        now,
                    )
                    for event in events
                ],
            )

    def events_for_trace(self, trace_id: str) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT body FROM events WHERE trace_id = ? ORDER BY time, rowid", (trace_id,)
        ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def events_for_project(self, project_id: str) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT body FROM events WHERE project_id = ? ORDER BY time, rowid", (project_id,)
        ).fetchall()
        return [json.loads(row[0]) for row in rows]


def _outbox_record(row: Sequence[Any]) -> OutboxRecord:
    (message_id, consumer, source_event_id, body, properties, content_type, subject, correlation_id,
     scheduled, ttl_us) = row
    message = OutgoingMessage(
        message_id=message_id,
        body=bytes(body),
        application_properties=json.loads(properties),
        content_type=content_type,
        subject=subject,
        correlation_id=correlation_id,
        scheduled_enqueue_time=None if scheduled is None else datetime.fromisoformat(scheduled),
        time_to_live=None if ttl_us is None else timedelta(microseconds=ttl_us),
    )
    return OutboxRecord(message=message, consumer=consumer, source_event_id=source_event_id)
