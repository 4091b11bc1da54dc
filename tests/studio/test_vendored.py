"""Studio's scripts are vendored from npm (no node at run time): the committed copies are the pinned packages'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "shared" / "studio" / "static" / "vendor"
PACKAGES = {"htmx.org": ("dist/htmx.min.js", "htmx.min.js"), "mermaid": ("dist/mermaid.min.js", "mermaid.min.js")}


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_vendored_script_is_the_pinned_npm_package(package: str) -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"][package]
    assert pinned[0].isdigit(), f"pin {package} to an exact version in package.json"
    installed = ROOT / "node_modules" / package
    if not installed.exists():
        pytest.skip("node_modules is not installed (make setup runs npm ci)")
    assert json.loads((installed / "package.json").read_text())["version"] == pinned
    source, target = PACKAGES[package]
    assert (VENDOR / target).read_bytes() == (installed / source).read_bytes(), \
        f"{target} differs from {package}@{pinned}: run `make vendor` and commit"
    assert (VENDOR / target.replace(".min.js", ".LICENSE")).exists()
