"""Many projects at once: intents submitted through the HTTP API of real ``factory host`` processes.

    .venv/bin/python tests/bench/bench_scale.py [--projects 100] [--sequential 8] [--json OUT]

Three runs, each on a fresh ``FACTORY_HOME``, all in this one run so the ratios compare like with like:

* sequential (the baseline): one ``factory host``; one intent is POSTed to ``/api/projects``, the next
  only once the previous project completed. Rate = projects / wall time.
* one host, all at once: ``--projects`` intents POSTed concurrently (one thread each, released by a
  barrier) to one host; wall time from the first POST to the last ``ProjectCompleted``.
* two hosts, all at once: two ``factory host`` processes on the same home (competing consumers on
  the same bus file), the POSTs split between their two APIs.

The intents are distinct products made from ``examples/`` (a numbered name each), so nothing is
shared or cached between projects. Completion is observed read-only in ``state.db`` (the event log),
never through the hosts, so watching does not load them. Reported per run: projects per minute, time
to release (first event → ``ReleaseTriggered``, from the event log) for the first project and p50/p95,
how many released, how busy the machine's cores were, each host's peak RSS (kernel ``VmHWM``) and CPU,
the test sandboxes' CPU, and the size of every database.
Not collected by pytest; numbers are printed and written as JSON, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("task-tracker", "catalogue", "invoicing")
TWO_HOST_GOAL = 1.6
RSS_GOAL_MB = 300.0

Metric = dict[str, Any]


def metric(name: str, value: float | None, unit: str, *, goal: str | None = None, met: bool | None = None,
           baseline: float | None = None, baseline_label: str | None = None, notes: str = "") -> Metric:
    ratio = value / baseline if value is not None and baseline else None
    return {"name": name, "value": value, "unit": unit, "goal": goal, "goalMet": met, "baseline": baseline,
            "baselineLabel": baseline_label, "ratio": ratio, "notes": notes}


def factory_command() -> list[str]:
    script = Path(sys.executable).with_name("factory")
    return [str(script)] if script.exists() else [sys.executable, "-m", "shared.cli.main"]


def intents(count: int, offset: int = 0) -> list[dict[str, Any]]:
    """``count`` distinct intents: the examples in turn, each product renamed ``<name>-<n>``."""
    bases = [yaml.safe_load((ROOT / "examples" / f"{name}.yaml").read_text(encoding="utf-8")) for name in EXAMPLES]
    out = []
    for i in range(offset, offset + count):
        doc = json.loads(json.dumps(bases[i % len(bases)]))
        doc["product"]["name"] = f"{doc['product']['name']}-{i:03d}"
        doc["product"]["displayName"] = f"{doc['product']['displayName']} {i:03d}"
        out.append(doc)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- hosts


@dataclass
class Host:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    ps: psutil.Process
    peak_rss_mb: float = 0.0
    peak_children_rss_mb: float = 0.0
    cpu_start: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    #: the home's API token (``FACTORY_HOME/api.token``, as a script reads it): every POST carries it
    token: str = ""
    #: CPU seconds of every descendant seen (pid -> last reading): test runs, jails, tools
    descendants_cpu: dict[int, float] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"


def _hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cpu(ps: psutil.Process) -> dict[str, float]:
    t = ps.cpu_times()
    return {"user": t.user, "system": t.system, "childrenUser": t.children_user,
            "childrenSystem": t.children_system}


def start_hosts(home: Path, count: int, work: Path) -> list[Host]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FACTORY_") and k != "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    env.update({"FACTORY_HOME": str(home), "PYTHONUNBUFFERED": "1"})
    hosts = []
    for i in range(count):
        port = free_port()
        log = work / f"host-{i}.log"
        proc = subprocess.Popen([*factory_command(), "host", "--port", str(port), "--quiet"], cwd=ROOT,
                                env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        hosts.append(Host(port, proc, log, psutil.Process(proc.pid)))
    deadline = time.monotonic() + 60
    for host in hosts:
        while True:
            try:
                urllib.request.urlopen(f"{host.api}/projects/none", timeout=2)
            except urllib.error.HTTPError:
                break  # the API answers (404: no such project): the host is up
            except OSError:
                if host.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"factory host did not start: {host.log.read_text()[-1500:]}") from None
                time.sleep(0.1)
        host.cpu_start = sum(_cpu(host.ps).values())
        host.token = (home / "api.token").read_text().strip()
    return hosts


def stop_hosts(hosts: list[Host]) -> None:
    for host in hosts:
        with contextlib.suppress(psutil.Error):
            host.cpu = _cpu(host.ps)
        host.proc.send_signal(signal.SIGINT)
    for host in hosts:
        try:
            host.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            host.proc.kill()
            host.proc.wait()


class Watch:
    """Polls the hosts' memory (own peak and their children's) every 50 ms in a thread."""

    def __init__(self, hosts: list[Host]) -> None:
        self.hosts = hosts
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for host in self.hosts:
                host.peak_rss_mb = max(host.peak_rss_mb, _hwm_mb(host.proc.pid))
                with contextlib.suppress(psutil.Error):
                    rss = 0
                    for child in host.ps.children(recursive=True):
                        with contextlib.suppress(psutil.Error):
                            t = child.cpu_times()
                            host.descendants_cpu[child.pid] = t.user + t.system
                            rss += child.memory_info().rss
                    host.peak_children_rss_mb = max(host.peak_children_rss_mb, rss / 1_048_576)


# --------------------------------------------------------------------------- submitting and watching


def post_intent(host: Host, intent: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(f"{host.api}/projects", data=json.dumps(intent).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {host.token}"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        body: dict[str, Any] = json.loads(resp.read())
    if resp.status != 202:
        raise RuntimeError(f"POST /api/projects answered {resp.status}: {body}")
    return body


@contextlib.contextmanager
def event_log(home: Path) -> Iterator[sqlite3.Connection]:
    """The event log of ``home``, opened read-only (observing never writes or locks for writing)."""
    db = sqlite3.connect(f"file:{home / 'state.db'}?mode=ro", uri=True, timeout=30)
    try:
        yield db
    finally:
        db.close()


def completed(home: Path, project_ids: set[str]) -> dict[str, str]:
    """project id -> outcome for those of ``project_ids`` that have a ProjectCompleted event."""
    with event_log(home) as db:
        rows = db.execute("SELECT project_id, body FROM events WHERE type = 'ProjectCompleted'").fetchall()
    return {pid: json.loads(body)["data"].get("outcome", "?") for pid, body in rows if pid in project_ids}


def release_seconds(home: Path, project_ids: set[str]) -> dict[str, float]:
    """Per project: first event → ReleaseTriggered, from the event times the hosts recorded."""
    with event_log(home) as db:
        rows = db.execute("SELECT project_id, type, time FROM events WHERE project_id IS NOT NULL").fetchall()
    first: dict[str, datetime] = {}
    released: dict[str, datetime] = {}
    for pid, type_, at in rows:
        if pid not in project_ids:
            continue
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
        first[pid] = min(first.get(pid, moment), moment)
        if type_ == "ReleaseTriggered":
            released[pid] = moment
    return {pid: (released[pid] - first[pid]).total_seconds() for pid in released}


def wait_for(home: Path, project_ids: set[str], timeout: float) -> tuple[dict[str, str], float]:
    t0 = time.perf_counter()
    done: dict[str, str] = {}
    while time.perf_counter() - t0 < timeout:
        done = completed(home, project_ids)
        if len(done) == len(project_ids):
            break
        time.sleep(0.05)
    return done, time.perf_counter()


def sizes_mb(home: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    for stem in ("bus.db", "state.db", "traces.db"):
        for name in (stem, f"{stem}-wal"):  # the write-ahead log apart: it is reused, not data
            if (home / name).exists():
                out[name] = round((home / name).stat().st_size / 1_048_576, 2)
    artifacts = home / "artifacts"
    if artifacts.exists():
        out["artifacts"] = round(sum(p.stat().st_size for p in artifacts.rglob("*") if p.is_file()) / 1_048_576, 2)
    return out


# --------------------------------------------------------------------------- runs


def run(label: str, work: Path, docs: list[dict[str, Any]], *, hosts: int, sequential: bool,
        timeout: float) -> dict[str, Any]:
    home = work / label / "home"
    home.mkdir(parents=True)
    started = start_hosts(home, hosts, work / label)
    ids: set[str] = set()
    outcomes: dict[str, str] = {}
    errors: list[str] = []
    load_before = os.getloadavg()[0]
    cpu_before = psutil.cpu_times()
    try:
        with Watch(started):
            t0 = time.perf_counter()
            if sequential:
                t_end = t0
                for doc in docs:
                    pid = post_intent(started[0], doc)["projectId"]
                    ids.add(pid)
                    done, t_end = wait_for(home, {pid}, timeout)
                    outcomes.update(done)
                    if pid not in done:
                        errors.append(f"{label}: project {pid} did not complete within {timeout:.0f} s")
                        break
            else:
                barrier = threading.Barrier(len(docs))

                def submit(i: int) -> str:
                    barrier.wait(timeout=60)
                    return str(post_intent(started[i % hosts], docs[i])["projectId"])

                with ThreadPoolExecutor(max_workers=len(docs)) as pool:
                    ids = set(pool.map(submit, range(len(docs))))
                submitted = time.perf_counter() - t0
                outcomes, t_end = wait_for(home, ids, timeout)
                if len(outcomes) < len(ids):
                    errors.append(f"{label}: {len(ids) - len(outcomes)} of {len(ids)} projects did not complete "
                                  f"within {timeout:.0f} s")
            wall = t_end - t0
            busy = machine_busy(cpu_before, psutil.cpu_times())
    finally:
        stop_hosts(started)
    release = release_seconds(home, ids)
    released = sum(1 for o in outcomes.values() if o == "released")
    if released < len(ids):
        failed = {pid: o for pid, o in outcomes.items() if o != "released"}
        errors.append(f"{label}: {released} of {len(ids)} projects released; others: {dict(list(failed.items())[:5])}")
    times = sorted(release.values())
    q = statistics.quantiles(times, n=20, method="inclusive") if len(times) >= 2 else times * 19
    host_info = []
    for h in started:
        own = h.cpu.get("user", 0.0) + h.cpu.get("system", 0.0)
        # reaped children are in childrenUser/System; jailed runs may be reaped elsewhere: the polled tree
        kids = max(h.cpu.get("childrenUser", 0.0) + h.cpu.get("childrenSystem", 0.0), sum(h.descendants_cpu.values()))
        host_info.append({"peakRssMb": round(h.peak_rss_mb, 1), "peakChildrenRssMb": round(h.peak_children_rss_mb, 1),
                          "cpuSeconds": round(own, 1), "testSandboxCpuSeconds": round(kids, 1),
                          "cpuShareOfOneCore": round(own / wall, 2) if wall else None})
    return {
        "label": label, "hosts": hosts, "projects": len(ids), "released": released, "wallSeconds": round(wall, 2),
        "projectsPerMinute": round(len(ids) / wall * 60, 2) if wall else None,
        "submitSeconds": None if sequential else round(submitted, 2),
        "releaseSecondsFirst": round(times[0], 2) if times else None,
        "releaseSecondsP50": round(statistics.median(times), 2) if times else None,
        "releaseSecondsP95": round(q[18], 2) if times else None,
        "hostsDetail": host_info, "databasesMb": sizes_mb(home),
        "loadAverage": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "machineCpuBusy": round(busy, 3), "errors": errors,
    }


def machine_busy(before: Any, after: Any) -> float:
    """Share of every core's time spent running anything (not idle, not waiting for I/O) between two
    ``psutil.cpu_times()`` readings: how close the run came to saturating the machine."""
    total = sum(after) - sum(before)
    idle = (after.idle - before.idle) + (getattr(after, "iowait", 0.0) - getattr(before, "iowait", 0.0))
    return 1.0 - idle / total if total > 0 else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--sequential", type=int, default=8, help="projects in the sequential baseline")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a run may take")
    parser.add_argument("--only", choices=["sequential", "one-host", "two-hosts"], action="append")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"bench": "scale", "metrics": [], "details": {}, "errors": []}
    runs = [("sequential", args.sequential, 1, True), ("one-host", args.projects, 1, False),
            ("two-hosts", args.projects, 2, False)]
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for offset, (label, count, hosts, sequential) in enumerate(runs):
            if args.only and label not in args.only:
                continue
            try:
                r = run(label, Path(tmp), intents(count, offset * 1000), hosts=hosts, sequential=sequential,
                        timeout=args.timeout)
            except Exception as exc:  # reported, never hidden
                result["errors"].append(f"{label}: {type(exc).__name__}: {exc}")
                continue
            result["details"][label] = r
            result["errors"].extend(r["errors"])
    d = result["details"]
    seq = (d.get("sequential") or {}).get("projectsPerMinute")
    one = (d.get("one-host") or {}).get("projectsPerMinute")
    for label, base, base_label, goal in (("sequential", None, None, None),
                                         ("one-host", seq, "sequential", None),
                                         ("two-hosts", one, "one host, all at once", TWO_HOST_GOAL)):
        r = d.get(label)
        if not r:
            continue
        rate = r["projectsPerMinute"]
        met = None if goal is None or rate is None or base is None else (rate / base >= goal and
                                                                           r["released"] == r["projects"])
        result["metrics"].append(metric(
            f"scale {label}: projects/min", rate, "projects/min", goal=f">= {goal}x one host" if goal else None,
            met=met, baseline=base, baseline_label=base_label,
            notes=f"{r['released']}/{r['projects']} released in {r['wallSeconds']} s; first release after "
                  f"{r['releaseSecondsFirst']} s, p50 {r['releaseSecondsP50']} s, p95 {r['releaseSecondsP95']} s; "
                  f"machine CPU busy {r['machineCpuBusy']:.0%} of {os.cpu_count()} cores; load {r['loadAverage']}"))
        peak = max(h["peakRssMb"] for h in r["hostsDetail"])
        result["metrics"].append(metric(
            f"scale {label}: peak RSS per host", peak, "MB", goal=f"<= {RSS_GOAL_MB:.0f}", met=peak <= RSS_GOAL_MB,
            notes="; ".join(f"host {i}: cpu {h['cpuSeconds']} s ({h['cpuShareOfOneCore']} of a core), test "
                            f"sandboxes cpu {h['testSandboxCpuSeconds']} s, children peak {h['peakChildrenRssMb']} MB"
                            for i, h in enumerate(r["hostsDetail"]))
                  + f"; databases {r['databasesMb']} MB"))
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
