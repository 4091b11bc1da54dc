"""vision-architect: the vision document (problem, users, outcomes, scope) from the intent."""

from __future__ import annotations

from shared.mesh.agents.architecture import non_functional_lines
from shared.mesh.agents.project import project_intent
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillResult
from shared.product.intent import Intent


def _users(intent: Intent) -> list[str]:
    roles = sorted({story.role for feature in intent.features for story in feature.stories})
    return [f"- {role}" for role in roles] or ["The intent names no roles; the stories speak of users."]


def render_vision(intent: Intent) -> str:
    tenancy = (
        f"one organisation (single tenant `{intent.tenant.tenant_id}`)"
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
        *_users(intent),
        "",
        f"The product serves {tenancy}.",
        "",
        "## Outcomes",
        "",
        *[f"- **{f.name}** — {f.description.strip()}" for f in intent.features],
        "",
        "## Scope",
        "",
        "A service per bounded context that keeps the following data and exposes it over an HTTP API:",
        "",
        "| Service | Entity | Collection | Fields |",
        "|---|---|---|---|",
        *[f"| {service} | {e.name} | `{e.plural}` | {', '.join(f.name for f in e.fields)} |"
          for service, entities in intent.bounded_contexts() for e in entities],
        "",
        "The intent names nothing beyond these entities and the outcomes above.",
        "",
        "## Constraints",
        "",
        *non_functional_lines(intent.non_functional),
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
