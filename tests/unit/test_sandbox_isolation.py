"""The sandbox holds against tests that try to get out: network, the parent's secrets, files, processes.

``sandbox_escapes.py`` runs inside; each of its checks passes only when contained. It runs twice:
as the pytest suite of a project, through the real runner started by a host-like process that
holds a secret in its environment (the isolation this machine picks), and as a plain script under
the other isolation, so both ``userns`` and ``rootns`` are proven where they can run. After each run
the host side checks what the inside cannot see: its listener got no connection, no file appeared
outside the work folder, no process survived, and the secret never showed up in the report.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from shared.adapters.process.jail import BWRAP_ENV, Isolation, Jail, Limits, python_roots, start
from shared.adapters.process.sandbox import SandboxedTestRunner, SandboxError
from shared.adapters.process.scratch import PREFIX, scratch_folder
from shared.ports.test_runner import TestReport

ROOT = Path(__file__).resolve().parents[2]
ESCAPES = Path(__file__).with_name("sandbox_escapes.py")
SECRET_NAME = "FACTORY_SIGNING_KEY"
LIMITS = Limits(processes=64, cpu_seconds=2, memory_bytes=1024**3, tmp_bytes=16 * 1024**2)
MACHINE_CHOICE = Jail().isolation(sys.executable)


@dataclass
class Listener:
    """A TCP listener on the host's loopback that counts connections."""

    server: socket.socket
    hits: list[object] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.getsockname()[1])

    def serve(self) -> None:
        while True:
            try:
                connection, address = self.server.accept()
            except OSError:
                return
            self.hits.append(address)
            connection.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = socket.create_server(("127.0.0.1", 0))
    probe = Listener(server)
    thread = threading.Thread(target=probe.serve, daemon=True)
    thread.start()
    yield probe
    server.shutdown(socket.SHUT_RDWR)  # wakes the accept() in the thread
    server.close()
    thread.join(timeout=5)


@dataclass
class Escape:
    """One escape attempt's parameters and the host paths to check afterwards."""

    tag: str
    params: dict[str, object]
    outside: list[Path]

    def check_host(self, listener: Listener) -> None:
        leftovers = tagged_processes(self.tag)
        for proc in leftovers:  # clean up before failing, never leave them on a shared machine
            proc.kill()
        arrived = [p for p in self.outside if p.exists()]
        for path in arrived:
            path.unlink()
        assert listener.hits == [], "the sandbox reached a listener on the host's loopback"
        assert arrived == [], f"the sandbox wrote outside its folder: {arrived}"
        assert leftovers == [], f"processes outlived the run: {[p.cmdline() for p in leftovers]}"


