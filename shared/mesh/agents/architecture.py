"""solution-architect: the service blueprint (one service per bounded context) and its Mermaid view."""

from __future__ import annotations

from typing import Literal

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
from shared.product.intent import Intent, snake

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


def design_blueprint(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    intent = project_intent(ctx)
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
    return SkillResult(events=[Emit("BlueprintCreated", payload)], artifacts=[doc, md])
