"""Traces, logs and metrics: one OpenTelemetry tree per traceId, exported to Application Insights.

The tree a run forms (``tests/e2e/test_telemetry_tree.py`` proves it through the real exporter):

* An entry point's publish (CLI, HTTP API, operator) is the root: a PRODUCER span ("publish <type>",
  dependency telemetry) whose trace id is the envelope's ``traceId``, so App Insights' ``operation_Id``
  is the id ``factory run`` prints.
* Each handling is the current span while the pipeline works (``Tracer.handling``), a child of the
  incoming message's ``traceparent`` (or ``Diagnostic-Id``). Embedded and under the local host it is a
  CONSUMER span (request telemetry). Under the Azure Functions host, which records every invocation as
  a request itself and hands its context to the trigger (``context.trace_context``), it is an INTERNAL
  child of that invocation, so requests are not counted twice; its outcome is in ``factory.outcome``.
* Each publish of a handling's output is a PRODUCER child of the handling; the outgoing message's
  ``traceparent`` and ``Diagnostic-Id`` carry that span's context, so the next handling hangs below it.
  An outbox relay outside any handling parents its PRODUCER on the context stored with the record.
* Log records of the ``factory`` logger written during a handling carry its operation id.

Sampling is explicit (``OTEL_TRACES_SAMPLER_ARG``, 1.0 = every trace): the distro's default keeps about
5 spans/s and breaks chains. The sampler decides by trace id, so a trace is kept or dropped whole.

Embedded (no connection string) the same spans come from a private SDK provider that exports nothing;
each handling is also written to the span sink (SQLite), which ``factory trace`` and Studio read.

Metrics (OpenTelemetry instruments, exported when Application Insights is configured, and
always kept as in-process totals for the CLI): ``event_emitted_total``,
``event_delivery_latency_ms``, ``agent_activation_duration_ms``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

from shared.contracts.envelope import parse_traceparent
from shared.ports import OutgoingMessage, SpanRecord, SpanSink

log = logging.getLogger("factory.telemetry")
_configured = False
_lock = threading.Lock()

#: the application properties that carry trace context (the Service Bus SDK and the Functions host read both)
TRACEPARENT = "traceparent"
DIAGNOSTIC_ID = "Diagnostic-Id"
TRACESTATE = "tracestate"
TRACER_NAME = "factory"

#: the trace id a root span must get (the envelope's traceId), read by the id generator below
_ROOT_TRACE_ID: ContextVar[int | None] = ContextVar("factory_root_trace_id", default=None)

#: outcomes that make a handling span an error (App Insights: success = false)
FAILED_OUTCOMES = frozenset({"error", "failed", "dead-lettered"})


def configure_azure_monitor(connection_string: str, *, sampling_ratio: float = 1.0, logger_name: str = "factory",
                            live_metrics: bool = False) -> bool:
    """Send traces, metrics and logs to Application Insights, once per process, before the first handling.

    On Azure the Functions worker has already configured the distro from the app settings when
    ``PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true`` (sampler, logger name and disabled
    instrumentations come from ``OTEL_TRACES_SAMPLER``/``_ARG``, ``PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME``
    and ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``; the Bicep sets them): a second configuration would be
    ignored, so an SDK provider already in place is used as it is.
    """
    global _configured
    with _lock:
        if _configured:
            return True
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider

        if isinstance(trace.get_tracer_provider(), TracerProvider):
            log.info("OpenTelemetry is already configured in this process (the Functions worker); using it")
            _configured = True
            return True
        try:
            from azure.monitor.opentelemetry import configure_azure_monitor as _configure
        except ImportError:  # pragma: no cover - the distro is in requirements.txt
            log.warning("azure-monitor-opentelemetry is not installed; telemetry stays local")
            return False
        _configure(
            connection_string=connection_string,
            sampling_ratio=sampling_ratio,  # ApplicationInsightsSampler: by trace id, whole trees kept or dropped
            enable_trace_based_sampling_for_logs=sampling_ratio < 1.0,  # no logs of dropped traces
            logger_name=logger_name,  # a handler on this logger only: never the root logger
            # no azure-core spans: the Service Bus SDK's would also write their own traceparent
            instrumentation_options={"azure_sdk": {"enabled": False}},
            enable_live_metrics=live_metrics,
        )
        factory_logger = logging.getLogger(logger_name)
        if factory_logger.level == logging.NOTSET:  # else INFO records die at the root logger's WARNING
            factory_logger.setLevel(logging.INFO)
        _configured = True
        return True


# ----------------------------------------------------------------------------- context in messages


@dataclass(frozen=True)
class InvocationTrace:
    """The Functions invocation's trace context (``context.trace_context``): the host's span for it."""

    trace_parent: str = ""
    trace_state: str = ""

    @classmethod
    def of(cls, context: Any) -> InvocationTrace | None:
        """From a ``func.Context`` (None, or an empty trace context, when no host span exists)."""
        trace_context = getattr(context, "trace_context", None)
        parent = str(getattr(trace_context, "trace_parent", "") or "")
        if not parent:
            return None
        return cls(parent, str(getattr(trace_context, "trace_state", "") or ""))


def _property(props: Mapping[Any, Any], name: str) -> str | None:
    wanted = name.lower()
    for key, value in props.items():
        text = key.decode("ascii", "replace") if isinstance(key, bytes) else str(key)
        if text.lower() == wanted and value:
            return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
    return None


#: the envelope's traceId in a CloudEvents body, found without parsing it (a hostile body may be anything)
_TRACE_ID_IN_BODY = re.compile(rb'"trace[iI]d"\s*:\s*"([0-9a-f]{32})"')


def _trace_id_hint(body: bytes | None) -> int | None:
    """The envelope's traceId, for a root span when a message carries no trace context."""
    match = _TRACE_ID_IN_BODY.search(body[:65536]) if isinstance(body, bytes | bytearray) else None
    return int(match.group(1), 16) if match else None


