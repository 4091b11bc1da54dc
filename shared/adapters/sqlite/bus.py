"""``SqliteBus``: a topic with subscriptions on one SQLite file, honouring Service Bus semantics.

What it keeps from Service Bus (see docs/DESIGN "Embedded bus semantics"):

* one topic, subscriptions with SQL filters evaluated at publish time (fan-out by copy);
* duplicate detection by ``message_id`` at topic level within a window;
* peek-lock: ``receive`` claims messages in one ``BEGIN IMMEDIATE`` transaction, so two
  receivers (threads or OS processes on the same file) never hold the same message;
  delivery count, lock renewal, lock expiry, abandon, complete;
* ``max_delivery_count`` then the dead-letter queue (``MaxDeliveryCountExceeded``), explicit
  dead-lettering with reason/description, resubmit from the DLQ;
* scheduled enqueue time, message TTL (``TTLExpiredException`` in the DLQ when the
  subscription dead-letters on expiration).

Every time decision uses the injected ``Clock``. Times are stored as integer microseconds since
the Unix epoch, so round trips are exact. A message is receivable when ``available_at <= now``:
``available_at`` is the enqueue/scheduled time, and while locked it is the lock expiry; the
index ``(subscription, available_at, seq)`` answers ``next_due`` and the status counts.
Receive order is FIFO by sequence number: a message whose lock expired or was abandoned keeps
its place. Scheduled messages wait outside the FIFO index (``active = 0``) until their time, so
a receive only skips messages that are locked right now, never a backlog of future timeouts.

Durability: WAL with ``synchronous=NORMAL`` — a crash of the process loses nothing committed;
a power loss may lose the last transactions (the outbox republishes them; dedup drops repeats).
``synchronous="OFF"`` is faster still, for throwaway buses (tests, benchmarks) only.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from shared.adapters.sqlite import locking
from shared.adapters.sqlite.doorbell import Doorbell
from shared.adapters.sqlite.integrity import check_database
from shared.adapters.sqlite.sql_filter import Filter, compile_filter, system_properties
from shared.ports import (
    Clock,
    DeadLetter,
    LockLostError,
    OutgoingMessage,
    PropertyValue,
    ReceivedMessage,
    SubscriptionSpec,
    SystemClock,
)
from shared.ports.layout import DEFAULT_TOPIC

MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"
TTL_EXPIRED = "TTLExpiredException"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHUNK = 500  # rows per IN (...) lookup, well under SQLite's variable limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bus_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bus_subscriptions (
    topic TEXT NOT NULL,
    name TEXT NOT NULL,
    sql_filter TEXT NOT NULL,
    max_delivery_count INTEGER NOT NULL,
    lock_us INTEGER NOT NULL,
    dlq_on_expiration INTEGER NOT NULL,
    PRIMARY KEY (topic, name)
);
CREATE TABLE IF NOT EXISTS bus_dedup (
    topic TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (topic, message_id)
);
CREATE INDEX IF NOT EXISTS bus_dedup_seen ON bus_dedup (seen_at);
CREATE TABLE IF NOT EXISTS bus_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body BLOB NOT NULL,
    properties TEXT NOT NULL,
    content_type TEXT,
    subject TEXT,
    correlation_id TEXT,
    enqueued_at INTEGER NOT NULL,
    scheduled_at INTEGER,
    ready_at INTEGER NOT NULL,
    active INTEGER NOT NULL,
    available_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ttl_us INTEGER NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT,
    locked_until INTEGER,
    lock_us INTEGER
);
CREATE INDEX IF NOT EXISTS bus_messages_due ON bus_messages (subscription, available_at, seq);
CREATE INDEX IF NOT EXISTS bus_messages_fifo ON bus_messages (subscription, seq) WHERE active = 1;
CREATE INDEX IF NOT EXISTS bus_messages_scheduled ON bus_messages (subscription, ready_at) WHERE active = 0;
CREATE UNIQUE INDEX IF NOT EXISTS bus_messages_lock ON bus_messages (lock_token) WHERE lock_token IS NOT NULL;
CREATE TABLE IF NOT EXISTS bus_dead_letters (
    seq INTEGER PRIMARY KEY,
    subscription TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body BLOB NOT NULL,
    properties TEXT NOT NULL,
    content_type TEXT,
    subject TEXT,
    correlation_id TEXT,
    enqueued_at INTEGER NOT NULL,
    ttl_us INTEGER NOT NULL,
    delivery_count INTEGER NOT NULL,
    reason TEXT NOT NULL,
    description TEXT NOT NULL,
    dead_lettered_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS bus_dead_letters_sub ON bus_dead_letters (subscription, seq);
"""

