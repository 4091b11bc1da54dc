"""The agent mesh end to end: ``factory run EXAMPLE`` per example intent, timed from outside.

    .venv/bin/python tests/bench/bench_mesh.py [--timeout 150] [--only task-tracker] [--json OUT]

For each ``examples/*.yaml`` except ``bad-intent.yaml``: a subprocess ``factory run EXAMPLE --quiet
--json OUT`` with a fresh ``FACTORY_HOME``. Reported: intent → ``ReleaseTriggered`` wall time (event
times read back from that home's state store), the generated-test run separately (``durationMs``
of TestsPassed/TestsFailed, the summary's ``tests`` field) and the time without it, events per
second, and the subprocess's peak RSS (``VmHWM`` polled from /proc, else RSS polled with psutil;
the whole process tree's peak RSS too, as the test sandbox is a child). A run that does not
release is reported with its outcome and reason, never as a number.
Not collected by pytest; numbers are printed and written as JSON, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WALL_GOAL_S = 5.0  # intent → ReleaseTriggered, without the generated-test run
RSS_GOAL_MB = 200.0
SKIP = {"bad-intent.yaml"}


def factory_command() -> list[str]:
    script = Path(sys.executable).with_name("factory")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from shared.cli.main import main; main()"]


def _hwm_mb(pid: int) -> float | None:
    """The kernel's peak-RSS mark (``VmHWM``) of a live process, where /proc has it."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_watched(cmd: list[str], env: dict[str, str], timeout: float, log: Path) -> dict[str, Any]:
    """Run ``cmd``, polling memory every 20 ms; returns exit code, wall time and peak RSS figures."""
    peak_rss = peak_tree = peak_hwm = 0.0
    t0 = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        ps = psutil.Process(proc.pid)
        timed_out = False
        while proc.poll() is None:
            if time.perf_counter() - t0 > timeout:
                timed_out = True
                proc.kill()
                break
            try:
                own = ps.memory_info().rss / 1_048_576
                tree = own + sum(c.memory_info().rss for c in ps.children(recursive=True)) / 1_048_576
            except psutil.Error:
                own = tree = 0.0
            peak_rss, peak_tree = max(peak_rss, own), max(peak_tree, tree)
            peak_hwm = max(peak_hwm, _hwm_mb(proc.pid) or 0.0)
            time.sleep(0.02)
        code = proc.wait()
    return {"exitCode": code, "timedOut": timed_out, "wallSeconds": time.perf_counter() - t0,
            "peakRssMb": peak_hwm or peak_rss, "peakRssSource": "VmHWM" if peak_hwm else "psutil polling",
            "peakTreeRssMb": peak_tree}


def _time(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))


def release_timing(home: Path, trace_id: str) -> dict[str, Any]:
    """Seconds from the trace's first event to ReleaseTriggered, read from that home's state store."""
    from shared.bootstrap import bootstrap
    from shared.settings import Settings

    runtime = bootstrap(Settings(FACTORY_HOME=home))  # type: ignore[call-arg]
    try:
        events = runtime.state.events_for_trace(trace_id)
        spans = runtime.tracer.spans_for_trace(trace_id)
    finally:
        runtime.close()
    if not events:
        return {"eventsInTrace": 0}
    by_consumer: dict[str, float] = {}
    for span in spans:
        by_consumer[span.consumer] = by_consumer.get(span.consumer, 0.0) + (span.end - span.start).total_seconds()
    slowest = sorted(by_consumer.items(), key=lambda kv: -kv[1])[:5]
    first = min(events, key=_time)
    release = next((e for e in events if e["type"] == "ReleaseTriggered"), None)
    types: dict[str, int] = {}
    for e in events:
        types[e["type"]] = types.get(e["type"], 0) + 1
    return {"eventsInTrace": len(events), "firstEvent": first["type"], "eventTypes": types,
            "handlings": len(spans), "handlingSecondsTotal": round(sum(by_consumer.values()), 3),
            "slowestConsumers": [{"consumer": c, "seconds": round(t, 3)} for c, t in slowest],
            "intentToReleaseSeconds": (_time(release) - _time(first)).total_seconds() if release else None,
            "traceSpanSeconds": (max(map(_time, events)) - _time(first)).total_seconds()}


