"""The test-runner port: run a generated project's tests somewhere isolated and report the outcome.

The release gate (devops-engineer) materializes a service into a scratch folder and asks the
runner for a ``TestReport``. Embedded, ``shared/adapters/process/sandbox.py`` runs pytest in a
bubblewrap jail; on Azure, ``shared/adapters/azure/sessions_runner.py`` sends the project to an
Azure Container Apps dynamic session (a Hyper-V sandbox made for untrusted code), whose container
serves the same runner over HTTP. ``to_wire``/``from_wire`` are the report's JSON form between the two.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol


class TestRunnerError(RuntimeError):
    """The runner could not run the tests at all (no project, no interpreter, no isolation...).

    ``permanent``: trying again cannot help (no isolation on this machine), so a caller should not retry.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


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
    isolation: str = ""  # how the tests were isolated (or that they were not), for people reading the report

    __test__ = False  # not a pytest test class

    @property
    def ok(self) -> bool:
        """Passed: exit code 0, in time, nothing failed, and at least one passing test in the junit results
        (an exit code 0 without readable results is not a pass)."""
        tests_ok = (self.exit_code == 0 and not self.timed_out and self.failed == 0 and self.errors == 0
                    and self.passed > 0)
        return tests_ok and self.lint_exit_code in (None, 0)

    def reason(self) -> str:
        if self.timed_out:
            return "the test run exceeded its time limit and was killed"
        if self.exit_code == 0 and not self.cases:
            return "the run ended without test results (the junit report is missing or unreadable)"
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
                "isolation": self.isolation,
            }
        return out

    def to_wire(self) -> dict[str, Any]:
        """Everything, as JSON values (the junit XML in base64): what a remote runner sends back."""
        return {
            **self.to_dict(deterministic=False),
            "cases": [asdict(c) for c in self.cases],
            "junitXml": base64.b64encode(self.junit_xml).decode("ascii"),
            "lintExitCode": self.lint_exit_code,
            "lintOutput": self.lint_output,
        }

    @classmethod
    def from_wire(cls, data: Any) -> TestReport:
        """The report ``to_wire`` made; raises ``TestRunnerError`` naming what is missing or malformed."""
        try:
            cases = [CaseResult(str(c["name"]), str(c["classname"]), str(c["outcome"]), str(c.get("message", "")))
                     for c in data["cases"]]
            exit_code, lint_exit = data["exitCode"], data.get("lintExitCode")
            return cls(
                passed=int(data["passed"]), failed=int(data["failed"]), errors=int(data["errors"]),
                skipped=int(data["skipped"]), exit_code=None if exit_code is None else int(exit_code),
                timed_out=bool(data["timedOut"]), output=str(data.get("output", "")),
                output_truncated=bool(data.get("outputTruncated", False)),
                duration_ms=float(data.get("durationMs", 0.0)), cases=cases,
                junit_xml=base64.b64decode(str(data.get("junitXml", "")), validate=True),
                lint_exit_code=None if lint_exit is None else int(lint_exit),
                lint_output=str(data.get("lintOutput", "")), isolation=str(data.get("isolation", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TestRunnerError(f"the remote test runner sent a malformed report ({exc!r}); "
                                  "check that its image matches this factory version") from exc


class TestRunner(Protocol):
    """Runs ``pytest`` (and optionally ``ruff check``) for the project in ``project_dir``."""

    def run(self, project_dir: Path, *, timeout_s: float, lint: bool = False) -> TestReport: ...
