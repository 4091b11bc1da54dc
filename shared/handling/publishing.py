"""Building, signing and publishing events: the outbox's producer and relay.

Every send is traced (``Tracer.producing``): one PRODUCER span per message, whose context the message
carries in ``traceparent`` and ``Diagnostic-Id``, so the handling it causes hangs below it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from shared.contracts.envelope import (
    Envelope,
    make_envelope,
    new_trace_id,
    output_event_id,
    parse_wire,
    span_id_for,
    wire_bytes,
)
from shared.contracts.errors import MessageTooLargeError
from shared.contracts.registry import Registry
from shared.handling.telemetry import Metrics, Tracer
from shared.ports import Clock, MessagePublisher, OutboxRecord, OutgoingMessage, StateStore
from shared.ports.skills import Emit


class EventPublisher:
    """Turns ``Emit`` decisions into signed, schema-valid envelopes and publishes them.

    Handlers never publish directly: ``prepare`` builds outbox records that are committed
    with the state, and ``publish_records`` sends them afterwards (then marks them published
    and appends them to the event log). ``relay`` re-sends anything committed but unpublished.
    """

    def __init__(self, *, bus: MessagePublisher, state: StateStore, registry: Registry, signing_key: bytes,
                 clock: Clock, metrics: Metrics, tracer: Tracer, max_message_bytes: int = 256 * 1024) -> None:
        self.max_message_bytes = max_message_bytes
        self.bus = bus
        self.state = state
        self.registry = registry
        self.key = signing_key
        self.clock = clock
        self.metrics = metrics
        self.tracer = tracer

    # ------------------------------------------------------------------ building

    def envelope(self, emit: Emit, *, source: str, tenant_id: str, trace_id: str, id: str,
                 project_id: str | None = None, causation_id: str | None = None,
                 correlation_id: str | None = None) -> Envelope:
        info = (self.registry.latest(emit.type) if emit.version is None
                else self.registry.get(emit.type, emit.version))
        self.registry.validate(emit.type, info.version, emit.data)
        data = dict(emit.data)
        env = make_envelope(
            emit.type, info.version, data, source=source, tenant_id=tenant_id, trace_id=trace_id,
            time=self.clock.now(), id=id,
            project_id=project_id or (str(data["projectId"]) if data.get("projectId") else None),
            causation_id=causation_id, correlation_id=correlation_id, schema_uri=info.schema_uri,
        )
        return env.signed(self.key)

    def message(self, env: Envelope, emit: Emit, *, parent_span_id: str | None) -> OutgoingMessage:
        scheduled = None
        if emit.delay_seconds:
            scheduled = self.clock.now() + timedelta(seconds=emit.delay_seconds)
        message = env.to_message(parent_span_id=parent_span_id, extra_properties=emit.properties,
                                 scheduled_enqueue_time=scheduled)
        if len(message.body) > self.max_message_bytes:  # checked here, not dead-lettered by every consumer later
            raise MessageTooLargeError(
                f"{emit.type} would be {len(message.body):,} bytes on the bus; the limit is {self.max_message_bytes:,} "
                "(FACTORY_MAX_MESSAGE_BYTES): put large content in an artifact and send its digest")
        return message

    def prepare(self, emits: Sequence[Emit], *, consumer: str, cause: Envelope,
                id_salt: str = "") -> list[OutboxRecord]:
        """Outbox records for a handler's outputs, with deterministic ids."""
        seed = f"{cause.id}:{id_salt}" if id_salt else cause.id
        # the handling's span (current while it decides): a relay outside any handling parents on it
        parent = self.tracer.current_span_id(cause.trace_id) or span_id_for(f"{consumer}:{cause.id}")
        records = []
        for index, emit in enumerate(emits):
            env = self.envelope(
                emit, source=consumer, tenant_id=cause.tenant_id, trace_id=cause.trace_id,
                id=output_event_id(consumer, emit.key, 0) if emit.key else output_event_id(consumer, seed, index),
                project_id=cause.project_id, causation_id=cause.id,
                correlation_id=cause.correlation_id or cause.id,
            )
            records.append(OutboxRecord(self.message(env, emit, parent_span_id=parent), consumer, cause.id))
        return records

    # ------------------------------------------------------------------ sending

    def publish_records(self, records: Sequence[OutboxRecord]) -> None:
        if not records:
            return
        docs = [parse_wire(r.message.body).to_dict() for r in records]
        # the event log is written before the bus sees the events: a consumer that reacts at once
        # and reads the project's history must find them (idempotent by id, so a relay is harmless)
        self._log(docs)
        with self.tracer.producing([r.message for r in records],
                                   attributes=[span_attributes(doc) for doc in docs]) as messages:
            self.bus.publish(messages)
        by_consumer: dict[str, list[str]] = defaultdict(list)
        for r in records:
            by_consumer[r.consumer].append(r.message.message_id)
        for consumer, ids in by_consumer.items():
            self.state.mark_published(ids, consumer)

    def publish_envelopes(self, envelopes: Sequence[Envelope],
                          properties: Mapping[str, str] | None = None) -> None:
        """Publish already-built envelopes directly (entry points: CLI, HTTP API, operator)."""
        for e in envelopes:
            size = len(wire_bytes(e))
            if size > self.max_message_bytes:
                raise MessageTooLargeError(
                    f"{e.type} would be {size:,} bytes on the bus; the limit is {self.max_message_bytes:,} "
                    "(FACTORY_MAX_MESSAGE_BYTES): nothing was published")
        docs = [e.to_dict() for e in envelopes]
        self._log(docs)
        with self.tracer.producing([e.to_message(extra_properties=properties) for e in envelopes], entry=True,
                                   attributes=[span_attributes(doc) for doc in docs]) as messages:
            self.bus.publish(messages)

    def publish_new(self, emit: Emit, *, source: str, tenant_id: str, trace_id: str | None = None,
                    project_id: str | None = None) -> Envelope:
        """Validate, sign and publish one event that starts (or joins) a trace: CLI, HTTP, operator."""
        env = self.envelope(emit, source=source, tenant_id=tenant_id, trace_id=trace_id or new_trace_id(),
                            id=str(uuid.uuid4()), project_id=project_id)
        self.publish_envelopes([env])
        return env

    def _log(self, docs: list[dict[str, Any]]) -> None:
        for doc in docs:
            self.metrics.emitted(doc["type"])
        self.state.append_events(docs)

    def relay(self, *, consumer: str | None = None, source_event_id: str | None = None) -> int:
        """Publish committed-but-unpublished outbox records. Returns how many were sent."""
        pending = self.state.pending_outbox(consumer=consumer, source_event_id=source_event_id)
        self.publish_records(pending)
        return len(pending)



def span_attributes(doc: Mapping[str, Any]) -> dict[str, str]:
    """What a publish span carries beyond its event type: the flow transitions and project outcomes the
    monitoring alerts (infra/modules/monitoring.bicep) and the workbook query."""
    data = doc.get("data") or {}
    attributes = {"factory.trace_id": str(doc.get("traceId") or "")}
    if doc.get("projectId"):
        attributes["factory.project_id"] = str(doc["projectId"])
    if doc.get("type") == "CoordinatorStateChanged":
        attributes["factory.flow"] = str(data.get("flow") or "")
        attributes["factory.flow.to"] = str(data.get("to") or "")
    elif doc.get("type") == "ProjectCompleted":
        attributes["factory.project.outcome"] = str(data.get("outcome") or "")
    return attributes
