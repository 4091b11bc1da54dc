"""The handling pipeline: the one place a Service Bus message becomes an effect.

parse → envelope + schema validation → signature → tenant boundary → inbox dedup →
handler (pure decision) → artifacts → state + outbox commit → publish outbox → done.

A handler never publishes before its state commit. Output event ids are deterministic
(uuid5 of consumer + incoming id + index), so a redelivery after a crash publishes the
same ids and the bus's duplicate detection plus the inbox make the effect happen once.
"""

from __future__ import annotations

import contextlib
import logging
import time as _time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from shared.contracts.envelope import Envelope, EnvelopeError, parse_wire
from shared.contracts.errors import ContractError
from shared.contracts.manifests import Consumer
from shared.contracts.registry import Registry
from shared.contracts.upcasters import upcast
from shared.handling.context import HandlingContext
from shared.handling.decisions import (
    Decision,
    FailingHandler,
    Handler,
    InfrastructureError,
    MessageView,
    Outcome,
    PermanentHandlerError,
    PermanentMessageError,
    Route,
    Settlement,
    TransientHandlingError,
)
from shared.handling.publishing import EventPublisher
from shared.handling.telemetry import HandlingSpan, InvocationTrace, Metrics, Tracer
from shared.ports import (
    ArtifactStore,
    Clock,
    ConflictError,
    Document,
    OutboxRecord,
    PreconditionFailedError,
    SpanRecord,
    StateStore,
    UnitOfWork,
    Write,
)
from shared.ports.skills import Emit, SkillError

log = logging.getLogger("factory.pipeline")

MAX_CONCURRENCY_RETRIES = 20

#: builds the per-handling context (the composition root binds the stores and the test runner)
ContextFactory = Callable[[Envelope, str], HandlingContext]
#: checked before a handler decides: ("refuse", reason) dead-letters, ("skip", reason) completes without effect
Gate = Callable[[Envelope], Any]


@dataclass(frozen=True)
class PipelineConfig:
    """The settings the pipeline enforces, taken from ``Settings`` by the composition root."""

    signing_key: bytes
    require_signature: bool = True
    max_message_bytes: int = 256 * 1024
    max_delivery_count: int = 10


