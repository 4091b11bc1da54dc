"""intent-drafter: a structured intent (and what the text left open) from a description in free text.

The model drafts an :class:`IntentDraft`; the draft must pass the same validation as an intent a person
writes (``contracts/intent.schema.json`` and the rules in ``shared/product/intent.py``). Without a model,
or when its answers stay invalid, the deterministic drafter writes a skeleton (one placeholder entity)
whose open questions say plainly that a person has to fill it in. Nothing starts until a person confirms
the draft (``factory intent confirm``, Studio, ``POST /api/projects/{id}/confirm``) or ``--yes`` accepts a
valid draft the model wrote.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from shared.mesh.agents.assist import assist
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillError, SkillResult
from shared.product.drafts import product_slug
from shared.product.intent import Intent, IntentError, intent_from_mapping, intent_schema

AGENT = "intent-drafter"
SKILL = "drafting.draft_intent"


class IntentDraft(BaseModel):
    """An intent drafted from free text, with the questions the text left open and the answers assumed."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    intent: Intent
    open_questions: list[str] = Field(alias="openQuestions", max_length=20,
                                      description="what the text leaves open, each as one question")
    assumptions: list[str] = Field(default_factory=list, max_length=20,
                                   description="what the draft assumed for each open question")


INSTRUCTIONS = """Draft the intent of the product the user describes, as JSON with three fields:
- "intent": the product in the factory's intent format (the schema says every field and its rules). Keep it to
  what the text says or clearly implies: the things the product keeps (entities, PascalCase names) with their
  fields (camelCase names, the narrowest type that fits, limits only where the text gives them), relations
  between entities, and the features the text names (with stories: role, goal starting with "to", benefit).
  product.name is a lowercase slug (letters, digits, single hyphens); tenant is {"tenantId": "default",
  "mode": "single"} unless the text speaks of several organisations or customers each with their own data
  ("multi"). Add nonFunctional values only when the text states them.
- "openQuestions": what the text leaves open that changes the product (at most ten, one question each).
- "assumptions": for each open question, the answer the draft assumed.
Never add entities, fields or features the text gives no reason for."""


def answer_schema() -> dict[str, Any]:
    """The JSON schema the model answers with: the intent's own schema (its rules included) and the questions."""
    schema = intent_schema()
    intent = {k: v for k, v in schema.items() if k not in ("$schema", "$id", "$defs")}
    return {"type": "object", "additionalProperties": False, "required": ["intent", "openQuestions", "assumptions"],
            "properties": {"intent": intent,
                           "openQuestions": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
                           "assumptions": {"type": "array", "items": {"type": "string"}, "maxItems": 20}},
            "$defs": schema.get("$defs", {})}


def intent_problems(draft: IntentDraft) -> list[str]:
    """The rules an intent must pass besides its shape (names unique, relations resolve...), as text."""
    try:
        intent_from_mapping(draft.intent.to_payload(), source="the drafted intent")
    except IntentError as exc:
        return [str(p) for p in exc.problems]
    return []


def skeleton(text: str, why: str) -> IntentDraft:
    """The deterministic draft: a valid skeleton with one placeholder entity, and questions that say so."""
    slug = product_slug(text)
    purpose = " ".join(text.split())
    purpose = (purpose if len(purpose) >= 10 else f"{purpose} (described in too few words)")[:2000]
    intent = intent_from_mapping({
        "product": {"name": slug, "displayName": slug.replace("-", " ").title()},
        "purpose": purpose,
        "tenant": {"tenantId": "default", "mode": "single"},
        "entities": [{"name": "Item", "fields": [{"name": "name", "type": "string", "maxLength": 200}]}],
        "features": [{"name": "Core", "description": purpose}],
    }, source="the skeleton draft")
    return IntentDraft(intent=intent, open_questions=[
        f"This draft is a skeleton, not a reading of your text: {why}",
        "Which things does the product keep? Replace the placeholder entity 'Item' with them and their fields.",
        "Who uses the product, and what does each of them want to do (the features' stories)?",
        "Does one organisation use it, or several, each with its own data (tenant mode single or multi)?",
    ], assumptions=["one placeholder entity 'Item' with a name", "one organisation (tenant 'default')"])


def draft_intent(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    text = str(event.data.get("text") or "").strip()
    if not text:
        raise SkillError("IntentSubmitted has no text; describe the product in a sentence or more", permanent=True)
    why = "no model is configured (FACTORY_MODEL_PROVIDER), so nothing could read it"
    assisted = assist(ctx, agent=AGENT, skill=SKILL, output=IntentDraft, instructions=INSTRUCTIONS,
                      prompt=f"The user's description:\n\n{text}", schema=answer_schema(),
                      fallback=lambda: skeleton(text, why), check=intent_problems)
    if assisted.source == "degraded":
        assisted.value = skeleton(text, f"the model's answers were not a valid intent ({assisted.note})")
    draft = assisted.value
    payload = draft.intent.to_payload()
    problems = intent_problems(draft)
    document = Artifact.text("intent/draft.yaml", yaml.safe_dump(payload, sort_keys=False, allow_unicode=True),
                             "application/yaml")
    data = {"projectId": ctx.project_id, "intent": payload, "valid": not problems, "problems": problems,
            "openQuestions": list(draft.open_questions), "assumptions": list(draft.assumptions),
            "draftedBy": assisted.source, "artifacts": [document.ref()]}
    return SkillResult(events=[*assisted.events, Emit("IntentDrafted", data)],
                       artifacts=[*assisted.artifacts, document])
