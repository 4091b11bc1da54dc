"""The service-host port: host a generated service and smoke-test it over HTTP before its release.

The devops-engineer materializes a service that passed its tests and asks the host for a
``SmokeReport``: the service served on a local HTTP port (the embedded stand-in for a
deployment), each ``SmokeCheck`` sent to it, and how many messages its output bindings sent.
Embedded, ``shared/adapters/process/service_host.py`` serves it in the same bubblewrap jail the
tests run in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class ServiceHostError(RuntimeError):
    """The service could not be hosted at all; ``permanent`` when retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SmokeCheck:
    """One HTTP call of a smoke test. ``{name}`` in ``path``/``body`` strings is replaced by the id an
    earlier check saved under ``save_as`` (the ``id`` of its JSON response)."""

    name: str
    method: str
    path: str
    expect: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    save_as: str | None = None


@dataclass(frozen=True)
class SmokeResult:
    name: str
    method: str
    path: str
    expected: int
    status: int | None
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class SmokeReport:
    """The service was reachable at ``url``; each check's outcome; messages its output bindings sent."""

    url: str
    results: list[SmokeResult]
    published: int
    output: str = ""
    isolation: str = ""

    __test__ = False

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    def reason(self) -> str:
        failed = [r for r in self.results if not r.passed]
        return "; ".join(f"{r.name}: {r.method} {r.path} gave {r.status}, expected {r.expected} {r.detail}".strip()
                         for r in failed[:5]) or "no check ran"


class ServiceHost(Protocol):
    """Serves the service in ``project_dir`` over HTTP for the duration of ``checks``, then stops it."""

    def smoke(self, project_dir: Path, checks: Sequence[SmokeCheck], *, timeout_s: float) -> SmokeReport: ...
