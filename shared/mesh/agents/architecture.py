"""solution-architect: the service blueprint (one service per bounded context) and its Mermaid view.

What may be proposed is an :class:`ArchitectureProposal`: the bounded contexts (when the intent names
none) and the descriptions of entities and fields the intent left without one — the named extension
points the templates render into the OpenAPI spec and the READMEs. The deterministic skill proposes
what the intent says; a model may propose more, and the proposal must pass the intent's own rules
(every entity in exactly one context, no restrict across contexts...). Endpoints, events and code
always come from the templates.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.mesh.agents.assist import assist, prompt_json
from shared.mesh.agents.project import project_intent
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillResult
from shared.product.blueprint import (
    ConsumedEvent,
    Endpoint,
    Entity,
    EventSpec,
    NonFunctional,
    Service,
    ServiceBlueprint,
)
from shared.product.entities import entity_events
from shared.product.intent import Intent, IntentError, intent_from_mapping, snake

AGENT = "solution-architect"
SKILL = "architecture.design_blueprint"

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Operation = Literal["list", "create", "read", "update", "delete"]

_CRUD: tuple[tuple[Method, str, Operation], ...] = (
    ("GET", "", "list"),
    ("POST", "", "create"),
    ("GET", "/{id}", "read"),
    ("PATCH", "/{id}", "update"),
    ("DELETE", "/{id}", "delete"),
)


def _events(entity: Entity) -> list[EventSpec]:
    created, updated, deleted = entity_events(entity.name)
    events = [
        EventSpec(name=created, entity=entity.name, trigger="created"),
        EventSpec(name=updated, entity=entity.name, trigger="updated"),
        EventSpec(name=deleted, entity=entity.name, trigger="deleted"),
    ]
    events += [EventSpec(name=entity.transition_event(f), entity=entity.name, trigger="transition", field=f.name)
               for f in entity.fields if f.lifecycle is not None]
    return events


def _service(intent: Intent, name: str, context: str | None, entities: list[Entity],
             owners: dict[str, str]) -> Service:
    consumes: dict[str, ConsumedEvent] = {}
    for entity in entities:
        for relation in entity.relations:
            owner = owners[relation.target]
            if owner != name:
                created, _, deleted = entity_events(relation.target)
                for event in (created, deleted):
                    consumes.setdefault(event, ConsumedEvent(name=event, entity=relation.target, service=owner))
    return Service(
        name=name,
        package=snake(name),
        context=context,
        target=intent.deployment.target,
        entities=entities,
        endpoints=[
            Endpoint(method=method, path=f"/api/{e.plural}{suffix}", entity=e.name, operation=op, auth_level="function")
            for e in entities
            for method, suffix, op in _CRUD
        ],
        publishes=[event for e in entities for event in _events(e)],
        consumes=list(consumes.values()),
    )


def design(intent: Intent, project_id: str) -> ServiceBlueprint:
    """One service per bounded context (one service for the product when the intent names none)."""
    contexts = intent.bounded_contexts()
    owners = {e.name: name for name, entities in contexts for e in entities}
    context_names: list[str | None] = [c.name for c in intent.contexts] or [None]
    services = [_service(intent, name, context, entities, owners)
                for (name, entities), context in zip(contexts, context_names, strict=True)]
    return ServiceBlueprint(
        schema_version="1.0",
        product=intent.product.name,
        project_id=project_id,
        tenancy=intent.tenant.mode,
        tenant_id=intent.tenant.tenant_id,
        services=services,
        non_functional=intent.non_functional,
    )


def non_functional_lines(nf: NonFunctional) -> list[str]:
    """The intent's non-functional wishes as stated; what it did not state is said to be unstated."""
    unstated = "not stated in the intent"
    return [
        f"- Availability target: {nf.availability + '%' if nf.availability else unstated}",
        f"- Expected load: {f'{nf.expected_rps} requests per second' if nf.expected_rps else unstated}",
        f"- Monthly budget: {f'{nf.monthly_budget_usd:g} USD' if nf.monthly_budget_usd is not None else unstated}",
        f"- Regions: {', '.join(nf.regions) if nf.regions else unstated + ' (resource group location)'}",
        f"- Data residency: {nf.data_residency or unstated}",
    ]


