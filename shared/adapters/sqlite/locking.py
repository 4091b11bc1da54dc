"""Waiting for SQLite's write lock in small steps, and checkpointing off the commit path.

SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between attempts.
The factory's transactions (a bus claim, a unit of work) last well under a millisecond, so with
several threads or host processes on one file those sleeps, not the work, set the pace. Connections
here run with ``busy_timeout = 0`` once set up, and ``execute`` retries a statement refused with
``SQLITE_BUSY`` after 50 us, doubling to at most 2 ms between attempts, until ``busy_s`` has passed.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

FIRST_RETRY_S = 0.00005
LAST_RETRY_S = 0.002


def connect(path: Path | str, *, busy_s: float, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """An autocommit connection in WAL mode whose lock waits ``execute`` does (busy_timeout 0)."""
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=busy_s)
    db.execute(f"PRAGMA busy_timeout = {int(busy_s * 1000)}")  # the set-up statements may wait for a lock
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {synchronous}")
    db.execute("PRAGMA busy_timeout = 0")
    return db


def execute(db: sqlite3.Connection, sql: str, args: Sequence[Any] = (), *, busy_s: float,
            path: Path | str) -> sqlite3.Cursor:
    """``db.execute(sql, args)``, retried while another connection holds the lock it needs."""
    delay, deadline = FIRST_RETRY_S, 0.0
    while True:
        try:
            return db.execute(sql, args)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            now = time.monotonic()
            if not deadline:
                deadline = now + busy_s
            elif now >= deadline:
                raise sqlite3.OperationalError(
                    f"{exc} after {busy_s:g} s: another connection holds {path} in a write transaction; "
                    "stop the process that holds it (another host?) or raise the busy timeout") from exc
            time.sleep(delay)
            delay = min(delay * 2, LAST_RETRY_S)


class Checkpointer:
    """Copies the write-ahead log into the database from a thread of its own, never inside a commit.

    With SQLite's automatic checkpoints, the commit that crosses the threshold copies (and fsyncs)
    the whole log: a 20-50 ms stall for whichever receive or publish happens to be that commit.
    Connections that use a ``Checkpointer`` set ``wal_autocheckpoint = 0``; ``wrote()`` marks that a
    transaction committed, and a daemon thread runs ``wal_checkpoint(PASSIVE)`` on its own connection
    at most every ``interval`` seconds while there is something new. A passive checkpoint never waits
    for, nor blocks, writers; with several processes on one file, whichever gets there first does it.
    """

    def __init__(self, path: Path | str, *, interval: float = 0.2,
                 on_checkpoint: Callable[[tuple[int, int, int]], None] | None = None) -> None:
        self.path = str(path)
        self.interval = interval
        self.on_checkpoint = on_checkpoint  # called with (busy, log frames, checkpointed frames)
        self._dirty = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def wrote(self) -> None:
        """A write transaction committed: a checkpoint is due within ``interval``."""
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._closed:
                    self._thread = threading.Thread(target=self._run, name="factory-bus-checkpoint", daemon=True)
                    self._thread.start()
        self._dirty.set()

    def _run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout = 0")
            while True:
                self._dirty.wait()
                if self._closed:
                    return
                time.sleep(self.interval)  # gather a few commits' worth of log per checkpoint
                self._dirty.clear()
                if self._closed:
                    return
                try:
                    busy, log, done = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.OperationalError:  # busy: another one is at it
                    continue
                if self.on_checkpoint is not None:
                    self.on_checkpoint((busy, log, done))
        finally:
            db.close()

    def close(self) -> None:
        """Stop the thread (after its current checkpoint, if one is running)."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        self._dirty.set()
        if thread is not None:
            thread.join()
