"""solution-architect: the service blueprint (one service per intent for now) and its Mermaid view."""

from __future__ import annotations

from typing import Literal

from shared.mesh.agents.project import project_intent
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillResult
from shared.product.blueprint import (
    Endpoint,
    Entity,
    EntityField,
    EventSpec,
    NonFunctional,
    Relation,
    Service,
    ServiceBlueprint,
)
from shared.product.intent import Intent, IntentEntity, snake

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Operation = Literal["list", "create", "read", "update", "delete"]

_CRUD: tuple[tuple[Method, str, Operation], ...] = (
    ("GET", "", "list"),
    ("POST", "", "create"),
    ("GET", "/{id}", "read"),
    ("PATCH", "/{id}", "update"),
    ("DELETE", "/{id}", "delete"),
)


def _entity(entity: IntentEntity) -> Entity:
    fields = [
        EntityField(
            name=f.name,
            type=f.type,
            required=f.required,
            description=f.description,
            values=list(f.values),
            max_length=f.max_length,
            minimum=f.min,
        )
        for f in entity.fields
    ]
    relations = [Relation(name=r.name, target=r.target, kind=r.kind) for r in entity.relations]
    return Entity(name=entity.name, plural=entity.plural, fields=fields, relations=relations)


def design(intent: Intent, project_id: str) -> ServiceBlueprint:
    entities = [_entity(e) for e in intent.entities]
    endpoints = [
        Endpoint(method=method, path=f"/api/{e.plural}{suffix}", entity=e.name, operation=op, auth_level="function")
        for e in entities
        for method, suffix, op in _CRUD
    ]
    events = [
        EventSpec(name=f"{e.name}{trigger.capitalize()}", entity=e.name, trigger=trigger)
        for e in entities
        for trigger in ("created", "updated", "deleted")
    ]
    service = Service(
        name=intent.product.name,
        package=snake(intent.product.name),
        entities=entities,
        endpoints=endpoints,
        publishes=events,
    )
    nf = intent.non_functional
    return ServiceBlueprint(
        schema_version="1.0",
        product=intent.product.name,
        project_id=project_id,
        tenancy=intent.tenant.mode,
        services=[service],
        non_functional=NonFunctional(
            availability=nf.availability,
            expected_rps=nf.expected_rps,
            monthly_budget_usd=nf.monthly_budget_usd,
            regions=list(nf.regions),
            data_residency=nf.data_residency,
        ),
    )


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
    for service in blueprint.services:
        sid = service.package
        lines.append(f"  {sid}[{service.name}<br/>Azure Functions, Python]")
        lines.append(f"  client -- HTTPS, function key --> {sid}")
        for entity in service.entities:
            cid = f"{sid}_{snake(entity.plural)}"
            lines.append(f"  {cid}[({entity.plural}<br/>Cosmos DB container)]")
            lines.append(f"  {sid} --> {cid}")
    lines += ["```", "", "## Data model", "", "```mermaid", "erDiagram"]
    for service in blueprint.services:
        for entity in service.entities:
            lines.append(f"  {entity.name} {{")
            lines.append("    string id PK")
            lines += [f"    {f.type} {f.name}" for f in entity.fields]
            lines.append("  }")
            for r in entity.relations:
                cardinality = "}o--||" if r.kind == "one" else "}o--o{"
                lines.append(f"  {entity.name} {cardinality} {r.target} : {r.name}")
    lines += ["```", "", "## Endpoints", "", "| Service | Method | Path | Operation |", "|---|---|---|---|"]
    for service in blueprint.services:
        lines += [f"| {service.name} | {e.method} | `{e.path}` | {e.operation} {e.entity} |" for e in service.endpoints]
    lines += ["", "## Events", ""]
    for service in blueprint.services:
        lines += [f"- `{e.name}` when a {e.entity} is {e.trigger}" for e in service.publishes]
    nf = blueprint.non_functional
    lines += [
        "",
        "## Non-functional",
        "",
        f"Tenancy: {blueprint.tenancy}; availability {nf.availability}%; {nf.expected_rps} rps; "
        f"budget {nf.monthly_budget_usd:g} USD/month; regions {', '.join(nf.regions)}; "
        f"data residency {nf.data_residency or 'none'}.",
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
