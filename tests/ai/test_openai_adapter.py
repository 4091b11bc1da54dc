"""The model adapter through the real ``openai`` SDK against a local OpenAI-compatible server (a real socket).

Waits are proven without waiting: the adapter's sleep is a recorder, so a Retry-After of 7 s is seen as a
7 s sleep that never happens. The one real wait is the client's own timeout (0.3 s) in the timeout cases.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from shared.adapters.openai.chat import OpenAIChatModel, retry_after_seconds
from shared.ports.model import ChatMessage, ModelError, ModelRequest
from tests.ai.conftest import Sleeps
from tests.ai.model_server import ModelServer, Reply

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
REQUEST = ModelRequest(agent="vision-architect", skill="vision.write_vision",
                       messages=(ChatMessage("system", "be brief"), ChatMessage("user", "hello")),
                       schema_name="Answer", schema=SCHEMA, max_tokens=512)


class Ticks:
    """A timer that advances 0.25 s per reading: latency is exact without a real clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.25
        return self.now


def compatible(server: ModelServer, sleeps: Sleeps, **options: Any) -> OpenAIChatModel:
    return OpenAIChatModel.compatible(base_url=server.base_url, model="fixture-model", api_key=None,
                                      timeout_s=options.pop("timeout_s", 5.0), sleep=sleeps,
                                      timer=options.pop("timer", Ticks()), **options)


def test_a_valid_answer_comes_back_with_usage_and_the_request_asks_for_structured_output(server: ModelServer) -> None:
    server.reply(Reply(content='{"answer": "hi"}', usage=(42, 7)))
    answer = compatible(server, Sleeps()).complete(REQUEST)

    assert (answer.content, answer.model, answer.finish_reason) == ('{"answer": "hi"}', "fixture-model", "stop")
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.latency_ms) == (42, 7, 250.0)
    [seen] = server.seen
    assert seen.path == "/v1/chat/completions"
    assert seen.body["model"] == "fixture-model"
    assert seen.body["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
    assert seen.body["response_format"] == {"type": "json_schema",
                                            "json_schema": {"name": "Answer", "schema": SCHEMA, "strict": False}}
    assert seen.body["max_completion_tokens"] == 512


def test_a_schema_invalid_answer_is_returned_as_it_came_for_the_skill_to_judge(server: ModelServer) -> None:
    server.reply(Reply(content='{"answr": 3}'), Reply(content="not json at all", finish_reason="length"))
    model = compatible(server, Sleeps())
    assert model.complete(REQUEST).content == '{"answr": 3}'
    cut = model.complete(REQUEST)
    assert (cut.content, cut.finish_reason) == ("not json at all", "length")


def test_429_with_retry_after_is_honoured_then_the_answer_arrives(server: ModelServer) -> None:
    sleeps = Sleeps()
    server.reply(Reply(status=429, headers={"Retry-After": "7"}),
                 Reply(status=429, headers={"retry-after-ms": "1500"}),
                 Reply(content='{"answer": "late"}'))
    answer = compatible(server, sleeps).complete(REQUEST)

    assert answer.content == '{"answer": "late"}'
    assert sleeps.calls == [7.0, 1.5]  # exactly what the service asked for, never less
    assert len(server.seen) == 3


def test_server_errors_back_off_exponentially_with_jitter_under_the_cap(server: ModelServer) -> None:
    sleeps = Sleeps()
    server.reply(*[Reply(status=503) for _ in range(5)], Reply(content='{"answer": "ok"}'))
    answer = compatible(server, sleeps, max_attempts=6, max_backoff_s=1.2).complete(REQUEST)

    assert answer.content == '{"answer": "ok"}'
    assert len(sleeps.calls) == 5
    # tenacity's wait_random_exponential(multiplier=0.5, max=cap): uniform in [0, min(cap, 0.5 * 2**n)]
    for attempt, waited in enumerate(sleeps.calls, start=1):
        assert 0 <= waited <= min(1.2, 0.5 * 2 ** attempt)
    assert max(sleeps.calls) <= 1.2


def test_exhausted_retries_are_a_transient_model_error_that_says_what_happened(server: ModelServer) -> None:
    server.reply(*[Reply(status=500) for _ in range(3)])
    with pytest.raises(ModelError) as caught:
        compatible(server, Sleeps(), max_attempts=3).complete(REQUEST)
    assert caught.value.kind == "transient" and not caught.value.permanent
    assert "did not answer after 3 attempt(s)" in str(caught.value) and "InternalServerError" in str(caught.value)
    assert len(server.seen) == 3


def test_a_retry_after_longer_than_the_cap_gives_the_message_back_instead_of_waiting(server: ModelServer) -> None:
    sleeps = Sleeps()
    server.reply(Reply(status=429, headers={"Retry-After": "120"}))
    with pytest.raises(ModelError) as caught:
        compatible(server, sleeps, max_backoff_s=20).complete(REQUEST)
    assert caught.value.kind == "transient" and "after 1 attempt(s)" in str(caught.value)
    assert "asked to wait 120s" in str(caught.value)
    assert sleeps.calls == [] and len(server.seen) == 1


def test_a_timeout_is_retried_and_the_next_attempt_answers(server: ModelServer) -> None:
    sleeps = Sleeps()
    server.reply(Reply(hold=True), Reply(content='{"answer": "second"}'))
    answer = compatible(server, sleeps, timeout_s=0.3, max_attempts=2).complete(REQUEST)
    assert answer.content == '{"answer": "second"}'
    assert len(sleeps.calls) == 1


def test_timeouts_on_every_attempt_end_as_a_transient_error(server: ModelServer) -> None:
    server.reply(Reply(hold=True), Reply(hold=True))
    with pytest.raises(ModelError) as caught:
        compatible(server, Sleeps(), timeout_s=0.3, max_attempts=2).complete(REQUEST)
    assert caught.value.kind == "transient" and "APITimeoutError" in str(caught.value)


def test_a_refusal_is_permanent_not_retried_and_keeps_its_billed_usage(server: ModelServer) -> None:
    sleeps = Sleeps()
    server.reply(Reply(content=None, refusal="I can't help with that request.", usage=(55, 9)))
    with pytest.raises(ModelError) as caught:
        compatible(server, sleeps).complete(REQUEST)
    error = caught.value
    assert (error.kind, error.permanent) == ("refused", True)
    assert "I can't help with that request." in str(error)
    assert error.usage is not None and (error.usage.prompt_tokens, error.usage.completion_tokens) == (55, 9)
    assert sleeps.calls == [] and len(server.seen) == 1


def test_a_filtered_answer_and_a_filtered_prompt_are_content_filter_failures(server: ModelServer) -> None:
    server.reply(Reply(content="", finish_reason="content_filter"))
    with pytest.raises(ModelError) as answer_filtered:
        compatible(server, Sleeps()).complete(REQUEST)
    assert answer_filtered.value.kind == "content-filter" and answer_filtered.value.usage is not None

    azure_body = {"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's "
                                       "content management policy.", "code": "content_filter", "status": 400,
                            "innererror": {"code": "ResponsibleAIPolicyViolation"}}}
    server.reply(Reply(status=400, body=azure_body))
    with pytest.raises(ModelError) as prompt_filtered:
        compatible(server, Sleeps()).complete(REQUEST)
    assert prompt_filtered.value.kind == "content-filter" and prompt_filtered.value.permanent
    assert "content management policy" in str(prompt_filtered.value)