def render_architecture(blueprint: ServiceBlueprint, title: str) -> str:
    lines = [
        f"# {title} — architecture",
        "",
        "## Topology",
        "",
        "```mermaid",
        "flowchart LR",
        "  client([API client])",
    ]
    if any(s.publishes for s in blueprint.services):
        lines.append("  bus{{Service Bus topic}}")
    for service in blueprint.services:
        sid = service.package
        lines.append(f"  {sid}[{service.name}<br/>Azure Functions, Python]")
        lines.append(f"  client -- HTTPS, function key --> {sid}")
        for entity in service.entities:
            cid = f"{sid}_{snake(entity.plural)}"
            lines.append(f"  {cid}[({entity.plural}<br/>Cosmos DB container)]")
            lines.append(f"  {sid} --> {cid}")
        if service.publishes:
            lines.append(f"  {sid} -- domain events --> bus")
        for consumed in sorted({c.name for c in service.consumes}):
            lines.append(f"  bus -- {consumed} --> {sid}")
    lines += ["```", "", "## Data model", "", "```mermaid", "erDiagram"]
    for service in blueprint.services:
        for entity in service.entities:
            lines.append(f"  {entity.name} {{")
            lines.append("    string id PK")
            lines += [f"    {f.type} {f.name}" for f in entity.fields]
            lines.append("  }")
            for r in entity.relations:
                one = "}o--||" if r.required else "}o--o|"
                lines.append(f"  {entity.name} {one if r.kind == 'one' else '}o--o{'} {r.target} : {r.name}")
    lines += ["```", "", "## Services", ""]
    for service in blueprint.services:
        context = f" (bounded context `{service.context}`)" if service.context else ""
        lines.append(f"- **{service.name}**{context}: {', '.join(e.name for e in service.entities)}")
    lines += ["", "## Endpoints", "", "| Service | Method | Path | Operation |", "|---|---|---|---|"]
    for service in blueprint.services:
        lines += [f"| {service.name} | {e.method} | `{e.path}` | {e.operation} {e.entity} |" for e in service.endpoints]
    lines += ["", "## Events", "", "Each service publishes its domain events through a Service Bus output binding "
              "(CloudEvents, JSON batch format).", "", "| Event | Published by | When | Consumed by |",
              "|---|---|---|---|"]
    for service in blueprint.services:
        for e in service.publishes:
            consumers = sorted(s.name for s in blueprint.services if any(c.name == e.name for c in s.consumes))
            when = f"{e.field} of a {e.entity} changes" if e.trigger == "transition" else f"a {e.entity} is {e.trigger}"
            lines.append(f"| `{e.name}` | {service.name} | {when} | {', '.join(consumers) or '—'} |")
    lines += [
        "",
        "## Tenancy",
        "",
        ("Multi-tenant: every item carries the `tenantId` of the authenticated caller (partition key "
         "`/tenantId`); other tenants cannot read or change it." if blueprint.tenancy == "multi" else
         f"Single tenant `{blueprint.tenant_id}` (partition key `/tenantId`)."),
        "",
        "## Non-functional",
        "",
        *non_functional_lines(blueprint.non_functional),
        "",
    ]
    return "\n".join(lines)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class ContextProposal(_Model):
    name: str = Field(description="slug: lowercase letters, digits, single hyphens; the service is <product>-<name>")
    description: str = Field("", max_length=300)
    entities: list[str] = Field(min_length=1)


class FieldNote(_Model):
    name: str
    description: str = Field(min_length=1, max_length=300)


class EntityNote(_Model):
    name: str
    description: str = Field("", max_length=300)
    fields: list[FieldNote] = Field(default_factory=list)


class ArchitectureProposal(_Model):
    """Bounded contexts (empty: one service for the product) and descriptions for the templates to render."""

    contexts: list[ContextProposal] = Field(default_factory=list)
    descriptions: list[EntityNote] = Field(default_factory=list)


