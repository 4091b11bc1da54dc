"""How a skill asks the model: structured output, validation, one repair round, then the deterministic skill.

``assist`` is the one path from a skill to ``SkillContext.model``:

1. No model configured (or not for this skill): the deterministic ``fallback`` answers; nothing is emitted.
2. The project's budget is checked before every call (the ``costUsd`` of its ``SkillUsed`` events so far);
   a spent budget fails the agent with ``BudgetExceeded`` (and ``AgentFailed``), which fails the flow; after
   raising the budget, ``factory flow retry`` resumes where it stopped.
3. The answer must parse as JSON, validate against ``output`` (the same pydantic model the deterministic
   skill returns) and pass ``check`` (the rules the schema cannot say, e.g. "every feature of the intent").
   An invalid answer gets ``repair_rounds`` more tries with the problems listed; then the deterministic
   skill runs and ``SkillDegraded`` says why.
4. Every call that reached the model emits ``SkillUsed`` (tokens, cost from the price table, latency) and
   stores its transcript (prompt and answer, the contracts' sensitive values masked) as an artifact.
5. A refusal, a content-filter block or a permanent error fails the agent with the model's reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from shared.contracts.masking import MASK
from shared.ports.model import (
    ChatMessage,
    ModelAccess,
    ModelAnswer,
    ModelError,
    ModelRequest,
    ModelUsage,
    request_key,
)
from shared.ports.skills import Artifact, Emit, SkillContext, SkillError

T = TypeVar("T", bound=BaseModel)

#: said to the model in every system prompt: the factory is template-first
GROUND_RULES = (
    "You work inside a software factory that builds services from templates. You never write code or "
    "invent requirements: you fill the named fields of one JSON object, using only what the input states. "
    "Answer with that JSON object only, no prose around it."
)


class BudgetExceededError(SkillError):
    """The project's model budget is spent: the agent fails (permanently, until the budget is raised)."""

    def __init__(self, message: str, *, emits: Iterable[Emit]) -> None:
        super().__init__(message, permanent=True, emits=list(emits))


class ModelCallError(SkillError):
    """The model gave no usable answer (refused, filtered, a permanent or exhausted transient error)."""


@dataclass
class Assisted(Generic[T]):
    """What ``assist`` returns: the value, who produced it, and the events and artifacts to add to the result."""

    value: T
    source: Literal["model", "deterministic", "degraded"]
    events: list[Emit] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    note: str = ""


def mask_text(text: str, sensitive: Iterable[str]) -> str:
    for value in sensitive:
        text = text.replace(value, MASK)
    return text


def spent_usd(history: Iterable[Mapping[str, Any]]) -> tuple[float, int, dict[str, float]]:
    """(total cost, calls, cost by agent) of the ``SkillUsed`` events in ``history``."""
    total, calls = 0.0, 0
    by_agent: dict[str, float] = {}
    for event in history:
        data = event.get("data") or {}
        cost = float(data.get("costUsd") or 0.0)
        total += cost
        calls += 1
        agent = str(data.get("agent", "?"))
        by_agent[agent] = round(by_agent.get(agent, 0.0) + cost, 8)
    return round(total, 8), calls, by_agent


def validate_answer(output: type[T], answer: ModelAnswer, check: Callable[[T], list[str]]) -> tuple[T | None,
                                                                                                      list[str]]:
    """The answer as ``output`` and no problems, or None and what is wrong with it (for the repair prompt)."""
    problems: list[str] = []
    if answer.finish_reason == "length":
        problems.append("the answer was cut off at the token limit; answer more briefly")
    try:
        data = json.loads(answer.content)
    except json.JSONDecodeError as exc:
        return None, [*problems, f"the answer is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"]
    try:
        value = output.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors()[:20]:
            where = ".".join(str(p) for p in error["loc"]) or "<root>"
            problems.append(f"{where}: {error['msg']}")
        return None, problems
    problems += check(value)
    return (None, problems) if problems else (value, [])


def _repair_prompt(problems: list[str], schema_name: str) -> str:
    listed = "\n".join(f"- {p}" for p in problems)
    return (f"Your answer does not fit:\n{listed}\nAnswer again with one JSON object that fits the schema "
            f"{schema_name}; change only what the problems above name.")


