"""Whole-chain simulations shared by the skill tests (each example intent is run once per session)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.skills.simulation import ROOT, ProjectSimulation

EXAMPLE_NAMES = ("task-tracker", "catalogue", "invoicing", "library")


def _run(name: str, work_dir: Path, intent: Path | None = None) -> ProjectSimulation:
    sim = ProjectSimulation(intent or ROOT / "examples" / f"{name}.yaml", work_dir)
    sim.run_all()
    return sim


@pytest.fixture(scope="session")
def completed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], ProjectSimulation]:
    """``completed(name)``: the example's project run from intent to documentation of every service."""
    cache: dict[str, ProjectSimulation] = {}

    def get(name: str) -> ProjectSimulation:
        if name not in cache:
            cache[name] = _run(name, tmp_path_factory.mktemp(name))
        return cache[name]

    return get
