"""End to end: intents through the whole mesh on the embedded runtime, driven by the real local host."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import venv
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shared.bootstrap import Runtime, bootstrap
from shared.cli import common as cli_common
from shared.cli.main import app as cli_app
from shared.host.local import build_host, drive
from shared.mesh.agents import qa, security
from shared.ports.skills import Artifact, SkillResult
from shared.product.cost import project_bill
from shared.product.intent import load_intent
from shared.product.projects import ProjectStatus, export_repository, project_files, project_status, start_project
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.yaml") if p.stem != "bad-intent")
FACTORY = str(Path(sys.executable).with_name("factory"))


@dataclass
class Run:
    rt: Runtime
    status: ProjectStatus
    project_id: str
    trace_id: str

    def files(self) -> dict[str, str]:
        return project_files(self.rt, self.project_id)

    def types(self) -> Counter[str]:
        return Counter(e["type"] for e in self.status.events)


def run_intent(home: Path, intent: Path, *, run_id: str = "", timeout: float = 300, **settings: Any) -> Run:
    rt = bootstrap(Settings(FACTORY_HOME=home, **settings))
    host, _ = build_host(rt)
    try:
        project = start_project(rt, load_intent(intent), run_id=run_id)
        drive(rt, host, project.project_id, timeout=timeout, stall_after=30)
    finally:
        host.close()
    return Run(rt, project_status(rt, project.project_id), project.project_id, project.trace_id)


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    return {p.stem: run_intent(tmp_path_factory.mktemp(p.stem), p) for p in EXAMPLES}


@pytest.fixture(scope="module")
def service_venv(tmp_path_factory: pytest.TempPathFactory, example_runs: dict[str, Run]) -> Path:
    """One fresh virtual environment from a generated repository's own root requirements-dev.txt.

    Every generated service has the same requirements (they come from one template), so one venv
    serves every example; pip installs from the machine's package cache/index as configured.
    """
    run = example_runs["library"]
    repo = tmp_path_factory.mktemp("reqs")
    export_repository(run.rt, run.project_id, repo)
    env_dir = tmp_path_factory.mktemp("venv") / "v"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-r", "requirements-dev.txt"], cwd=repo, check=True, timeout=600)
    return py


def _services(run: Run) -> list[str]:
    return next(e for e in run.status.events if e["type"] == "BlueprintCreated")["data"]["services"]


@pytest.mark.parametrize("example", [p.stem for p in EXAMPLES])
def test_example_intent_is_released_with_passing_generated_tests(example: str, example_runs: dict[str, Run]) -> None:
    run = example_runs[example]
    services = _services(run)
    assert run.status.outcome == "released", (run.status.reason, {k: v["state"] for k, v in run.status.flows.items()},
                                              sorted(run.types().items()))
    assert sorted(run.status.tests_by_service) == sorted(services)
    for tests in run.status.tests_by_service.values():
        assert tests["type"] == "TestsPassed" and tests["passed"] > 0 and tests["failed"] == 0
    types = run.types()
    for expected in ("VisionDocumentCreated", "ProductPlanCreated", "BlueprintCreated", "ProjectCompleted"):
        assert types[expected] == 1, f"{expected}: {types[expected]}"
    for expected in ("ApiContractDefined", "MicroserviceScaffolded", "CodeGenerated", "TestSuiteGenerated",
                     "TestsPassed", "InfrastructureBlueprintCreated", "SecurityReviewCompleted", "ServiceDeployed",
                     "ReleaseTriggered", "DocumentationGenerated"):
        assert types[expected] == len(services), f"{expected}: {types[expected]}"
    assert {e["traceId"] for e in run.status.events} == {run.trace_id}  # one trace from intent to docs
    expected_flows = {"project-lifecycle": "completed", "release-manager": "released"}
    for service in services:  # one instance per service of the flows that build and document a service
        expected_flows |= {f"microservice-assembly/{service}": "completed", f"documentation/{service}": "published"}
    assert {k: v["state"] for k, v in run.status.flows.items()} == expected_flows


@pytest.mark.parametrize("example", [p.stem for p in EXAMPLES])
def test_each_service_was_hosted_locally_and_passed_its_health_check_before_release(
        example: str, example_runs: dict[str, Run]) -> None:
    run = example_runs[example]
    deployed = [e for e in run.status.events if e["type"] == "ServiceDeployed"]
    released = [e for e in run.status.events if e["type"] == "ReleaseTriggered"]

    assert sorted(e["data"]["service"] for e in deployed) == sorted(_services(run))
    for event in deployed:
        assert event["data"]["url"].startswith("http://127.0.0.1:")
        assert event["data"]["healthCheck"] == {"path": "/api/health", "status": 200, "passed": True}
        release = next(r for r in released if r["data"]["service"] == event["data"]["service"])
        assert run.status.events.index(event) < run.status.events.index(release)


@pytest.mark.parametrize("example", [p.stem for p in EXAMPLES])
def test_the_released_repository_tests_every_service_with_one_command_in_a_fresh_venv(
        example: str, example_runs: dict[str, Run], service_venv: Path, tmp_path: Path) -> None:
    run = example_runs[example]
    repo = tmp_path / "repo"
    commit = export_repository(run.rt, run.project_id, repo)
    assert commit is not None and len(commit) == 40
    for service in _services(run):
        assert (repo / "reports" / f"{service}-tests.json").is_file()
        assert (repo / "release" / f"{service}-findings.json").is_file()
    assert "pytest && ruff check ." in (repo / "README.md").read_text()
    env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(tmp_path)}
    tests = subprocess.run([str(service_venv), "-m", "pytest", "-rA", "-p", "no:cacheprovider"], cwd=repo,
                           capture_output=True, text=True, timeout=600, env=env)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    for service in _services(run):
        assert f"PASSED services/{service}/tests/test_fuzz.py::" in tests.stdout  # every service, from the root
    if len(_services(run)) > 1:
        assert "PASSED tests/test_across_services.py::" in tests.stdout
    lint = subprocess.run([str(service_venv.with_name("ruff")), "check", "."], cwd=repo, capture_output=True,
                          text=True, timeout=120, env=env)
    assert lint.returncode == 0, lint.stdout[-3000:]


def test_the_same_intent_twice_gives_identical_artifact_hashes(example_runs: dict[str, Run], tmp_path: Path) -> None:
    again = run_intent(tmp_path / "again", ROOT / "examples" / "task-tracker.yaml")
    first = example_runs["task-tracker"]
    assert again.project_id == first.project_id
    assert again.files() == first.files()
    assert len(first.files()) > 20


def test_a_skill_that_fails_once_is_retried_and_the_run_completes(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    real = qa.write_tests
    calls: list[int] = []

    def flaky(event: Any, ctx: Any) -> SkillResult:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("model endpoint timed out")
        return real(event, ctx)

    monkeypatch.setattr(qa, "write_tests", flaky)
    run = run_intent(tmp_path, ROOT / "examples" / "task-tracker.yaml")
    assert run.status.outcome == "released"
    assert len(calls) == 2


def test_an_agent_that_always_fails_is_retried_by_its_coordinator_then_the_flow_fails_with_the_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def broken(event: Any, ctx: Any) -> SkillResult:
        calls.append(1)
        raise RuntimeError("security scanner crashed")

    monkeypatch.setattr(security, "review_code", broken)
    run = run_intent(tmp_path, ROOT / "examples" / "task-tracker.yaml", FACTORY_MAX_DELIVERY_COUNT=2)
    assert run.status.outcome == "failed"
    assembly = run.status.flows["microservice-assembly/task-tracker"]
    assert assembly["state"] == "failed"
    assert "agent security-engineer failed on CodeGenerated (2 retries exhausted)" in assembly["failure"]
    assert "security scanner crashed" in (run.status.reason or "")
    assert run.types()["AgentFailed"] == 3  # the original and two coordinator retries
    assert run.types()[
        "AgentRetryRequested"] == 2
    assert len(calls) == 3 * 2  # each attempt delivered maxDeliveryCount times
    assert run.types()["ReleaseTriggered"] == 0


def test_a_failing_generated_test_blocks_the_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = qa.write_tests

    def with_a_failing_test(event: Any, ctx: Any) -> SkillResult:
        result = real(event, ctx)
        service = event.data["service"]
        bad = Artifact.text(f"services/{service}/tests/test_injected_failure.py",
                            "def test_injected_failure() -> None:\n    assert 1 + 1 == 3\n")
        events = [e if e.type != "TestSuiteGenerated" else type(e)(
            e.type, {**e.data, "artifacts": [*e.data["artifacts"], bad.ref()],
                     "testCount": e.data["testCount"] + 1}) for e in result.events]
        return SkillResult(events, [*result.artifacts, bad])

    monkeypatch.setattr(qa, "write_tests", with_a_failing_test)
    run = run_intent(tmp_path, ROOT / "examples" / "task-tracker.yaml")
    assert run.status.outcome == "failed"
    assert run.status.tests is not None and run.status.tests["type"] == "TestsFailed"
    assert run.status.tests["failed"] == 1
    assert run.types()["ReleaseTriggered"] == 0 and run.types()["ReleaseApproved"] == 0
    assert run.status.flows["release-manager"]["state"] == "blocked"


def _events_in(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    except sqlite3.Error:
        return 0


def _wait(predicate: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)  # polling a real subprocess, not a sleep in the code under test


@pytest.fixture
def factory_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_")}
    env.update(FACTORY_HOME=str(tmp_path / "home"), FACTORY_LOCK_DURATION_SECONDS="2")
    yield env
    shutil.rmtree(tmp_path / "home", ignore_errors=True)


def test_a_host_killed_mid_run_resumes_with_no_duplicated_events_or_artifacts(
        factory_env: dict[str, str], example_runs: dict[str, Run]) -> None:
    cmd = [FACTORY, "run", str(ROOT / "examples" / "task-tracker.yaml"), "--quiet"]
    db = Path(factory_env["FACTORY_HOME"]) / "state.db"
    first = subprocess.Popen(cmd, env=factory_env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        _wait(lambda: _events_in(db) >= 12, 120)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    killed_at = _events_in(db)
    second = subprocess.run(cmd, env=factory_env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    rt = bootstrap(Settings(FACTORY_HOME=Path(factory_env["FACTORY_HOME"])))
    clean = example_runs["task-tracker"]
    resumed = project_status(rt, clean.project_id)
    assert resumed.outcome == "released"
    assert killed_at < len(resumed.events)
    assert Counter(e["type"] for e in resumed.events) == clean.types()
    assert project_files(rt, clean.project_id) == clean.files()
    # content-addressed files only: a write the kill interrupted leaves at most a temp file, never a blob
    def blobs(root: Path) -> set[str]:
        return {p.name for p in root.rglob("*") if p.is_file() and re.fullmatch(r"[0-9a-f]{64}", p.name)}

    # as many blobs as a clean run (the junit report's bytes carry timings, so one digest differs)
    assert len(blobs(Path(factory_env["FACTORY_HOME"]) / "artifacts")) == len(blobs(clean.rt.settings.artifacts_path))


def test_the_azure_bill_of_a_released_project_counts_every_send_delivery_and_settlement(
        example_runs: dict[str, Run], monkeypatch: pytest.MonkeyPatch) -> None:
    run = example_runs["task-tracker"]
    bill = project_bill(run.rt, run.project_id, repository_files=run.files())
    u = bill.usage
    spans = run.rt.tracer.spans_for_trace(run.trace_id)
    timeouts = run.types()["FlowTimeout"]
    assert u.sends == len(run.status.events)
    # every handling so far, plus one delivery per scheduled timeout (to its own flow only), still ahead
    assert (u.deliveries, u.deliveries_pending) == (len(spans) + timeouts, timeouts)
    assert u.settlements == u.deliveries and u.executions == u.deliveries + 1  # + the request that started it
    measured = sum((s.end - s.start).total_seconds() for s in spans)
    assert u.handling_seconds == pytest.approx(measured + u.estimated_seconds)
    assert u.gb_seconds == pytest.approx(u.handling_seconds * 2048 / 1024)
    assert u.blob_writes >= len(set(run.files().values())) and u.blob_reads >= len(run.files())
    assert bill.total == pytest.approx(sum(i.quantity * i.unit_price for i in bill.items)) and bill.total > 0
    takers = sum(1 for c in run.rt.consumers if c.kind == "coordinator" and "FlowTimeout" in c.subscribes_to)
    before = project_bill(run.rt, run.project_id, repository_files=run.files(), routing="broadcast")
    assert before.usage.deliveries - u.deliveries == (takers - 1) * timeouts
    assert before.total > bill.total
    # and the CLI prints the same bill for that project
    monkeypatch.setenv("FACTORY_HOME", str(run.rt.settings.factory_home))
    monkeypatch.setattr(cli_common.console, "width", 200)
    out = CliRunner().invoke(cli_app, ["status", run.project_id, "--cost"])
    assert out.exit_code == 0, out.output
    assert "Azure bill of" in out.output and f"{bill.total:.6f}" in out.output
