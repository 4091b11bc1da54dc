"""Shared test setup: every test starts with empty in-memory repositories."""

from collections.abc import Iterator

import pytest

from sample_service.repository import reset_repositories


@pytest.fixture(autouse=True)
def empty_repositories(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("COSMOS_CONNECTION", raising=False)
    reset_repositories()
    yield
    reset_repositories()
