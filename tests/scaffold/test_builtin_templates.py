"""Every template under templates/ renders with its sample parameters and its own tests pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.scaffold.catalog import TemplateCatalog, TemplateEntry
from shared.scaffold.output import write_result
from shared.scaffold.render import RenderOptions, render
from tests.scaffold.memory_templates import REPO

CATALOG = TemplateCatalog([REPO / "templates"])
ENTRIES = {f"{e.identity}@{e.version}": e for e in CATALOG.entries}


def test_every_template_folder_loads() -> None:
    assert [f"{e.location}: {e.error}" for e in CATALOG.errors] == []


@pytest.mark.parametrize("key", sorted(ENTRIES))
def test_template_renders_with_sample_parameters_and_its_tests_pass(key: str, tmp_path: Path) -> None:
    entry: TemplateEntry = ENTRIES[key]
    result = render(entry.source, entry.sample_parameters(), RenderOptions(seed="builtin"))
    out = write_result(result, tmp_path / "out", entry.source)
    if not any(p.startswith("tests/") or "/test_" in p or p.startswith("test_") for p in result.files):
        pytest.skip(f"{key} has no tests of its own")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"], cwd=out,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_every_parameter_of_every_builtin_template_drives_something() -> None:
    for key, entry in sorted(ENTRIES.items()):
        described = entry.describe()
        idle = [p["name"] for p in described["parameters"] if not p["drives"]]
        assert idle == [], f"{key}: parameters that change nothing: {idle}"
        assert not any("informational" in (p["description"] or "").lower() for p in described["parameters"]), key


def test_functions_service_renders_from_the_cli_with_only_a_name_and_its_tests_pass(tmp_path: Path) -> None:
    """``factory templates run python-functions-service --param name=Orders --out DIR`` in a subprocess."""
    out = tmp_path / "svc"
    script = "import sys; from shared.cli.main import main; sys.argv[0] = 'factory'; main()"
    ran = subprocess.run([sys.executable, "-c", script, "templates", "run", "python-functions-service",
                          "--param", "name=Orders", "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (out / "orders" / "health.py").is_file()
    assert "orders" in (out / "orders" / "__init__.py").read_text()
    assert "sample" not in (out / "function_app.py").read_text()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"], cwd=out,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_show_says_what_the_name_of_the_functions_service_drives() -> None:
    params = {p["name"]: p for p in ENTRIES["SoftwareFactory.Python.FunctionsService@1.1.0"].describe()["parameters"]}
    name = " ".join(params["name"]["drives"])
    assert "replaces 'sample_service'" in name and "replaces 'sample-service'" in name
    assert any("requirements.txt" in d for d in params["includeCosmos"]["drives"])
    assert any("'Information'" in d and "preceded by" in d for d in params["logLevel"]["drives"])
