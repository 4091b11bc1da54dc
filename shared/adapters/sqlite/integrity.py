"""Startup checks and repair for the embedded SQLite files (``bus.db``, ``state.db``, ``traces.db``).

Every store opens its file through ``check_database`` first:

* a missing file is created atomically (a temporary file stamped with the store's ``application_id`` and
  schema version, hard-linked into place), so a 0-byte file is never one the factory made: it is refused;
* an existing file must pass ``PRAGMA quick_check``, carry the store's ``application_id`` (or none: a file
  from before the stamp) and a schema version this code knows;
* any refusal is a ``DatabaseCorruptError`` naming the file, what is wrong and what to do (restore it from a
  backup, or ``factory repair``).

``repair_database`` moves a broken file aside (``<name>.broken-<time>``) and salvages every row it can still
read into a fresh file; ``inspect_database`` is what ``factory doctor`` shows.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: ``PRAGMA application_id`` per store: a file of one store is never opened as another
APPLICATION_IDS = {"bus": 0x46414231, "state": 0x46415354, "traces": 0x46415452}  # "FAB1", "FAST", "FATR"
#: ``PRAGMA user_version`` this code writes and reads
SCHEMA_VERSION = 1
#: how many quick_check problems a refusal quotes
_QUOTED = 3


class DatabaseCorruptError(RuntimeError):
    """A database file cannot be used as it is. The message names the file and what to do."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(
            f"{path} {problem}. Stop every `factory host` on this home, then restore the file from a backup, or "
            f"run `factory repair` (it moves the file aside and keeps every row it can still read)")


@dataclass
class DatabaseReport:
    """What ``factory doctor`` says about one database file."""

    path: Path
    kind: str
    exists: bool
    size: int = 0
    healthy: bool = True
    problem: str | None = None
    schema_version: int | None = None
    details: dict[str, object] = field(default_factory=dict)


def _wal_files(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]