def propose(intent: Intent) -> ArchitectureProposal:
    """The deterministic proposal: the intent's own contexts and descriptions."""
    return ArchitectureProposal(
        contexts=[ContextProposal(name=c.name, description=c.description, entities=list(c.entities))
                  for c in intent.contexts],
        descriptions=[EntityNote(name=e.name, description=e.description,
                                 fields=[FieldNote(name=f.name, description=f.description)
                                         for f in e.fields if f.description])
                      for e in intent.entities if e.description or any(f.description for f in e.fields)])


def with_proposal(intent: Intent, proposal: ArchitectureProposal) -> Intent:
    """The intent with the proposal's contexts (if it named none) and descriptions (where it had none),
    validated like any intent; ``IntentError`` says what the proposal broke."""
    payload = intent.to_payload()
    if not intent.contexts and proposal.contexts:
        payload["contexts"] = [c.model_dump(exclude_defaults=True) for c in proposal.contexts]
    notes = {n.name: n for n in proposal.descriptions}
    for entity in payload["entities"]:
        note = notes.get(entity["name"])
        if note is None:
            continue
        if note.description and not entity.get("description"):
            entity["description"] = note.description
        field_notes = {f.name: f.description for f in note.fields}
        for field in entity["fields"]:
            if field["name"] in field_notes and not field.get("description"):
                field["description"] = field_notes[field["name"]]
    return intent_from_mapping(payload, source="the architecture proposal")


def proposal_problems(intent: Intent, proposal: ArchitectureProposal) -> list[str]:
    problems = []
    if intent.contexts and [c.name for c in proposal.contexts] != [c.name for c in intent.contexts]:
        problems.append(f"the intent names its contexts {[c.name for c in intent.contexts]}: repeat them unchanged")
    entities = {e.name: e for e in intent.entities}
    for note in proposal.descriptions:
        entity = entities.get(note.name)
        if entity is None:
            problems.append(f"descriptions: {note.name!r} is not an entity of the intent ({sorted(entities)})")
            continue
        names = {f.name for f in entity.fields}
        problems += [f"descriptions: {note.name}.{f.name} is not a field ({sorted(names)})"
                     for f in note.fields if f.name not in names]
    texts = [n.description for n in proposal.descriptions] + [f.description for n in proposal.descriptions
                                                                for f in n.fields]
    if any("\n" in t or "`" in t for t in texts):
        problems.append("descriptions are one line of plain text each (no backticks)")
    if not problems:
        try:
            with_proposal(intent, proposal)
        except IntentError as exc:
            problems += [str(p) for p in exc.problems]
    return problems


ARCHITECTURE_INSTRUCTIONS = """Propose, for the intent given as JSON:
- "contexts": if the intent names no contexts and its entities fall into clearly separate areas of the
  business, bounded contexts (each becomes its own service): every entity in exactly one context, entities
  that reference each other closely kept together, a relation across contexts only with onDelete cascade or
  none. One area, or doubt: an empty list (one service). If the intent names contexts, repeat them unchanged.
- "descriptions": for each entity and field the intent leaves without a description, one plain sentence
  (at most 300 characters) saying what it holds, in the intent's terms. Leave described ones out."""


def design_blueprint(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    intent = project_intent(ctx)
    assisted = assist(ctx, agent=AGENT, skill=SKILL, output=ArchitectureProposal,
                      instructions=ARCHITECTURE_INSTRUCTIONS, prompt=prompt_json({"intent": intent.to_payload()}),
                      fallback=lambda: propose(intent), check=lambda proposal: proposal_problems(intent, proposal))
    if assisted.source == "model":
        intent = with_proposal(intent, assisted.value)
    blueprint = design(intent, ctx.project_id)
    doc = Artifact.json("architecture/blueprint.json", blueprint.model_dump(mode="json", by_alias=True))
    md = Artifact.text(
        "docs/architecture.md",
        render_architecture(blueprint, intent.product.display_name),
        "text/markdown; charset=utf-8",
    )
    payload = {
        "projectId": ctx.project_id,
        "artifacts": [doc.ref(), md.ref()],
        "blueprintDigest": doc.digest,
        "services": [s.name for s in blueprint.services],
    }
    return SkillResult(events=[*assisted.events, Emit("BlueprintCreated", payload)],
                       artifacts=[*assisted.artifacts, doc, md])