def run_example(example: Path, timeout: float, work: Path) -> dict[str, Any]:
    home, out, log = work / "home", work / "summary.json", work / "run.log"
    # the embedded defaults, whatever this shell has configured (no cloud adapters, no telemetry export)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FACTORY_") and k != "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    env.update({"FACTORY_HOME": str(home), "PYTHONUNBUFFERED": "1", "COLUMNS": "120"})
    cmd = [*factory_command(), "run", str(example.relative_to(ROOT)), "--quiet", "--json", str(out),
           "--timeout", str(timeout), "--out", str(work / "repo")]
    watched = run_watched(cmd, env, timeout + 30, log)
    result: dict[str, Any] = {"example": example.name, **watched}
    tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
    if not out.exists():
        result["error"] = (f"`factory run {example.name}` wrote no summary (exit {watched['exitCode']}"
                           f"{', timed out' if watched['timedOut'] else ''}); last output:\n{tail}")
        return result
    summary = json.loads(out.read_text(encoding="utf-8"))
    tests = summary.get("tests") or {}
    test_s = float(tests["durationMs"]) / 1000 if tests.get("durationMs") is not None else None
    result.update({"outcome": summary.get("outcome"), "reason": summary.get("reason"),
                   "elapsedSeconds": summary.get("elapsedSeconds"), "events": summary.get("events"),
                   "flows": summary.get("flows"), "tests": tests or None, "testRunSeconds": test_s})
    if summary.get("traceId"):
        result.update(release_timing(home, summary["traceId"]))
    to_release = result.get("intentToReleaseSeconds")
    if to_release is not None:
        result["intentToReleaseWithoutTestsSeconds"] = to_release - (test_s or 0.0)
    busy = (summary.get("elapsedSeconds") or 0.0) - (test_s or 0.0)
    if summary.get("events") and busy > 0:
        result["eventsPerSecond"] = summary["events"] / busy
    if result.get("handlings") and busy > 0:
        result["handlingsPerSecond"] = result["handlings"] / busy
    if summary.get("outcome") != "released":
        result["error"] = (f"{example.name} did not release: outcome {summary.get('outcome') or 'unfinished'}"
                           f" — {summary.get('reason') or 'no reason recorded'}")
    return result


def metrics_for(r: dict[str, Any]) -> list[dict[str, Any]]:
    name = r["example"].removesuffix(".yaml")
    failed = r.get("error")
    without = r.get("intentToReleaseWithoutTestsSeconds")
    rows = [
        {"name": f"mesh {name}: intent→ReleaseTriggered w/o tests",
         "value": round(without, 3) if without is not None else None, "unit": "s", "goal": f"<= {WALL_GOAL_S}",
         "goalMet": without is not None and without <= WALL_GOAL_S,
         "notes": (failed.splitlines()[0][:160] if failed and without is None else
                   f"with tests {r['intentToReleaseSeconds']:.2f} s" if without is not None else "")},
        {"name": f"mesh {name}: generated-test run", "value": round(r["testRunSeconds"], 3)
         if r.get("testRunSeconds") is not None else None, "unit": "s",
         "notes": "" if r.get("tests") else "no TestsPassed/TestsFailed event"},
        {"name": f"mesh {name}: events/s", "value": round(r["eventsPerSecond"], 1)
         if r.get("eventsPerSecond") else None, "unit": "events/s",
         "notes": f"{r.get('events')} events, {r.get('handlings', '?')} handlings"
                  + (f" ({r['handlingsPerSecond']:.1f}/s)" if r.get("handlingsPerSecond") else "")
                  + f" in {r.get('elapsedSeconds')} s minus the test run"
                  + (f"; slowest: {r['slowestConsumers'][0]['consumer']} {r['slowestConsumers'][0]['seconds']} s"
                     if r.get("slowestConsumers") else "")},
        {"name": f"mesh {name}: peak RSS", "value": round(r["peakRssMb"], 1), "unit": "MB",
         "goal": f"<= {RSS_GOAL_MB:.0f}", "goalMet": r["peakRssMb"] <= RSS_GOAL_MB,
         "notes": f"{r['peakRssSource']}; process tree peak {r['peakTreeRssMb']:.0f} MB"},
    ]
    for row in rows:
        row.setdefault("goal", None)
        row.setdefault("goalMet", None)
        row.update({"baseline": None, "baselineLabel": None, "ratio": None})
    return rows


def examples(only: list[str] | None) -> list[Path]:
    found = sorted(p for p in (ROOT / "examples").glob("*.yaml") if p.name not in SKIP)
    if only:
        found = [p for p in found if p.stem in only or p.name in only]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=150.0, help="seconds per example run")
    parser.add_argument("--only", action="append", help="example name (repeatable), e.g. task-tracker")
    parser.add_argument("--keep", type=Path, help="keep each run's FACTORY_HOME and log under this folder")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"bench": "mesh", "metrics": [], "details": {"runs": []}, "errors": []}
    for example in examples(args.only):
        work = Path(tempfile.mkdtemp(prefix=f"bench-mesh-{example.stem}-"))
        try:
            run = run_example(example, args.timeout, work)
        finally:
            if args.keep:
                shutil.copytree(work, args.keep / example.stem, dirs_exist_ok=True)
            shutil.rmtree(work, ignore_errors=True)
        result["details"]["runs"].append(run)
        result["metrics"].extend(metrics_for(run))
        if run.get("error"):
            result["errors"].append(run["error"])
    text = json.dumps(result, indent=2, default=str)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