_INSERT = (
    "INSERT INTO bus_messages (subscription, message_id, body, properties, content_type, subject, "
    "correlation_id, enqueued_at, scheduled_at, ready_at, active, available_at, expires_at, ttl_us) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_COLUMNS = (
    "seq, subscription, message_id, body, properties, content_type, subject, correlation_id, "
    "enqueued_at, scheduled_at, expires_at, ttl_us, delivery_count"
)


class SubscriptionNotFoundError(LookupError):
    """The subscription does not exist on this bus."""


class DeadLetterNotFoundError(LookupError):
    """No dead-lettered message with that sequence number on that subscription."""


@dataclass(frozen=True)
class SubscriptionCounts:
    """What ``factory status`` shows per subscription."""

    subscription: str
    active: int
    scheduled: int
    locked: int
    dead_lettered: int


@dataclass(frozen=True)
class _Sub:
    spec: SubscriptionSpec
    matches: Filter


def _us(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the bus needs timezone-aware UTC times")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _token_prefix() -> str:
    """The first 24 characters of a version-4 GUID; the claim appends 12 hex digits of the sequence number."""
    h = os.urandom(10).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[12:15]}-{'89ab'[int(h[15], 16) & 3]}{h[16:19]}-"


def _span_us(span: timedelta) -> int:
    return (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds


class SqliteBus:
    """Topic + subscriptions with peek-lock on one SQLite file. Safe across threads and processes."""

    def __init__(
        self,
        path: Path | str,
        *,
        topic: str = DEFAULT_TOPIC,
        clock: Clock | None = None,
        duplicate_detection_window: timedelta = timedelta(minutes=10),
        default_ttl: timedelta = timedelta(days=14),
        busy_timeout: timedelta = timedelta(seconds=30),
        synchronous: Literal["NORMAL", "OFF", "FULL"] = "NORMAL",
    ) -> None:
        self.path = Path(path)
        self.topic = topic
        self.clock: Clock = clock or SystemClock()
        self._window_us = _span_us(duplicate_detection_window)
        self._default_ttl_us = _span_us(default_ttl)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        check_database(path, kind="bus")
        self._lock = threading.RLock()
        self._busy_s = busy_timeout.total_seconds()
        self._checkpointer = locking.Checkpointer(self.path) if str(path) != ":memory:" else None
        self._closed = False
        self._db = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False,
            timeout=busy_timeout.total_seconds(),
        )
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout.total_seconds() * 1000)}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(f"PRAGMA synchronous = {synchronous}")
        # checkpoints copy and fsync the log: never inside a commit (a 20-50 ms stall for that receive or
        # publish), but from a thread of their own (``locking.Checkpointer``)
        self._db.execute("PRAGMA wal_autocheckpoint = 0")
        self._db.execute("PRAGMA journal_size_limit = 67108864")
        with self._tx():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute("INSERT OR IGNORE INTO bus_meta (key, value) VALUES ('subs_version', 0)")
        # from here on, ``_execute`` waits for locks in finer steps than SQLite's busy handler (locking.py)
        self._db.execute("PRAGMA busy_timeout = 0")
        self._subs: dict[str, _Sub] = {}
        self._subs_version = -1
        self._listeners: list[Callable[[], None]] = []
        self._doorbell = Doorbell(self.path) if str(path) != ":memory:" else None

    # ----------------------------------------------------------------- plumbing

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front (``BEGIN IMMEDIATE``) so claims never race."""
        with self._lock:
            self._execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._execute("COMMIT")
        if self._checkpointer is not None:
            self._checkpointer.wrote()

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        """One statement, waiting for another connection's write lock in fine steps (``locking.py``)."""
        return locking.execute(self._db, sql, args, busy_s=self._busy_s, path=self.path)

    def _now_us(self) -> int:
        return _us(self.clock.now())

    def _load_subs(self) -> dict[str, _Sub]:
        """Subscriptions with compiled filters, re-read only when another bus instance changed them."""
        (version,) = self._execute("SELECT value FROM bus_meta WHERE key = 'subs_version'").fetchone()
        if version != self._subs_version:
            rows = self._execute(
                "SELECT name, sql_filter, max_delivery_count, lock_us, dlq_on_expiration "
                "FROM bus_subscriptions WHERE topic = ? ORDER BY name",
                (self.topic,),
            ).fetchall()
            subs: dict[str, _Sub] = {}
            for name, sql_filter, max_dc, lock_us, dlq in rows:
                spec = SubscriptionSpec(name, sql_filter, max_dc, timedelta(microseconds=lock_us), bool(dlq))
                subs[name] = _Sub(spec, compile_filter(sql_filter))
            self._subs, self._subs_version = subs, version
        return self._subs

    def _sub(self, name: str) -> _Sub:
        subs = self._load_subs()
        if name not in subs:
            known = ", ".join(subs) or "none"
            raise SubscriptionNotFoundError(
                f"subscription '{name}' does not exist on topic '{self.topic}' in {self.path} "
                f"(known: {known}). Create it with ensure_subscription(SubscriptionSpec('{name}', ...)); "
                "the host does this for every consumer in contracts/."
            )
        return subs[name]

    def close(self) -> None:
        """Close the connection (again: a no-op; the runtime closes its bus and receiver, the same object)."""
        if self._closed:
            return
        self._closed = True
        if self._doorbell is not None:
            self._doorbell.close()
        if self._checkpointer is not None:
            self._checkpointer.close()
        with self._lock:
            if self._checkpointer is not None:
                with contextlib.suppress(sqlite3.OperationalError):  # leave a short log behind
                    self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self._db.close()

    def __enter__(self) -> SqliteBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- subscriptions

    def ensure_subscription(self, spec: SubscriptionSpec) -> None:
        """Create the subscription, or update its rule and settings if they changed."""
        compile_filter(spec.sql_filter)  # reject a bad filter before storing it
        lock_us = _span_us(spec.lock_duration)
        if lock_us <= 0:
            raise ValueError(f"subscription '{spec.name}': lock_duration must be positive")
        if spec.max_delivery_count < 1:
            raise ValueError(f"subscription '{spec.name}': max_delivery_count must be at least 1")
        row = (spec.sql_filter, spec.max_delivery_count, lock_us, int(spec.dead_lettering_on_expiration))
        with self._tx() as db:
            current = db.execute(
                "SELECT sql_filter, max_delivery_count, lock_us, dlq_on_expiration FROM bus_subscriptions "
                "WHERE topic = ? AND name = ?",
                (self.topic, spec.name),
            ).fetchone()
            if current == row:
                return
            db.execute(
                "INSERT INTO bus_subscriptions (topic, name, sql_filter, max_delivery_count, lock_us, "
                "dlq_on_expiration) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (topic, name) DO UPDATE SET "
                "sql_filter = excluded.sql_filter, max_delivery_count = excluded.max_delivery_count, "
                "lock_us = excluded.lock_us, dlq_on_expiration = excluded.dlq_on_expiration",
                (self.topic, spec.name, *row),
            )
            db.execute("UPDATE bus_meta SET value = value + 1 WHERE key = 'subs_version'")

    def subscriptions(self) -> list[SubscriptionSpec]:
        with self._lock:
            return [s.spec for s in self._load_subs().values()]

    # ----------------------------------------------------------------- publish

    def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        """Fan each message out to every matching subscription; one transaction for the batch.

        A ``message_id`` already published within the duplicate-detection window is dropped.
        """
        if not messages:
            return
        encoded = [(m, json.dumps(dict(m.application_properties), separators=(",", ":"))) for m in messages]
        with self._tx() as db:
            now = self._now_us()
            subs = self._load_subs()
            db.execute("DELETE FROM bus_dedup WHERE seen_at <= ?", (now - self._window_us,))
            seen = self._recently_seen(db, [m.message_id for m in messages], now)
            accepted: list[tuple[str, int]] = []
            rows: list[tuple[Any, ...]] = []
            for message, props_json in encoded:
                if message.message_id in seen:
                    continue
                seen.add(message.message_id)
                accepted.append((message.message_id, now))
                rows.extend(self._fan_out(message, props_json, subs, now))
            db.executemany(
                "INSERT INTO bus_dedup (topic, message_id, seen_at) VALUES (?, ?, ?) "
                "ON CONFLICT (topic, message_id) DO UPDATE SET seen_at = excluded.seen_at",
                [(self.topic, mid, at) for mid, at in accepted],
            )
            db.executemany(_INSERT, rows)
        self._published()

    def _published(self) -> None:
        for listener in self._listeners:
            listener()
        if self._doorbell is not None:
            self._doorbell.ring()

    def _heard_publish(self) -> None:
        for listener in self._listeners:
            listener()

    def add_publish_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every publish on this bus file: at once for publishes through this
        instance, and through the doorbell (``doorbell.py``) for publishes by other instances and
        processes. A local host wakes on it instead of polling."""
        self._listeners.append(listener)
        if self._doorbell is not None:
            self._doorbell.listen(self._heard_publish)

    def due_subscriptions(self) -> set[str]:
        """Subscriptions that have a message receivable now: one query, using the due index."""
        with self._lock:
            rows = self._execute(
                "SELECT s.name FROM bus_subscriptions s WHERE s.topic = ? AND EXISTS ("
                "SELECT 1 FROM bus_messages m WHERE m.subscription = s.name AND m.available_at <= ?)",
                (self.topic, self._now_us()),
            ).fetchall()
        return {row[0] for row in rows}

    def _recently_seen(self, db: sqlite3.Connection, ids: list[str], now: int) -> set[str]:
        seen: set[str] = set()
        unique = list(dict.fromkeys(ids))
        for i in range(0, len(unique), _CHUNK):
            chunk = unique[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            seen.update(
                mid for (mid,) in db.execute(
                    f"SELECT message_id FROM bus_dedup WHERE topic = ? AND seen_at > ? "
                    f"AND message_id IN ({marks})",
                    (self.topic, now - self._window_us, *chunk),
                )
            )
        return seen

    def _fan_out(
        self, message: OutgoingMessage, props_json: str, subs: Mapping[str, _Sub], now: int
    ) -> list[tuple[Any, ...]]:
        props: Mapping[str, PropertyValue] = message.application_properties
        sys_props = system_properties(
            message_id=message.message_id, subject=message.subject,
            correlation_id=message.correlation_id, content_type=message.content_type,
        )
        scheduled = _us(message.scheduled_enqueue_time) if message.scheduled_enqueue_time else None
        ready = max(now, scheduled) if scheduled is not None else now
        ttl = _span_us(message.time_to_live) if message.time_to_live else self._default_ttl_us
        expires = ready + ttl
        return [
            (name, message.message_id, message.body, props_json, message.content_type, message.subject,
             message.correlation_id, now, scheduled, ready, int(ready <= now), ready, expires, ttl)
            for name, sub in subs.items()
            if sub.matches(props, sys_props)
        ]

    # ----------------------------------------------------------------- receive and settle

    def receive(
        self, subscription: str, max_messages: int = 1, lock_duration: timedelta | None = None
    ) -> list[ReceivedMessage]:
        """Claim up to ``max_messages`` receivable messages under a fresh lock each, in one transaction."""
        return self.complete_and_receive((), subscription, max_messages, lock_duration)[1]

    def complete_and_receive(
        self, lock_tokens: Sequence[str], subscription: str, max_messages: int = 1,
        lock_duration: timedelta | None = None,
    ) -> tuple[list[str], list[ReceivedMessage]]:
        """``complete_many(lock_tokens)`` and ``receive(subscription, max_messages)`` in one transaction:
        a host that settles what finished and takes its next batch commits once instead of twice.

        Not part of the ``MessageReceiver`` port: an optional fast path for the embedded host.
        Returns (the tokens whose lock was already lost, the messages received)."""
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {max_messages}")
        delivered: list[ReceivedMessage] = []
        with self._lock:
            sub = self._sub(subscription)
            # fast path without the write lock: idle polling must not serialise host processes
            if self._execute(
                "SELECT 1 FROM bus_messages WHERE subscription = ? AND available_at <= ? LIMIT 1",
                (subscription, self._now_us()),
            ).fetchone() is None:
                return (self.complete_many(lock_tokens) if lock_tokens else []), delivered
        lock_us = _span_us(lock_duration if lock_duration is not None else sub.spec.lock_duration)
        # one random prefix per claim + the sequence number: unique, GUID-shaped lock tokens computed
        # by SQLite in the same statement that takes the locks (no per-message round trip)
        prefix = _token_prefix()
        with self._tx() as db:
            now = self._now_us()
            lost = self._complete_in(db, lock_tokens, now) if lock_tokens else []
            locked_until = now + lock_us
            db.execute(
                "UPDATE bus_messages SET active = 1 WHERE subscription = ? AND active = 0 AND ready_at <= ?",
                (subscription, now),
            )
            while len(delivered) < max_messages:
                want = max_messages - len(delivered)
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM bus_messages INDEXED BY bus_messages_fifo "
                    "WHERE subscription = ? AND active = 1 AND available_at <= ? ORDER BY seq LIMIT ?",
                    (subscription, now, want),
                ).fetchall()
                claimed: list[tuple[Any, ...]] = []
                for row in rows:
                    seq, delivery_count, expires_at = row[0], row[12], row[10]
                    if expires_at <= now:
                        if sub.spec.dead_lettering_on_expiration:
                            self._move_to_dlq(db, seq, TTL_EXPIRED,
                                              f"message expired at {_dt(expires_at).isoformat()} "
                                              "before it was delivered", now)
                        else:
                            db.execute("DELETE FROM bus_messages WHERE seq = ?", (seq,))
                    elif delivery_count >= sub.spec.max_delivery_count:
                        self._move_to_dlq(db, seq, MAX_DELIVERY_COUNT_EXCEEDED,
                                          f"message was delivered {delivery_count} times, the subscription's "
                                          f"max_delivery_count is {sub.spec.max_delivery_count}", now)
                    else:
                        claimed.append(row)
                for i in range(0, len(claimed), _CHUNK):
                    chunk = [row[0] for row in claimed[i : i + _CHUNK]]
                    db.execute(
                        "UPDATE bus_messages SET delivery_count = delivery_count + 1, "
                        "lock_token = ? || printf('%012x', seq), locked_until = ?, available_at = ?, lock_us = ? "
                        f"WHERE seq IN ({','.join('?' * len(chunk))})",
                        (prefix, locked_until, locked_until, lock_us, *chunk),
                    )
                delivered.extend(self._received(row, f"{prefix}{row[0]:012x}", locked_until) for row in claimed)
                if len(rows) < want or len(claimed) == len(rows):
                    break
        return lost, delivered

    @staticmethod
    def _received(row: tuple[Any, ...], token: str, locked_until: int) -> ReceivedMessage:
        (seq, subscription, message_id, body, props, content_type, subject, correlation_id,
         enqueued_at, scheduled_at, expires_at, ttl_us, delivery_count) = row
        return ReceivedMessage(
            subscription=subscription,
            sequence_number=seq,
            message_id=message_id,
            body=bytes(body),
            application_properties=json.loads(props),
            content_type=content_type,
            subject=subject,
            correlation_id=correlation_id,
            delivery_count=delivery_count + 1,
            enqueued_time=_dt(enqueued_at),
            scheduled_enqueue_time=_dt(scheduled_at) if scheduled_at is not None else None,
            expires_at=_dt(expires_at),
            locked_until=_dt(locked_until),
            lock_token=token,
            time_to_live=timedelta(microseconds=ttl_us),
        )

    def _move_to_dlq(self, db: sqlite3.Connection, seq: int, reason: str, description: str, now: int) -> None:
        db.execute(
            "INSERT INTO bus_dead_letters (seq, subscription, message_id, body, properties, content_type, "
            "subject, correlation_id, enqueued_at, ttl_us, delivery_count, reason, description, "
            "dead_lettered_at) SELECT seq, subscription, message_id, body, properties, content_type, "
            "subject, correlation_id, enqueued_at, ttl_us, delivery_count, ?, ?, ? "
            "FROM bus_messages WHERE seq = ?",
            (reason, description, now, seq),
        )
        db.execute("DELETE FROM bus_messages WHERE seq = ?", (seq,))

    def _lock_lost(self, lock_token: str, action: str) -> LockLostError:
        row = self._execute(
            "SELECT locked_until, subscription, message_id FROM bus_messages WHERE lock_token = ?",
            (lock_token,),
        ).fetchone()
        detail = (
            f"the lock on message '{row[2]}' ({row[1]}) expired at {_dt(row[0]).isoformat()}"
            if row is not None and row[0] is not None
            else "the token is unknown: the message was already settled or redelivered under a new lock"
        )
        return LockLostError(
            f"cannot {action} with lock token {lock_token}: {detail}. The message will be (or was) "
            "redelivered; handle it idempotently, and renew the lock for work longer than the lock "
            "duration."
        )

    def _locked_seq(self, db: sqlite3.Connection, lock_token: str, now: int, action: str) -> int:
        row = db.execute(
            "SELECT seq FROM bus_messages WHERE lock_token = ? AND locked_until > ?", (lock_token, now)
        ).fetchone()
        if row is None:
            raise self._lock_lost(lock_token, action)
        return int(row[0])

    def _settle(self, sql: str, args: tuple[Any, ...], lock_token: str, action: str) -> None:
        """One statement guarded by ``lock_token = ? AND locked_until > now`` (its own transaction)."""
        with self._lock:
            if self._execute(sql, args).rowcount == 0:
                raise self._lock_lost(lock_token, action)
        if self._checkpointer is not None:
            self._checkpointer.wrote()

    def renew_lock(self, lock_token: str) -> datetime:
        now = self._now_us()
        with self._lock:
            rows = self._execute(
                "UPDATE bus_messages SET locked_until = ? + lock_us, available_at = ? + lock_us "
                "WHERE lock_token = ? AND locked_until > ? RETURNING locked_until",
                (now, now, lock_token, now),
            ).fetchall()
            if not rows:
                raise self._lock_lost(lock_token, "renew the lock")
        if self._checkpointer is not None:
            self._checkpointer.wrote()
        return _dt(rows[0][0])

    def complete(self, lock_token: str) -> None:
        now = self._now_us()
        self._settle(
            "DELETE FROM bus_messages WHERE lock_token = ? AND locked_until > ?",
            (lock_token, now), lock_token, "complete",
        )

    def complete_many(self, lock_tokens: Sequence[str]) -> list[str]:
        """Complete several messages in one transaction (much faster than one ``complete`` each).

        Not part of the ``MessageReceiver`` port: an optional fast path for the embedded host.
        Returns the tokens whose lock was already lost; those messages are, or will be, redelivered.
        A few statements per call whatever its size (each SQLite step lets other threads run).
        """
        with self._tx() as db:
            return self._complete_in(db, lock_tokens, self._now_us())

    @staticmethod
    def _complete_in(db: sqlite3.Connection, lock_tokens: Sequence[str], now: int) -> list[str]:
        """Delete the messages ``lock_tokens`` still lock (inside the caller's transaction); the lost ones."""
        lost: list[str] = []
        unique = list(dict.fromkeys(lock_tokens))
        for i in range(0, len(unique), _CHUNK):
            chunk = unique[i : i + _CHUNK]
            where = f"lock_token IN ({','.join('?' * len(chunk))}) AND locked_until > ?"
            (held,) = db.execute(f"SELECT COUNT(*) FROM bus_messages WHERE {where}", (*chunk, now)).fetchone()
            if held != len(chunk):  # some locks were lost: name them (rare)
                valid = {t for (t,) in db.execute(f"SELECT lock_token FROM bus_messages WHERE {where}",
                                                  (*chunk, now))}
                lost.extend(t for t in chunk if t not in valid)
            db.execute(f"DELETE FROM bus_messages WHERE {where}", (*chunk, now))
        return lost

    def abandon(self, lock_token: str) -> None:
        """Release the lock now; the message keeps its place in the queue."""
        now = self._now_us()
        self._settle(
            "UPDATE bus_messages SET lock_token = NULL, locked_until = NULL, available_at = ? "
            "WHERE lock_token = ? AND locked_until > ?",
            (now, lock_token, now), lock_token, "abandon",
        )

    def dead_letter(self, lock_token: str, reason: str, description: str = "") -> None:
        with self._tx() as db:
            now = self._now_us()
            seq = self._locked_seq(db, lock_token, now, "dead-letter")
            self._move_to_dlq(db, seq, reason, description, now)

    # ----------------------------------------------------------------- dead-letter queue

    def dead_letters(self, subscription: str | None = None) -> list[DeadLetter]:
        query = (
            "SELECT subscription, seq, message_id, body, properties, delivery_count, reason, description, "
            "dead_lettered_at FROM bus_dead_letters"
        )
        with self._lock:
            if subscription is None:
                rows = self._execute(query + " ORDER BY seq").fetchall()
            else:
                rows = self._execute(
                    query + " WHERE subscription = ? ORDER BY seq", (subscription,)
                ).fetchall()
        return [
            DeadLetter(
                subscription=sub, sequence_number=seq, message_id=mid, body=bytes(body),
                application_properties=json.loads(props), delivery_count=dc, reason=reason,
                description=description, dead_lettered_at=_dt(at),
            )
            for sub, seq, mid, body, props, dc, reason, description, at in rows
        ]

    def resubmit(self, subscription: str, sequence_number: int) -> None:
        """Move a dead-lettered message back to its subscription as a new, available message."""
        with self._tx() as db:
            row = db.execute(
                "SELECT message_id, body, properties, content_type, subject, correlation_id, ttl_us "
                "FROM bus_dead_letters WHERE subscription = ? AND seq = ?",
                (subscription, sequence_number),
            ).fetchone()
            if row is None:
                raise DeadLetterNotFoundError(
                    f"no dead-lettered message #{sequence_number} on subscription '{subscription}'. "
                    "List them with dead_letters(subscription) (or `factory dlq list`)."
                )
            now = self._now_us()
            mid, body, props, content_type, subject, correlation_id, ttl_us = row
            db.execute(
                _INSERT,
                (subscription, mid, body, props, content_type, subject, correlation_id,
                 now, None, now, 1, now, now + ttl_us, ttl_us),
            )
            db.execute("DELETE FROM bus_dead_letters WHERE seq = ?", (sequence_number,))
        self._published()

    # ----------------------------------------------------------------- status

    def next_due(self, subscription: str) -> datetime | None:
        """Now if a message is receivable, else the earliest scheduled time or lock expiry; None if empty."""
        with self._lock:
            self._sub(subscription)
            (earliest,) = self._execute(
                "SELECT MIN(available_at) FROM bus_messages WHERE subscription = ?", (subscription,)
            ).fetchone()
        if earliest is None:
            return None
        now = self.clock.now()
        return now if earliest <= _us(now) else _dt(earliest)

    def counts(self, subscription: str) -> SubscriptionCounts:
        with self._lock:
            self._sub(subscription)
            now = self._now_us()
            active, scheduled, locked = self._execute(
                "SELECT "
                "COALESCE(SUM(available_at <= ?), 0), "
                "COALESCE(SUM(available_at > ? AND (locked_until IS NULL OR locked_until <= ?)), 0), "
                "COALESCE(SUM(locked_until > ?), 0) "
                "FROM bus_messages WHERE subscription = ?",
                (now, now, now, now, subscription),
            ).fetchone()
            (dead,) = self._execute(
                "SELECT COUNT(*) FROM bus_dead_letters WHERE subscription = ?", (subscription,)
            ).fetchone()
        return SubscriptionCounts(subscription, active, scheduled, locked, dead)

    def describe(self) -> dict[str, SubscriptionCounts]:
        """Counts for every subscription on the topic, by name."""
        return {spec.name: self.counts(spec.name) for spec in self.subscriptions()}
