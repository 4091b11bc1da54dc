"""The span port: one record per handling, for `factory trace` and Studio."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from shared.ports.bus import PropertyValue


@dataclass(frozen=True)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    consumer: str
    event_id: str | None
    event_type: str | None
    start: datetime
    end: datetime
    outcome: str  # "ok" | "error" | "dead-lettered" | "duplicate"
    attributes: Mapping[str, PropertyValue] = field(default_factory=dict)


class SpanSink(Protocol):
    def record(self, span: SpanRecord) -> None: ...

    def spans_for_trace(self, trace_id: str) -> list[SpanRecord]: ...
