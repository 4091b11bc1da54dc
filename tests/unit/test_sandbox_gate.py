"""The release gate through the whole embedded mesh: with the sandbox, and where it cannot run.

The first test is the acceptance run (``factory run examples/task-tracker.yaml`` releases with the
sandboxed runner): the command itself, as a user starts it. The second takes bubblewrap away: the
gate refuses at once on every attempt (a refusal is permanent, not redelivered), the project fails,
and its reason says what to install.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from shared.adapters.process.jail import Jail
from shared.adapters.process.sandbox import SandboxedTestRunner
from shared.bootstrap import bootstrap
from shared.host.local import build_host, drive
from shared.ports.test_runner import TestReport
from shared.product.intent import load_intent
from shared.product.projects import project_status, start_project
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FACTORY = str(Path(sys.executable).with_name("factory"))


def test_factory_run_releases_the_sample_with_the_sandboxed_runner(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_")}
    env["FACTORY_HOME"] = str(tmp_path / "home")
    check = subprocess.run([FACTORY, "sandbox", "check"], env=env, capture_output=True, text=True, check=False)
    assert check.returncode == 0 and "bubblewrap sandbox" in check.stdout, check.stderr

    done = subprocess.run([FACTORY, "run", str(ROOT / "examples" / "task-tracker.yaml"), "--quiet"], env=env,
                          capture_output=True, text=True, timeout=600, check=False)

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "outcome      released" in done.stdout and " passed, 0 failed, 0 errors" in done.stdout


class CountingRunner:
    """Wraps a runner and counts the gate's calls."""

    def __init__(self, inner: SandboxedTestRunner) -> None:
        self.inner = inner
        self.calls = 0

    def run(self, project_dir: Path, *, timeout_s: float, lint: bool = False) -> TestReport:
        self.calls += 1
        return self.inner.run(project_dir, timeout_s=timeout_s, lint=lint)


def test_without_a_sandbox_the_gate_refuses_once_per_attempt_and_the_project_fails_with_the_fix(
        tmp_path: Path) -> None:
    runner = CountingRunner(SandboxedTestRunner(jail=Jail(bwrap=str(tmp_path / "no-bwrap"))))
    rt = bootstrap(Settings(FACTORY_HOME=tmp_path / "home", FACTORY_MAX_DELIVERY_COUNT=3),  # type: ignore[call-arg]
                   test_runner=runner)
    host, _ = build_host(rt)
    try:
        project = start_project(rt, load_intent(ROOT / "examples" / "task-tracker.yaml"))
        drive(rt, host, project.project_id, timeout=300, stall_after=30)
    finally:
        host.close()
    status = project_status(rt, project.project_id)
    rt.close()

    types = [e["type"] for e in status.events]
    assert status.outcome == "failed"
    assert "refusing to run the generated tests" in (status.reason or "")
    assert "apt-get install bubblewrap" in (status.reason or "")
    assert "ReleaseTriggered" not in types and "TestsPassed" not in types
    failed_attempts = sum(1 for e in status.events if e["type"] == "AgentFailed"
                          and e.get("data", {}).get("agent") == "devops-engineer")
    assert failed_attempts >= 1 and runner.calls == failed_attempts, "a refusal must not be redelivered"
