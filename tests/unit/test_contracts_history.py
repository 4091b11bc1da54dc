"""Released versions are frozen in contracts/history and live schemas stay compatible with them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from shared.contracts import CONTRACTS_DIR
from shared.contracts.history import check_history, freeze_history
from shared.contracts.lint import main
from shared.contracts.registry import Registry, default_registry


def _contracts(tmp_path: Path) -> Path:
    root = tmp_path / "contracts"
    root.mkdir()
    for name in ("envelope.v1.json", "common.v1.json"):
        shutil.copy(CONTRACTS_DIR / name, root / name)
    return root


def _write_thing(root: Path, version: str, properties: dict[str, Any], required: list[str]) -> None:
    major = version.split(".")[0]
    path = root / "events" / "domain" / f"Thing.v{major}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://factory.local/contracts/events/domain/Thing.v{major}.json",
        "type": "object", "properties": properties, "required": required,
        "x-event": {"name": "Thing", "version": version, "category": "domain", "status": "stable",
                    "emitters": ["cli"], "consumers": ["operator"], "sensitive": []},
    }))


V1_PROPS: dict[str, Any] = {
    "projectId": {"type": "string"},
    "kind": {"enum": ["a", "b"]},
    "artifacts": {"$ref": "https://factory.local/contracts/common.v1.json#/$defs/ArtifactList"},
}


@pytest.fixture
def released(tmp_path: Path) -> Path:
    """A contracts dir where Thing 1.0.0 is released (snapshot frozen)."""
    root = _contracts(tmp_path)
    _write_thing(root, "1.0.0", V1_PROPS, ["projectId"])
    assert [p.name for p in freeze_history(Registry.load(root))] == ["1.0.0.json"]
    return root


# --------------------------------------------------------------------------- the real contracts


def test_live_schemas_are_compatible_with_every_released_snapshot() -> None:
    assert check_history(default_registry()) == []


def test_every_live_version_has_a_self_contained_snapshot() -> None:
    registry = default_registry()
    for info in (i for i in registry.all() if i.live):
        path = CONTRACTS_DIR / "history" / info.name / f"{info.version}.json"
        assert path.exists(), f"{info.ref} has no snapshot; run python -m shared.contracts.lint freeze"
        assert '"$ref"' not in path.read_text(), f"{path} must be bundled (no $ref)"


def test_released_versions_stay_resolvable() -> None:
    registry = default_registry()
    for snapshot in sorted((CONTRACTS_DIR / "history").glob("*/*.json")):
        info = registry.get(snapshot.parent.name, snapshot.stem)
        assert info.version == snapshot.stem


def test_three_minors_and_two_majors_are_released() -> None:
    registry = default_registry()
    assert registry.versions("ProjectInitialized") == ["1.0.0", "1.1.0", "1.2.0"]
    assert {i.major for i in registry.all() if i.name == "AgentFailed" and i.live} == {1, 2}


# --------------------------------------------------------------------------- the check itself


def test_compatible_minor_release_passes_the_check(released: Path) -> None:
    _write_thing(released, "1.1.0", {**V1_PROPS, "note": {"type": "string"}}, ["projectId"])
    registry = Registry.load(released)
    freeze_history(registry)
    assert check_history(Registry.load(released)) == []
    assert Registry.load(released).versions("Thing") == ["1.0.0", "1.1.0"]


def test_incompatible_change_fails_the_check_naming_the_change(released: Path) -> None:
    _write_thing(released, "1.1.0", {**V1_PROPS, "kind": {"enum": ["a"]}, "owner": {"type": "string"}},
                 ["projectId", "owner"])
    problems = check_history(Registry.load(released))
    assert any("breaks Thing@1.0.0 at /kind" in p and "enum-narrowed" in p for p in problems)
    assert any("breaks Thing@1.0.0 at /owner" in p and "required-property-added" in p for p in problems)
    assert all("Thing.v2.json" in p or "no snapshot" in p for p in problems)


def test_editing_a_released_version_in_place_fails_the_check(released: Path) -> None:
    _write_thing(released, "1.0.0", {**V1_PROPS, "note": {"type": "string"}}, ["projectId"])
    problems = check_history(Registry.load(released))
    assert len(problems) == 1 and "a released version is immutable" in problems[0]


def test_changing_a_referenced_common_definition_fails_the_check(released: Path) -> None:
    common = json.loads((released / "common.v1.json").read_text())
    common["$defs"]["ArtifactRef"]["properties"]["size"]["maximum"] = 10
    (released / "common.v1.json").write_text(json.dumps(common))
    problems = check_history(Registry.load(released))
    assert any("immutable" in p for p in problems)
    assert any("/artifacts/*/size" in p and "constraint-tightened" in p for p in problems)


def test_unreleased_live_version_is_reported_with_the_freeze_command(released: Path) -> None:
    _write_thing(released, "1.1.0", V1_PROPS, ["projectId"])
    problems = check_history(Registry.load(released))
    assert problems == ["Thing@1.1.0: no snapshot history/Thing/1.1.0.json; release it with "
                        "`python -m shared.contracts.lint freeze`"]


def test_live_file_older_than_a_snapshot_is_reported(released: Path) -> None:
    _write_thing(released, "1.1.0", V1_PROPS, ["projectId"])
    freeze_history(Registry.load(released))
    _write_thing(released, "1.0.0", V1_PROPS, ["projectId"])
    assert any("older than the released 1.1.0" in p for p in check_history(Registry.load(released)))


def test_freeze_never_overwrites_a_snapshot(released: Path) -> None:
    snapshot = released / "history" / "Thing" / "1.0.0.json"
    before = snapshot.read_text()
    _write_thing(released, "1.0.0", {"changed": {"type": "string"}}, [])
    assert freeze_history(Registry.load(released)) == []
    assert snapshot.read_text() == before


def test_old_version_validates_with_its_frozen_schema(released: Path) -> None:
    shutil.rmtree(released / "events" / "domain")  # major 1 survives only as its snapshot
    _write_thing(released, "2.0.0", {"projectId": {"type": "integer"}}, ["projectId"])
    registry = Registry.load(released)
    assert registry.validate("Thing", "1.0.0", {"projectId": "p1", "kind": "a"}) == []
    assert registry.validate("Thing", "2.0.0", {"projectId": 1}) == []


def test_release_helper_command_freezes_then_checks(released: Path) -> None:
    _write_thing(released, "1.1.0", {**V1_PROPS, "note": {"type": "string"}}, ["projectId"])
    lines: list[str] = []
    assert main(["freeze", "--contracts", str(released)], out=lines.append) == 0
    assert lines == [f"wrote {released / 'history' / 'Thing' / '1.1.0.json'}"]
    _write_thing(released, "1.2.0", {"projectId": {"type": "string"}}, ["projectId"])
    lines.clear()
    assert main(["check", "--contracts", str(released)], out=lines.append) == 1
    assert any("property-removed" in line for line in lines)
