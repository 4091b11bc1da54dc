"""The span contract on every ``SpanSink`` adapter: SQLite (the embedded span log) and memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.adapters.memory.spans import MemorySpanStore
from shared.adapters.sqlite.spans import SqliteSpanStore
from shared.ports import SpanSink
from tests.contract.span_contract import SpanContract, span


class TestSqliteSpanStore(SpanContract):
    @pytest.fixture(autouse=True)
    def _home(self, tmp_path: Path) -> None:
        self.path = tmp_path / "traces.db"

    def make_sink(self) -> SpanSink:
        return SqliteSpanStore(self.path)

    def test_spans_survive_reopening_the_file(self) -> None:
        SqliteSpanStore(self.path).record(span("a" * 32, 1))
        assert [s.event_id for s in SqliteSpanStore(self.path).spans_for_trace("a" * 32)] == ["e1"]


class TestMemorySpanStore(SpanContract):
    def make_sink(self) -> SpanSink:
        return MemorySpanStore()
