from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shared.infrablueprint.skill import SKILLS, design_infrastructure
from shared.skill_port import Artifact, SkillError
from tests.infrablueprint.conftest import FIXTURES, TRACE_ID


@dataclass
class FakeContext:
    artifacts: dict[str, bytes] = field(default_factory=dict)
    trace_id: str = TRACE_ID
    project_id: str = "prj-invoicing"
    tenant_id: str = "platform"
    work_dir: Path = Path(".")

    def load_artifact(self, digest: str) -> bytes:
        return self.artifacts[digest]

    def history(self, *types: str) -> list[Mapping[str, Any]]:
        return []


@dataclass
class FakeEvent:
    data: Mapping[str, Any]
    id: str = "evt-1"
    type: str = "BlueprintCreated"
    version: str = "1.0.0"


def test_blueprint_created_yields_one_event_per_service_with_artifacts() -> None:
    blueprint = Artifact("design/blueprint.json", (FIXTURES / "invoicing.blueprint.json").read_bytes())
    context = FakeContext(artifacts={blueprint.digest: blueprint.content})
    event = FakeEvent({"projectId": "prj-invoicing", "environment": "prod", "artifacts": [blueprint.ref()]})
    result = SKILLS["infra.design_infrastructure"](event, context)
    assert [e.type for e in result.events] == ["InfrastructureBlueprintCreated"] * 2
    first = result.events[0].data
    assert (first["service"], first["environment"], first["projectId"]) == (
        "invoices",
        "prod",
        "prj-invoicing",
    )
    assert first["contentHash"].startswith("sha256:") and first["blueprintVersion"].startswith("1.0.0+")
    assert any(f["ruleId"] == "IB009" and f["severity"] == "high" for f in first["findings"])
    paths = {a["path"] for a in first["artifacts"]}
    assert "infra/invoices/prod/kubernetes/deployment.yaml" in paths
    assert {a.path for a in result.artifacts} >= paths
    assert (
        json.loads(
            next(a for a in result.artifacts if a.path.endswith("invoices/prod/infrastructure-blueprint.json")).content
        )["trace"]["traceId"]
        == TRACE_ID
    )


def test_inline_blueprint_and_default_environment() -> None:
    raw = json.loads((FIXTURES / "task-tracker.blueprint.json").read_text())
    result = design_infrastructure(FakeEvent({"blueprint": raw}), FakeContext())
    assert [e.data["environment"] for e in result.events] == ["dev"]


def test_event_without_blueprint_is_a_permanent_skill_error() -> None:
    with pytest.raises(SkillError) as info:
        design_infrastructure(FakeEvent({"projectId": "p"}), FakeContext())
    assert info.value.permanent


def test_emitted_payloads_satisfy_the_event_contracts(tmp_path: Path) -> None:
    from shared.contracts import default_registry
    from shared.infrablueprint import DirectoryVersionStore, generate
    from shared.infrablueprint.versions import record, rollback
    from tests.infrablueprint.conftest import load_blueprint

    registry = default_registry()
    raw = json.loads((FIXTURES / "invoicing.blueprint.json").read_text())
    created = design_infrastructure(FakeEvent({"blueprint": raw, "environment": "prod"}), FakeContext())
    for event in created.events:
        assert registry.validate(event.type, "1.0.0", event.data) == []
    store = DirectoryVersionStore(tmp_path)
    bp = load_blueprint("invoicing")
    record(store, generate(bp, "invoices", "dev", "a"))
    record(store, generate(bp, "invoices", "staging", "b"))
    record(store, generate(bp.model_copy(update={"tenancy": "single"}), "invoices", "dev", "c"))
    back = rollback(store, "invoices", "dev", 1, actor="alice", reason="tenancy change reverted")
    assert registry.validate(back.type, "1.0.0", back.data) == []
