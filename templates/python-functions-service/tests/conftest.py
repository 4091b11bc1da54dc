"""Shared test setup: empty in-memory repositories per test, the app's functions built once."""

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sample_service.repository import reset_repositories

SERVICE_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def empty_repositories(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for setting in ("COSMOS_ENDPOINT", "COSMOS_CONNECTION", "TENANT_CLAIM"):
        monkeypatch.delenv(setting, raising=False)
    reset_repositories()
    yield
    reset_repositories()


@pytest.fixture(scope="session")
def app_functions() -> dict[str, Any]:
    """Functions registered by this service's ``function_app.app`` by name (loaded from its file, so
    several services can be tested in one pytest run)."""
    spec = importlib.util.spec_from_file_location("sample_service_function_app", SERVICE_ROOT / "function_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {function.get_function_name(): function for function in module.app.get_functions()}
