"""In-memory templates and fixture paths for the scaffold tests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.scaffold.render import TemplateSource

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).parent / "golden"
REPO = Path(__file__).resolve().parents[2]


def make_source(config: Mapping[str, Any], files: Mapping[str, str | bytes] | None = None) -> TemplateSource:
    """A template held in memory: ``config`` is template.json, ``files`` the content."""
    tree: dict[str, bytes] = {".template.config/template.json": json.dumps(config).encode()}
    for path, content in (files or {}).items():
        tree[path] = content if isinstance(content, bytes) else content.encode()
    return TemplateSource(tree, "memory")


def base_config(**extra: Any) -> dict[str, Any]:
    return {"identity": "test.template", "name": "Test", "shortName": "test", "version": "1.0.0", **extra}


