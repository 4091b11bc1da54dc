"""Failures that name their cause and advice that works: a failed test gate names the failing tests and
the report's path (in the summary, in ``status``, in the exported repository, through ``factory
artifacts``); ``flow retry`` reruns the gate and rerunning the same ``factory run`` resumes to a release;
Ctrl-C exits 130 and says to rerun, which resumes; critical findings hold the release until an audited
override."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from shared.bootstrap import Runtime, bootstrap
from shared.ports.test_runner import CaseResult, TestReport
from tests.cli.harness import EXAMPLES, FACTORY, cli, events_in, factory_env, runtime_factory
from tests.security_finding import plant_security_finding

FLAKY_TEST = "tests.test_sandbox::test_the_clock_did_not_skew"


class FlakyOnceRunner:
    """The sandbox's first run fails (a flaky test); every later run is the real sandbox."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.calls = 0

    def run(self, project_dir: Path, *, timeout_s: float, lint: bool = False) -> TestReport:
        self.calls += 1
        report: TestReport = self.real.run(project_dir, timeout_s=timeout_s, lint=lint)  # type: ignore[attr-defined]
        if self.calls > 1:
            return report
        classname, name = FLAKY_TEST.split("::")
        return replace(report, failed=1, exit_code=1,
                       cases=[*report.cases, CaseResult(name, classname, "failed", "AssertionError: skew 3s")])


@pytest.fixture
def flaky(home: Path) -> FlakyOnceRunner:
    real = bootstrap().test_runner
    return FlakyOnceRunner(real)


def test_a_failed_test_gate_names_the_tests_and_the_report_and_flow_retry_then_rerun_releases(
        home: Path, flaky: FlakyOnceRunner, tmp_path: Path) -> None:
    intent = str(EXAMPLES / "task-tracker.yaml")

    def with_flaky_sandbox() -> Runtime:
        return bootstrap(test_runner=flaky)

    with runtime_factory(with_flaky_sandbox):
        failed = cli("run", intent, "--run-id", "flaky", "--json", str(tmp_path / "failed.json"))
        assert failed.exit_code == 1, failed
        summary = json.loads((tmp_path / "failed.json").read_text())
        project = summary["projectId"]
        report_path = f"{summary['repository']}/reports/task-tracker-tests.json"
        # the summary names the failing test and where the report is, and the report is in the repository
        assert FLAKY_TEST in failed.stdout and report_path in failed.stdout
        assert summary["tests"]["failing"] == [FLAKY_TEST] and summary["tests"]["report"] == report_path
        exported = json.loads(Path(report_path).read_text())
        assert [c["name"] for c in exported["cases"] if c["outcome"] == "failed"] == [FLAKY_TEST.split("::")[1]]
        # the advice: read the report, `flow retry`, rerun the same command
        assert f"factory artifacts get {project} reports/task-tracker-tests.json" in failed.stderr
        assert f"factory flow retry {project}" in failed.stderr
        assert f"rerun `factory run {intent} --run-id flaky`" in failed.stderr

        status = cli("status", project)
        assert status.exit_code == 0
        assert FLAKY_TEST in status.stdout and "reports/task-tracker-tests.json" in status.stdout
        assert "release-manager: blocked" in status.stdout
        fetched = cli("artifacts", "get", project, "reports/task-tracker-tests.json")
        assert fetched.exit_code == 0 and json.loads(fetched.stdout) == exported
        listed = cli("artifacts", "list", project, "--json", "-")
        assert "reports/task-tracker-tests.json" in {a["path"] for a in json.loads(listed.stdout)}

        retried = cli("flow", "retry", project, "--as", "alice", "--reason", "flaky sandbox")
        assert retried.exit_code == 0, retried
        assert {"microservice-assembly", "release-manager", "project-lifecycle"} <= {
            line.split(" of ")[1].split(" ")[0].split("/")[0] for line in retried.stdout.splitlines() if " of " in line}
        resumed = cli("run", intent, "--run-id", "flaky", "--quiet")
        assert resumed.exit_code == 0, resumed
        assert "outcome      released" in resumed.stdout and " passed, 0 failed, 0 errors" in resumed.stdout
    assert flaky.calls == 2  # the retry ran the gate again
    letters = cli("dlq", "list", "--json", "-")
    assert json.loads(letters.stdout) == []  # the retry was not dead-lettered
    flows = json.loads(cli("flow", "status", project, "--json", "-").stdout)
    assert flows["microservice-assembly/task-tracker"]["state"] == "completed"
    assert flows["project-lifecycle"]["history"][-3]["actor"] == "alice"