def tagged_processes(tag: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(tag in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def escape(tmp_path: Path, listener: Listener) -> Escape:
    tag = "sbx" + secrets.token_hex(6)
    host_secret = tmp_path / "host-secret.txt"
    host_secret.write_text("not for the sandbox")
    venv = Path(sys.executable).parent.parent
    unwritable = [ROOT / f"escape-{tag}", venv / f"escape-{tag}", tmp_path / f"escape-{tag}"]
    private = [Path(f"/tmp/escape-{tag}")]
    params = {
        "tag": tag, "port": listener.port, "parent_pid": os.getpid(), "secret_name": SECRET_NAME,
        "unreadable": ["/etc/shadow", str(ROOT / "pyproject.toml"), str(host_secret), "/root/.bashrc"],
        "unwritable": [str(p) for p in unwritable], "private": [str(p) for p in private],
        "interpreter_roots": python_roots(sys.executable) + python_roots("/usr/bin/python3"),
        "processes": LIMITS.processes, "memory_bytes": LIMITS.memory_bytes, "tmp_bytes": LIMITS.tmp_bytes,
    }
    return Escape(tag, params, [*unwritable, *private])


def test_the_runner_contains_an_escaping_suite_started_by_a_host_holding_a_secret(
        tmp_path: Path, listener: Listener) -> None:
    attempt = escape(tmp_path, listener)
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    shutil.copy(ESCAPES, project / "tests" / "test_escapes.py")
    (project / "escape_params.json").write_text(json.dumps(attempt.params))
    scratch_root = tmp_path / "scratch"
    secret_value = secrets.token_urlsafe(24)
    limits = {"processes": LIMITS.processes, "cpu_seconds": LIMITS.cpu_seconds,
              "memory_bytes": LIMITS.memory_bytes, "tmp_bytes": LIMITS.tmp_bytes}

    host = subprocess.run(
        [sys.executable, "-m", "tests.unit.sandbox_host", str(project), str(scratch_root), "120", json.dumps(limits)],
        cwd=ROOT, env={**os.environ, SECRET_NAME: secret_value}, capture_output=True, text=True, timeout=300,
        check=False)

    assert host.returncode == 0, host.stderr
    report = TestReport.from_wire(json.loads(host.stdout))
    attempt.check_host(listener)
    failed = {c.name: c.message for c in report.cases if c.outcome != "passed"}
    assert failed == {} and report.ok, report.output
    assert report.passed == sum(1 for line in ESCAPES.read_text().splitlines() if line.startswith("def test_"))
    assert report.isolation.startswith(f"bubblewrap sandbox ({MACHINE_CHOICE}")
    assert secret_value not in host.stdout
    assert list(scratch_root.iterdir()) == [], "the run's scratch folder was not removed"


@pytest.mark.parametrize("isolation", list(Isolation))
def test_the_other_isolation_contains_the_same_escapes(tmp_path: Path, listener: Listener,
                                                        isolation: Isolation) -> None:
    if isolation is MACHINE_CHOICE:
        pytest.skip(f"{isolation} is what the runner uses here: proven by the runner test above")
    if isolation is Isolation.rootns and os.geteuid() != 0:
        pytest.skip("the rootns isolation needs root")
    python = sys.executable if isolation is Isolation.rootns else "/usr/bin/python3"
    if not Path(python).is_file():
        pytest.skip(f"{python} is needed to run the escapes under {isolation}")
    attempt = escape(tmp_path, listener)
    jail = Jail(limits=LIMITS, isolation=isolation)
    assert jail.verdict(python, imports="json").usable, jail.verdict(python, imports="json")

    with scratch_folder(Path(tempfile.gettempdir())) as scratch:  # as the runner: a folder any uid may pass
        work = scratch / "work"
        work.mkdir()
        shutil.copy(ESCAPES, work / "sandbox_escapes.py")
        (work / "escape_params.json").write_text(json.dumps(attempt.params))
        launch = jail.prepare(scratch, work, [python, "sandbox_escapes.py"], python=python,
                              env={**BWRAP_ENV, "HOME": "/tmp"})
        try:
            run = start(launch)
        finally:
            launch.close()
        out, _ = run.proc.communicate(timeout=120)
        assert run.reap(), "the jail's processes outlived the run"
        host_owner = (work / "written-inside.txt").stat().st_uid

    assert host_owner != 0, "the sandbox wrote as root on the host"
    attempt.check_host(listener)
    verdicts = json.loads(out.decode().splitlines()[-1])
    escaped = {name: v for name, v in verdicts.items() if v != "contained"}
    assert escaped == {}
    assert len(verdicts) == sum(1 for line in ESCAPES.read_text().splitlines() if line.startswith("def test_"))


def _reachable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & 0o001 for p in path.resolve().parents)


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/python3").is_file() or not _reachable_by_others(ROOT),
                    reason="needs root (to become another user), /usr/bin/python3 and a checkout other users can read")
def test_a_factory_that_is_not_root_gets_the_same_containment(tmp_path: Path, listener: Listener) -> None:
    attempt = escape(tmp_path, listener)
    limits = {"processes": LIMITS.processes, "cpu_seconds": LIMITS.cpu_seconds,
              "memory_bytes": LIMITS.memory_bytes, "tmp_bytes": LIMITS.tmp_bytes}

    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "/usr/bin/python3",
         str(ROOT / "tests" / "unit" / "sandbox_unprivileged_host.py"), str(ROOT), json.dumps(attempt.params),
         json.dumps(limits)],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", SECRET_NAME: secrets.token_urlsafe(16)},
        cwd="/tmp", capture_output=True, text=True, timeout=300, check=False)

    assert done.returncode == 0, done.stderr
    attempt.check_host(listener)
    verdicts = json.loads(done.stdout.splitlines()[-1])
    assert {name: v for name, v in verdicts.items() if v != "contained"} == {}
    assert len(verdicts) == sum(1 for line in ESCAPES.read_text().splitlines() if line.startswith("def test_"))


