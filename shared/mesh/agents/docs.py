"""documentation-writer: the service README, the repository README and the Mermaid topology.

The READMEs come from Jinja2 templates (``shared/generators/service/templates``); they say what the
intent and the blueprint say, and name the service's own defaults as defaults. The repository
README (what was built, how to test every service with one command, where the reports are) is
written on every service's release with the same bytes, since it depends on the blueprint only.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.generators.service.code import DEFAULTS, render
from shared.generators.service.tests import links
from shared.mesh.agents.architecture import render_architecture
from shared.mesh.agents.assist import assist, prompt_json
from shared.mesh.agents.project import find_service, project_blueprint, project_intent, required
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillResult
from shared.product.blueprint import Entity, EntityField, Service, ServiceBlueprint
from shared.product.intent import Intent

MAX_BODY_BYTES = 1_048_576  # the template's problems.MAX_BODY_BYTES
MAX_DEPTH = 32

AGENT = "documentation-writer"
SKILL = "docs.write_docs"


class ServiceGuide(BaseModel):
    """The prose a model may add to a service README: an overview under its title (the template's
    ``overview`` extension point). The deterministic guide has none; everything else in the README is
    rendered from the blueprint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    overview: str = Field("", max_length=1500, description="what the service is for and who calls it")


_MARKUP = re.compile(r"^\s*(#|```|\||<|- |\* |\d+\. )", re.MULTILINE)


def guide_problems(guide: ServiceGuide) -> list[str]:
    problems = []
    if _MARKUP.search(guide.overview):
        problems.append("overview: plain paragraphs only (no headings, lists, tables, code or HTML)")
    if guide.overview.count("\n\n") > 2:
        problems.append("overview: at most three paragraphs")
    if not guide.overview.strip():
        problems.append("overview: write at least one sentence")
    return problems


DOCS_INSTRUCTIONS = """Write "overview" for the README of one service of the product (given as JSON): one to
three short plain paragraphs saying what the service keeps, what it is for in the product, and who calls it,
in the product's terms. Do not repeat the endpoint table, data tables or run instructions (the README has
them), and state nothing the JSON does not say."""


def _rules(f: EntityField) -> str:
    rules = []
    if f.values:
        rules.append("one of " + ", ".join(f"`{v}`" for v in f.values))
    if f.value_type in ("string", "text", "email"):
        limit, stated = f.length_limit()
        rules.append(f"at most {limit} characters" + ("" if stated else " (default)"))
    if f.minimum is not None:
        rules.append(f"at least {f.minimum:g}")
    if f.maximum is not None:
        rules.append(f"at most {f.maximum:g}")
    if f.type in ("decimal", "money"):
        precision, scale = f.digits()
        rules.append(f"decimal as a string, {precision} digits, {scale} after the point")
    if f.type == "list":
        rules.append(f"at most {f.max_items or DEFAULTS['list_items']} items" + ("" if f.max_items else " (default)"))
    if f.lifecycle is not None:
        moves = "; ".join(f"{k} → {', '.join(v) or 'final'}" for k, v in f.lifecycle.transitions.items())
        start = f"starts as {' or '.join(f.lifecycle.initial)}; " if f.lifecycle.initial else ""
        rules.append(f"lifecycle: {start}{moves}")
    return "; ".join(rules)


def _rows(blueprint: ServiceBlueprint, entity: Entity) -> list[dict[str, str]]:
    rows = [{"name": f.name, "type": f"list of {f.items}" if f.type == "list" else f.type,
             "required": "yes" if f.required else "no", "rules": _rules(f)} for f in entity.fields]
    for r in entity.relations:
        owner = blueprint.owner_of(r.target)
        where = f" (in {owner.name})" if owner and owner.entity(entity.name) is None else ""
        on_delete = "cascade" if where else r.delete_rule
        rows.append({"name": r.field_name, "type": "ids" if r.kind == "many" else "id",
                     "required": "yes" if r.required else "no",
                     "rules": (f"ids of existing {r.target} items" if r.kind == "many" else
                               f"id of an existing {r.target}") + f"{where}; when it is deleted: {on_delete}"})
    return rows


def _entities(blueprint: ServiceBlueprint, service: Service) -> list[dict[str, Any]]:
    return [{"name": e.name, "plural": e.plural, "description": e.description, "rows": _rows(blueprint, e),
             "unique": "; ".join(" + ".join(f"`{n}`" for n in group) for group in e.unique_fields())}
            for e in service.entities]


def render_readme(blueprint: ServiceBlueprint, service: Service, version: str,
                  guide: ServiceGuide | None = None) -> str:
    return render("service-README.md.j2", service=service, product=blueprint.product, version=version,
                  multi=blueprint.tenancy == "multi", entities=_entities(blueprint, service), defaults=DEFAULTS,
                  max_body=MAX_BODY_BYTES, max_depth=MAX_DEPTH, overview=(guide or ServiceGuide()).overview.strip())


def _guide_prompt(intent: Intent, blueprint: ServiceBlueprint, service: Service) -> str:
    return prompt_json({
        "product": {"name": intent.product.display_name, "purpose": intent.purpose},
        "service": {"name": service.name, "context": service.context,
                    "entities": [{"name": e.name, "description": e.description,
                                  "fields": [f.name for f in e.fields]} for e in service.entities],
                    "publishes": [e.name for e in service.publishes], "consumes": [c.name for c in service.consumes]},
        "otherServices": [s.name for s in blueprint.services if s.name != service.name],
    })


def render_repository_readme(intent: Intent, blueprint: ServiceBlueprint) -> str:
    return render("repository/README.md.j2", display_name=intent.product.display_name, purpose=intent.purpose.strip(),
                  project_id=blueprint.project_id, services=blueprint.services, links=links(blueprint),
                  topic=f"{blueprint.product}-events", multi=blueprint.tenancy == "multi")


def write_docs(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    service_name = str(required(event.data, "service", event.type))
    version = str(event.data.get("version", "0.1.0"))
    blueprint, _ = project_blueprint(ctx)
    service = find_service(blueprint, service_name)
    intent = project_intent(ctx)
    assisted = assist(ctx, agent=AGENT, skill=SKILL, output=ServiceGuide, instructions=DOCS_INSTRUCTIONS,
                      prompt=_guide_prompt(intent, blueprint, service), fallback=ServiceGuide,
                      check=guide_problems)
    markdown = "text/markdown; charset=utf-8"
    artifacts = [
        Artifact.text(f"services/{service.name}/README.md",
                      render_readme(blueprint, service, version, assisted.value), markdown),
        Artifact.text("README.md", render_repository_readme(intent, blueprint), markdown),
        Artifact.text("docs/topology.md", render_architecture(blueprint, intent.product.display_name), markdown),
    ]
    return SkillResult(
        events=[
            *assisted.events,
            Emit(
                "DocumentationGenerated",
                {"projectId": ctx.project_id, "service": service.name, "artifacts": [a.ref() for a in artifacts]},
            )
        ],
        artifacts=[*assisted.artifacts, *artifacts],
    )
