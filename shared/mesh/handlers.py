"""The handler table: one handler per consumer, looked up by consumer name.

Agents run the skill their manifest names for the event type; coordinators apply their flow;
scaffold steps advance an execution document (``shared/mesh/steps.py``). Each returns a
``Decision``; the pipeline does all I/O. ``build_handlers`` is called by the composition root.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from shared.contracts.envelope import Envelope
from shared.contracts.manifests import RETRY_COMMAND, Consumer
from shared.handling.decisions import Decision, Handler, HandlerContext, PermanentHandlerError, Route
from shared.mesh.agents import skills_of
from shared.mesh.coordinators.engine import apply
from shared.mesh.coordinators.flow import FlowDefinition, FlowDefinitionError, FlowVersionError
from shared.mesh.steps import StepHandler
from shared.ports import Clock, Document
from shared.ports.skills import Skill, SkillError
from shared.scaffold.catalog import TemplateCatalog

#: commands addressed to one flow instance carry the instance id in their payload
INSTANCE_COMMANDS = ("FlowTimeout", "FlowControlRequested")


class AgentHandler:
    """Runs the agent's skill for the event type (or for the event inside a retry command)."""

    def __init__(self, consumer: Consumer, skills: Mapping[str, Skill]) -> None:
        self.consumer = consumer
        self.skills = skills

    def subject(self, event: Envelope) -> Envelope:
        """The event whose effect this handling is. A coordinator's retry (attempt >= 1) stands for its
        original: the original failed, so this is the same handling again. An operator's retry (attempt 0,
        ``factory flow retry``) is a handling of its own: it re-runs a step that may have completed (a test
        gate that failed), so the command itself is deduplicated and identifies the outputs."""
        if event.type == RETRY_COMMAND and int(event.data.get("attempt", 0)) > 0:
            return Envelope.model_validate(event.data["originalEvent"])
        return event

    def route(self, event: Envelope) -> Route:
        return Route(f"{self.consumer.name}:{event.project_id or event.tenant_id}")

    def decide(self, event: Envelope, state: Document | None, ctx: HandlerContext) -> Decision:
        target = Envelope.model_validate(event.data["originalEvent"]) if event.type == RETRY_COMMAND else event
        skill = self.skills.get(target.type)
        if skill is None:
            raise SkillError(
                f"agent {self.consumer.name!r} has no skill for {target.type!r} (it handles: "
                f"{', '.join(sorted(self.skills)) or 'nothing'}); check {self.consumer.source_file}",
                permanent=True)
        result = skill(target, ctx)
        return Decision(emits=list(result.events), artifacts=list(result.artifacts))


class CoordinatorHandler:
    """Applies one event to one flow instance document (loaded with its ETag)."""

    def __init__(self, consumer: Consumer, flow: FlowDefinition) -> None:
        self.consumer = consumer
        self.flow = flow

    def subject(self, event: Envelope) -> Envelope:
        return event

    def instance_id(self, event: Envelope) -> str:
        """``<project>`` or, for a flow with ``instancePer: service``, ``<project>/<service>``."""
        if event.type in INSTANCE_COMMANDS:
            return str(event.data.get("instanceId"))
        project = event.project_id or event.tenant_id
        service = event.data.get("service")
        if self.flow.instance_per == "service" and isinstance(service, str) and service:
            return f"{project}/{service}"
        return project

    def route(self, event: Envelope) -> Route:
        return Route(f"{self.consumer.name}:{self.instance_id(event)}", "instance")

    def decide(self, event: Envelope, state: Document | None, ctx: HandlerContext) -> Decision:
        if event.type in INSTANCE_COMMANDS and event.data.get("flow") != self.consumer.name:
            return Decision()
        if self.flow.instance_per == "service" and event.type not in INSTANCE_COMMANDS \
                and not event.data.get("service"):
            return Decision()  # about no service in particular: not an event for a per-service instance
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


def build_handlers(consumers: Iterable[Consumer], *, flows: Mapping[str, FlowDefinition],
                   catalog: TemplateCatalog, scaffolds_dir: Path, clock: Clock) -> dict[str, Handler]:
    """consumer name -> handler, every dependency given (nothing is looked up later)."""
    handlers: dict[str, Handler] = {}
    for consumer in consumers:
        if consumer.kind == "agent":
            handlers[consumer.name] = AgentHandler(consumer, skills_of(consumer))
        elif consumer.kind == "coordinator":
            handlers[consumer.name] = CoordinatorHandler(consumer, flows[consumer.name])
        else:
            handlers[consumer.name] = StepHandler(consumer, catalog=catalog, scaffolds_dir=scaffolds_dir, clock=clock)
    return handlers
