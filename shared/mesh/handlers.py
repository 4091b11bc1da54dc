"""Handler table: one handler per consumer, looked up by consumer name.

Agents run a skill, coordinators apply their flow, scaffold steps advance an execution
document. Each returns a ``Decision``; the pipeline does all I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.contracts.envelope import Envelope
from shared.contracts.manifests import RETRY_COMMAND, Consumer, load_consumers
from shared.handling.pipeline import Decision, HandlingContext, PermanentHandlerError, Route
from shared.ports import Document


class AgentHandler:
    """Runs the agent's skill for the event type (or for the event inside a retry command)."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer

    def subject(self, event: Envelope) -> Envelope:
        """The event whose effect this handling is: a retry command stands for its original."""
        if event.type == RETRY_COMMAND:
            return Envelope.model_validate(event.data["originalEvent"])
        return event

    def route(self, event: Envelope) -> Route:
        return Route(f"{self.consumer.name}:{event.project_id or event.tenant_id}")

    def decide(self, event: Envelope, state: Document | None, ctx: HandlingContext) -> Decision:
        from shared.mesh.agents import skill_for

        target = self.subject(event)
        if target.type not in self.consumer.subscribes_to:
            raise PermanentHandlerError(f"{self.consumer.name} does not handle {target.type}")
        result = skill_for(self.consumer.name, target.type)(target, ctx)
        return Decision(emits=list(result.events), artifacts=list(result.artifacts))


class CoordinatorHandler:
    """Applies one event to one flow instance document (loaded with its ETag)."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer

    @property
    def flow(self) -> Any:
        from shared.mesh.coordinators.flow import load_flows

        return load_flows()[self.consumer.name]

    def instance_id(self, event: Envelope) -> str:
        if event.type in ("FlowTimeout", "FlowControlRequested"):
            return str(event.data.get("instanceId"))
        return event.project_id or event.tenant_id

    def route(self, event: Envelope) -> Route:
        return Route(f"{self.consumer.name}:{self.instance_id(event)}", "instance")

    def decide(self, event: Envelope, state: Document | None, ctx: HandlingContext) -> Decision:
        from shared.mesh.coordinators.flow import FlowDefinitionError, FlowVersionError, apply

        if event.type in ("FlowTimeout", "FlowControlRequested") and event.data.get("flow") != self.consumer.name:
            return Decision()
        history: dict[str, Mapping[str, Any]] | None = None

        def find_event(event_id: str) -> Mapping[str, Any] | None:
            nonlocal history
            if history is None:
                history = {e["id"]: e for e in ctx.history()}
            return history.get(event_id)

        try:
            step = apply(self.flow, state.body if state else None, event.to_dict(), now=ctx.now.isoformat(),
                         instance_id=self.instance_id(event), find_event=find_event)
        except (FlowDefinitionError, FlowVersionError) as exc:
            raise PermanentHandlerError(str(exc)) from exc
        return Decision(state=step.instance, emits=step.emits)


def build_handlers() -> dict[str, Any]:
    handlers: dict[str, Any] = {}
    for consumer in load_consumers():
        if consumer.kind == "agent":
            handlers[consumer.name] = AgentHandler(consumer)
        elif consumer.kind == "coordinator":
            handlers[consumer.name] = CoordinatorHandler(consumer)
        else:
            from shared.mesh.steps import StepHandler

            handlers[consumer.name] = StepHandler(consumer)
    return handlers
