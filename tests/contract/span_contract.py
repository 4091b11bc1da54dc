"""The span contract: every ``SpanSink`` must pass these cases (subclass ``SpanContract``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.ports import SpanRecord, SpanSink

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def span(trace: str, n: int, *, parent: str | None = None, outcome: str = "completed") -> SpanRecord:
    return SpanRecord(trace_id=trace, span_id=f"{n:016x}", parent_span_id=parent, name=f"handle E{n}",
                      consumer="vision-architect", event_id=f"e{n}", event_type=f"E{n}",
                      start=T0 + timedelta(seconds=n), end=T0 + timedelta(seconds=n, milliseconds=5),
                      outcome=outcome, attributes={"deliveryCount": 1, "detail": "ok", "ratio": 0.5, "flag": True})


class SpanContract:
    """Abstract case: ``make_sink()`` per adapter."""

    def make_sink(self) -> SpanSink:
        raise NotImplementedError

    def test_a_recorded_span_reads_back_field_for_field(self) -> None:
        sink = self.make_sink()
        original = span("a" * 32, 1, parent="b" * 16)
        sink.record(original)
        assert sink.spans_for_trace("a" * 32) == [original]

    def test_spans_of_a_trace_come_back_in_start_order_and_only_that_trace(self) -> None:
        sink = self.make_sink()
        for n in (3, 1, 2):
            sink.record(span("a" * 32, n))
        sink.record(span("c" * 32, 4))
        assert [s.event_id for s in sink.spans_for_trace("a" * 32)] == ["e1", "e2", "e3"]
        assert [s.event_id for s in sink.spans_for_trace("c" * 32)] == ["e4"]

    def test_an_unknown_trace_has_no_spans(self) -> None:
        assert self.make_sink().spans_for_trace("f" * 32) == []

    def test_each_delivery_of_the_same_event_is_its_own_span(self) -> None:
        sink = self.make_sink()
        sink.record(span("a" * 32, 1, outcome="error"))
        sink.record(span("a" * 32, 1, outcome="completed"))
        assert [s.outcome for s in sink.spans_for_trace("a" * 32)] == ["error", "completed"]
