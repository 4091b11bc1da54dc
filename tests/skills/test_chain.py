"""The skills as a chain: registry, contracts, determinism, artifact references."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from shared.contracts.registry import default_registry
from shared.mesh.agents import DISPATCH, SKILLS, skill_for
from shared.ports.skills import SkillError
from tests.skills.conftest import EXAMPLE_NAMES, _run
from tests.skills.simulation import EVENT_ORDER, ROOT, ProjectSimulation

Completed = Callable[[str], ProjectSimulation]


def _manifests() -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "contracts" / "agents").glob("*.yaml"))]


def test_every_skill_named_in_the_agent_manifests_is_registered() -> None:
    named = {skill for manifest in _manifests() for skill in manifest["skills"]}

    assert named == set(SKILLS)


def test_every_subscribed_event_of_every_agent_has_a_skill() -> None:
    for manifest in _manifests():
        for event_type in manifest["subscribesTo"]:
            assert skill_for(manifest["id"], event_type) is SKILLS[DISPATCH[(manifest["id"], event_type)]]


def test_an_unhandled_event_is_a_permanent_error_naming_what_the_agent_handles() -> None:
    with pytest.raises(SkillError, match="handles: ProjectInitialized") as caught:
        skill_for("vision-architect", "CodeGenerated")

    assert caught.value.permanent


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_event_of_the_chain_matches_its_contract(completed: Completed, name: str) -> None:
    registry = default_registry()
    sim = completed(name)

    assert [e["type"] for e in sim.ctx.events] == EVENT_ORDER
    for envelope in sim.ctx.events:
        version = registry.latest(envelope["type"]).version
        assert registry.validate(envelope["type"], version, envelope["data"]) == [], envelope["type"]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_artifact_reference_points_at_stored_bytes(completed: Completed, name: str) -> None:
    sim = completed(name)

    for envelope in sim.ctx.events:
        for ref in envelope["data"].get("artifacts", []):
            body = sim.ctx.load_artifact(ref["digest"])
            assert len(body) == ref["size"], ref["path"]
            assert not ref["path"].startswith("/") and ".." not in ref["path"]


def test_the_same_intent_gives_byte_identical_artifacts_and_payloads(completed: Completed, tmp_path: Path) -> None:
    first = completed("task-tracker")
    second = _run("task-tracker", tmp_path)

    def artifacts(sim: ProjectSimulation) -> dict[str, str]:
        refs = {r["path"]: r["digest"] for e in sim.ctx.events for r in e["data"].get("artifacts", [])}
        return dict(sorted(refs.items()))

    def payloads(sim: ProjectSimulation) -> list[str]:
        return [
            json.dumps({k: v for k, v in e["data"].items() if k != "durationMs"}, sort_keys=True)
            for e in sim.ctx.events
        ]

    assert artifacts(first) == artifacts(second)
    assert payloads(first) == payloads(second)
    assert [e["id"] for e in first.ctx.events] == [e["id"] for e in second.ctx.events]
