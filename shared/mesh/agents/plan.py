"""product-manager: features -> user stories with Given/When/Then acceptance criteria."""

from __future__ import annotations

from typing import Any

from shared.mesh.agents.project import project_intent
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillResult
from shared.product.intent import Intent, IntentEntity


def _story(
    story_id: str, role: str, goal: str, benefit: str, criteria: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "id": story_id,
        "text": f"As a {role}, I want {goal} so that {benefit}.",
        "role": role,
        "goal": goal,
        "benefit": benefit,
        "acceptanceCriteria": criteria,
    }


def _gwt(given: str, when: str, then: str) -> dict[str, str]:
    return {"given": given, "when": when, "then": then}


def _crud_stories(entity: IntentEntity, prefix: str) -> list[dict[str, Any]]:
    noun = entity.name
    path = f"/api/{entity.plural}"
    required = [f.name for f in entity.fields if f.required]
    missing = f"without `{required[0]}`" if required else "with a field of the wrong type"
    return [
        _story(
            f"{prefix}-1",
            "user",
            f"to create a {noun}",
            "it is recorded",
            [
                _gwt(f"a valid {noun}", f"I POST it to {path}", "I get 201 and the stored item with its id"),
                _gwt(
                    f"a {noun} {missing}",
                    f"I POST it to {path}",
                    "I get 422 and a problem+json body naming the field",
                ),
            ],
        ),
        _story(
            f"{prefix}-2",
            "user",
            f"to list every {noun}",
            "I can see what exists",
            [_gwt(f"two stored {entity.plural}", f"I GET {path}", "I get 200 and both items")],
        ),
        _story(
            f"{prefix}-3",
            "user",
            f"to read one {noun}",
            "I can see its details",
            [
                _gwt(f"a stored {noun}", f"I GET {path}/{{id}}", "I get 200 and the item"),
                _gwt(
                    "an id that does not exist", f"I GET {path}/{{id}}", "I get 404 and a problem+json body"
                ),
            ],
        ),
        _story(
            f"{prefix}-4",
            "user",
            f"to change a {noun}",
            "it stays accurate",
            [
                _gwt(
                    f"a stored {noun}",
                    f"I PATCH {path}/{{id}} with new values",
                    "I get 200 and the changed item",
                ),
                _gwt(
                    "a body that is not JSON", f"I PATCH {path}/{{id}}", "I get 400 and a problem+json body"
                ),
            ],
        ),
        _story(
            f"{prefix}-5",
            "user",
            f"to delete a {noun}",
            "obsolete data goes away",
            [_gwt(f"a stored {noun}", f"I DELETE {path}/{{id}}", "I get 204 and a later read gets 404")],
        ),
    ]


def build_plan(intent: Intent) -> dict[str, Any]:
    features: list[dict[str, Any]] = []
    for i, feature in enumerate(intent.features, start=1):
        fid = f"F{i}"
        stories = [
            _story(
                f"{fid}-S{j}",
                s.role,
                s.goal,
                s.benefit,
                [
                    _gwt(
                        f"a signed-in {s.role}",
                        f"I use '{feature.name}'",
                        f"{s.goal.removeprefix('to ')} works and the result is stored",
                    )
                ],
            )
            for j, s in enumerate(feature.stories, start=1)
        ]
        if not stories:
            stories = [
                _story(
                    f"{fid}-S1",
                    "user",
                    f"to {feature.name[:1].lower()}{feature.name[1:]}",
                    "the product does what it is for",
                    [_gwt("a signed-in user", f"I use '{feature.name}'", feature.description.strip())],
                )
            ]
        features.append(
            {"id": fid, "name": feature.name, "description": feature.description, "stories": stories}
        )
    for k, entity in enumerate(intent.entities, start=len(features) + 1):
        fid = f"F{k}"
        features.append(
            {
                "id": fid,
                "name": f"Manage {entity.plural.replace('-', ' ')}",
                "description": f"Create, list, read, change and delete {entity.name} items.",
                "entity": entity.name,
                "stories": _crud_stories(entity, f"{fid}-S"),
            }
        )
    return {"product": intent.product.name, "features": features}


def render_plan(plan: dict[str, Any], title: str) -> str:
    lines = [f"# {title} — product plan", ""]
    for feature in plan["features"]:
        lines += [f"## {feature['id']} {feature['name']}", "", feature["description"], ""]
        for story in feature["stories"]:
            lines += [f"### {story['id']}", "", story["text"], "", "Acceptance criteria:", ""]
            lines += [
                f"- **Given** {c['given']}, **when** {c['when']}, **then** {c['then']}."
                for c in story["acceptanceCriteria"]
            ]
            lines.append("")
    return "\n".join(lines)


def write_plan(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    intent = project_intent(ctx)
    plan = build_plan(intent)
    doc = Artifact.text(
        "docs/product-plan.md", render_plan(plan, intent.product.display_name), "text/markdown; charset=utf-8"
    )
    data = Artifact.json("plan/product-plan.json", plan)
    story_count = sum(len(f["stories"]) for f in plan["features"])
    return SkillResult(
        events=[
            Emit(
                "ProductPlanCreated",
                {
                    "projectId": ctx.project_id,
                    "artifacts": [doc.ref(), data.ref()],
                    "featureCount": len(plan["features"]),
                    "storyCount": story_count,
                },
            )
        ],
        artifacts=[doc, data],
    )
