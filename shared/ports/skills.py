"""The skill port: what an agent's skill is given and what it returns.

A skill is a pure function ``(event, context) -> SkillResult``: it reads the incoming event
and, through the context, earlier artifacts of the same project; it returns the events to
emit and the artifacts to store. It performs no I/O of its own except through the context,
so an LLM-backed skill can replace a deterministic one without touching the pipeline.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from shared.ports.model import ModelAccess
from shared.ports.service_host import SmokeCheck, SmokeReport
from shared.ports.test_runner import TestReport


@dataclass(frozen=True)
class Artifact:
    """A file a skill produced. ``path`` is relative to the project (e.g. ``docs/vision.md``)."""

    path: str
    content: bytes
    media_type: str = "text/plain; charset=utf-8"

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.content).hexdigest()

    def ref(self) -> dict[str, Any]:
        """The reference an event payload carries for this artifact."""
        return {"path": self.path, "digest": self.digest, "mediaType": self.media_type,
                "size": len(self.content)}

    @classmethod
    def text(cls, path: str, text: str, media_type: str = "text/plain; charset=utf-8") -> Artifact:
        return cls(path, text.encode("utf-8"), media_type)

    @classmethod
    def json(cls, path: str, value: Any) -> Artifact:
        body = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        return cls(path, body.encode("utf-8"), "application/json")


@dataclass(frozen=True)
class Emit:
    """An event to emit. ``version`` None means the latest stable version of the type.

    ``properties`` become extra application properties (e.g. ``targetAgent`` for commands).
    ``delay_seconds`` schedules the message (used for timeouts and retry back-off).
    ``key`` names the output when it must not depend on which incoming event caused it (a flow's state
    entry, which a join reaches on whichever event comes last): its id is derived from the key instead.
    """

    type: str
    data: Mapping[str, Any]
    version: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    delay_seconds: float | None = None
    key: str | None = None


@dataclass(frozen=True)
class SkillResult:
    events: list[Emit] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)


class SkillContext(Protocol):
    """What a skill may read. Implemented by the pipeline over the stores."""

    @property
    def trace_id(self) -> str: ...

    @property
    def project_id(self) -> str: ...

    @property
    def tenant_id(self) -> str: ...

    @property
    def work_dir(self) -> Path:
        """A private scratch folder for this handling (for sandboxed subprocesses)."""
        ...

    def load_artifact(self, digest: str) -> bytes: ...

    def history(self, *types: str) -> list[Mapping[str, Any]]:
        """Earlier events of this project (envelopes as dicts, oldest first), optionally by type."""
        ...

    def run_tests(self, project_dir: Path, *, timeout_s: float, lint: bool = False) -> TestReport:
        """Run a materialized project's tests through the test-runner port (the release gate)."""
        ...

    def smoke_test(self, project_dir: Path, checks: Sequence[SmokeCheck], *, timeout_s: float) -> SmokeReport:
        """Host a materialized service (the service-host port) and run ``checks`` against it over HTTP."""
        ...

    @property
    def model(self) -> ModelAccess | None:
        """The model a skill may ask (``shared/mesh/agents/assist.py``), or None: deterministic skills only."""
        ...


class IncomingEvent(Protocol):
    """The slice of the envelope a skill sees."""

    @property
    def id(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def data(self) -> Mapping[str, Any]: ...


class SkillError(Exception):
    """A skill could not do its work. ``permanent`` errors are not retried.

    ``emits``: events that must be published with the failure even though the skill produced nothing
    (the ``SkillUsed`` of a billed model call that was refused, ``BudgetExceeded``); the pipeline puts
    them in the same outbox as the ``AgentFailed`` it emits once the failure is final.
    """

    def __init__(self, message: str, *, permanent: bool = False, emits: Sequence[Emit] = ()) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.emits = list(emits)


Skill = Callable[[IncomingEvent, SkillContext], SkillResult]
