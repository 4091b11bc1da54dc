"""``make bench``: every benchmark in its own subprocess, one table, one JSON file.

    .venv/bin/python tests/bench/run_all.py --json bench-results.json [--quick] [--skip mesh]

Steps: host throughput, host latency, host RSS (``bench_host.py``), import time
(``bench_import.py``), the agent mesh (``bench_mesh.py``), the Azure bill of one project
(``bench_cost.py``), many projects at once through the HTTP API of one and two hosts
(``bench_scale.py``) and the scaffold engine (``bench_scaffold.py``, owned by the scaffold engine;
its JSON is merged as it is). A step that
is missing, crashes or times out is recorded as such, with its output's tail: never a number.
Goals are shown, not enforced; the exit code is 1 only when a step did not produce its results
or reported an error (e.g. an example intent that did not release).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "tests" / "bench"

Metric = dict[str, Any]


@dataclass(frozen=True)
class Step:
    name: str
    script: str
    args: tuple[str, ...]
    quick_args: tuple[str, ...]
    timeout: float


STEPS: tuple[Step, ...] = (
    Step("host-throughput", "bench_host.py", ("--part", "throughput"), ("--part", "throughput", "--quick"), 300),
    Step("host-latency", "bench_host.py", ("--part", "latency"), ("--part", "latency", "--quick"), 180),
    Step("host-rss", "bench_host.py", ("--part", "rss"), ("--part", "rss", "--quick"), 240),
    Step("import", "bench_import.py", ("--runs", "9"), ("--runs", "7"), 240),
    Step("mesh", "bench_mesh.py", ("--timeout", "150"), ("--timeout", "150", "--only", "task-tracker"), 600),
    Step("cost", "bench_cost.py", (), (), 300),
    Step("scale", "bench_scale.py", ("--projects", "100", "--sequential", "8"),
         ("--projects", "30", "--sequential", "4"), 2400),
    Step("scaffold", "bench_scaffold.py", (), (), 420),
)


def run_step(step: Step, quick: bool, out: Path) -> dict[str, Any]:
    """Run one benchmark script; its JSON (if any) plus how the run went."""
    script = BENCH / step.script
    record: dict[str, Any] = {"script": str(script.relative_to(ROOT)), "status": "ok"}
    if not script.exists():
        return {**record, "status": "missing", "error": f"{record['script']} does not exist (not written yet)"}
    cmd = [sys.executable, str(script), *(step.quick_args if quick else step.args), "--json", str(out)]
    record["command"] = " ".join(cmd[1:])
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=step.timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stdout or b"")[-1200:] if isinstance(exc.stdout, bytes) else (exc.stdout or "")[-1200:]
        return {**record, "status": "timeout", "seconds": step.timeout,
                "error": f"{step.script} did not finish within {step.timeout:.0f} s", "outputTail": str(tail)}
    record.update({"seconds": round(time.perf_counter() - t0, 2), "exitCode": done.returncode})
    result: dict[str, Any] | None = None
    if out.exists():
        try:
            result = json.loads(out.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            record.update(status="failed", error=f"{out} is not valid JSON: {exc}")
    if result is None:
        record.setdefault("error", f"{step.script} wrote no JSON (exit {done.returncode})")
        record.update(status="failed", outputTail=(done.stderr or done.stdout)[-2000:])
        return record
    record["result"] = result
    errors = result.get("errors") if isinstance(result, dict) else None
    if done.returncode != 0 or errors:
        record["status"] = "reported errors" if errors else "failed"
        record["error"] = "; ".join(map(str, errors)) if errors else f"exit {done.returncode}"
        if not errors:
            record["outputTail"] = (done.stderr or done.stdout)[-2000:]
    return record


def scaffold_metrics(r: dict[str, Any]) -> list[Metric]:
    """Rows from bench_scaffold's flat JSON (its own format); unknown shapes fall back to raw numbers."""
    def num(key: str) -> float | None:
        value = r.get(key)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    rows: list[Metric] = []
    place = str(r.get("render_place") or "disk")
    ours, cookie, copier = num("ours_median_s") or num("ours_s"), num("cookiecutter_median_s"), num("copier_median_s")
    if ours is not None:
        rows.append(_row(f"scaffold render (this engine, {place})", ours, "s", baseline=cookie,
                         baseline_label="cookiecutter", notes=f"{r.get('files')} files, median of {r.get('runs')}"))
    goal_speedup, goal_update = num("goal_render_speedup") or 10.0, num("goal_update_s") or 1.0
    if ours and cookie:
        speedup = cookie / ours
        rows.append(_row(f"scaffold speed-up vs cookiecutter ({place}, median)", speedup, "x",
                         goal=f">= {goal_speedup:g}", met=speedup >= goal_speedup,
                         notes=f"best of {r.get('runs')}: {r.get('cookiecutter_vs_ours', 0):.1f}x"))
    if ours and copier:
        rows.append(_row(f"scaffold speed-up vs copier ({place}, median)", copier / ours, "x"))
    disk_ours, disk_cookie = num("disk_ours_median_s"), num("disk_cookiecutter_median_s")
    if disk_ours and disk_cookie:
        rows.append(_row("scaffold speed-up vs cookiecutter (disk, median)", disk_cookie / disk_ours, "x",
                         notes="file creation waits on the disk's journal while other processes write"))
    update, copier_update = num("ours_update_s"), num("copier_update_s")
    if update is not None:
        rows.append(_row("scaffold update (3-way merge)", update, "s", goal=f"<= {goal_update:g}",
                         met=update <= goal_update,
                         baseline=copier_update, baseline_label="copier update",
                         notes=f"{r.get('ours_conflicts')} conflicting files"
                               + (f"; copier update: {r['copier_update_error']}"[:160]
                                  if r.get("copier_update_error") else "")))
    if not rows:
        rows = [_row(f"scaffold {k}", float(v), "") for k, v in sorted(r.items())
                if isinstance(v, int | float) and not isinstance(v, bool)]
    return rows


