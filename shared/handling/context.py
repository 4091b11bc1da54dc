"""The context a handler and its skill see during one handling: reads through the ports, no writes."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.contracts.envelope import Envelope
from shared.contracts.masking import MASK
from shared.ports import ArtifactCorruptedError, ArtifactStore, Clock, StateStore
from shared.ports.model import ModelAccess
from shared.ports.service_host import ServiceHost, ServiceHostError, SmokeCheck, SmokeReport
from shared.ports.skills import SkillError
from shared.ports.test_runner import TestReport, TestRunner

#: ``registry.mask``: (type, version, data) -> a copy with the contract's sensitive fields masked
Masker = Callable[[str, str, Mapping[str, Any]], Mapping[str, Any]]


def masked_values(original: Any, masked: Any) -> set[str]:
    """The values ``masked`` replaced by the mask (as text), found by walking both side by side."""
    if isinstance(masked, str) and masked == MASK and original != MASK:
        if isinstance(original, dict | list):
            return {v for v in _leaves(original)}
        return {str(original)} if original not in (None, "") else set()
    if isinstance(original, Mapping) and isinstance(masked, Mapping):
        return {v for k in original if k in masked for v in masked_values(original[k], masked[k])}
    if isinstance(original, list) and isinstance(masked, list):
        return {v for a, b in zip(original, masked, strict=False) for v in masked_values(a, b)}
    return set()


def _leaves(node: Any) -> Iterable[str]:
    if isinstance(node, Mapping):
        for value in node.values():
            yield from _leaves(value)
    elif isinstance(node, list):
        for value in node:
            yield from _leaves(value)
    elif node not in (None, ""):
        yield str(node)


def sensitive_values(events: Iterable[Mapping[str, Any]], mask: Masker) -> tuple[str, ...]:
    """Every value the contracts declare sensitive in ``events`` (envelope dicts), longest first."""
    found: set[str] = set()
    for event in events:
        data = event.get("data") or {}
        found |= masked_values(data, mask(str(event.get("type")), str(event.get("version")), data))
    return tuple(sorted((v for v in found if len(v) >= 3), key=lambda v: (-len(v), v)))


class HandlingContext:
    """Implements ``SkillContext`` over the stores for one event handled by one consumer."""

    def __init__(self, event: Envelope, consumer: str, *, clock: Clock, state: StateStore,
                 artifacts: ArtifactStore, test_runner: TestRunner, scratch_root: Path,
                 service_host: ServiceHost | None = None, model: ModelAccess | None = None,
                 mask: Masker | None = None) -> None:
        self._event = event
        self._consumer = consumer
        self._clock = clock
        self._state = state
        self._artifacts = artifacts
        self._test_runner = test_runner
        self._service_host = service_host
        self._scratch_root = scratch_root
        self._work_dir: Path | None = None
        self._model = model
        self._mask = mask
        self._model_ready = model is None

    @property
    def trace_id(self) -> str:
        return self._event.trace_id

    @property
    def project_id(self) -> str:
        return self._event.project_id or ""

    @property
    def tenant_id(self) -> str:
        return self._event.tenant_id

    @property
    def now(self) -> datetime:
        return self._clock.now()

    @property
    def work_dir(self) -> Path:
        """A private scratch folder for this handling, emptied first and removed afterwards.

        Its name is a digest of the consumer and the event id: data never becomes a path.
        """
        if self._work_dir is None:
            name = hashlib.sha256(f"{self._consumer}\0{self._event.id}".encode()).hexdigest()[:32]
            self._work_dir = self._scratch_root.resolve() / name
            if self._work_dir.exists():
                shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir.mkdir(parents=True, exist_ok=True)
        return self._work_dir

    def cleanup(self) -> None:
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)

    @property
    def model(self) -> ModelAccess | None:
        """The configured model, with the sensitive values of this event and the project's history to mask."""
        if not self._model_ready and self._model is not None:
            events = [self._event.to_dict(), *self.history()]
            values = sensitive_values(events, self._mask) if self._mask is not None else ()
            self._model = dataclasses.replace(self._model, sensitive=values)
            self._model_ready = True
        return self._model

    def load_artifact(self, digest: str) -> bytes:
        """The artifact's bytes; a stored copy that no longer matches its digest is a ``SkillError`` that says
        "corrupt" with both digests (skills treat ``KeyError`` as "not there yet", which it is not)."""
        try:
            return self._artifacts.get(digest)
        except ArtifactCorruptedError as exc:
            raise SkillError(str(exc.args[0]) if exc.args else repr(exc)) from exc

    def history(self, *types: str) -> list[Mapping[str, Any]]:
        if not self._event.project_id:
            return []
        events: list[Mapping[str, Any]] = list(self._state.events_for_project(self._event.project_id))
        if types:
            events = [e for e in events if e.get("type") in types]
        return events

    def run_tests(self, project_dir: Path, *, timeout_s: float, lint: bool = False) -> TestReport:
        return self._test_runner.run(project_dir, timeout_s=timeout_s, lint=lint)

    def smoke_test(self, project_dir: Path, checks: Sequence[SmokeCheck], *, timeout_s: float) -> SmokeReport:
        if self._service_host is None:
            raise ServiceHostError("this runtime has no service host for the local deployment; bootstrap() "
                                   "builds one", permanent=True)
        return self._service_host.smoke(project_dir, checks, timeout_s=timeout_s)