@pytest.mark.parametrize(("status", "code", "hint"), [
    (401, "invalid_api_key", "managed identity"),
    (403, "PermissionDenied", "Cognitive Services OpenAI User"),
    (404, "DeploymentNotFound", "FACTORY_MODEL_DEPLOYMENT"),
    (429, "insufficient_quota", "no quota left"),
    (400, "invalid_request_error", "refused"),
])
def test_permanent_errors_end_at_once_and_say_what_to_fix(server: ModelServer, status: int, code: str,
                                                          hint: str) -> None:
    sleeps = Sleeps()
    server.reply(Reply(status=status, body={"error": {"message": f"failure {code}", "code": code}}))
    with pytest.raises(ModelError) as caught:
        compatible(server, sleeps).complete(REQUEST)
    assert caught.value.kind == "permanent" and hint in str(caught.value)
    assert sleeps.calls == [] and len(server.seen) == 1


class FakeCredential:
    """A TokenCredential (what DefaultAzureCredential is) that hands out numbered tokens and records scopes."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(f"entra-token-{len(self.scopes)}", 4_102_444_800)


def test_azure_openai_is_called_keyless_with_an_entra_token_the_deployment_and_the_api_version(
        server: ModelServer) -> None:
    from azure.identity import get_bearer_token_provider

    from shared.adapters.azure.clients import COGNITIVE_SERVICES_SCOPE

    credential = FakeCredential()
    model = OpenAIChatModel.azure(endpoint=server.endpoint, deployment="gpt-4o-mini", api_version="2024-10-21",
                                  token_provider=get_bearer_token_provider(credential, COGNITIVE_SERVICES_SCOPE),
                                  timeout_s=5.0, sleep=Sleeps())
    server.reply(Reply(content='{"answer": "from azure"}'))
    answer = model.complete(REQUEST)

    assert answer.content == '{"answer": "from azure"}' and model.model == "gpt-4o-mini"
    [seen] = server.seen
    assert seen.path == "/openai/deployments/gpt-4o-mini/chat/completions"
    assert seen.query == {"api-version": "2024-10-21"}
    assert seen.headers["authorization"].startswith("Bearer entra-token-")
    assert "api-key" not in seen.headers
    assert credential.scopes == [("https://cognitiveservices.azure.com/.default",)]
    assert "Entra ID" in model.describe() and "gpt-4o-mini" in model.describe()


def test_retry_after_is_read_in_seconds_milliseconds_and_as_an_http_date() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"Retry-After": "Thu, 01 Jan 2026 12:00:30 GMT"}, now) == 30.0
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_building_the_runtime_with_a_model_loads_no_openai_sdk_until_the_first_call() -> None:
    import subprocess
    import sys

    code = ("import json, sys; from shared.bootstrap import _model_client; from shared.settings import Settings; "
            "m = _model_client(Settings(FACTORY_MODEL_PROVIDER='openai', "
            "FACTORY_MODEL_ENDPOINT='http://127.0.0.1:9/v1', FACTORY_MODEL_NAME='m')); "
            "print(json.dumps([m.model, 'openai' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["m", False]
