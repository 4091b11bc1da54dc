"""Waiting for SQLite's write lock in small steps.

SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between attempts.
The factory's transactions (a bus claim, a unit of work) last well under a millisecond, so with
several threads or host processes on one file those sleeps, not the work, set the pace. Connections
here run with ``busy_timeout = 0`` once set up, and ``execute`` retries a statement refused with
``SQLITE_BUSY`` after 50 us, doubling to at most 2 ms between attempts, until ``busy_s`` has passed.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
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
