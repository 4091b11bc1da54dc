"""Test doubles for skills: an in-memory SkillContext and a deterministic run of the whole chain.

``FakeSkillContext`` keeps artifacts in a dict (digest -> bytes) and the project's history as
envelope dicts; it runs generated tests and smoke tests with the real subprocess runner.
``ProjectSimulation`` delivers every event to the agents whose manifests take it (FIFO), and
stands in for the pipeline (stores artifacts, records emitted events), for the scaffold step
(renders the template with the real ``shared.scaffold`` engine) and for the release manager.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.adapters.process.sandbox import SandboxedTestRunner
from shared.adapters.process.service_host import JailedServiceHost
from shared.contracts.manifests import consumer, load_consumers
from shared.mesh.agents import skills_of
from shared.ports.model import ModelAccess
from shared.ports.service_host import SmokeCheck, SmokeReport
from shared.ports.skills import Emit, Skill, SkillResult
from shared.ports.test_runner import TestReport
from shared.product.intent import load_intent
from shared.scaffold.render import TemplateSource, render

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = ROOT / "templates" / "python-functions-service"
_NS = uuid.UUID("6f1d1c55-8a53-4c47-9d1e-0d3f0a3e2b10")
#: the real sandbox the release gate uses (one instance: its probe runs once)
SANDBOX = SandboxedTestRunner(base_env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"})
HOST = JailedServiceHost(base_env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"})


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
    model: ModelAccess | None = None  # no model: the deterministic skills answer (tests/ai gives one)

    def load_artifact(self, digest: str) -> bytes:
        if digest not in self.artifacts:
            raise KeyError(f"artifact {digest} not stored")
        return self.artifacts[digest]

    def history(self, *types: str) -> list[Mapping[str, Any]]:
        return [e for e in self.events if not types or e["type"] in types]

    def run_tests(self, project_dir: Path, *, timeout_s: float, lint: bool = False) -> TestReport:
        return SANDBOX.run(project_dir, timeout_s=timeout_s, lint=lint)

    def smoke_test(self, project_dir: Path, checks: Sequence[SmokeCheck], *, timeout_s: float) -> SmokeReport:
        return HOST.smoke(project_dir, checks, timeout_s=timeout_s)

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


#: the stand-ins: events no agent emits, produced here in place of the engine or a coordinator
STAND_INS = ("ProjectInitialized", "TemplateExecuted", "ReleaseApproved")
#: what the release manager waits for, per service, before it approves a release
RELEASE_NEEDS = ("TestsPassed", "SecurityReviewCompleted", "InfrastructureBlueprintCreated", "ServiceDeployed")


class ProjectSimulation:
    """Runs the deterministic skills for one intent as the mesh would, in one process.

    Events are delivered in the order they were emitted (FIFO) to every agent whose manifest
    maps the event type to a skill; the scaffold step and the release manager are stood in for.
    Several services run their chains interleaved, as they would in parallel on the bus.
    """

    def __init__(self, intent_path: Path, work_dir: Path) -> None:
        self.intent = load_intent(intent_path)
        self.ctx = FakeSkillContext(work_dir=work_dir)
        self.by_type: dict[str, FakeEvent] = {}
        self.queue: deque[FakeEvent] = deque()
        self.agents = {c.name: skills_of(c) for c in load_consumers() if c.kind == "agent"}
        self.approved: set[str] = set()

    def of(self, event_type: str, service: str | None = None) -> FakeEvent | None:
        """The latest ``event_type`` (of ``service``) recorded so far."""
        for envelope in reversed(self.ctx.events):
            if envelope["type"] == event_type and (service is None or envelope["data"].get("service") == service):
                return FakeEvent(envelope["id"], envelope["type"], envelope["data"])
        return None

    def all_of(self, event_type: str) -> list[FakeEvent]:
        return [FakeEvent(e["id"], e["type"], e["data"]) for e in self.ctx.events if e["type"] == event_type]

    def run_until(self, event_type: str, service: str | None = None) -> FakeEvent:
        if not self.ctx.events:
            self._start()
        while (found := self.of(event_type, service)) is None:
            if not self.queue:
                seen = [e["type"] for e in self.ctx.events]
                raise AssertionError(f"the chain ended without {event_type}"
                                     f"{f' of {service}' if service else ''}; events: {seen}")
            self._deliver(self.queue.popleft())
        return found

    def run_all(self) -> None:
        """Deliver until nothing is left to deliver."""
        if not self.ctx.events:
            self._start()
        while self.queue:
            self._deliver(self.queue.popleft())

    def run_agent(self, agent: str, event: FakeEvent) -> SkillResult:
        skill: Skill = skills_of(consumer(agent))[event.type]
        result = skill(event, self.ctx)
        self.ctx.store(result)
        return result

    def _emit(self, emit: Emit, source: str) -> FakeEvent:
        event = self.ctx.record(emit.type, emit.data, source)
        self.by_type[emit.type] = event
        self.queue.append(event)
        return event

    def _start(self) -> None:
        self._emit(Emit("ProjectInitialized", {
            "projectId": self.ctx.project_id,
            "productName": self.intent.product.name,
            "intent": self.intent.to_payload(),
        }), "coordinator")

    def _deliver(self, event: FakeEvent) -> None:
        for agent, skills in self.agents.items():
            skill = skills.get(event.type)
            if skill is None:
                continue
            result = skill(event, self.ctx)
            self.ctx.store(result)
            for emit in result.events:
                self._emit(emit, agent)
        if event.type == "GenerateScaffold":
            self._scaffold(event)
        service = event.data.get("service")
        ready = event.type in RELEASE_NEEDS and service and service not in self.approved
        if ready and all(self.of(t, service) for t in RELEASE_NEEDS):
            self.approved.add(service)
            self._approve(service)

    def _approve(self, service: str) -> None:
        review = self.of("SecurityReviewCompleted", service)
        passed = self.of("TestsPassed", service)
        assert review is not None and passed is not None
        digest = next(a["digest"] for a in review.data["artifacts"] if a["path"].endswith(".json"))
        self._emit(Emit("ReleaseApproved", {
            "projectId": self.ctx.project_id,
            "service": service,
            "testsReportDigest": passed.data["reportDigest"],
            "securityReviewDigest": digest,
        }), "release-manager")

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