def _create(path: Path, kind: str) -> None:
    """A new, empty database stamped with the store's id and version, put in place atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        db = sqlite3.connect(temp, isolation_level=None)
        try:
            db.execute(f"PRAGMA application_id = {APPLICATION_IDS[kind]}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("PRAGMA journal_mode = WAL")
        finally:
            db.close()
        with contextlib.suppress(FileExistsError):  # another process created it first: use theirs
            os.link(temp, path)
    finally:
        for leftover in (Path(temp), *_wal_files(Path(temp))):
            leftover.unlink(missing_ok=True)


def _problem(path: Path, kind: str) -> tuple[str | None, int | None]:
    """Why ``path`` cannot be opened as a ``kind`` database (None: it can), and its schema version."""
    size = path.stat().st_size
    if size == 0:
        return (f"is empty (0 bytes): an empty file is not a {kind} database (it was truncated or replaced)", None)
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=30)
    except sqlite3.Error as exc:
        return (f"cannot be opened: {exc}", None)
    try:
        app_id = int(db.execute("PRAGMA application_id").fetchone()[0])
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        rows = [str(r[0]) for r in db.execute(f"PRAGMA quick_check({_QUOTED})").fetchall()]
    except sqlite3.DatabaseError as exc:
        return (f"is not a readable SQLite database ({exc})", None)
    finally:
        db.close()
    if rows != ["ok"]:
        return (f"is corrupt (SQLite quick_check: {'; '.join(rows)})", version)
    expected = APPLICATION_IDS[kind]
    if app_id not in (0, expected):
        other = next((k for k, v in APPLICATION_IDS.items() if v == app_id), f"unknown ({app_id:#x})")
        return (f"is a {other} database, not the {kind} database: the files were swapped or copied over", version)
    if version > SCHEMA_VERSION:
        return (f"has schema version {version}, newer than this factory's {SCHEMA_VERSION}: it was written by a "
                "newer version; upgrade the factory", version)
    return (None, version)


def check_database(path: Path | str, *, kind: str) -> None:
    """Create ``path`` if it does not exist; else refuse it (``DatabaseCorruptError``) unless it is usable."""
    if str(path) == ":memory:":
        return
    target = Path(path)
    if not target.exists():
        _create(target, kind)
        return
    problem, _version = _problem(target, kind)
    if problem is not None:
        raise DatabaseCorruptError(target, problem)


def inspect_database(path: Path, *, kind: str) -> DatabaseReport:
    """The state of one database file, without changing it."""
    if not path.exists():
        return DatabaseReport(path, kind, exists=False, problem="does not exist yet (created on first start)")
    problem, version = _problem(path, kind)
    return DatabaseReport(path, kind, exists=True, size=path.stat().st_size, healthy=problem is None,
                          problem=problem, schema_version=version)


@dataclass
class RepairReport:
    path: Path
    moved_to: Path | None
    salvaged: dict[str, int] = field(default_factory=dict)
    lost: dict[str, str] = field(default_factory=dict)
    note: str = ""


def repair_database(path: Path, *, kind: str) -> RepairReport:
    """Move a broken ``path`` aside and copy every row that can still be read into a fresh file.

    A healthy or missing file is left alone. Stop the hosts first: the file must not be in use.
    """
    if not path.exists():
        return RepairReport(path, None, note="does not exist; it is created on first start")
    problem, _version = _problem(path, kind)
    if problem is None:
        return RepairReport(path, None, note="is healthy; nothing to repair")
    aside = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%dT%H%M%S')}")
    os.replace(path, aside)
    for wal in _wal_files(path):
        if wal.exists():
            os.replace(wal, aside.with_name(aside.name + wal.name[len(path.name):]))
    report = RepairReport(path, aside, note=problem)
    _create(path, kind)
    if aside.stat().st_size == 0:
        return report
    try:
        old = sqlite3.connect(f"file:{aside}?mode=ro", uri=True, isolation_level=None)
        tables = old.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                             "'sqlite_%' AND sql IS NOT NULL").fetchall()
    except sqlite3.DatabaseError as exc:
        report.lost["*"] = f"nothing readable: {exc}"
        return report
    new = sqlite3.connect(path, isolation_level=None)
    try:
        for name, sql in tables:
            new.execute(sql)
            report.salvaged[name], problem_text = _copy_rows(old, new, name)
            if problem_text:
                report.lost[name] = problem_text
        for (sql,) in old.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"):
            with contextlib.suppress(sqlite3.DatabaseError):  # a unique index the salvage cannot honour
                new.execute(sql)
    finally:
        new.close()
        old.close()
    return report


def _copy_rows(old: sqlite3.Connection, new: sqlite3.Connection, table: str) -> tuple[int, str | None]:
    """Copy what can be read of ``table`` (in rowid windows, skipping unreadable ones)."""
    quoted = '"' + table.replace('"', '""') + '"'
    copied, skipped, last, step = 0, 0, 0, 256  # the stores' rowids start at 1
    while True:
        try:
            rows = old.execute(f"SELECT rowid, * FROM {quoted} WHERE rowid > ? ORDER BY rowid LIMIT ?",
                               (last, step)).fetchall()
        except sqlite3.DatabaseError:
            skipped += 1
            if skipped > 10_000:
                return copied, "stopped after 10,000 unreadable windows"
            last += step  # skip an unreadable window of rowids
            continue
        if not rows:
            break
        marks = ",".join("?" * len(rows[0]))
        new.execute("BEGIN")
        for row in rows:
            with contextlib.suppress(sqlite3.DatabaseError):
                new.execute(f"INSERT OR IGNORE INTO {quoted} (rowid, {_columns(old, table)}) VALUES ({marks})", row)
                copied += 1
        new.execute("COMMIT")
        last = rows[-1][0]
    return copied, (f"{skipped} unreadable window(s) of rows were lost" if skipped else None)


def _columns(db: sqlite3.Connection, table: str) -> str:
    quoted = '"' + table.replace('"', '""') + '"'
    return ", ".join('"' + str(r[1]).replace('"', '""') + '"' for r in db.execute(f"PRAGMA table_info({quoted})"))