# --------------------------------------------------------------------------- nothing outlives a run


def hang_project(root: Path, tag: str) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_hang.py").write_text(textwrap.dedent(f"""
        import subprocess, sys, threading

        def sleeper(label):
            return [sys.executable, "-c", "import time; time.sleep(600)", "{tag}-" + label]

        def test_hangs_with_helpers_running():
            subprocess.Popen(sleeper("child"))
            subprocess.run(["setsid", "-f", *sleeper("setsid")], check=True)
            threading.Event().wait()
    """))
    return root


def wait_for_tagged(tag: str, count: int, owner: subprocess.Popen[str] | threading.Thread) -> list[psutil.Process]:
    """Until ``count`` tagged processes run; paced by waiting on the owner, which must stay alive."""
    for _ in range(1200):
        found = tagged_processes(tag)
        if len(found) >= count:
            return found
        if isinstance(owner, threading.Thread):
            owner.join(timeout=0.05)
            alive = owner.is_alive()
        else:
            try:
                owner.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            alive = False
        assert alive, "the run ended before its helpers started"
    raise AssertionError(f"the sandboxed helpers of {tag} never started")


def test_killing_the_host_kills_every_sandboxed_process_and_the_next_runner_sweeps_its_folder(
        tmp_path: Path) -> None:
    tag = "sbx" + secrets.token_hex(6)
    project = hang_project(tmp_path / "project", tag)
    scratch_root = tmp_path / "scratch"
    host = subprocess.Popen(
        [sys.executable, "-m", "tests.unit.sandbox_host", str(project), str(scratch_root), "600", "{}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        helpers = wait_for_tagged(tag, 2, host)
        descendants = psutil.Process(host.pid).children(recursive=True)
        assert any("pytest" in " ".join(p.cmdline()) for p in descendants)
        assert all(p.uids().real != 0 for p in helpers), "sandboxed processes run as root on the host"
    finally:
        host.kill()  # SIGKILL: the host has no chance to clean up
        host.wait()

    _gone, alive = psutil.wait_procs(descendants, timeout=20)
    for proc in alive:
        proc.kill()
    assert alive == [], f"orphans after the host was killed: {[p.pid for p in alive]}"
    assert tagged_processes(tag) == []
    abandoned = list(scratch_root.glob(PREFIX + "*"))
    assert len(abandoned) == 1

    assert SandboxedTestRunner(scratch_root=scratch_root).sweep() == abandoned
    assert not abandoned[0].exists()


def test_closing_the_runner_ends_a_run_in_progress(tmp_path: Path) -> None:
    tag = "sbx" + secrets.token_hex(6)
    project = hang_project(tmp_path / "project", tag)
    runner = SandboxedTestRunner(base_env={"PATH": "/usr/bin:/bin"}, scratch_root=tmp_path / "scratch")
    reports: list[TestReport] = []
    errors: list[Exception] = []

    def gate() -> None:
        try:
            reports.append(runner.run(project, timeout_s=600))
        except SandboxError as exc:
            errors.append(exc)

    thread = threading.Thread(target=gate)
    thread.start()
    try:
        helpers = wait_for_tagged(tag, 2, thread)
    finally:
        runner.close()  # what Runtime.close() does when a host shuts down mid-handling
        thread.join(timeout=30)

    assert not thread.is_alive()
    _gone, alive = psutil.wait_procs(helpers, timeout=20)
    assert alive == []
    assert reports == [], "a run stopped by the shutdown must not pass for a test verdict"
    assert isinstance(errors[0], SandboxError) and "shutting down" in str(errors[0]) and not errors[0].permanent
    assert list((tmp_path / "scratch").iterdir()) == []
    with pytest.raises(SandboxError, match="closed"):
        runner.run(project, timeout_s=600)
