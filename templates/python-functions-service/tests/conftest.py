"""Shared test setup: empty in-memory repositories per test, the app's functions built once."""

from collections.abc import Iterator
from typing import Any

import pytest

from sample_service.repository import reset_repositories


@pytest.fixture(autouse=True)
def empty_repositories(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("COSMOS_CONNECTION", raising=False)
    reset_repositories()
    yield
    reset_repositories()


@pytest.fixture(scope="session")
def app_functions() -> dict[str, Any]:
    """Functions registered by ``function_app.app`` by name (the app can be indexed only once)."""
    from function_app import app

    return {function.get_function_name(): function for function in app.get_functions()}