def test_retry_with_nothing_failed_is_refused_and_publishes_nothing(home: Path) -> None:
    ran = cli("run", str(EXAMPLES / "task-tracker.yaml"), "--quiet")
    assert ran.exit_code == 0, ran
    project = ran.stdout.split()[1]
    before = len(events_in(home))
    again = cli("flow", "retry", project)
    assert again.exit_code == 2 and "nothing to retry" in again.stderr
    one = cli("flow", "retry", project, "--flow", "microservice-assembly")
    assert one.exit_code == 2 and "has no failed step to retry" in one.stderr
    assert len(events_in(home)) == before


def test_quiet_prints_the_summary_only_and_trace_is_opt_in(home: Path) -> None:
    quiet = cli("run", str(EXAMPLES / "task-tracker.yaml"), "--quiet")
    assert quiet.exit_code == 0
    lines = quiet.stdout.splitlines()
    assert lines[0].startswith("project ") and len(lines) < 15, quiet.stdout
    assert "ProjectInitialized" not in quiet.stdout and not quiet.stderr
    as_json = cli("run", str(EXAMPLES / "task-tracker.yaml"), "--json", "-")
    assert json.loads(as_json.stdout)["outcome"] == "released"  # stdout carries the JSON document only
    traced = cli("run", str(EXAMPLES / "task-tracker.yaml"), "--trace")
    assert "ProjectInitialized" in traced.stdout and "ReleaseTriggered" in traced.stdout
    event_line = re.compile(r"^\s+(FlowTimeout|CoordinatorStateChanged) [0-9a-f-]{36} from ", re.MULTILINE)
    assert not event_line.search(traced.stdout)
    assert "bookkeeping events hidden" in traced.stdout
    project, trace_id = lines[0].split()[1], lines[1].split()[1]
    everything = cli("trace", trace_id, "--all")
    assert {m.group(1) for m in event_line.finditer(everything.stdout)} == {"FlowTimeout", "CoordinatorStateChanged"}
    by_project = cli("trace", project)
    assert by_project.exit_code == 0 and trace_id in by_project.stdout


def test_critical_findings_are_in_the_summary_and_hold_the_release_until_an_audited_override(
        home: Path, tmp_path: Path) -> None:
    data = yaml.safe_load((EXAMPLES / "task-tracker.yaml").read_text())
    data["nonFunctional"] |= {"regions": ["eastus"], "dataResidency": "eu"}
    intent = tmp_path / "residency.yaml"
    intent.write_text(yaml.safe_dump(data))
    held = cli("run", str(intent), "--json", str(tmp_path / "held.json"))
    assert held.exit_code == 1, held
    summary = json.loads((tmp_path / "held.json").read_text())
    project = summary["projectId"]
    assert summary["outcome"] == "awaiting approval" and summary["findingCounts"]["critical"] == 1
    assert "critical IB010" in held.stdout and "outside data residency" in held.stdout
    assert re.search(r"^findings +1 critical", held.stdout, re.MULTILINE)  # every severity is counted
    assert "--override-findings" in held.stderr
    assert not any(e["type"] == "ReleaseTriggered" for e in events_in(home))

    plain = cli("approve", project, "--as", "alice", "--reason", "looks fine")
    assert plain.exit_code == 2 and "critical policy IB010 (task-tracker)" in plain.stderr
    assert "--override-findings" in plain.stderr
    override = cli("approve", project, "--as", "alice", "--reason", "test tenant only", "--override-findings")
    assert override.exit_code == 0, override
    released = cli("run", str(intent), "--quiet")
    assert released.exit_code == 0, released
    rt = bootstrap()
    audit = [e["data"] for e in rt.state.events_for_project(project) if e["type"] == "CoordinatorStateChanged"
             and e["data"]["flow"] == "release-manager" and e["data"]["to"] == "approved"]
    assert audit and audit[0]["actor"] == "alice"
    assert audit[0]["reason"] == "test tenant only (overrides findings: critical policy IB010 (task-tracker))"
    (granted,) = [e["data"] for e in rt.state.events_for_project(project) if e["type"] == "ReleaseApprovalGranted"]
    assert granted["overriddenFindings"] == ["task-tracker/IB010/tenancy"]


