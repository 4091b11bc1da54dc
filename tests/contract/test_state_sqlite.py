"""The state contract against ``SqliteStateStore`` on a temporary file."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.adapters.sqlite.state import SqliteStateStore
from shared.ports import FakeClock, StateStore

from .state_contract import StateStoreContract


class TestSqliteStateStore(StateStoreContract):
    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path: Path) -> None:
        self.db_path = tmp_path / "state.db"

    def make_store(self, clock: FakeClock) -> StateStore:
        return SqliteStateStore(self.db_path, clock=clock)

    def test_two_stores_on_one_file_see_each_others_writes(self, clock: FakeClock) -> None:
        one = SqliteStateStore(self.db_path, clock=clock)
        two = SqliteStateStore(self.db_path, clock=clock)
        created = one.create("p", "doc", {"v": 1})
        two.replace("p", "doc", {"v": 2}, created.etag)
        assert one.get("p", "doc").body == {"v": 2}  # type: ignore[union-attr]

    def test_file_uses_wal_journal(self, clock: FakeClock) -> None:
        store = SqliteStateStore(self.db_path, clock=clock)
        store.create("p", "doc", {})
        mode = store._connection().execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
