"""vision-architect: the vision document (problem, users, outcomes, scope) from the intent.

The prose (problem, users, outcomes) is a :class:`VisionDocument`: the deterministic skill takes it from
the intent's words; a model may write it (one outcome per feature of the intent, nothing more). Scope and
constraints always come from the intent itself, never from a model.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.mesh.agents.architecture import non_functional_lines
from shared.mesh.agents.assist import assist, prompt_json
from shared.mesh.agents.project import project_intent
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillResult
from shared.product.intent import Intent

AGENT = "vision-architect"
SKILL = "vision.write_vision"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Outcome(_Model):
    name: str = Field(description="the name of one feature of the intent, exactly")
    description: str = Field(min_length=1, max_length=600, description="what the feature achieves for its users")


class VisionDocument(_Model):
    """The vision's prose: what problem, for whom, with which outcomes."""

    problem: str = Field(min_length=10, max_length=3000, description="the problem and purpose, in a paragraph")
    users: list[str] = Field(max_length=20, description="who uses the product, one role each")
    outcomes: list[Outcome] = Field(description="one per feature of the intent, in its order")


def build_vision(intent: Intent) -> VisionDocument:
    """The deterministic vision: the intent's own words."""
    return VisionDocument(
        problem=intent.purpose.strip(),
        users=sorted({story.role for feature in intent.features for story in feature.stories}),
        outcomes=[Outcome(name=f.name, description=f.description.strip()) for f in intent.features])


def vision_problems(intent: Intent, vision: VisionDocument) -> list[str]:
    """What the schema cannot say: the outcomes are the intent's features, and no text breaks the layout."""
    problems = []
    wanted, got = [f.name for f in intent.features], [o.name for o in vision.outcomes]
    if got != wanted:
        problems.append(f"outcomes must name the intent's features exactly, in order: {wanted} (got {got})")
    texts = [vision.problem, *vision.users, *(o.description for o in vision.outcomes)]
    if any(line.lstrip().startswith(("#", "```", "|")) for text in texts for line in text.splitlines()):
        problems.append("plain text only: no headings, tables or code blocks")
    if any("\n" in text for text in [*vision.users, *(o.description for o in vision.outcomes)]):
        problems.append("users and outcome descriptions are one line each")
    return problems


VISION_INSTRUCTIONS = """Write the prose of the product's vision document from the intent given as JSON:
- "problem": the problem the product solves and its purpose, in 2 to 5 sentences, in the intent's terms.
- "users": the roles that use the product (from the stories; "user" when the intent names none), each as
  a short phrase saying who they are and what they need.
- "outcomes": one per feature of the intent, with its exact name, in the same order; "description" says in
  one sentence what the feature achieves for its users.
Plain text only, no Markdown."""


def _users(vision: VisionDocument) -> list[str]:
    return [f"- {user}" for user in vision.users] or ["The intent names no roles; the stories speak of users."]


def render_vision(intent: Intent, vision: VisionDocument | None = None) -> str:
    vision = vision or build_vision(intent)
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
        vision.problem.strip(),
        "",
        "## Users",
        "",
        *_users(vision),
        "",
        f"The product serves {tenancy}.",
        "",
        "## Outcomes",
        "",
        *[f"- **{o.name}** — {o.description.strip()}" for o in vision.outcomes],
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
    assisted = assist(ctx, agent=AGENT, skill=SKILL, output=VisionDocument, instructions=VISION_INSTRUCTIONS,
                      prompt=prompt_json({"intent": intent.to_payload()}), fallback=lambda: build_vision(intent),
                      check=lambda vision: vision_problems(intent, vision))
    doc = Artifact.text("docs/vision.md", render_vision(intent, assisted.value), "text/markdown; charset=utf-8")
    return SkillResult(
        events=[
            *assisted.events,
            Emit(
                "VisionDocumentCreated",
                {"projectId": ctx.project_id, "artifacts": [doc.ref()], "summary": summarize(intent)},
            )
        ],
        artifacts=[*assisted.artifacts, doc],
    )
