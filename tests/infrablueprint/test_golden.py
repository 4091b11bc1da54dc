"""Golden packages for the three reference services. Regenerate with UPDATE_GOLDEN=1."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from shared.generators.infrastructure import generate
from tests.infrablueprint.conftest import FIXTURES, TRACE_ID, load_blueprint

GOLDEN = Path(__file__).parents[1] / "golden" / "infrablueprint"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

CASES = [
    ("task-tracker", "tasks", "dev", ()),
    ("task-tracker", "tasks-functions", "dev", ("functions.overlay.yaml",)),
    ("catalogue", "catalogue", "staging", ()),
    ("invoicing", "invoices", "prod", ("invoicing.prod.overlay.yaml",)),
    ("invoicing", "invoice-reminders", "prod", ()),
]


def _expected_files(package) -> dict[str, bytes]:
    files = dict(package.files)
    findings = [f.to_payload() for f in package.findings]
    files["findings.json"] = (json.dumps(findings, indent=2, sort_keys=True) + "\n").encode()
    return files


@pytest.mark.parametrize(("fixture", "service", "env", "overlays"), CASES, ids=[f"{c[1]}-{c[2]}" for c in CASES])
def test_package_matches_golden(fixture: str, service: str, env: str, overlays: tuple[str, ...]) -> None:
    package = generate(load_blueprint(fixture), service.removesuffix("-functions"), env, TRACE_ID,
                       [FIXTURES / o for o in overlays])
    files = _expected_files(package)
    folder = GOLDEN / fixture / service / env
    if UPDATE:
        shutil.rmtree(folder, ignore_errors=True)
        for rel, data in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
    stored = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert sorted(stored) == sorted(files), "file set changed; run UPDATE_GOLDEN=1 pytest tests/infrablueprint"
    for rel, data in files.items():
        assert stored[rel].decode() == data.decode(), f"{rel} differs from golden; UPDATE_GOLDEN=1 to accept"
