"""Fixtures of the model tests: one local OpenAI-compatible server per session (reset between tests) and the
model access a skill's context offers when a model is configured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.adapters.openai.chat import OpenAIChatModel
from shared.ports.model import ModelAccess, Price
from tests.ai.model_server import ModelServer, model_server


class Sleeps:
    """Records the sleeps the retry policy asks for, and sleeps not at all."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture(scope="session")
def running_server() -> Iterator[ModelServer]:
    with model_server() as running:
        yield running


@pytest.fixture
def server(running_server: ModelServer) -> Iterator[ModelServer]:
    running_server.reset()
    yield running_server
    running_server.reset()


def access_to(server: ModelServer, **options: object) -> ModelAccess:
    """What ``bootstrap`` gives a context for ``FACTORY_MODEL_PROVIDER=openai`` pointed at ``server``."""
    client = OpenAIChatModel.compatible(base_url=server.base_url, model=server.model, api_key=None, timeout_s=5.0,
                                        sleep=Sleeps(), max_attempts=int(str(options.pop("max_attempts", 2))))
    prices = {server.model: Price(input_per_million=2.0, output_per_million=8.0)}
    return ModelAccess(client=client, prices=prices, **options)  # type: ignore[arg-type]
