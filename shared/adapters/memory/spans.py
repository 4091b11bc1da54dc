"""Spans kept in memory (when App Insights receives them, or in tests)."""

from __future__ import annotations

from shared.ports import SpanRecord


class MemorySpanStore:
    def __init__(self) -> None:
        self.spans: list[SpanRecord] = []

    def record(self, span: SpanRecord) -> None:
        self.spans.append(span)

    def spans_for_trace(self, trace_id: str) -> list[SpanRecord]:
        return sorted((s for s in self.spans if s.trace_id == trace_id), key=lambda s: s.start)
