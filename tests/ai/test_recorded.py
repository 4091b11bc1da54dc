"""Recorded answers: a recording made through the real adapter replays the same answer with no network,
keyed by the hash of (skill, model, prompt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.adapters.recorded.answers import RecordingModel, ReplayModel
from shared.ports.model import ChatMessage, ModelError, ModelRequest, request_key
from tests.ai.conftest import access_to
from tests.ai.model_server import ModelServer, Reply


def request(text: str = "hello", skill: str = "vision.write_vision") -> ModelRequest:
    return ModelRequest(agent="vision-architect", skill=skill, messages=(ChatMessage("user", text),),
                        schema_name="Answer", schema={"type": "object"})


def test_the_key_is_the_hash_of_skill_model_and_prompt() -> None:
    base = request_key(request(), "m")
    assert base == request_key(request(), "m")
    assert len({base, request_key(request("hello!"), "m"), request_key(request(), "m2"),
                request_key(request(skill="plan.write_plan"), "m")}) == 4


def test_a_recorded_answer_replays_exactly_with_no_server(tmp_path: Path, server: ModelServer) -> None:
    live = access_to(server).client
    recorder = RecordingModel(live, tmp_path / "rec")
    server.reply(Reply(content='{"answer": "recorded"}', usage=(31, 4)))
    recorded = recorder.complete(request())

    [file] = sorted((tmp_path / "rec").glob("*.json"))
    assert file.name == f"{request_key(request(), 'fixture-model')}.json"
    doc = json.loads(file.read_text())
    assert doc["prompt"]["messages"] == [{"role": "user", "content": "hello"}] and doc["agent"] == "vision-architect"

    server.reset()
    replay = ReplayModel(tmp_path / "rec")
    assert replay.model == "fixture-model"  # the one model the folder holds
    assert replay.complete(request()) == recorded  # content, usage and latency as recorded
    assert server.seen == []


def test_a_prompt_that_was_never_recorded_is_a_permanent_not_recorded_error(tmp_path: Path,
                                                                           server: ModelServer) -> None:
    server.reply(Reply(content='{"answer": "x"}'))
    RecordingModel(access_to(server).client, tmp_path).complete(request())
    with pytest.raises(ModelError) as caught:
        ReplayModel(tmp_path).complete(request("a changed prompt"))
    assert caught.value.kind == "not-recorded" and caught.value.permanent
    assert "record again with --record" in str(caught.value)


def test_a_refusal_is_recorded_and_replayed_as_a_refusal(tmp_path: Path, server: ModelServer) -> None:
    server.reply(Reply(content=None, refusal="no", usage=(9, 1)))
    with pytest.raises(ModelError):
        RecordingModel(access_to(server).client, tmp_path).complete(request())
    with pytest.raises(ModelError) as caught:
        ReplayModel(tmp_path).complete(request())
    assert caught.value.kind == "refused" and caught.value.usage is not None
    assert caught.value.usage.prompt_tokens == 9


def test_a_transient_failure_is_not_recorded(tmp_path: Path, server: ModelServer) -> None:
    server.reply(Reply(status=503), Reply(status=503))
    with pytest.raises(ModelError):
        RecordingModel(access_to(server).client, tmp_path).complete(request())
    assert list(tmp_path.glob("*.json")) == []


def test_a_replay_needs_its_folder_and_one_model_to_replay(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        ReplayModel(tmp_path / "missing")
    for model in ("a", "b"):
        (tmp_path / f"{model}.json").write_text(json.dumps({"model": model}))
    with pytest.raises(ValueError, match="recordings of 2 models"):
        ReplayModel(tmp_path)
    assert ReplayModel(tmp_path, model="b").model == "b"
