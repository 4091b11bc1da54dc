"""End to end: a generated service passes pytest and ruff in a fresh venv built from its own requirements.

Slow (installs azure-functions, pydantic, azure-cosmos, pytest and ruff from PyPI): marked ``slow``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.adapters.process.sandbox import run_tests
from shared.mesh.agents.devops import gather_service_files, materialize
from tests.skills.simulation import ROOT, ProjectSimulation


@pytest.mark.slow
def test_generated_service_passes_in_a_fresh_venv_from_its_requirements(tmp_path: Path) -> None:
    sim = ProjectSimulation(ROOT / "examples" / "invoicing.yaml", tmp_path / "work")
    suite = sim.run_until("TestSuiteGenerated")
    files = gather_service_files(sim.ctx, "invoicing", list(suite.data["artifacts"]))
    project = materialize(sim.ctx, files, tmp_path / "invoicing")

    report = run_tests(project, fresh_venv=True, lint=True, timeout_s=300, venv_timeout_s=600)

    assert report.ok, report.reason() + report.output + report.lint_output
    assert report.passed > suite.data["testCount"]  # parametrized tests run once per case
    assert report.lint_exit_code == 0
