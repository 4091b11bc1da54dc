"""The scaffold engine's execution steps as stateful consumers of the bus.

Requested → Validating → Rejected | Generating → Generated | Failed → Committed. Each step is
its own Service Bus–triggered function; the execution document (one per idempotency key, in
the state store with its ETag) records the status and history, so a repeated request maps to
the same execution and produces no second output.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from shared.contracts.envelope import Envelope
from shared.contracts.manifests import Consumer
from shared.handling.pipeline import Decision, HandlingContext, PermanentHandlerError, Route
from shared.ports import Document
from shared.scaffold import execution as steps
from shared.scaffold.catalog import TemplateCatalog, default_roots

EXECUTION_DOC = "execution"


def execution_id_for(idempotency_key: str) -> str:
    """Deterministic execution id: the same idempotency key is the same execution."""
    return str(steps.execution_id_for(idempotency_key))


def partition_for(execution_id: str) -> str:
    return f"scaffold:{execution_id}"


def load_execution(runtime: Any, execution_id: str) -> dict[str, Any] | None:
    doc = runtime.state.get(partition_for(execution_id), EXECUTION_DOC)
    return doc.body if doc else None


class StepHandler:
    """validate / generate / commit: each applies the engine's pure step to the execution document."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer

    def route(self, event: Envelope) -> Route:
        execution_id = event.data.get("executionId") or execution_id_for(str(event.data["idempotencyKey"]))
        return Route(partition_for(str(execution_id)), EXECUTION_DOC)

    def decide(self, event: Envelope, state: Document | None, ctx: HandlingContext) -> Decision:
        execution = state.body if state else None
        step = self.consumer.name.removeprefix("scaffold-")
        data = dict(event.data)
        clock = ctx.runtime.clock
        if step == "validate":
            out = steps.validate_step(data, execution, catalog(), clock=clock)
        elif step == "generate":
            out = steps.generate_step(data, execution, catalog(), trace_id=event.trace_id, clock=clock)
        else:
            if execution is None:
                raise PermanentHandlerError(f"no execution document for {data.get('executionId')}")
            repo = Path(ctx.runtime.settings.factory_home).resolve() / "scaffolds" / str(data["executionId"])
            out = steps.commit_step(data, execution, load_artifact=ctx.load_artifact, repo_dir=repo, clock=clock)
        return Decision(state=out.execution, emits=list(out.events), artifacts=list(out.artifacts))


@cache
def catalog() -> Any:
    """The built-in templates in templates/ (read once per process)."""
    return TemplateCatalog(roots=default_roots())
