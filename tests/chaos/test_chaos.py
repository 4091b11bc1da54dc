"""Chaos against the embedded runtime with real `factory host` processes: SIGKILL during runs, competing
hosts, databases damaged while stopped, a read-only artifact store, a file-size limit.

After each, every project reaches its final state or shows a clear failure, with no lost or doubled
effect. `make test` runs the short version; `make chaos` (CHAOS=long) kills more often and runs more projects.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from shared.bootstrap import bootstrap
from shared.host.local import build_host
from shared.product.intent import load_intent
from shared.product.projects import project_files, project_status, start_project
from shared.runtime import set_runtime
from shared.settings import Settings

pytestmark = pytest.mark.chaos

ROOT = Path(__file__).resolve().parents[2]
FACTORY = str(Path(sys.executable).with_name("factory"))
LONG = os.environ.get("CHAOS") == "long"
KILLS = 6 if LONG else 2
INTENTS = [ROOT / "examples" / "task-tracker.yaml", *(
    [p for p in sorted((ROOT / "examples").glob("*.yaml")) if p.stem not in ("bad-intent", "task-tracker")][:2]
    if LONG else [])]
TRACEBACK = "Traceback (most recent call last)"


LOCK_SECONDS = 2


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_")}
    return {**env, "FACTORY_HOME": str(home), "PYTHONUNBUFFERED": "1",
            "FACTORY_LOCK_DURATION_SECONDS": str(LOCK_SECONDS), "COLUMNS": "200", **extra}


def start(home: Path, intents: list[Path] = INTENTS) -> list[str]:
    # the subscriptions exist before anything is published (as on Azure), with the settings the hosts below use
    rt = bootstrap(Settings(FACTORY_HOME=home, FACTORY_LOCK_DURATION_SECONDS=LOCK_SECONDS))  # type: ignore[call-arg]
    subscriptions, _ = build_host(rt)
    subscriptions.close()
    try:
        return [start_project(rt, load_intent(p), run_id="chaos").project_id for p in intents]
    finally:
        set_runtime(None)
        rt.close()


def host(home: Path, *args: str, timeout: float = 400, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FACTORY, "host", "--port", "0", *args], env=env_for(home, **extra), text=True,
                          capture_output=True, timeout=timeout, cwd=ROOT)


def host_killed_after(home: Path, deliveries: int) -> None:
    """A host SIGKILLed after it reported ``deliveries`` handled messages (mid-run, whatever it was doing)."""
    proc = subprocess.Popen([FACTORY, "--debug", "host", "--port", "0"], env=env_for(home), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:
        assert TRACEBACK not in line, line
        if "completed" in line and "←" in line:
            seen += 1
            if seen >= deliveries:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def final_states(home: Path, project_ids: list[str]) -> dict[str, Any]:
    rt = bootstrap(Settings(FACTORY_HOME=home))  # type: ignore[call-arg]
    try:
        out = {}
        for pid in project_ids:
            st = project_status(rt, pid)
            types = Counter(e["type"] for e in st.events)
            outputs = Counter((e["type"], e.get("causationId"), e["data"].get("service")) for e in st.events
                              if e["type"] not in ("CoordinatorStateChanged", "FlowTimeout", "AgentFailed",
                                                   "AgentRetryRequested"))
            out[pid] = {"outcome": st.outcome, "reason": st.reason, "types": types,
                        "doubled": {k: n for k, n in outputs.items() if n > 1}, "files": project_files(rt, pid)}
        return out
    finally:
        rt.close()


def test_repeated_sigkill_of_the_host_loses_and_doubles_nothing(tmp_path: Path) -> None:
    projects = start(tmp_path)
    for kill in range(KILLS):
        host_killed_after(tmp_path, 5 + 7 * kill)
    doctor = subprocess.run([FACTORY, "doctor"], env=env_for(tmp_path), capture_output=True, text=True, timeout=60)
    assert doctor.returncode == 0 and "was killed or crashed" in doctor.stdout, doctor.stdout + doctor.stderr
    done = host(tmp_path, "--until-idle")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert TRACEBACK not in done.stdout + done.stderr
    assert not list((tmp_path / "hosts").glob("*.json"))  # the dead hosts' records were swept, its own removed
    for pid, st in final_states(tmp_path, projects).items():
        assert st["outcome"] == "released", (pid, st["reason"])
        assert st["doubled"] == {}, st["doubled"]
        assert st["types"]["ProjectCompleted"] == 1 and st["types"]["ReleaseTriggered"] >= 1
        assert st["files"]


def test_two_competing_hosts_finish_every_project_once(tmp_path: Path) -> None:
    projects = start(tmp_path)
    procs = [subprocess.Popen([FACTORY, "host", "--port", "0", "--until-idle"], env=env_for(tmp_path),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(2)]
    outputs = [p.communicate(timeout=400) for p in procs]
    for (out, errs), p in zip(outputs, procs, strict=True):
        assert TRACEBACK not in out + errs, errs[-2000:]
        assert p.returncode in (0, 1), errs[-2000:]  # 1: the other host had not finished a project yet
    for st in final_states(tmp_path, projects).values():
        assert st["outcome"] == "released", st["reason"]
        assert st["doubled"] == {} and st["types"]["ProjectCompleted"] == 1


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_a_database_damaged_while_stopped_is_refused_by_name_and_repaired(tmp_path: Path, damage: str) -> None:
    projects = start(tmp_path)
    state = tmp_path / "state.db"
    for suffix in ("-wal", "-shm"):
        state.with_name(state.name + suffix).unlink(missing_ok=True)
    if damage == "truncated":
        state.write_bytes(b"")
    else:
        data = bytearray(state.read_bytes())
        data[0:100] = os.urandom(100)  # the header: SQLite cannot even tell what it is
        state.write_bytes(bytes(data))
    refused = host(tmp_path, "--until-idle", timeout=60)
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    assert TRACEBACK not in said and str(state) in said.replace("\n", "") and "factory repair" in said, said[-1500:]
    doctor = subprocess.run([FACTORY, "doctor"], env=env_for(tmp_path), capture_output=True, text=True, timeout=60)
    assert doctor.returncode == 1 and "BROKEN" in doctor.stdout and TRACEBACK not in doctor.stderr
    repaired = subprocess.run([FACTORY, "repair", "--yes"], env=env_for(tmp_path), capture_output=True, text=True,
                              timeout=60)
    assert repaired.returncode == 0 and "moved to" in repaired.stdout, repaired.stdout + repaired.stderr
    again = host(tmp_path, "--until-idle")
    assert TRACEBACK not in again.stdout + again.stderr
    # the state was lost, the bus was not: the work already queued runs; nothing is done twice
    for st in final_states(tmp_path, projects).values():
        assert st["doubled"] == {}


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap makes the read-only mount (CI installs it)")
def test_a_read_only_artifact_store_fails_the_project_with_the_real_reason(tmp_path: Path) -> None:
    projects = start(tmp_path)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir(exist_ok=True)
    cmd = ["bwrap", "--dev-bind", "/", "/", "--ro-bind", str(artifacts), str(artifacts), "--",
           FACTORY, "host", "--port", "0", "--until-idle"]
    for _run in range(12):  # the coordinator's retries are timers (1 s, 2 s): a host run per step
        done = subprocess.run(cmd, env=env_for(tmp_path, FACTORY_MAX_DELIVERY_COUNT="2"), capture_output=True,
                              text=True, timeout=400, cwd=ROOT)
        assert TRACEBACK not in done.stdout + done.stderr, done.stderr[-2000:]
        if done.returncode == 0:
            break
        assert done.returncode == 1 and "not finished" in done.stderr, done.stderr[-2000:]  # a retry timer ahead
    for st in final_states(tmp_path, projects).values():
        assert st["outcome"] == "failed", st
        assert "Read-only file system" in (st["reason"] or ""), st["reason"]


def test_a_file_size_limit_on_the_bus_never_ends_the_host_and_the_run_finishes_after(tmp_path: Path) -> None:
    import resource

    projects = start(tmp_path)
    # 64 KiB beyond the largest of the bus's files (the write-ahead log can be larger than the database): the host
    # starts (its subscriptions exist as it wants them: no write), then the bus fills up during the run
    limit = max(f.stat().st_size for f in tmp_path.glob("bus.db*")) + 64 * 1024

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.Popen([FACTORY, "--debug", "host", "--port", "0"], env=env_for(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT, preexec_fn=limited)
    assert proc.stdout is not None
    said = []
    for line in proc.stdout:
        said.append(line)
        if "the bus failed" in line or "infrastructure failure" in line or "backing-off" in line:
            break
    assert proc.poll() is None, "".join(said)[-2000:]  # the host is still alive
    proc.send_signal(signal.SIGTERM)
    try:
        rest, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, _ = proc.communicate()
        pytest.fail("the host did not stop within 120 s of SIGTERM:\n" + ("".join(said) + rest)[-6000:])
    said.append(rest)
    assert TRACEBACK not in "".join(said), "".join(said)[-3000:]
    done = host(tmp_path, "--until-idle")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for st in final_states(tmp_path, projects).values():
        assert st["outcome"] == "released" and st["doubled"] == {}, st