class _TraceIdChooser:
    """An ``IdGenerator`` that gives a root span the trace id the envelope already has (else a random one)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def generate_span_id(self) -> int:
        return int(self.inner.generate_span_id())

    def generate_trace_id(self) -> int:
        forced = _ROOT_TRACE_ID.get()
        return forced if forced is not None else int(self.inner.generate_trace_id())

    def is_trace_id_random(self) -> bool:
        return _ROOT_TRACE_ID.get() is None and bool(self.inner.is_trace_id_random())


@contextlib.contextmanager
def _root_trace_id(trace_id: int | None) -> Iterator[None]:
    token = _ROOT_TRACE_ID.set(trace_id)
    try:
        yield
    finally:
        _ROOT_TRACE_ID.reset(token)


def _hex_trace(value: int) -> str:
    return f"{value:032x}"


def _hex_span(value: int) -> str:
    return f"{value:016x}"


# ----------------------------------------------------------------------------- spans


class HandlingSpan:
    """The current span of one handling: named once the event is parsed, its outcome set at the end."""

    def __init__(self, span: Any, parent_span_id: str | None) -> None:
        self.span = span
        context = span.get_span_context()
        self.trace_id = _hex_trace(context.trace_id)
        self.span_id = _hex_span(context.span_id)
        self.parent_span_id = parent_span_id

    def identify(self, consumer: str, event_type: str, event_id: str) -> None:
        self.span.update_name(f"{consumer} {event_type}")
        self.span.set_attribute("factory.event_type", event_type)
        self.span.set_attribute("factory.event_id", event_id)

    def set_outcome(self, outcome: str, detail: str = "") -> None:
        from opentelemetry.trace import Status, StatusCode

        self.span.set_attribute("factory.outcome", outcome)
        if outcome in FAILED_OUTCOMES:
            self.span.set_status(Status(StatusCode.ERROR, (detail or outcome)[:500]))


class Tracer:
    """Makes the spans of handlings and publishes, and records each handling in the span sink.

    ``exporting``: use the process's global provider (the azure-monitor distro's); otherwise a private SDK
    provider that exports nothing gives the same real span contexts for the messages and the span log.
    """

    def __init__(self, sink: SpanSink, *, exporting: bool = False, topic: str = "factory-events",
                 provider: Any = None) -> None:
        """``provider``: an SDK ``TracerProvider`` to use instead (tests read the finished spans from it)."""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import Tracer as SdkTracer
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.sink = sink
        self.exporting = exporting
        self.topic = topic
        self._propagator = TraceContextTextMapPropagator()
        if provider is not None:
            self._tracer: Any = provider.get_tracer(TRACER_NAME)
        elif exporting:
            self._tracer = trace.get_tracer(TRACER_NAME)
        else:
            self._tracer = TracerProvider(shutdown_on_exit=False).get_tracer(TRACER_NAME)
        if isinstance(self._tracer, SdkTracer) and not isinstance(self._tracer.id_generator, _TraceIdChooser):
            self._tracer.id_generator = _TraceIdChooser(self._tracer.id_generator)  # type: ignore[assignment]

    # ------------------------------------------------------------------ span log

    def record(self, span: SpanRecord) -> None:
        self.sink.record(span)

    def spans_for_trace(self, trace_id: str) -> list[SpanRecord]:
        return self.sink.spans_for_trace(trace_id)

    # ------------------------------------------------------------------ handlings

    def _extract(self, traceparent: str | None, tracestate: str | None = None) -> Any:
        carrier = {TRACEPARENT: traceparent} if traceparent else {}
        if traceparent and tracestate:
            carrier[TRACESTATE] = tracestate
        return self._propagator.extract(carrier)

    @contextlib.contextmanager
    def handling(self, consumer: str, *, properties: Mapping[Any, Any] | None,
                 body: Callable[[], bytes] | None = None,
                 invocation: InvocationTrace | None = None) -> Iterator[HandlingSpan]:
        """One handling as the current span (see the module docstring for its parent and kind)."""
        from opentelemetry import trace
        from opentelemetry.trace import Link, SpanKind

        props = properties or {}
        message_parent = _property(props, TRACEPARENT) or _property(props, DIAGNOSTIC_ID)
        context = self._extract(message_parent, _property(props, TRACESTATE))
        message_span = trace.get_current_span(context).get_span_context()
        kind, links = SpanKind.CONSUMER, []
        if invocation is not None:
            host_context = self._extract(invocation.trace_parent, invocation.trace_state)
            host_span = trace.get_current_span(host_context).get_span_context()
            if host_span.is_valid and (not message_span.is_valid or host_span.trace_id == message_span.trace_id):
                context, kind = host_context, SpanKind.INTERNAL  # the host already records the request
            elif host_span.is_valid:
                links = [Link(host_span, {"factory.link": "functions-invocation"})]
        parent = trace.get_current_span(context).get_span_context()
        forced = None if parent.is_valid or body is None else _trace_id_hint(body())
        attributes = {"messaging.system": "servicebus", "messaging.operation": "process",
                      "messaging.destination.name": self.topic, "factory.consumer": consumer}
        with _root_trace_id(forced), self._tracer.start_as_current_span(
                f"{consumer} message", context=context, kind=kind, links=links, attributes=attributes,
                record_exception=True, set_status_on_exception=True) as span:
            yield HandlingSpan(span, _hex_span(parent.span_id) if parent.is_valid else None)

    def current_span_id(self, trace_id: str) -> str | None:
        """The current span's id when it belongs to ``trace_id`` (the handling whose outputs are prepared)."""
        from opentelemetry import trace

        context = trace.get_current_span().get_span_context()
        if context.is_valid and _hex_trace(context.trace_id) == trace_id:
            return _hex_span(context.span_id)
        return None

    # ------------------------------------------------------------------ publishes

    @contextlib.contextmanager
    def producing(self, messages: Sequence[OutgoingMessage], *, entry: bool = False,
                  attributes: Sequence[Mapping[str, str]] | None = None) -> Iterator[list[OutgoingMessage]]:
        """One PRODUCER span per message, for as long as the send takes; yields the messages re-stamped
        with their span's context in ``traceparent`` and ``Diagnostic-Id``.

        Parent: the current span when it is in the message's trace; else, for an entry point, none (a root
        in the envelope's trace, linked to the current span if there is one), and for an outbox record the
        context it was stored with (the handling that prepared it).
        """
        from opentelemetry import trace
        from opentelemetry.trace import Link, SpanKind, Status, StatusCode

        current = trace.get_current_span().get_span_context()
        spans: list[Any] = []
        stamped: list[OutgoingMessage] = []
        try:
            for index, message in enumerate(messages):
                props = message.application_properties
                stored = parse_traceparent(_property(props, TRACEPARENT))
                trace_id = int(stored[0], 16) if stored else None
                links = []
                forced = None
                if current.is_valid and (trace_id is None or current.trace_id == trace_id):
                    context = trace.set_span_in_context(trace.get_current_span())
                elif entry or stored is None:
                    context, forced = self._extract(None), trace_id
                    if current.is_valid:
                        links = [Link(current, {"factory.link": "caller"})]
                else:
                    context = self._extract(_property(props, TRACEPARENT))
                event_type = str(props.get("type") or message.subject or "message")
                span_attributes = {"messaging.system": "servicebus", "messaging.operation": "publish",
                                   "messaging.destination.name": self.topic, "messaging.message.id": message.message_id,
                                   "factory.event_type": event_type, "factory.event_id": message.message_id}
                if attributes is not None:
                    span_attributes.update(attributes[index])
                with _root_trace_id(forced):
                    span = self._tracer.start_span(f"publish {event_type}", context=context, kind=SpanKind.PRODUCER,
                                                   links=links, attributes=span_attributes)
                spans.append(span)
                stamped.append(replace(message, application_properties=self.trace_properties(span, props)))
            yield stamped
        except BaseException as exc:
            for span in spans:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:500]))
            raise
        finally:
            for span in spans:
                span.end()

    def trace_properties(self, span: Any, properties: Mapping[str, Any]) -> dict[str, Any]:
        """``properties`` with ``traceparent`` and ``Diagnostic-Id`` (and ``tracestate``) set to ``span``."""
        from opentelemetry import trace

        carrier: dict[str, str] = {}
        self._propagator.inject(carrier, context=trace.set_span_in_context(span))
        out = {k: v for k, v in properties.items() if k not in (TRACEPARENT, DIAGNOSTIC_ID, TRACESTATE)}
        if TRACEPARENT in carrier:
            out[TRACEPARENT] = carrier[TRACEPARENT]
            out[DIAGNOSTIC_ID] = carrier[TRACEPARENT]
        if carrier.get(TRACESTATE):
            out[TRACESTATE] = carrier[TRACESTATE]
        return out


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
