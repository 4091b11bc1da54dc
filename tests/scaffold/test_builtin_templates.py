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
