"""The embedded span log: one row per handling, read back by ``factory trace``."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime
from pathlib import Path

from shared.adapters.sqlite import locking
from shared.ports import SpanRecord


class SqliteSpanStore:
    def __init__(self, path: Path | str, *, busy_s: float = 30.0) -> None:
        self._path = str(path)
        self._busy_s = busy_s
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        for statement in (
            """CREATE TABLE IF NOT EXISTS spans (
                trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_span_id TEXT,
                name TEXT NOT NULL, consumer TEXT NOT NULL, event_id TEXT, event_type TEXT,
                start TEXT NOT NULL, end TEXT NOT NULL, outcome TEXT NOT NULL, attributes TEXT NOT NULL)""",
            "CREATE INDEX IF NOT EXISTS spans_trace ON spans(trace_id, start)",
        ):
            locking.execute(self._conn(), statement, busy_s=busy_s, path=self._path)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = locking.connect(self._path, busy_s=self._busy_s)
            self._local.conn = conn
        return conn

    def record(self, span: SpanRecord) -> None:
        locking.execute(
            self._conn(), "INSERT INTO spans VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (span.trace_id, span.span_id, span.parent_span_id, span.name, span.consumer, span.event_id,
             span.event_type, span.start.isoformat(), span.end.isoformat(), span.outcome,
             json.dumps(dict(span.attributes))), busy_s=self._busy_s, path=self._path,
        )

    def spans_for_trace(self, trace_id: str) -> list[SpanRecord]:
        rows = locking.execute(self._conn(), "SELECT * FROM spans WHERE trace_id=? ORDER BY start, rowid",
                               (trace_id,), busy_s=self._busy_s, path=self._path).fetchall()
        return [SpanRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], datetime.fromisoformat(r[7]),
                           datetime.fromisoformat(r[8]), r[9], json.loads(r[10])) for r in rows]
