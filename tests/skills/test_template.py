"""The python-functions-service template renders with the scaffold engine and passes its own tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from shared.adapters.process.sandbox import run_tests
from shared.scaffold.config import parse_config
from shared.scaffold.render import render
from tests.skills.simulation import TEMPLATE_DIR, template_source


def _render_sample(target: Path) -> Path:
    parameters = json.loads((TEMPLATE_DIR / "sample-parameters.json").read_text())
    result = render(template_source(), parameters)
    for path, body in result.files.items():
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_bytes(body)
    return target


def test_template_config_derives_package_and_service_names_from_the_name() -> None:
    config = parse_config((TEMPLATE_DIR / ".template.config" / "template.json").read_text())

    assert config.source_name is None  # the name drives the names through derived symbols instead
    assert (config.symbols["nameSnake"].value_source, config.symbols["nameSnake"].value_transform) == (
        "name", "snakeCase")
    assert config.symbols["package"].file_rename == "sample_service"
    assert {s.datatype for s in config.parameters().values()} == {"string", "bool", "choice"}


def test_rendered_sample_has_the_service_layout_and_honours_the_parameters(tmp_path: Path) -> None:
    project = _render_sample(tmp_path)
    files = sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file())

    assert files == [
        ".funcignore",
        "README.md",
        "demo_orders/__init__.py",
        "demo_orders/catalog.py",
        "demo_orders/crud.py",
        "demo_orders/events.py",
        "demo_orders/fieldtypes.py",
        "demo_orders/health.py",
        "demo_orders/models.py",
        "demo_orders/problems.py",
        "demo_orders/query.py",
        "demo_orders/repository.py",
        "demo_orders/routes.py",
        "demo_orders/tenancy.py",
        "demo_orders/testing.py",
        "function_app.py",
        "host.json",
        "local.settings.json.example",
        "pyproject.toml",
        "requirements-dev.txt",
        "requirements.txt",
        "tests/conftest.py",
        "tests/test_health.py",
    ]
    assert json.loads((project / "host.json").read_text())["logging"]["logLevel"]["default"] == "Warning"
    assert "azure-cosmos" in (project / "requirements.txt").read_text()
    assert "#if" not in (project / "requirements.txt").read_text()
    assert "sample" not in (project / "demo_orders" / "health.py").read_text()


def test_rendered_sample_passes_its_tests_and_ruff(tmp_path: Path) -> None:
    project = _render_sample(tmp_path)

    report = run_tests(project, timeout_s=120)
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )

    assert report.ok and report.passed == 2, report.output
    assert lint.returncode == 0, lint.stdout
