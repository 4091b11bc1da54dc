"""Spans and metrics. Embedded: spans to the SQLite span log. Azure: OpenTelemetry → App Insights.

Metrics (OpenTelemetry instruments, exported when Application Insights is configured, and
always kept as in-process totals for the CLI): ``event_emitted_total``,
``event_delivery_latency_ms``, ``agent_activation_duration_ms``.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict
from typing import Any

from shared.contracts.envelope import traceparent
from shared.ports import SpanRecord, SpanSink

log = logging.getLogger("factory.telemetry")
_configured = False
_lock = threading.Lock()


def configure_azure_monitor(connection_string: str) -> bool:
    """Send traces, metrics and logs to Application Insights (once per process)."""
    global _configured
    with _lock:
        if _configured:
            return True
        try:
            from azure.monitor.opentelemetry import configure_azure_monitor as _configure
        except ImportError:  # pragma: no cover - dependency is in requirements.txt
            log.warning("azure-monitor-opentelemetry is not installed; telemetry stays local")
            return False
        _configure(connection_string=connection_string, logger_name="factory")
        _configured = True
        return True


class Metrics:
    """The three factory metrics, as OpenTelemetry instruments plus local totals."""

    def __init__(self) -> None:
        from opentelemetry import metrics

        meter = metrics.get_meter("factory")
        self._emitted = meter.create_counter("event_emitted_total", unit="1",
                                             description="events published, by type")
        self._latency = meter.create_histogram("event_delivery_latency_ms", unit="ms",
                                               description="enqueue to handler start")
        self._activation = meter.create_histogram("agent_activation_duration_ms", unit="ms",
                                                  description="handling duration, by consumer")
        self.emitted_totals: Counter[str] = Counter()
        self.activations: dict[str, list[float]] = defaultdict(list)
        self.latencies: list[float] = []

    def emitted(self, event_type: str) -> None:
        self.emitted_totals[event_type] += 1
        self._emitted.add(1, {"type": event_type})

    def delivery_latency(self, consumer: str, ms: float) -> None:
        if len(self.latencies) < 100_000:
            self.latencies.append(ms)
        self._latency.record(ms, {"consumer": consumer})

    def activation(self, consumer: str, ms: float) -> None:
        bucket = self.activations[consumer]
        if len(bucket) < 10_000:
            bucket.append(ms)
        self._activation.record(ms, {"consumer": consumer})


class Tracer:
    """Records a span per handling into the span sink, and to OpenTelemetry when enabled."""

    def __init__(self, sink: SpanSink, *, otel: bool = False) -> None:
        self.sink = sink
        self.otel = otel

    def record(self, span: SpanRecord) -> None:
        self.sink.record(span)
        if self.otel:
            self._export(span)

    def spans_for_trace(self, trace_id: str) -> list[SpanRecord]:
        return self.sink.spans_for_trace(trace_id)

    @staticmethod
    def _export(span: SpanRecord) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        carrier: dict[str, Any] = {}
        if span.parent_span_id:
            carrier["traceparent"] = traceparent(span.trace_id, span.parent_span_id)
        ctx = TraceContextTextMapPropagator().extract(carrier)
        otel_span = trace.get_tracer("factory").start_span(
            span.name, context=ctx, start_time=int(span.start.timestamp() * 1e9),
            attributes={"factory.consumer": span.consumer, "factory.event_id": span.event_id or "",
                        "factory.event_type": span.event_type or "", "factory.outcome": span.outcome},
        )
        if span.outcome not in ("completed", "duplicate", "ok"):
            otel_span.set_status(Status(StatusCode.ERROR, span.outcome))
        otel_span.end(end_time=int(span.end.timestamp() * 1e9))
