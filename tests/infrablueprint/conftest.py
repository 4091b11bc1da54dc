from __future__ import annotations

from pathlib import Path

import pytest

from shared.product.blueprint import ServiceBlueprint

FIXTURES = Path(__file__).parent / "fixtures"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def load_blueprint(name: str) -> ServiceBlueprint:
    return ServiceBlueprint.model_validate_json((FIXTURES / f"{name}.blueprint.json").read_text(encoding="utf-8"))


@pytest.fixture
def task_tracker() -> ServiceBlueprint:
    return load_blueprint("task-tracker")


@pytest.fixture
def catalogue() -> ServiceBlueprint:
    return load_blueprint("catalogue")


@pytest.fixture
def invoicing() -> ServiceBlueprint:
    return load_blueprint("invoicing")


@pytest.fixture
def write_overlay(tmp_path: Path):
    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