class _Call:
    """One skill's conversation with the model during one handling."""

    def __init__(self, ctx: SkillContext, access: ModelAccess, agent: str, skill: str) -> None:
        self.ctx = ctx
        self.access = access
        self.agent = agent
        self.skill = skill
        self.events: list[Emit] = []
        self.artifacts: list[Artifact] = []
        self.cost_here = 0.0

    def check_budget(self) -> None:
        budget = self.access.budget_usd
        if budget is None:
            return
        spent, calls, by_agent = spent_usd(self.ctx.history("SkillUsed"))
        spent = round(spent + self.cost_here, 8)
        calls += sum(1 for e in self.events if e.type == "SkillUsed")
        for e in self.events:
            if e.type == "SkillUsed":
                agent = str(e.data["agent"])
                by_agent[agent] = round(by_agent.get(agent, 0.0) + float(e.data.get("costUsd") or 0.0), 8)
        if spent < budget:
            return
        shares = ", ".join(f"{a} {c:.4f}" for a, c in sorted(by_agent.items())) or "no calls"
        message = (f"the model budget of project {self.ctx.project_id} is spent: {spent:.4f} of {budget:.4f} USD "
                   f"in {calls} call(s) ({shares}); {self.agent} was about to call {self.access.client.model} for "
                   f"{self.skill}. To go on: raise FACTORY_MODEL_BUDGET_USD, restart the host, and retry the failed "
                   f"flow (`factory status {self.ctx.project_id}` names it; `factory flow retry {self.ctx.project_id} "
                   "--flow FLOW`)")
        budget_event = Emit("BudgetExceeded", {
            "projectId": self.ctx.project_id, "agent": self.agent, "skill": self.skill,
            "model": self.access.client.model, "budgetUsd": budget, "spentUsd": spent, "calls": calls,
            "byAgent": by_agent, "summary": message})
        raise BudgetExceededError(message, emits=[*self.events, budget_event])

    def ask(self, request: ModelRequest, round_: int) -> ModelAnswer:
        self.check_budget()
        try:
            answer = self.access.client.complete(request)
        except ModelError as exc:
            if exc.usage is not None:  # billed although unusable (a refusal): still reported
                self.record(request, round_, exc.kind, exc.usage.prompt_tokens, exc.usage.completion_tokens,
                            exc.usage.latency_ms, content=str(exc), problems=[])
            raise ModelCallError(f"{self.agent} could not use {self.access.client.model} for {self.skill} "
                                 f"({exc.kind}): {exc}", permanent=exc.permanent, emits=self.events) from exc
        return answer

    def record(self, request: ModelRequest, round_: int, outcome: str, prompt_tokens: int, completion_tokens: int,
               latency_ms: float, *, content: str, problems: list[str]) -> None:
        price = self.access.price()
        cost = price.cost(ModelUsage(prompt_tokens, completion_tokens, latency_ms)) if price is not None else None
        self.cost_here += cost or 0.0
        key = request_key(request, self.access.client.model)
        transcript = Artifact.json(f".factory/model-calls/{self.agent}/{key[:16]}.json", {
            "agent": self.agent, "skill": self.skill, "model": self.access.client.model, "round": round_,
            "key": key, "prompt": request.prompt(), "answer": mask_text(content, self.access.sensitive),
            "outcome": outcome, "problems": problems,
            "usage": {"promptTokens": prompt_tokens, "completionTokens": completion_tokens,
                      "latencyMs": latency_ms, "costUsd": cost}})
        self.artifacts.append(transcript)
        self.events.append(Emit("SkillUsed", {
            "projectId": self.ctx.project_id, "agent": self.agent, "skill": self.skill,
            "model": self.access.client.model, "round": round_, "outcome": outcome,
            "promptTokens": prompt_tokens, "completionTokens": completion_tokens, "costUsd": cost,
            "latencyMs": latency_ms, "key": key, "artifacts": [transcript.ref()]}))


def assist(ctx: SkillContext, *, agent: str, skill: str, output: type[T], instructions: str, prompt: str,
           fallback: Callable[[], T], check: Callable[[T], list[str]] = lambda _value: [],
           schema: Mapping[str, Any] | None = None) -> Assisted[T]:
    """The model's answer as ``output`` (validated, repaired at most ``repair_rounds`` times), else ``fallback()``.

    ``schema``: the JSON schema the model is asked to answer with, when a richer one than ``output``'s exists
    (the intent's own schema); the answer is validated against ``output`` and ``check`` either way.
    """
    access = ctx.model
    if access is None or not access.enabled_for(skill):
        return Assisted(fallback(), "deterministic")
    call = _Call(ctx, access, agent, skill)
    schema = schema if schema is not None else output.model_json_schema(by_alias=True)
    messages = [ChatMessage("system", mask_text(f"{GROUND_RULES}\n\n{instructions}", access.sensitive)),
                ChatMessage("user", mask_text(prompt, access.sensitive))]
    problems: list[str] = []
    rounds = 1 + max(0, access.repair_rounds)
    for round_ in range(rounds):
        request = ModelRequest(agent=agent, skill=skill, messages=tuple(messages), schema_name=output.__name__,
                               schema=schema, max_tokens=access.max_tokens)
        answer = call.ask(request, round_)
        value, problems = validate_answer(output, answer, check)
        call.record(request, round_, "valid" if value is not None else "invalid", answer.usage.prompt_tokens,
                    answer.usage.completion_tokens, answer.usage.latency_ms, content=answer.content,
                    problems=problems)
        if value is not None:
            return Assisted(value, "model", call.events, call.artifacts)
        messages += [ChatMessage("assistant", mask_text(answer.content, access.sensitive)),
                     ChatMessage("user", _repair_prompt(problems, output.__name__))]
    reason = (f"{access.client.model} gave no valid {output.__name__} in {rounds} round(s); the deterministic "
              f"skill answered instead. Last problems: {'; '.join(problems[:5])}")
    call.events.append(Emit("SkillDegraded", {
        "projectId": ctx.project_id, "agent": agent, "skill": skill, "model": access.client.model,
        "rounds": rounds, "reason": reason[:2000], "problems": problems[:20]}))
    return Assisted(fallback(), "degraded", call.events, call.artifacts, reason)


def prompt_json(value: Any) -> str:
    """Inputs for a prompt as stable JSON (sorted keys: the same input is the same prompt, the same recording)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
