"""The test-runner port: run a generated project's tests somewhere isolated and report the outcome.

The release gate (devops-engineer) materializes a service into a scratch folder and asks the
runner for a ``TestReport`` (pytest, and ``ruff check`` with ``lint=True``); before the release it
asks for a ``SmokeReport``: the service hosted on a local HTTP port and called over HTTP.
Embedded, ``shared/adapters/process/`` runs both in sandboxed subprocesses; on Azure, an isolated
runner made for untrusted code takes their place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol


class TestRunnerError(RuntimeError):
    """The runner could not run the tests at all (no project, no interpreter, no isolation...)."""


@dataclass(frozen=True)
class CaseResult:
    name: str
    classname: str
    outcome: str  # passed | failed | error | skipped
    message: str = ""


@dataclass(frozen=True)
class TestReport:
    passed: int
    failed: int
    errors: int
    skipped: int
    exit_code: int | None
    timed_out: bool
    output: str
    output_truncated: bool
    duration_ms: float
    cases: list[CaseResult] = field(default_factory=list)
    junit_xml: bytes = b""
    lint_exit_code: int | None = None  # None: ruff was not run
    lint_output: str = ""

    __test__ = False  # not a pytest test class

    @property
    def ok(self) -> bool:
        tests_ok = self.exit_code == 0 and not self.timed_out and self.failed == 0 and self.errors == 0
        return tests_ok and self.lint_exit_code in (None, 0)

    def reason(self) -> str:
        if self.timed_out:
            return "the test run exceeded its time limit and was killed"
        if self.exit_code == 5 or (self.passed + self.failed + self.errors == 0):
            return "no tests were collected"
        if self.lint_exit_code not in (None, 0):
            return f"ruff check failed: {self.lint_output[-500:]}"
        if not self.ok:
            failing = [c.name for c in self.cases if c.outcome in ("failed", "error")][:10]
            return f"{self.failed} failed, {self.errors} errors (exit code {self.exit_code}): " + ", ".join(failing)
        return ""

    def to_dict(self, *, deterministic: bool = True) -> dict[str, Any]:
        """JSON form. ``deterministic`` drops timing and raw output so equal runs give equal bytes."""
        out: dict[str, Any] = {
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
            "exitCode": self.exit_code,
            "timedOut": self.timed_out,
            "ok": self.ok,
            "cases": [asdict(c) for c in sorted(self.cases, key=lambda c: (c.classname, c.name))],
        }
        if not deterministic:
            out |= {
                "durationMs": self.duration_ms,
                "output": self.output,
                "outputTruncated": self.output_truncated,
            }
        return out


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
    """The service was hosted at ``url``; each check's outcome; messages its output bindings sent."""

    url: str
    results: list[SmokeResult]
    published: int
    output: str = ""

    __test__ = False

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    def reason(self) -> str:
        failed = [r for r in self.results if not r.passed]
        return "; ".join(f"{r.name}: {r.method} {r.path} gave {r.status}, expected {r.expected} {r.detail}".strip()
                         for r in failed[:5]) or "no check ran"


class TestRunner(Protocol):
    """Runs ``pytest`` (and optionally ``ruff check``) for the project in ``project_dir``, and hosts the
    service on a local port to smoke-test it over HTTP."""

    def run(self, project_dir: Path, *, timeout_s: float, lint: bool = False) -> TestReport: ...

    def smoke(self, project_dir: Path, checks: Sequence[SmokeCheck], *, timeout_s: float) -> SmokeReport: ...
