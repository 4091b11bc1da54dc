"""vision-architect: the vision document (problem, users, outcomes, scope) from the intent."""

from __future__ import annotations

from shared.mesh.agents.project import project_intent
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillResult
from shared.product.intent import Intent


def _users(intent: Intent) -> list[str]:
    roles = sorted({story.role for feature in intent.features for story in feature.stories})
    return roles or ["user"]


def render_vision(intent: Intent) -> str:
    nf = intent.non_functional
    tenancy = (
        "one organisation (single tenant)"
        if intent.tenant.mode == "single"
        else "many organisations, each isolated from the others (multi-tenant)"
    )
    lines = [
        f"# {intent.product.display_name} — vision",
        "",
        "## Problem and purpose",
        "",
        intent.purpose.strip(),
        "",
        "## Users",
        "",
        *[f"- {role}" for role in _users(intent)],
        "",
        f"The product serves {tenancy}; tenant `{intent.tenant.tenant_id}`.",
        "",
        "## Outcomes",
        "",
        *[f"- **{f.name}** — {f.description.strip()}" for f in intent.features],
        "",
        "## Scope",
        "",
        "In scope: a service that keeps the following data and exposes it over an HTTP API.",
        "",
        "| Entity | Collection | Fields |",
        "|---|---|---|",
        *[f"| {e.name} | `{e.plural}` | {', '.join(f.name for f in e.fields)} |" for e in intent.entities],
        "",
        "Out of scope for the first release: user interface, reporting, integrations with other systems.",
        "",
        "## Constraints",
        "",
        f"- Availability target: {nf.availability}%",
        f"- Expected load: {nf.expected_rps} requests per second",
        f"- Monthly budget: {nf.monthly_budget_usd:g} USD",
        f"- Regions: {', '.join(nf.regions)}",
        f"- Data residency: {nf.data_residency or 'no requirement'}",
        "",
    ]
    return "\n".join(lines)


def summarize(intent: Intent) -> str:
    entities = ", ".join(e.name for e in intent.entities)
    return (
        f"{intent.product.display_name}: {len(intent.features)} feature(s) over {entities} "
        f"for a {intent.tenant.mode}-tenant product."
    )


def write_vision(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    intent = project_intent(ctx, event)
    doc = Artifact.text("docs/vision.md", render_vision(intent), "text/markdown; charset=utf-8")
    return SkillResult(
        events=[
            Emit(
                "VisionDocumentCreated",
                {"projectId": ctx.project_id, "artifacts": [doc.ref()], "summary": summarize(intent)},
            )
        ],
        artifacts=[doc],
    )
