"""How a skill asks the model (``shared/mesh/agents/assist.py``), through the real adapter and the local server:
validation against the skill's pydantic model, the repair round, degradation to the deterministic skill,
SkillUsed with cost, transcripts with masked values, refusals, and the project's budget."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from shared.contracts.registry import default_registry
from shared.mesh.agents.assist import BudgetExceededError, ModelCallError, assist
from shared.ports.skills import Emit
from tests.ai.conftest import access_to
from tests.ai.model_server import ModelServer, Reply
from tests.skills.simulation import FakeSkillContext

REGISTRY = default_registry()


class Greeting(BaseModel):
    text: str
    count: int


def deterministic() -> Greeting:
    return Greeting(text="hello from the template", count=1)


def ask(ctx: FakeSkillContext, **options: object):  # type: ignore[no-untyped-def]
    return assist(ctx, agent="vision-architect", skill="vision.write_vision", output=Greeting,
                  instructions="Greet.", prompt=str(options.pop("prompt", "Say hello to Ada (ada@example.org).")),
                  fallback=deterministic,
                  check=lambda g: [] if g.count > 0 else ["count: must be at least 1"], **options)  # type: ignore[arg-type]


def contract_valid(emits: list[Emit]) -> None:
    for emit in emits:
        REGISTRY.validate(emit.type, REGISTRY.latest(emit.type).version, emit.data)


@pytest.fixture
def ctx(tmp_path: Path, server: ModelServer) -> FakeSkillContext:
    return FakeSkillContext(work_dir=tmp_path, model=access_to(server, repair_rounds=1))


def test_without_a_model_the_deterministic_skill_answers_and_nothing_is_emitted(tmp_path: Path,
                                                                                server: ModelServer) -> None:
    result = ask(FakeSkillContext(work_dir=tmp_path))
    assert (result.value, result.source, result.events, result.artifacts) == (deterministic(), "deterministic", [], [])
    assert server.seen == []


def test_a_skill_the_settings_do_not_allow_stays_deterministic(tmp_path: Path, server: ModelServer) -> None:
    ctx = FakeSkillContext(work_dir=tmp_path, model=access_to(server, skills=frozenset({"plan.write_plan"})))
    assert ask(ctx).source == "deterministic" and server.seen == []


def test_a_valid_answer_is_used_and_its_call_reported_with_tokens_cost_latency_and_a_transcript(
        ctx: FakeSkillContext, server: ModelServer) -> None:
    server.reply(Reply(content='{"text": "Hello, Ada!", "count": 2}', usage=(1000, 250)))
    result = ask(ctx)

    assert result.source == "model" and result.value == Greeting(text="Hello, Ada!", count=2)
    [used] = result.events
    assert used.type == "SkillUsed"
    data = dict(used.data)
    assert {k: data[k] for k in ("agent", "skill", "model", "round", "outcome", "promptTokens",
                                 "completionTokens")} == {
        "agent": "vision-architect", "skill": "vision.write_vision", "model": "fixture-model", "round": 0,
        "outcome": "valid", "promptTokens": 1000, "completionTokens": 250}
    assert data["costUsd"] == pytest.approx(1000 * 2.0 / 1e6 + 250 * 8.0 / 1e6)  # the price table's numbers
    assert data["latencyMs"] >= 0
    [transcript] = result.artifacts
    assert data["artifacts"] == [transcript.ref()]
    assert transcript.path.startswith(".factory/model-calls/vision-architect/")
    doc = json.loads(transcript.content)
    assert doc["prompt"]["messages"][1]["content"] == "Say hello to Ada (ada@example.org)."
    assert doc["prompt"]["responseFormat"]["name"] == "Greeting" and doc["key"] == data["key"]
    contract_valid(result.events)
    # what the server received is what the transcript says was sent
    assert server.seen[0].messages == doc["prompt"]["messages"]


def test_a_schema_invalid_answer_gets_one_repair_round_that_names_the_problems(
        ctx: FakeSkillContext, server: ModelServer) -> None:
    server.reply(Reply(content='{"text": "Hello"}'), Reply(content='{"text": "Hello, Ada!", "count": 1}'))
    result = ask(ctx)

    assert result.source == "model" and result.value.count == 1
    assert [(e.data["round"], e.data["outcome"]) for e in result.events] == [(0, "invalid"), (1, "valid")]
    repair = server.seen[1].messages
    assert repair[-2] == {"role": "assistant", "content": '{"text": "Hello"}'}
    assert repair[-1]["role"] == "user" and "count: Field required" in repair[-1]["content"]
    assert json.loads(result.artifacts[0].content)["problems"] == ["count: Field required"]
    contract_valid(result.events)


def test_answers_that_stay_invalid_degrade_to_the_deterministic_skill_with_a_reason(
        ctx: FakeSkillContext, server: ModelServer) -> None:
    server.reply(Reply(content="Sure! Here is your greeting."), Reply(content='{"text": "Hi", "count": 0}'))
    result = ask(ctx)

    assert result.source == "degraded" and result.value == deterministic()
    assert [e.type for e in result.events] == ["SkillUsed", "SkillUsed", "SkillDegraded"]
    degraded = result.events[-1].data
    assert degraded["rounds"] == 2 and degraded["problems"] == ["count: must be at least 1"]
    assert "deterministic skill answered instead" in degraded["reason"]
    assert "not JSON" in json.loads(result.artifacts[0].content)["problems"][0]
    contract_valid(result.events)


def test_a_refusal_fails_the_skill_permanently_and_still_reports_the_billed_call(
        ctx: FakeSkillContext, server: ModelServer) -> None:
    server.reply(Reply(content=None, refusal="I can't help with that.", usage=(80, 6)))
    with pytest.raises(ModelCallError) as caught:
        ask(ctx)
    assert caught.value.permanent and "refused" in str(caught.value) and "I can't help with that." in str(caught.value)
    [used] = caught.value.emits
    assert used.type == "SkillUsed" and used.data["outcome"] == "refused" and used.data["promptTokens"] == 80
    contract_valid(caught.value.emits)


def test_a_model_that_keeps_failing_transiently_is_a_transient_skill_error(
        ctx: FakeSkillContext, server: ModelServer) -> None:
    server.reply(Reply(status=503), Reply(status=503))
    with pytest.raises(ModelCallError) as caught:
        ask(ctx)
    assert not caught.value.permanent and caught.value.emits == []


def test_sensitive_values_are_masked_in_what_is_sent_and_what_is_stored(
        ctx: FakeSkillContext, server: ModelServer) -> None:
    assert ctx.model is not None
    ctx.model = dataclasses.replace(ctx.model, sensitive=("ada@example.org",))
    server.reply(Reply(content='{"text": "Hello ada@example.org", "count": 1}'))
    result = ask(ctx)

    sent = json.dumps(server.seen[0].messages)
    stored = result.artifacts[0].content.decode()
    assert "ada@example.org" not in sent and "(***)" in sent
    assert "ada@example.org" not in stored and "Hello ***" in stored


def spent(ctx: FakeSkillContext, agent: str, cost: float) -> None:
    ctx.record("SkillUsed", {"projectId": ctx.project_id, "agent": agent, "skill": "drafting.draft_intent",
                             "model": "fixture-model", "round": 0, "outcome": "valid", "promptTokens": 1,
                             "completionTokens": 1, "costUsd": cost, "latencyMs": 1.0, "key": "0" * 64,
                             "artifacts": []})


def test_a_spent_budget_stops_the_call_before_it_is_made_with_a_summary(tmp_path: Path, server: ModelServer) -> None:
    ctx = FakeSkillContext(work_dir=tmp_path, model=access_to(server, budget_usd=0.05))
    spent(ctx, "intent-drafter", 0.03)
    spent(ctx, "product-manager", 0.025)
    with pytest.raises(BudgetExceededError) as caught:
        ask(ctx)

    assert caught.value.permanent and server.seen == []
    [event] = caught.value.emits
    assert event.type == "BudgetExceeded"
    assert (event.data["budgetUsd"], event.data["spentUsd"], event.data["calls"]) == (0.05, 0.055, 2)
    assert event.data["byAgent"] == {"intent-drafter": 0.03, "product-manager": 0.025}
    assert "0.0550 of 0.0500 USD in 2 call(s)" in event.data["summary"]
    assert "raise FACTORY_MODEL_BUDGET_USD" in event.data["summary"]
    contract_valid(caught.value.emits)


def test_a_budget_spent_by_the_first_call_stops_the_repair_round(tmp_path: Path, server: ModelServer) -> None:
    ctx = FakeSkillContext(work_dir=tmp_path, model=access_to(server, budget_usd=0.001, repair_rounds=1))
    server.reply(Reply(content='{"text": "no count"}', usage=(1000, 100)))  # 0.0028 USD: over the budget
    with pytest.raises(BudgetExceededError) as caught:
        ask(ctx)
    assert [e.type for e in caught.value.emits] == ["SkillUsed", "BudgetExceeded"]
    assert len(server.seen) == 1
    contract_valid(caught.value.emits)


def test_the_budget_below_what_is_spent_allows_the_call(tmp_path: Path, server: ModelServer) -> None:
    ctx = FakeSkillContext(work_dir=tmp_path, model=access_to(server, budget_usd=1.0))
    spent(ctx, "intent-drafter", 0.5)
    server.reply(Reply(content='{"text": "ok", "count": 1}'))
    assert ask(ctx).source == "model"
