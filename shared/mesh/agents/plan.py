"""product-manager: features -> user stories with Given/When/Then acceptance criteria.

The plan is a :class:`ProductPlan`. The features the intent names get their stories from the intent (the
deterministic skill) or from a model, which may write stories and acceptance criteria for exactly those
features; the "Manage <entities>" features are the contract of the generated service (its endpoints, its
status codes, its events) and always come from the template below.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.mesh.agents.assist import assist, prompt_json
from shared.mesh.agents.project import project_intent
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillResult
from shared.product.entities import Entity, entity_events
from shared.product.intent import Feature, Intent

AGENT = "product-manager"
SKILL = "plan.write_plan"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Criterion(_Model):
    given: str = Field(min_length=1, max_length=400)
    when: str = Field(min_length=1, max_length=400)
    then: str = Field(min_length=1, max_length=400)


class PlanStory(_Model):
    id: str = Field(description="<feature id>-S<n>, numbered from 1")
    text: str = Field(description="As a <role>, I want <goal> so that <benefit>.")
    role: str = Field(min_length=1)
    goal: str = Field(min_length=1)
    benefit: str = Field(min_length=1)
    acceptance_criteria: list[Criterion] = Field(alias="acceptanceCriteria", min_length=1, max_length=12)


class PlanFeature(_Model):
    id: str = Field(description="F<n>, numbered from 1 in the intent's order")
    name: str
    description: str
    entity: str | None = Field(None, description="the entity a 'Manage ...' feature is about (never set by a model)")
    stories: list[PlanStory] = Field(min_length=1, max_length=20)


class ProductPlan(_Model):
    product: str
    features: list[PlanFeature]


def article(noun: str) -> str:
    """``a`` or ``an`` for a noun (by its sound, good enough for role and entity names)."""
    word = noun.strip().lower()
    if not word:
        return "a"
    if word.startswith(("uni", "use", "usu", "uti", "eu", "one")):
        return "a"
    if word.startswith(("hour", "honest", "honou", "heir")):
        return "an"
    return "an" if word[0] in "aeiou" else "a"


def _sentence_start(text: str) -> str:
    """Text that continues a sentence: a lower-case first letter (unless it starts an acronym), no final dot."""
    text = text.strip().rstrip(".")
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        text = text[0].lower() + text[1:]
    return text


def story_text(role: str, goal: str, benefit: str) -> str:
    """``As a <role>, I want <goal> so that <benefit>.`` with the right article and no doubled words."""
    role = role.strip()
    lead = f"As {article(role)} {role}" if not role.lower().startswith(("a ", "an ", "the ")) else f"As {role}"
    goal = _sentence_start(goal)
    benefit = _sentence_start(benefit).removeprefix("so that ")
    return f"{lead}, I want {goal} so that {benefit}."


def _story(story_id: str, role: str, goal: str, benefit: str, criteria: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "id": story_id,
        "text": story_text(role, goal, benefit),
        "role": role,
        "goal": goal,
        "benefit": benefit,
        "acceptanceCriteria": criteria,
    }


def _gwt(given: str, when: str, then: str) -> dict[str, str]:
    return {"given": given, "when": when, "then": then}


def _crud_stories(entity: Entity, prefix: str, multi: bool) -> list[dict[str, Any]]:
    noun = entity.name
    a_noun = f"{article(noun)} {noun}"
    path = f"/api/{entity.plural}"
    required = [f.name for f in entity.fields if f.required]
    missing = f"without `{required[0]}`" if required else "with a field of the wrong type"
    created, updated, deleted = entity_events(noun)
    create = [
        _gwt(f"a valid {noun}", f"I POST it to {path}",
             f"I get 201 and the stored item with its id, and `{created}` is published"),
        _gwt(f"{a_noun} {missing}", f"I POST it to {path}", "I get 422 and a problem+json body naming the field"),
    ]
    for relation in entity.relations:
        create.append(_gwt(f"no {relation.target} with the id I give", f"I POST {a_noun} with it as "
                           f"`{relation.field_name}`", f"I get 422 naming `{relation.field_name}`"))
    for group in entity.unique_fields():
        create.append(_gwt(f"a stored {noun}", f"I POST another {noun} with the same {' and '.join(group)}",
                           "I get 409 and nothing is stored"))
    stories = [
        _story(f"{prefix}-1", "user", f"to create {a_noun}", "it is recorded", create),
        _story(f"{prefix}-2", "user", f"to list, filter and sort the {entity.plural.replace('-', ' ')}",
               "I find what I look for", [
                   _gwt(f"two stored {entity.plural}", f"I GET {path}", "I get 200 and both items"),
                   _gwt(f"three stored {entity.plural}", f"I GET {path}?limit=2",
                        "I get two items and a continuationToken that returns the third"),
               ]),
        _story(f"{prefix}-3", "user", f"to read one {noun}", "I can see its details", [
            _gwt(f"a stored {noun}", f"I GET {path}/{{id}}", "I get 200 and the item"),
            _gwt("an id that does not exist", f"I GET {path}/{{id}}", "I get 404 and a problem+json body"),
        ]),
        _story(f"{prefix}-4", "user", f"to change {a_noun}", "it stays accurate", [
            _gwt(f"a stored {noun}", f"I PATCH {path}/{{id}} with new values",
                 f"I get 200 and the changed item, and `{updated}` is published"),
            _gwt("a body that is not JSON", f"I PATCH {path}/{{id}}", "I get 400 and a problem+json body"),
        ]),
        _story(f"{prefix}-5", "user", f"to delete {a_noun}", "obsolete data goes away", [
            _gwt(f"a stored {noun}", f"I DELETE {path}/{{id}}",
                 f"I get 204, a later read gets 404, and `{deleted}` is published"),
        ]),
    ]
    n = len(stories)
    for f in entity.fields:
        if f.lifecycle is None:
            continue
        n += 1
        moves = [(k, v) for k, v in f.lifecycle.transitions.items() if v]
        criteria = [_gwt(f"{a_noun} whose {f.name} is `{k}`", f"I PATCH its {f.name} to `{v[0]}`",
                         f"I get 200 and `{entity.transition_event(f)}` is published") for k, v in moves[:1]]
        forbidden = next(((k, t) for k in f.values for t in f.values
                          if t != k and t not in f.lifecycle.transitions.get(k, [])), None)
        if forbidden:
            criteria.append(_gwt(f"{a_noun} whose {f.name} is `{forbidden[0]}`",
                                 f"I PATCH its {f.name} to `{forbidden[1]}`", "I get 409 and nothing changes"))
        stories.append(_story(f"{prefix}-{n}", "user", f"the {f.name} of {a_noun} to follow its lifecycle",
                              f"no {noun} skips a step", criteria))
    if multi:
        n += 1
        stories.append(_story(f"{prefix}-{n}", "user", f"my organisation's {entity.plural.replace('-', ' ')} "
                              "to be invisible to other organisations", "our data stays ours", [
                                  _gwt(f"{a_noun} stored by another tenant", f"I GET {path}/{{id}}",
                                       "I get 404"),
                              ]))
    return stories


def _feature_stories(feature: Feature, fid: str) -> list[dict[str, Any]]:
    stories = []
    for j, s in enumerate(feature.stories, start=1):
        outcome = f"{_sentence_start(s.goal).removeprefix('to ')} works and the result is stored"
        stories.append(_story(f"{fid}-S{j}", s.role, s.goal, s.benefit,
                              [_gwt(f"a signed-in {s.role}", f"I use '{feature.name}'", outcome)]))
    if stories:
        return stories
    return [_story(f"{fid}-S1", "user", f"the {feature.name} feature", feature.description,
                   [_gwt("a signed-in user", f"I use '{feature.name}'", _sentence_start(feature.description))])]


def feature_plan(intent: Intent) -> ProductPlan:
    """The deterministic plan of the intent's own features: their stories as written, one criterion each."""
    return ProductPlan.model_validate({"product": intent.product.name, "features": [
        {"id": f"F{i}", "name": feature.name, "description": feature.description,
         "stories": _feature_stories(feature, f"F{i}")}
        for i, feature in enumerate(intent.features, start=1)]})


