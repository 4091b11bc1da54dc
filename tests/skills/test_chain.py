"""The skills as a chain: registry, contracts, determinism, artifact references, several services."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.contracts.manifests import ManifestError, load_consumers
from shared.contracts.registry import default_registry
from shared.mesh.agents import skill_table, skills_of, vision
from tests.skills.conftest import EXAMPLE_NAMES, _run
from tests.skills.simulation import ProjectSimulation

Completed = Callable[[str], ProjectSimulation]

#: every event of a project, and how many there are per service
ONCE = ("ProjectInitialized", "VisionDocumentCreated", "ProductPlanCreated", "BlueprintCreated")
PER_SERVICE = ("ApiContractDefined", "InfrastructureBlueprintCreated", "GenerateScaffold", "TemplateExecuted",
               "MicroserviceScaffolded", "CodeGenerated", "TestSuiteGenerated", "SecurityReviewCompleted",
               "TestsPassed", "ServiceDeployed", "ReleaseApproved", "ReleaseTriggered", "DocumentationGenerated")


def test_every_event_an_agent_subscribes_to_resolves_to_a_skill_function() -> None:
    table = skill_table(load_consumers())

    assert set(table) == {c.name for c in load_consumers() if c.kind == "agent"}
    for agent, skills in table.items():
        assert skills and all(callable(s) for s in skills.values()), agent
    assert table["vision-architect"]["ProjectInitialized"] is vision.write_vision


def test_a_manifest_naming_a_missing_skill_is_refused_with_where_to_add_it(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "ghost.yaml").write_text("id: ghost\nsubscribesTo:\n  ProjectInitialized: vision.write_poem\n")
    (ghost,) = load_consumers.__wrapped__(tmp_path)

    with pytest.raises(ManifestError, match=r"vision\.py has no function write_poem"):
        skills_of(ghost)


def test_an_agent_manifest_listing_events_without_skills_is_refused(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "ghost.yaml").write_text("id: ghost\nsubscribesTo:\n- ProjectInitialized\n")

    with pytest.raises(ManifestError, match="maps each event type to its skill"):
        load_consumers.__wrapped__(tmp_path)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_event_of_the_chain_happens_once_per_service_and_matches_its_contract(
        completed: Completed, name: str) -> None:
    registry = default_registry()
    sim = completed(name)
    services = sim.by_type["BlueprintCreated"].data["services"]

    assert Counter(e["type"] for e in sim.ctx.events) == Counter(
        {**{t: 1 for t in ONCE}, **{t: len(services) for t in PER_SERVICE}})
    for event_type in PER_SERVICE:
        assert sorted(e.data["service"] for e in sim.all_of(event_type)) == sorted(services), event_type
    for envelope in sim.ctx.events:
        version = registry.latest(envelope["type"]).version
        assert registry.validate(envelope["type"], version, envelope["data"]) == [], envelope["type"]


def test_two_bounded_contexts_become_two_services_built_side_by_side(completed: Completed) -> None:
    sim = completed("library")
    order = [(e["type"], e["data"].get("service")) for e in sim.ctx.events]

    assert sim.by_type["BlueprintCreated"].data["services"] == ["library-catalog", "library-lending"]
    first_release = next(i for i, (t, _) in enumerate(order) if t == "ReleaseTriggered")
    # the second service was scaffolded before the first one was released: the chains interleave
    assert {s for t, s in order[:first_release] if t == "MicroserviceScaffolded"} == {
        "library-catalog", "library-lending"}


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_artifact_reference_points_at_stored_bytes(completed: Completed, name: str) -> None:
    sim = completed(name)

    for envelope in sim.ctx.events:
        for ref in envelope["data"].get("artifacts", []):
            body = sim.ctx.load_artifact(ref["digest"])
            assert len(body) == ref["size"], ref["path"]
            assert not ref["path"].startswith("/") and ".." not in ref["path"]


#: payload fields that differ from run to run: timings, the local host's URL and the ids its smoke test created
VOLATILE = ("durationMs", "url", "checks", "healthCheck")


def test_the_same_intent_gives_byte_identical_artifacts_and_payloads(completed: Completed, tmp_path: Path) -> None:
    first = completed("task-tracker")
    second = _run("task-tracker", tmp_path)

    def artifacts(sim: ProjectSimulation) -> dict[str, str]:
        refs = {r["path"]: r["digest"] for e in sim.ctx.events for r in e["data"].get("artifacts", [])}
        return dict(sorted(refs.items()))

    def payloads(sim: ProjectSimulation) -> list[str]:
        return [
            json.dumps({k: v for k, v in e["data"].items() if k not in VOLATILE}, sort_keys=True)
            for e in sim.ctx.events
        ]

    assert artifacts(first) == artifacts(second)
    assert payloads(first) == payloads(second)
    assert [e["id"] for e in first.ctx.events] == [e["id"] for e in second.ctx.events]
