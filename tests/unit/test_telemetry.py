"""Where each span hangs and what a message carries (``shared.handling.telemetry.Tracer``), read from the
finished spans of an SDK provider with an in-memory exporter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared.adapters.memory.spans import MemorySpanStore
from shared.contracts.envelope import parse_traceparent
from shared.handling.telemetry import InvocationTrace, Tracer
from shared.ports import OutgoingMessage

TRACE = "0af7651916cd43dd8448eb211c80319c"
PRODUCER = "b7ad6b7169203331"
HOST = "00f067aa0ba902b7"
OTHER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Iterator[Tracer]:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield Tracer(MemorySpanStore(), provider=provider)
    provider.shutdown()


def tp(trace_id: str, span_id: str) -> str:
    return f"00-{trace_id}-{span_id}-01"


def finished(exporter: InMemorySpanExporter, name_prefix: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith(name_prefix)]


def parent_hex(span: ReadableSpan) -> str | None:
    return f"{span.parent.span_id:016x}" if span.parent else None


def test_a_handling_is_a_consumer_child_of_the_message_traceparent(tracer: Tracer,
                                                                    exporter: InMemorySpanExporter) -> None:
    with tracer.handling("vision-architect", properties={"traceparent": tp(TRACE, PRODUCER)}) as span:
        span.identify("vision-architect", "ProjectInitialized", "evt-1")
        span.set_outcome("completed")
    (done,) = finished(exporter, "vision-architect")
    assert done.name == "vision-architect ProjectInitialized"
    assert done.kind is SpanKind.CONSUMER
    assert (f"{done.context.trace_id:032x}", parent_hex(done)) == (TRACE, PRODUCER)
    assert (span.trace_id, span.parent_span_id) == (TRACE, PRODUCER)
    assert done.attributes["factory.outcome"] == "completed"
    assert done.status.status_code is StatusCode.UNSET  # App Insights: success


def test_diagnostic_id_is_the_parent_when_traceparent_is_missing(tracer: Tracer,
                                                                 exporter: InMemorySpanExporter) -> None:
    with tracer.handling("c", properties={"Diagnostic-Id": tp(TRACE, PRODUCER)}):
        pass
    (done,) = finished(exporter, "c ")
    assert parent_hex(done) == PRODUCER


def test_under_a_functions_invocation_the_handling_is_an_internal_child_of_the_host_span(
        tracer: Tracer, exporter: InMemorySpanExporter) -> None:
    with tracer.handling("c", properties={"traceparent": tp(TRACE, PRODUCER)},
                         invocation=InvocationTrace(tp(TRACE, HOST))):
        pass
    (done,) = finished(exporter, "c ")
    assert done.kind is SpanKind.INTERNAL  # the host already records the invocation as a request
    assert parent_hex(done) == HOST


def test_a_host_span_in_another_trace_is_linked_not_the_parent(tracer: Tracer,
                                                               exporter: InMemorySpanExporter) -> None:
    with tracer.handling("c", properties={"traceparent": tp(TRACE, PRODUCER)},
                         invocation=InvocationTrace(tp(OTHER_TRACE, HOST))):
        pass
    (done,) = finished(exporter, "c ")
    assert done.kind is SpanKind.CONSUMER
    assert parent_hex(done) == PRODUCER
    assert [(f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for link in done.links] == [
        (OTHER_TRACE, HOST)]


def test_a_message_without_trace_context_starts_a_root_in_its_envelope_trace(
        tracer: Tracer, exporter: InMemorySpanExporter) -> None:
    body = json.dumps({"id": "e", "traceid": TRACE}).encode()
    with tracer.handling("c", properties={}, body=lambda: body) as span:
        pass
    (done,) = finished(exporter, "c ")
    assert done.parent is None
    assert span.trace_id == TRACE


def test_failed_outcomes_mark_the_span_as_an_error(tracer: Tracer, exporter: InMemorySpanExporter) -> None:
    with tracer.handling("c", properties={"traceparent": tp(TRACE, PRODUCER)}) as span:
        span.set_outcome("dead-lettered", "SignatureInvalid: tampered")
    (done,) = finished(exporter, "c ")
    assert done.status.status_code is StatusCode.ERROR
    assert done.status.description == "SignatureInvalid: tampered"


def message(i: int, trace_id: str = TRACE, parent: str = PRODUCER, **props: Any) -> OutgoingMessage:
    return OutgoingMessage(f"m-{i}", b"{}", {"type": "VisionDocumentCreated", "traceparent": tp(trace_id, parent),
                                            **props})


def test_each_publish_in_a_handling_is_a_producer_child_whose_context_the_message_carries(
        tracer: Tracer, exporter: InMemorySpanExporter) -> None:
    with tracer.handling("c", properties={"traceparent": tp(TRACE, PRODUCER)}) as handling, \
            tracer.producing([message(1), message(2)]) as stamped:
        pass
    producers = finished(exporter, "publish ")
    assert [p.kind for p in producers] == [SpanKind.PRODUCER, SpanKind.PRODUCER]
    assert {parent_hex(p) for p in producers} == {handling.span_id}
    for sent, span in zip(stamped, producers, strict=True):
        props = sent.application_properties
        assert props["traceparent"] == props["Diagnostic-Id"]
        assert parse_traceparent(str(props["traceparent"])) == (TRACE, f"{span.context.span_id:016x}")
        assert props["type"] == "VisionDocumentCreated"


def test_an_entry_point_publish_is_the_root_of_the_envelope_trace(tracer: Tracer,
                                                                  exporter: InMemorySpanExporter) -> None:
    with tracer.producing([message(1, trace_id=OTHER_TRACE)], entry=True) as stamped:
        pass
    (root,) = finished(exporter, "publish ")
    assert root.parent is None
    assert f"{root.context.trace_id:032x}" == OTHER_TRACE
    assert parse_traceparent(str(stamped[0].application_properties["traceparent"])) == (
        OTHER_TRACE, f"{root.context.span_id:016x}")


def test_a_relay_outside_any_handling_parents_on_the_stored_context(tracer: Tracer,
                                                                    exporter: InMemorySpanExporter) -> None:
    with tracer.producing([message(1, parent=HOST)]):
        pass
    (relayed,) = finished(exporter, "publish ")
    assert (f"{relayed.context.trace_id:032x}", parent_hex(relayed)) == (TRACE, HOST)


def test_a_failed_send_marks_its_publish_spans_as_errors(tracer: Tracer, exporter: InMemorySpanExporter) -> None:
    with pytest.raises(ConnectionError), tracer.producing([message(1)]):
        raise ConnectionError("namespace unreachable")
    (failed,) = finished(exporter, "publish ")
    assert failed.status.status_code is StatusCode.ERROR
    assert [event.name for event in failed.events] == ["exception"]