def build_plan(intent: Intent, features_plan: ProductPlan | None = None) -> dict[str, Any]:
    """The whole plan as JSON: the intent's features (``features_plan``, else the deterministic one) and the
    "Manage <entities>" features of the generated service."""
    features_plan = features_plan or feature_plan(intent)
    features: list[dict[str, Any]] = [f.model_dump(mode="json", by_alias=True, exclude_none=True)
                                      for f in features_plan.features]
    multi = intent.tenant.mode == "multi"
    for k, entity in enumerate(intent.entities, start=len(features) + 1):
        fid = f"F{k}"
        features.append(
            {
                "id": fid,
                "name": f"Manage {entity.plural.replace('-', ' ')}",
                "description": f"Create, list, read, change and delete {entity.name} items.",
                "entity": entity.name,
                "stories": _crud_stories(entity, f"{fid}-S", multi),
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


_STORY_TEXT = re.compile(r"^As (an? |the )?.+, I want .+ so that .+\.$", re.DOTALL)


def plan_problems(intent: Intent, plan: ProductPlan) -> list[str]:
    """The model's plan covers the intent's features exactly, numbered as the template numbers them."""
    problems = []
    wanted = [(f"F{i}", f.name) for i, f in enumerate(intent.features, start=1)]
    got = [(f.id, f.name) for f in plan.features]
    if got != wanted:
        problems.append(f"features must be exactly the intent's, as (id, name) in order: {wanted} (got {got})")
    if plan.product != intent.product.name:
        problems.append(f"product must be {intent.product.name!r}")
    for feature in plan.features:
        if feature.entity is not None:
            problems.append(f"{feature.id}: leave 'entity' out (the 'Manage' features are not yours to write)")
        for j, story in enumerate(feature.stories, start=1):
            if story.id != f"{feature.id}-S{j}":
                problems.append(f"{feature.id}: story {j} must have id {feature.id}-S{j} (got {story.id!r})")
            if not _STORY_TEXT.match(story.text):
                problems.append(f"{story.id}: text must read 'As a <role>, I want <goal> so that <benefit>.'")
    return problems


PLAN_INSTRUCTIONS = """Write the product plan for the features the intent (given as JSON) names, and only those:
one feature per intent feature, ids F1, F2... in the intent's order, the intent's exact name and description.
For each, user stories (ids <feature id>-S1, -S2...; role, goal starting with "to", benefit; text "As a
<role>, I want <goal> so that <benefit>.") with acceptance criteria as Given/When/Then that a tester can
check against the service's HTTP API and data. Keep the intent's own stories and add only stories its
feature description implies. Never set "entity"."""


def write_plan(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    intent = project_intent(ctx)
    assisted = assist(ctx, agent=AGENT, skill=SKILL, output=ProductPlan, instructions=PLAN_INSTRUCTIONS,
                      prompt=prompt_json({"intent": intent.to_payload()}), fallback=lambda: feature_plan(intent),
                      check=lambda plan: plan_problems(intent, plan))
    plan = build_plan(intent, assisted.value)
    doc = Artifact.text(
        "docs/product-plan.md", render_plan(plan, intent.product.display_name), "text/markdown; charset=utf-8"
    )
    data = Artifact.json("plan/product-plan.json", plan)
    story_count = sum(len(f["stories"]) for f in plan["features"])
    return SkillResult(
        events=[
            *assisted.events,
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
        artifacts=[*assisted.artifacts, doc, data],
    )