def _row(name: str, value: float | None, unit: str, *, goal: str | None = None, met: bool | None = None,
         baseline: float | None = None, baseline_label: str | None = None, notes: str = "") -> Metric:
    return {"name": name, "value": None if value is None else round(value, 4), "unit": unit, "goal": goal,
            "goalMet": met, "baseline": None if baseline is None else round(baseline, 4),
            "baselineLabel": baseline_label, "ratio": value / baseline if value is not None and baseline else None,
            "notes": notes}


def metrics_of(name: str, record: dict[str, Any]) -> list[Metric]:
    result = record.get("result")
    if not isinstance(result, dict):
        return []
    rows = scaffold_metrics(result) if name == "scaffold" else list(result.get("metrics") or [])
    return [{"bench": name, **row} for row in rows]


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.3g}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def render(metrics: list[Metric], steps: dict[str, dict[str, Any]], console: Console) -> None:
    table = Table(title="benchmarks (goals shown, not enforced)")
    for column, justify in (("bench", "left"), ("metric", "left"), ("value", "right"), ("goal", "left"),
                            ("baseline", "right"), ("ratio", "right"), ("notes", "left")):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for m in metrics:
        mark = {True: "[green]✓[/] ", False: "[red]✗[/] "}.get(m.get("goalMet"), "")  # type: ignore[arg-type]
        unit = f" {m['unit']}" if m.get("unit") else ""
        baseline = _fmt(m.get("baseline")) + (f" {m['baselineLabel']}" if m.get("baselineLabel")
                                              and m.get("baseline") is not None else "")
        ratio = f"{m['ratio']:.2f}x" if m.get("ratio") is not None else ""
        table.add_row(m["bench"], m["name"], _fmt(m.get("value")) + unit,
                      mark + (m.get("goal") or "") if m.get("goal") else "", baseline if baseline != "—" else "",
                      ratio, str(m.get("notes") or "")[:160])
    for name, record in steps.items():
        if record["status"] != "ok" and not any(m["bench"] == name for m in metrics):
            table.add_row(name, f"[red]{record['status']}[/]", "—", "", "", "", record.get("error", "")[:160])
    console.print(table)
    for name, record in steps.items():
        if record["status"] != "ok":
            console.print(f"[red]{name}: {record['status']}[/] — {record.get('error', '')}"[:1200])


def findings(steps: dict[str, dict[str, Any]]) -> list[str]:
    """The explanations the benchmarks measured alongside their numbers (what limits, what costs)."""
    found: list[str] = []
    details = {name: (r.get("result") or {}).get("details") or {} for name, r in steps.items()}
    limited = (details.get("host-throughput", {}).get("throughput") or {}).get("limitedBy")
    if limited:
        found.append(f"host throughput is limited by — {limited}")
    added = [a for a in details.get("import", {}).get("addedByFunctionApp", []) if "package" in a]
    if added:
        found.append("import function_app adds (self time by top-level package): "
                     + ", ".join(f"{a['package']} {a['selfMsTotal']} ms" for a in added[:4]))
    for run in details.get("mesh", {}).get("runs", []):
        slow = run.get("slowestConsumers") or []
        if slow:
            found.append(f"mesh {run['example']}: slowest consumers "
                         + ", ".join(f"{c['consumer']} {c['seconds']} s" for c in slow[:3]))
    return found


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"), help="write all results here")
    parser.add_argument("--quick", action="store_true", help="smaller runs (one mesh example) for a fast look")
    parser.add_argument("--skip", action="append", default=[], choices=[s.name for s in STEPS])
    parser.add_argument("--only", action="append", default=[], choices=[s.name for s in STEPS])
    args = parser.parse_args(argv)
    console = Console(width=max(150, Console().width))
    started = datetime.now(UTC)
    load_at_start = _load()
    console.print(f"{os.cpu_count()} CPUs, load average {load_at_start} (other work on the machine skews timings)")
    steps: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for step in STEPS:
            if step.name in args.skip or (args.only and step.name not in args.only):
                continue
            console.print(f"[bold]▶ {step.name}[/] ({step.script})")
            steps[step.name] = run_step(step, args.quick, Path(tmp) / f"{step.name}.json")
            console.print(f"  {steps[step.name]['status']} in {steps[step.name].get('seconds', '?')} s")
    metrics = [row for name, record in steps.items() for row in metrics_of(name, record)]
    render(metrics, steps, console)
    for line in findings(steps):
        console.print(f"• {line}", highlight=False)
    doc = {
        "startedAt": started.isoformat(), "finishedAt": datetime.now(UTC).isoformat(), "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "loadAverageAtStart": load_at_start, "loadAverageAtEnd": _load()},
        "metrics": metrics, "findings": findings(steps), "steps": steps,
        "errors": [f"{name}: {r['status']}: {r.get('error', '')}" for name, r in steps.items() if r["status"] != "ok"],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    console.print(f"wrote {args.json} ({(datetime.now(UTC) - started).total_seconds():.0f} s)")
    return 1 if doc["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
