"""Agent simulation cases: each ``tests/agents/*.yaml`` gives events, an agent and what it must do.

A case names an example intent; ``given`` lists events in order. A name (``BlueprintCreated``)
is produced by running the real skill chain for the intent up to that event; a mapping
(``{type, data}``) is recorded as written. The last event is delivered to ``agent`` through
``skill_for``; ``expect`` lists the event types it emits and the artifact paths it writes, or
the ``error`` it raises. ``artifactPaths`` is the exact list; ``artifactPathsInclude`` a subset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.ports.skills import SkillError
from tests.skills.simulation import FakeEvent, ProjectSimulation

CASES = sorted(Path(__file__).parent.glob("*.yaml"))


def _deliverable(sim: ProjectSimulation, given: list[Any]) -> FakeEvent:
    last: FakeEvent | None = None
    for item in given:
        if isinstance(item, str):
            last = sim.run_until(item)
        else:
            last = sim.ctx.record(item["type"], item.get("data", {}), item.get("source", "case"))
    assert last is not None, "a case needs at least one given event"
    return last


@pytest.mark.parametrize("case_path", CASES, ids=[p.stem for p in CASES])
def test_agent_case(case_path: Path, tmp_path: Path) -> None:
    case = yaml.safe_load(case_path.read_text())
    sim = ProjectSimulation(Path(__file__).resolve().parents[2] / "examples" / f"{case['intent']}.yaml", tmp_path)
    event = _deliverable(sim, case["given"])
    expect = case["expect"]

    if "error" in expect:
        with pytest.raises(SkillError) as caught:
            sim.run_agent(case["agent"], event)
        assert caught.value.permanent == expect["error"].get("permanent", False)
        assert expect["error"].get("contains", "") in str(caught.value)
        return

    result = sim.run_agent(case["agent"], event)

    assert [e.type for e in result.events] == expect["emits"], case["name"]
    paths = [a.path for a in result.artifacts]
    if "artifactPaths" in expect:
        assert paths == expect["artifactPaths"], case["name"]
    assert set(expect.get("artifactPathsInclude", [])) <= set(paths), case["name"]
    produced = [a.ref() for a in result.artifacts]
    for emitted in result.events:
        assert all(ref in produced for ref in emitted.data.get("artifacts", [])), emitted.type
