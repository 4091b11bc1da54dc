"""Startup checks of the embedded files: databases, artifacts, the home's keys."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from shared.adapters.filesystem.artifacts import FilesystemArtifactStore
from shared.adapters.filesystem.keys import SigningKeyFileError, home_signing_key
from shared.adapters.sqlite.bus import SqliteBus
from shared.adapters.sqlite.integrity import DatabaseCorruptError, inspect_database, repair_database
from shared.adapters.sqlite.spans import SqliteSpanStore
from shared.adapters.sqlite.state import SqliteStateStore
from shared.contracts.envelope import make_envelope, new_trace_id
from shared.handling.context import HandlingContext
from shared.ports import SystemClock
from shared.ports.skills import SkillError


def test_an_empty_state_file_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"")
    with pytest.raises(DatabaseCorruptError, match=r"state\.db is empty \(0 bytes\).*factory repair"):
        SqliteStateStore(tmp_path / "state.db")


def test_a_garbled_database_is_refused_naming_the_file_and_what_to_do(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "state.db")
    store.upsert("p", "d", {"x": 1})
    store.close()
    data = bytearray((tmp_path / "state.db").read_bytes())
    data[:100] = os.urandom(100)
    (tmp_path / "state.db").write_bytes(bytes(data))
    with pytest.raises(DatabaseCorruptError, match=r"state\.db is not a readable SQLite database.*restore"):
        SqliteStateStore(tmp_path / "state.db")


def test_another_stores_file_and_a_newer_schema_are_refused(tmp_path: Path) -> None:
    SqliteBus(tmp_path / "bus.db").close()
    with pytest.raises(DatabaseCorruptError, match="is a bus database, not the state database"):
        SqliteStateStore(tmp_path / "bus.db")
    SqliteSpanStore(tmp_path / "traces.db")
    db = sqlite3.connect(tmp_path / "traces.db")
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(DatabaseCorruptError, match="schema version 99, newer"):
        SqliteSpanStore(tmp_path / "traces.db")


def test_repair_moves_a_broken_file_aside_and_keeps_the_readable_rows(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStateStore(path)
    for i in range(300):
        store.upsert("p", f"d{i}", {"i": i, "pad": "x" * 200})
    store.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[page * 5: page * 5 + 512] = os.urandom(512)  # damage one page in the middle
    path.write_bytes(bytes(data))
    assert not inspect_database(path, kind="state").healthy
    report = repair_database(path, kind="state")
    assert report.moved_to is not None and report.moved_to.exists()
    assert 0 < report.salvaged["documents"] <= 300
    again = SqliteStateStore(path)  # opens: the repaired file passes the checks
    assert len(again.query("p")) == report.salvaged["documents"]


def test_a_corrupt_artifact_says_corrupt_with_its_digest_not_missing(tmp_path: Path) -> None:
    store = FilesystemArtifactStore(tmp_path)
    ref = store.put(b"hello")
    store.path_for(ref.digest).write_bytes(b"hellO")
    event = make_envelope("ProjectCompleted", "1.0.0", {"projectId": "p"}, source="operator", tenant_id="t",
                          trace_id=new_trace_id(), time=SystemClock().now())
    ctx = HandlingContext(event, "c", clock=SystemClock(), state=None, artifacts=store,  # type: ignore[arg-type]
                          test_runner=None, scratch_root=tmp_path / "work")  # type: ignore[arg-type]
    with pytest.raises(SkillError, match=rf"artifact {ref.digest} at .* is corrupt: its 5 bytes hash to sha256:"):
        ctx.load_artifact(ref.digest)


def test_partial_artifact_files_of_dead_writers_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    store = FilesystemArtifactStore(tmp_path)
    ref = store.put(b"x")
    folder = store.path_for(ref.digest).parent
    dead, young = folder / ".abc.dead.tmp", folder / ".abc.young.tmp"
    dead.write_bytes(b"part")
    young.write_bytes(b"part")
    old = time.time() - 60
    os.utime(dead, (old, old))
    assert store.sweep_partial() == [dead]
    assert young.exists() and store.get(ref.digest) == b"x"


def test_the_home_signing_key_is_random_per_home_stable_and_a_truncated_one_is_refused(tmp_path: Path) -> None:
    a, b = home_signing_key(tmp_path / "a" / "signing.key"), home_signing_key(tmp_path / "b" / "signing.key")
    assert a != b and len(a) >= 32 and home_signing_key(tmp_path / "a" / "signing.key") == a
    assert (tmp_path / "a" / "signing.key").stat().st_mode & 0o077 == 0
    (tmp_path / "a" / "signing.key").write_text("short")
    with pytest.raises(SigningKeyFileError, match="truncated"):
        home_signing_key(tmp_path / "a" / "signing.key")
