"""Fixtures of the scaffold tests."""

from __future__ import annotations

import pytest

from shared.scaffold.render import TemplateSource
from tests.scaffold.memory_templates import base_config, make_source


@pytest.fixture
def library_v1_v2() -> tuple[TemplateSource, TemplateSource]:
    """Two versions of one small template, for update tests."""
    cfg1 = base_config(sourceName="Demo", defaultName="demo", symbols={
        "flag": {"type": "parameter", "datatype": "bool", "defaultValue": "false"}})
    files1: dict[str, str | bytes] = {
        "app.py": "line 1\nline 2\nline 3\nline 4\nline 5\n",
        "Demo.md": "# Demo\n\nintro\n",
        "logo.png": b"\x89PNG\x00v1",
        "old.txt": "to be removed upstream\n",
        "config.ini": "[a]\nx=1\n",
    }
    cfg2 = {**cfg1, "version": "2.0.0"}
    files2: dict[str, str | bytes] = {
        "app.py": "line 1 (v2)\nline 2\nline 3\nline 4\nline 5 (v2)\n",
        "Demo.md": "# Demo\n\nintro\n\nnew section\n",
        "logo.png": b"\x89PNG\x00v2",
        "new.txt": "added upstream\n",
        "config.ini": "[a]\nx=1\n",
    }
    return make_source(cfg1, files1), make_source(cfg2, files2)