def test_a_critical_security_finding_holds_the_release_refuses_a_plain_approval_and_a_rejection_fails_the_project(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plant_security_finding(monkeypatch, "critical")
    intent = str(EXAMPLES / "task-tracker.yaml")  # released to dev: no approval needed but for the finding
    held = cli("run", intent, "--json", str(tmp_path / "held.json"))
    assert held.exit_code == 1, held
    summary = json.loads((tmp_path / "held.json").read_text())
    project = summary["projectId"]
    assert summary["outcome"] == "awaiting approval" and summary["reason"] is None
    assert summary["flows"] == {"project-lifecycle": "building", "microservice-assembly/task-tracker": "releasing",
                                "release-manager": "awaitingApproval"}  # the service is built, not failed
    assert [(f["kind"], f["severity"], f["ruleId"]) for f in summary["heldBy"]] == [("security", "critical", "SEC001")]
    assert re.search(r"^outcome +awaiting approval$", held.stdout, re.MULTILINE), held.stdout
    assert re.search(r"^held by +critical security SEC001 \(task-tracker\)", held.stdout, re.MULTILINE)
    assert "error: project " in held.stderr and "waits for a person to approve its release to dev" in held.stderr
    assert "--override-findings" in held.stderr
    assert f"factory artifacts get {project} security/task-tracker-review.md" in held.stderr
    assert not any(e["type"] in ("ReleaseApproved", "ReleaseTriggered", "ProjectCompleted") for e in events_in(home))

    plain = cli("approve", project, "--as", "alice", "--reason", "looks fine")
    assert plain.exit_code == 2, plain
    assert "held by 1 finding(s) that need an override: critical security SEC001 (task-tracker)" in plain.stderr
    assert not any(e["type"] == "ReleaseApprovalGranted" for e in events_in(home))
    rejected = cli("reject", project, "--as", "bob", "--reason", "rotate the key first")
    assert rejected.exit_code == 0, rejected
    ended = cli("run", intent, "--json", str(tmp_path / "ended.json"))  # resumes: the host applies the decision
    assert ended.exit_code == 1, ended
    summary = json.loads((tmp_path / "ended.json").read_text())
    assert summary["outcome"] == "failed" and summary["flows"]["release-manager"] == "rejected"
    assert summary["failedFlows"]["release-manager"] == "the release was rejected by bob: rotate the key first"
    assert "the release was rejected by bob: rotate the key first" in ended.stderr
    assert not any(e["type"] in ("ReleaseApproved", "ReleaseTriggered") for e in events_in(home))


def test_ctrl_c_during_run_exits_130_says_to_rerun_and_the_rerun_resumes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cmd = [FACTORY, "run", str(EXAMPLES / "task-tracker.yaml"), "--quiet"]
    env = factory_env(home)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(events_in(home)) < 8:  # the host is running (the handler is installed before it starts)
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)  # polling a real subprocess, not a sleep in the code under test
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out + err
    assert "error: interrupted" in err and "nothing is lost" in err
    assert f"run the same command again to resume: `factory run {EXAMPLES / 'task-tracker.yaml'}`" in err
    assert "Traceback" not in err
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "outcome      released" in again.stdout
