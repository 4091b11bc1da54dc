"""The scaffold engine's execution steps as stateful consumers of the bus.

Requested → Validating → Rejected | Generating → Generated | Failed → Committed. Each step is
its own Service Bus–triggered function; the execution document (one per idempotency key, in
the state store with its ETag) records the status and history, so a repeated request maps to
the same execution and produces no second output.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from shared.contracts.envelope import Envelope
from shared.contracts.manifests import Consumer
from shared.handling.decisions import Decision, HandlerContext, PermanentHandlerError, PermanentMessageError, Route
from shared.ports import Clock, Document, StateStore
from shared.scaffold import execution as steps
from shared.scaffold.catalog import TemplateCatalog

EXECUTION_DOC = "execution"


def execution_id_for(idempotency_key: str) -> str:
    """Deterministic execution id: the same idempotency key is the same execution."""
    return str(steps.execution_id_for(idempotency_key))


def partition_for(execution_id: str) -> str:
    return f"scaffold:{execution_id}"


def load_execution(state: StateStore, execution_id: str) -> dict[str, Any] | None:
    doc = state.get(partition_for(execution_id), EXECUTION_DOC)
    return doc.body if doc else None


def _uuid_name(value: Any) -> str:
    """An execution id as a folder name: only a UUID is accepted, so data never becomes a path."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise PermanentHandlerError(f"executionId {value!r} is not a UUID") from exc


def data_id(event: Envelope) -> str:
    return str(event.data.get("executionId") or event.data.get("idempotencyKey") or event.id)


class StepHandler:
    """validate / generate / commit: each applies the engine's pure step to the execution document."""

    def __init__(self, consumer: Consumer, *, catalog: TemplateCatalog, scaffolds_dir: Path, clock: Clock) -> None:
        self.consumer = consumer
        self.catalog = catalog
        self.scaffolds_dir = scaffolds_dir
        self.clock = clock

    def subject(self, event: Envelope) -> Envelope:
        return event

    def route(self, event: Envelope) -> Route:
        execution_id = event.data.get("executionId") or execution_id_for(str(event.data["idempotencyKey"]))
        return Route(partition_for(str(execution_id)), EXECUTION_DOC)

    def decide(self, event: Envelope, state: Document | None, ctx: HandlerContext) -> Decision:
        execution = state.body if state else None
        owner = execution.get("tenantId") if execution else None
        if owner and owner != event.tenant_id:
            raise PermanentMessageError("TenantBoundaryViolation", f"{event.type} {event.id} is from tenant "
                                        f"'{event.tenant_id}' but execution {data_id(event)} belongs to another tenant")
        step = self.consumer.name.removeprefix("scaffold-")
        data = dict(event.data)
        if step == "validate":
            out = steps.validate_step(data, execution, self.catalog, clock=self.clock)
        elif step == "generate":
            out = steps.generate_step(data, execution, self.catalog, trace_id=event.trace_id, clock=self.clock)
        else:
            if execution is None:
                raise PermanentHandlerError(f"no execution document for {data.get('executionId')}")
            repo = self.scaffolds_dir.resolve() / _uuid_name(data.get("executionId"))
            out = steps.commit_step(data, execution, load_artifact=ctx.load_artifact, repo_dir=repo, clock=self.clock)
        if out.execution is not None and not out.execution.get("tenantId"):
            out.execution["tenantId"] = event.tenant_id  # an execution belongs to the tenant that asked for it
        return Decision(state=out.execution, emits=list(out.events), artifacts=list(out.artifacts))
