"""Every payload the scaffold steps emit validates against its schema in contracts/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from shared.ports import FakeClock
from shared.scaffold.execution import commit_step, generate_step, validate_step
from tests.scaffold.memory_templates import REPO
from tests.scaffold.test_steps import CATALOG, _request

CONTRACTS = REPO / "contracts"


def _validator(event_type: str) -> Draft202012Validator:
    matches = sorted(CONTRACTS.glob(f"events/*/{event_type}.v1.json")) + sorted(
        CONTRACTS.glob(f"commands/{event_type}.v1.json"))
    if not matches or not (CONTRACTS / "common.v1.json").is_file():
        pytest.skip(f"no contract for {event_type} yet")
    common = json.loads((CONTRACTS / "common.v1.json").read_text())
    registry = Registry().with_resource(common["$id"], Resource.from_contents(common))
    return Draft202012Validator(json.loads(matches[0].read_text()), registry=registry)


def _all_events(tmp_path: Path) -> list:
    store: dict[str, bytes] = {}
    clock = FakeClock()
    v = validate_step(_request(), None, CATALOG, clock=clock)
    g = generate_step(v.events[0].data, v.execution, CATALOG, trace_id="t", clock=clock)
    store.update({a.digest: a.content for a in g.artifacts})
    c = commit_step(g.events[0].data, g.execution, load_artifact=store.__getitem__, repo_dir=tmp_path / "r")
    rejected = validate_step(_request(idempotencyKey="k2", parameters={"db": "x"}), None, CATALOG)
    failed = commit_step(g.events[0].data, g.execution, load_artifact={}.__getitem__, repo_dir=tmp_path / "f")
    return v.events + g.events + c.events + rejected.events + failed.events


def test_step_payloads_match_their_contracts(tmp_path: Path) -> None:
    events = _all_events(tmp_path)
    assert {e.type for e in events} == {"TemplateExecutionValidated", "ScaffoldGenerated", "TemplateExecuted",
                                        "TemplateExecutionRejected", "TemplateExecutionFailed"}
    for event in events:
        errors = [e.message for e in _validator(event.type).iter_errors(dict(event.data))]
        assert errors == [], f"{event.type}: {errors}"


def test_the_request_shape_the_validate_step_reads_matches_the_contracts() -> None:
    for name in ("TemplateExecutionRequested", "GenerateScaffold"):
        assert list(_validator(name).iter_errors(_request())) == []