class Pipeline:
    """Runs one consumer's handler on one message, with all the guarantees above."""

    def __init__(self, handlers: Mapping[str, Handler], *, config: PipelineConfig, registry: Registry,
                 publisher: EventPublisher, state: StateStore, artifacts: ArtifactStore, settlement: Settlement,
                 tracer: Tracer, metrics: Metrics, clock: Clock, context: ContextFactory,
                 gate: Gate | None = None) -> None:
        self.handlers = handlers
        self.config = config
        self.registry = registry
        self.publisher = publisher
        self.state = state
        self.artifacts = artifacts
        self.settlement = settlement
        self.tracer = tracer
        self.metrics = metrics
        self.clock = clock
        self.context = context
        self.gate = gate

    # ------------------------------------------------------------------ entry

    def handle(self, consumer_name: str, message: MessageView, invocation: InvocationTrace | None = None) -> Outcome:
        """Handle one delivery. ``invocation`` is the Functions host's trace context for it, when there is one."""
        started = self.clock.now()
        t0 = _time.perf_counter()
        handler = self.handlers.get(consumer_name)
        if handler is None:
            raise RuntimeError(f"no handler registered for consumer '{consumer_name}'")
        consumer = handler.consumer
        props = dict(message.application_properties or {})
        with self.tracer.handling(consumer_name, properties=props, body=message.get_body,
                                  invocation=invocation) as span:
            event: Envelope | None = None
            outcome: Outcome
            try:
                event = self._admit(consumer, message, props)
                span.identify(consumer_name, event.type, event.id)
                outcome = self._process(handler, event, message)
            except PermanentMessageError as exc:
                self.settlement.dead_letter(consumer_name, message, exc.reason, exc.description)
                log.warning("dead-lettered %s on %s: %s", message.message_id, consumer_name, exc)
                outcome = Outcome("dead-lettered", consumer_name, event.id if event else message.message_id,
                                  event.type if event else str(props.get("type") or ""),
                                  reason=f"{exc.reason}: {exc.description}")
            except TransientHandlingError as exc:
                span.set_outcome("error", str(exc))
                self._span(span, consumer_name, event, message, started, "error", str(exc))
                raise
            except Exception as exc:  # the machinery failed (I/O, disk full, read-only, a database error)
                outcome = self._infrastructure_failed(handler, event, message, exc, span, started)
            span.set_outcome(outcome.status, outcome.reason)
            log.info("%s handled %s %s: %s", consumer_name, outcome.event_type, outcome.event_id, outcome.status)
            self._span(span, consumer_name, event, message, started, outcome.status, outcome.reason)
        self.metrics.activation(consumer_name, (_time.perf_counter() - t0) * 1000.0)
        return outcome

    # ------------------------------------------------------------------ admission

    def _admit(self, consumer: Consumer, message: MessageView, props: Mapping[str, Any]) -> Envelope:
        body = message.get_body()
        limit = self.config.max_message_bytes
        if len(body) > limit:
            raise PermanentMessageError(
                "MessageTooLarge", f"body is {len(body)} bytes, the limit is {limit} "
                "(FACTORY_MAX_MESSAGE_BYTES); store large content as an artifact and send its digest")
        try:
            event = parse_wire(body)
        except EnvelopeError as exc:
            raise PermanentMessageError("InvalidEnvelope", str(exc)) from exc
        if event.id != message.message_id:
            raise PermanentMessageError(
                "MessageIdMismatch", f"MessageId {message.message_id!r} differs from event id {event.id!r}")
        registry = self.registry
        try:
            for warning in registry.validate(event.type, event.version, event.data):
                log.warning("%s", warning)
        except ContractError as exc:
            raise PermanentMessageError(type(exc).__name__.removesuffix("Error"), str(exc)) from exc
        if self.config.require_signature:
            if not event.signature:
                raise PermanentMessageError("SignatureMissing",
                                            "the event is unsigned; publish through the factory (it signs)")
            if not event.signature_valid(self.config.signing_key):
                raise PermanentMessageError(
                    "SignatureInvalid", "HMAC-SHA256 over the canonical envelope does not match: "
                    "the event was tampered with or signed with another FACTORY_SIGNING_KEY")
        try:  # the access policy: only the contract's emitters may publish this type
            registry.check_emitter(event.type, event.version, event.source)
        except ContractError as exc:
            raise PermanentMessageError(
                "EmitterNotAllowed", f"{consumer.name} refused event {event.id}: {exc} "
                "(emitters are generated from the manifests and contracts/entrypoints.yaml by `factory generate`)"
            ) from exc
        for prop, value in (("tenantId", event.tenant_id), ("type", event.type),
                            ("projectId", event.project_id)):
            if prop in props and value is not None and str(props[prop]) != value:
                raise PermanentMessageError(
                    "TenantBoundaryViolation" if prop == "tenantId" else "PropertyMismatch",
                    f"application property {prop}={props[prop]!r} differs from the envelope's {value!r}")
        if consumer.tenant_scope and event.tenant_id != consumer.tenant_scope:
            raise PermanentMessageError(
                "TenantBoundaryViolation",
                f"consumer '{consumer.name}' serves tenant '{consumer.tenant_scope}', "
                f"event belongs to '{event.tenant_id}'")
        if log.isEnabledFor(logging.DEBUG):  # payloads are logged only with sensitive fields masked
            log.debug("%s admits %s@%s %s: %s", consumer.name, event.type, event.version, event.id,
                      registry.mask(event.type, event.version, event.data))
        version, data = upcast(event.type, event.version, event.data)
        if version != event.version:  # handlers always see the latest major of a type
            event = event.model_copy(update={"version": version, "data": data})
        return event

    # ------------------------------------------------------------------ processing

    def _process(self, handler: Handler, event: Envelope, message: MessageView) -> Outcome:
        consumer = handler.consumer.name
        state = self.state
        received = event
        event = handler.subject(received)  # a retry command stands for its original
        if event is not received and self.config.require_signature \
                and not event.signature_valid(self.config.signing_key):
            raise PermanentMessageError("SignatureInvalid",
                                        f"the original event {event.id} inside {received.type} is not validly signed")
        if state.inbox_contains(consumer, event.id):
            self.publisher.relay(consumer=consumer, source_event_id=event.id)
            return Outcome("duplicate", consumer, event.id, event.type)
        verdict = self.gate(received) if self.gate is not None else None
        if verdict is not None and verdict.action == "refuse":
            raise PermanentMessageError("TenantBoundaryViolation", verdict.reason)
        if verdict is not None:  # the project was cancelled: nothing further is published
            return Outcome("completed", consumer, event.id, event.type, reason=verdict.reason)
        route = handler.route(event)
        ctx = self.context(event, consumer)
        try:
            for _attempt in range(MAX_CONCURRENCY_RETRIES):
                doc = state.get(route.partition, route.state_id) if route.state_id else None
                try:
                    decision = handler.decide(event, doc, ctx)
                    outbox = self.publisher.prepare(decision.emits, consumer=consumer, cause=event)
                except ContractError as exc:  # the handler produced an event its contract refuses
                    return self._handler_failed(handler, received, message, exc, permanent=True)
                except (PermanentHandlerError, SkillError) as exc:
                    permanent = isinstance(exc, PermanentHandlerError) or getattr(exc, "permanent", False)
                    return self._handler_failed(handler, received, message, exc, permanent=permanent)
                except PermanentMessageError:
                    raise
                except Exception as exc:
                    return self._handler_failed(handler, received, message, exc, permanent=False)
                try:
                    return self._commit(handler, event, route, doc, decision, outbox)
                except PreconditionFailedError:
                    log.info("%s: state %s changed underneath, re-applying %s",
                             consumer, route.state_id, event.id)
                    continue
                except ConflictError:
                    if state.inbox_contains(consumer, event.id):
                        self.publisher.relay(consumer=consumer, source_event_id=event.id)
                        return Outcome("duplicate", consumer, event.id, event.type)
                    continue  # a concurrent create of the state document won: reload, re-apply
            raise TransientHandlingError(
                f"{consumer}: gave up after {MAX_CONCURRENCY_RETRIES} optimistic-concurrency retries")
        finally:
            ctx.cleanup()

    def _commit(self, handler: Handler, event: Envelope, route: Route, doc: Document | None,
                decision: Decision, outbox: list[OutboxRecord]) -> Outcome:
        consumer = handler.consumer.name
        for artifact in decision.artifacts:
            self.artifacts.put(artifact.content, artifact.media_type)
        writes: list[Write] = []
        if route.state_id and decision.delete_state and doc is not None:
            writes.append(Write("delete", route.state_id, etag=doc.etag))
        elif route.state_id and decision.state is not None:
            if doc is None:
                writes.append(Write("create", route.state_id, decision.state))
            else:
                writes.append(Write("replace", route.state_id, decision.state, doc.etag))
        self.state.commit(UnitOfWork(route.partition, consumer, event.id, writes, outbox))
        self.publisher.publish_records(outbox)
        return Outcome("completed", consumer, event.id, event.type,
                       tuple(r.message.message_id for r in outbox))

    def _handler_failed(self, handler: Handler, event: Envelope, message: MessageView,
                        exc: BaseException, *, permanent: bool) -> Outcome:
        consumer = handler.consumer
        delivery = int(message.delivery_count or 1)
        final = permanent or delivery >= self.config.max_delivery_count
        reason = f"{type(exc).__name__}: {exc}"
        if not final:
            log.info("%s failed on %s (delivery %d), will be redelivered: %s",
                     consumer.name, event.id, delivery, reason)
            raise TransientHandlingError(reason) from exc
        if consumer.kind == "agent":
            extra = exc.emits if isinstance(exc, SkillError) else []
            self._emit_agent_failed(consumer, event, reason, permanent=permanent, extra=extra)
        description = reason if permanent else (
            f"{reason} (after {delivery} deliveries; maxDeliveryCount is "
            f"{self.config.max_delivery_count})")
        if permanent:
            raise PermanentMessageError("HandlerFailed", description) from exc
        raise TransientHandlingError(description) from exc

    def _infrastructure_failed(self, handler: Handler, event: Envelope | None, message: MessageView,
                               exc: Exception, span: HandlingSpan, started: datetime) -> Outcome:
        """Before the last delivery: ``InfrastructureError`` (the host backs off, then abandons). At the last:
        escalate (an agent emits ``AgentFailed``, a coordinator fails its flow), then dead-letter with the reason."""
        consumer = handler.consumer.name
        delivery = int(message.delivery_count or 1)
        reason = f"infrastructure failure: {type(exc).__name__}: {exc}"[:2000]
        if delivery < self.config.max_delivery_count or event is None:
            log.warning("%s: %s (delivery %d of %d); backing off", consumer, reason, delivery,
                        self.config.max_delivery_count)
            span.set_outcome("error", reason)
            self._span(span, consumer, event, message, started, "error", reason)
            raise InfrastructureError(reason) from exc
        description = f"{reason} (after {delivery} deliveries; maxDeliveryCount is {self.config.max_delivery_count})"
        try:
            if handler.consumer.kind == "agent":
                self._emit_agent_failed(handler.consumer, event, description, permanent=False)
            elif callable(getattr(handler, "fail", None)):
                self._fail_flow(cast(FailingHandler, handler), event, description)
        except Exception as again:  # the failure cannot be recorded either: the dead letter still says why
            log.error("%s: could not record the failure of %s (%s: %s)", consumer, event.id,
                      type(again).__name__, again)
        self.settlement.dead_letter(consumer, message, "InfrastructureFailure", description)
        log.error("dead-lettered %s on %s: %s", message.message_id, consumer, description)
        return Outcome("dead-lettered", consumer, event.id, event.type, reason=f"InfrastructureFailure: {description}")

    def _fail_flow(self, handler: FailingHandler, event: Envelope, reason: str) -> None:
        route = handler.route(event)
        ctx = self.context(event, handler.consumer.name)
        try:
            for _attempt in range(MAX_CONCURRENCY_RETRIES):
                doc = self.state.get(route.partition, route.state_id) if route.state_id else None
                decision = handler.fail(event, doc, reason, ctx)
                if decision.state is None:
                    return
                outbox = self.publisher.prepare(decision.emits, consumer=handler.consumer.name, cause=event,
                                                id_salt="infrastructure-failure")
                writes = [Write("replace", str(route.state_id), decision.state, doc.etag)] if doc else []
                try:
                    self.state.commit(UnitOfWork(route.partition, handler.consumer.name, None, writes, outbox))
                except PreconditionFailedError:
                    continue
                self.publisher.publish_records(outbox)
                return
        finally:
            ctx.cleanup()

    def _emit_agent_failed(self, consumer: Consumer, event: Envelope, reason: str, *, permanent: bool,
                           extra: Sequence[Emit] = ()) -> None:
        """``AgentFailed``, after ``extra``: what the failed skill still had to report (``SkillError.emits``)."""
        original = event
        attempt = 0
        if event.type == "AgentRetryRequested":
            attempt = int(event.data.get("attempt", 0))
            original = Envelope.model_validate(event.data["originalEvent"])
        emit = Emit("AgentFailed", {
            "agent": consumer.name,
            "failedEventId": original.id,
            "failedEventType": original.type,
            "reason": reason[:2000],
            "attempt": attempt,  # 0 = the original event, n = the n-th coordinator retry
            "permanent": permanent,
            # the service the failed event was about, so a per-service flow instance can take the failure
            **({"service": original.data["service"]} if isinstance(original.data.get("service"), str) else {}),
        })
        outbox = self.publisher.prepare([*extra, emit], consumer=consumer.name, cause=event,
                                        id_salt=f"failed:{attempt}")
        partition = f"{consumer.name}:{event.project_id or event.tenant_id}"
        with contextlib.suppress(ConflictError):  # the same failure was recorded by an earlier delivery
            self.state.commit(UnitOfWork(partition, consumer.name, None, (), outbox))
        self.publisher.publish_records(outbox)

    # ------------------------------------------------------------------ spans

    def _span(self, span: HandlingSpan, consumer: str, event: Envelope | None, message: MessageView,
              started: datetime, outcome: str, detail: str) -> None:
        """The handling in the span log (``factory trace``, Studio), with the ids of its OpenTelemetry span."""
        delivery = int(message.delivery_count or 1)
        self.tracer.record(SpanRecord(
            trace_id=event.trace_id if event else span.trace_id,
            span_id=span.span_id,
            parent_span_id=span.parent_span_id,
            name=f"handle {event.type if event else 'message'}",
            consumer=consumer,
            event_id=event.id if event else message.message_id,
            event_type=event.type if event else None,
            start=started,
            end=self.clock.now(),
            outcome=outcome,
            attributes={"deliveryCount": delivery, "detail": detail[:500]},
        ))
