"""Test doubles for skills: an in-memory SkillContext and a deterministic run of the whole chain.

``FakeSkillContext`` keeps artifacts in a dict (digest -> bytes) and the project's history as
envelope dicts. ``ProjectSimulation`` drives the real skills from an intent, in the order the
coordinators would, and stands in for the pipeline (stores artifacts, records emitted events)
and for the scaffold step (renders the template with the real ``shared.scaffold`` engine).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.adapters.process.sandbox import SandboxedTestRunner
from shared.contracts.manifests import consumer
from shared.mesh.agents import skills_of
from shared.ports.skills import Emit, Skill, SkillResult
from shared.ports.test_runner import TestReport
from shared.product.intent import load_intent
from shared.scaffold.render import TemplateSource, render

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = ROOT / "templates" / "python-functions-service"
_NS = uuid.UUID("6f1d1c55-8a53-4c47-9d1e-0d3f0a3e2b10")
#: the real sandbox the release gate uses (one instance: its probe runs once)
SANDBOX = SandboxedTestRunner(base_env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"})


@dataclass(frozen=True)
class FakeEvent:
    id: str
    type: str
    data: Mapping[str, Any]
    version: str = "1.0.0"


@dataclass
class FakeSkillContext:
    work_dir: Path
    project_id: str = "proj-1"
    tenant_id: str = "acme"
    trace_id: str = "0af7651916cd43dd8448eb211c80319c"
    artifacts: dict[str, bytes] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    def load_artifact(self, digest: str) -> bytes:
        if digest not in self.artifacts:
            raise KeyError(f"artifact {digest} not stored")
        return self.artifacts[digest]

    def history(self, *types: str) -> list[Mapping[str, Any]]:
        return [e for e in self.events if not types or e["type"] in types]

    def run_tests(self, project_dir: Path, *, timeout_s: float, lint: bool = False) -> TestReport:
        return SANDBOX.run(project_dir, timeout_s=timeout_s, lint=lint)

    def record(self, event_type: str, data: Mapping[str, Any], source: str = "test") -> FakeEvent:
        event_id = str(uuid.uuid5(_NS, f"{len(self.events)}:{event_type}"))
        envelope = {
            "id": event_id,
            "type": event_type,
            "version": "1.0.0",
            "source": source,
            "projectId": self.project_id,
            "data": json.loads(json.dumps(dict(data))),
        }
        self.events.append(envelope)
        return FakeEvent(event_id, event_type, envelope["data"])

    def store(self, result: SkillResult) -> None:
        for artifact in result.artifacts:
            self.artifacts[artifact.digest] = artifact.content


def template_source() -> TemplateSource:
    files = {
        p.relative_to(TEMPLATE_DIR).as_posix(): p.read_bytes()
        for p in sorted(TEMPLATE_DIR.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    return TemplateSource(files, str(TEMPLATE_DIR))


#: the order events appear in a healthy project, with the agent that produces each
CHAIN: tuple[tuple[str, str | None, str], ...] = (
    ("ProjectInitialized", None, ""),
    ("VisionDocumentCreated", "vision-architect", "ProjectInitialized"),
    ("ProductPlanCreated", "product-manager", "VisionDocumentCreated"),
    ("BlueprintCreated", "solution-architect", "ProductPlanCreated"),
    ("ApiContractDefined", "api-designer", "BlueprintCreated"),
    ("InfrastructureBlueprintCreated", "infrastructure-engineer", "BlueprintCreated"),
    ("GenerateScaffold", "backend-developer", "ApiContractDefined"),
    ("TemplateExecuted", None, "GenerateScaffold"),
    ("MicroserviceScaffolded", "backend-developer", "TemplateExecuted"),
    ("CodeGenerated", "backend-developer", "MicroserviceScaffolded"),
    ("TestSuiteGenerated", "qa-engineer", "CodeGenerated"),
    ("SecurityReviewCompleted", "security-engineer", "CodeGenerated"),
    ("TestsPassed", "devops-engineer", "TestSuiteGenerated"),
    ("ReleaseApproved", None, "TestsPassed"),
    ("ReleaseTriggered", "devops-engineer", "ReleaseApproved"),
    ("DocumentationGenerated", "documentation-writer", "ReleaseTriggered"),
)
EVENT_ORDER = [step[0] for step in CHAIN]


class ProjectSimulation:
    """Runs the deterministic chain for one intent, step by step, into a FakeSkillContext."""

    def __init__(self, intent_path: Path, work_dir: Path) -> None:
        self.intent = load_intent(intent_path)
        self.ctx = FakeSkillContext(work_dir=work_dir)
        self.by_type: dict[str, FakeEvent] = {}

    def run_until(self, event_type: str) -> FakeEvent:
        if event_type not in EVENT_ORDER:
            raise ValueError(f"{event_type} is not part of the simulated chain ({', '.join(EVENT_ORDER)})")
        for produced, agent, trigger in CHAIN:
            if produced not in self.by_type:
                self._step(produced, agent, trigger)
            if produced == event_type:
                break
        return self.by_type[event_type]

    def run_agent(self, agent: str, event: FakeEvent) -> SkillResult:
        skill: Skill = skills_of(consumer(agent))[event.type]
        result = skill(event, self.ctx)
        self.ctx.store(result)
        return result

    def _emit(self, emit: Emit, source: str) -> FakeEvent:
        event = self.ctx.record(emit.type, emit.data, source)
        self.by_type[emit.type] = event
        return event

    def _step(self, produced: str, agent: str | None, trigger: str) -> None:
        if produced == "ProjectInitialized":
            self._emit(
                Emit(
                    "ProjectInitialized",
                    {
                        "projectId": self.ctx.project_id,
                        "productName": self.intent.product.name,
                        "intent": self.intent.to_payload(),
                    },
                ),
                "coordinator",
            )
            return
        if produced == "TemplateExecuted":
            self._scaffold(self.by_type[trigger])
            return
        if produced == "ReleaseApproved":
            review = next(
                a for a in self.by_type["SecurityReviewCompleted"].data["artifacts"] if a["path"].endswith(".json")
            )
            passed = self.by_type["TestsPassed"].data
            self._emit(
                Emit(
                    "ReleaseApproved",
                    {
                        "projectId": self.ctx.project_id,
                        "service": passed["service"],
                        "testsReportDigest": passed["reportDigest"],
                        "securityReviewDigest": review["digest"],
                    },
                ),
                "release-coordinator",
            )
            return
        assert agent is not None
        result = self.run_agent(agent, self.by_type[trigger])
        for emit in result.events:
            self._emit(emit, agent)
        if produced not in self.by_type:
            got = [e.type for e in result.events]
            raise AssertionError(f"{agent} on {trigger} emitted {got}, expected {produced}")

    def _scaffold(self, command: FakeEvent) -> None:
        """Stand-in for the scaffold steps: render with the real engine, store files and manifest."""
        rendered = render(template_source(), command.data["parameters"])
        for body in rendered.files.values():
            self.ctx.artifacts["sha256:" + hashlib.sha256(body).hexdigest()] = body
        manifest = rendered.manifest_bytes
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        self.ctx.artifacts[digest] = manifest
        self._emit(
            Emit(
                "TemplateExecuted",
                {
                    "executionId": rendered.manifest["executionId"],
                    "templateId": command.data["templateId"],
                    "templateVersion": rendered.manifest["template"]["version"],
                    "manifestDigest": digest,
                    "treeHash": rendered.tree_hash,
                    "requestedBy": command.data["requestedBy"],
                    "projectId": command.data["projectId"],
                    "service": command.data["service"],
                },
            ),
            "scaffold-generate",
        )
