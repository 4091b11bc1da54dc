"""The model in the running factory: settings, the composition root, and the intent drafter on the embedded host
(the pipeline, the contracts and the event log are all real; the model is the local fixture server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.bootstrap import Runtime, bootstrap
from shared.host.local import build_host
from shared.product.drafts import DraftError, confirm_draft, draft_status, submit_text
from shared.settings import Settings
from tests.ai.conftest import access_to
from tests.ai.model_server import ModelServer, Reply

TEXT = "A booking app for a dental practice; questions go to ada@example.org."


def test_without_a_model_the_runtime_says_so_and_the_skills_stay_deterministic(tmp_path: Path) -> None:
    rt = bootstrap(Settings(FACTORY_HOME=tmp_path))
    try:
        assert rt.model is None
        assert rt.model_description().startswith("none: no model is configured (FACTORY_MODEL_PROVIDER)")
    finally:
        rt.close()


def test_azure_openai_is_built_from_settings_keyless_without_touching_the_network(tmp_path: Path) -> None:
    rt = bootstrap(Settings(FACTORY_HOME=tmp_path, FACTORY_MODEL_PROVIDER="azure-openai",
                            FACTORY_MODEL_ENDPOINT="https://acct.openai.azure.com",
                            FACTORY_MODEL_DEPLOYMENT="gpt-4o-mini", FACTORY_MODEL_BUDGET_USD=2.5))
    try:
        assert rt.model is not None and rt.model.client.model == "gpt-4o-mini"
        assert "Entra ID" in rt.model.client.describe() and "2024-10-21" in rt.model.client.describe()
        assert rt.model.budget_usd == 2.5 and rt.model.price() is not None  # gpt-4o-mini is in the default table
    finally:
        rt.close()


@pytest.mark.parametrize(("settings", "message"), [
    ({"FACTORY_MODEL_PROVIDER": "azure-openai"}, "needs FACTORY_MODEL_ENDPOINT"),
    ({"FACTORY_MODEL_PROVIDER": "azure-openai", "FACTORY_MODEL_ENDPOINT": "https://a.openai.azure.com",
      "FACTORY_MODEL_DEPLOYMENT": "d", "FACTORY_MODEL_API_KEY": "k"}, "called keyless"),
    ({"FACTORY_MODEL_PROVIDER": "openai", "FACTORY_MODEL_ENDPOINT": "http://127.0.0.1:1/v1"}, "FACTORY_MODEL_NAME"),
    ({"FACTORY_MODEL_RECORD_DIR": "/tmp/r"}, "needs a model to record"),
    ({"FACTORY_MODEL_RECORD_DIR": "/tmp/r", "FACTORY_MODEL_REPLAY_DIR": "/tmp/p"}, "exclude each other"),
    ({"FACTORY_MODEL_PROVIDER": "openai", "FACTORY_MODEL_ENDPOINT": "http://127.0.0.1:1/v1",
      "FACTORY_MODEL_NAME": "local-llama", "FACTORY_MODEL_BUDGET_USD": 1}, "needs the price of model 'local-llama'"),
])
def test_model_settings_that_cannot_work_are_refused_with_what_to_set(settings: dict[str, object],
                                                                      message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(**settings)  # type: ignore[arg-type]


@pytest.fixture
def runtime(tmp_path: Path, server: ModelServer) -> Iterator[Runtime]:
    access = access_to(server)
    rt = bootstrap(Settings(FACTORY_HOME=tmp_path / "factory", FACTORY_MODEL_PRICES={}), model=access.client)
    yield rt
    rt.close()


def drafted(rt: Runtime, text: str = TEXT, **options: object) -> str:
    host, _ = build_host(rt)  # first: its subscriptions exist before anything is published
    try:
        submitted = submit_text(rt, text, owner_email="ada@example.org", **options)  # type: ignore[arg-type]
        host.run_until_idle(max_seconds=60)
    finally:
        host.close()
    return submitted.project_id


def test_a_description_is_drafted_with_its_sensitive_values_masked_then_confirmed_under_the_same_ids(
        runtime: Runtime, server: ModelServer) -> None:
    project_id = drafted(runtime)
    status = draft_status(runtime, project_id)

    assert status is not None and status.state == "drafted" and status.draft is not None
    assert status.draft["draftedBy"] == "model" and status.draft["valid"]
    assert status.draft["intent"]["product"]["name"] == "dental-bookings"
    assert status.draft["openQuestions"][0].startswith("How are reminders sent")
    [seen] = server.seen
    assert seen.schema_name == "IntentDraft"
    assert "ada@example.org" not in json.dumps(seen.messages)  # the owner's address is sensitive (IntentSubmitted)
    assert "questions go to ***." in seen.messages[-1]["content"]
    [usage] = status.usage
    transcript = next(ref for ref in usage["artifacts"])
    assert b"ada@example.org" not in runtime.artifacts.get(transcript["digest"])

    started = confirm_draft(runtime, project_id, source="cli")
    assert (started.project_id, started.trace_id) == (project_id, status.trace_id)
    initialized = started.event.data
    assert initialized["ownerEmail"] == "ada@example.org" and initialized["intent"]["ownerEmail"] == "ada@example.org"
    with pytest.raises(DraftError) as again:
        confirm_draft(runtime, project_id, source="cli")
    assert again.value.status == 409


def test_a_refusal_fails_the_drafter_and_its_billed_call_is_published_with_agent_failed(
        runtime: Runtime, server: ModelServer) -> None:
    server.reply(Reply(content=None, refusal="I cannot draft that.", usage=(120, 8)))
    project_id = drafted(runtime)
    events = runtime.state.events_for_project(project_id)

    used = [e for e in events if e["type"] == "SkillUsed"]
    failed = [e for e in events if e["type"] == "AgentFailed"]
    assert [u["data"]["outcome"] for u in used] == ["refused"] and used[0]["data"]["promptTokens"] == 120
    assert len(failed) == 1 and failed[0]["data"]["permanent"] and "I cannot draft that." in failed[0]["data"]["reason"]
    assert used[0]["causationId"] == failed[0]["causationId"]  # one outbox, one handling
    status = draft_status(runtime, project_id)
    assert status is not None and status.state == "failed" and "refused" in str(status.failure)
    with pytest.raises(DraftError) as caught:
        confirm_draft(runtime, project_id)
    assert caught.value.status == 409


def test_drafts_that_stay_invalid_become_a_skeleton_that_needs_a_person(runtime: Runtime,
                                                                        server: ModelServer) -> None:
    bad = {"intent": {"product": {"name": "Dental Bookings", "displayName": "x"}}, "openQuestions": []}
    server.reply(Reply(content=json.dumps(bad)), Reply(content=json.dumps(bad)))
    project_id = drafted(runtime, "A booking app for dentists")
    status = draft_status(runtime, project_id)
    events = runtime.state.events_for_project(project_id)

    assert status is not None and status.draft is not None
    assert status.draft["draftedBy"] == "degraded" and status.draft["valid"]
    assert status.draft["intent"]["entities"][0]["name"] == "Item"
    assert "skeleton" in status.draft["openQuestions"][0] and "not a valid intent" in status.draft["openQuestions"][0]
    assert [e["type"] for e in events if e["type"] in ("SkillUsed", "SkillDegraded")] == [
        "SkillUsed", "SkillUsed", "SkillDegraded"]
    repair = server.seen[1].messages[-1]["content"]
    assert "- intent.purpose: Field required" in repair  # the problems went back to the model
