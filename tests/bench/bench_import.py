"""Cold import time of ``function_app`` against bare ``azure.functions`` (what a cold start pays).

    .venv/bin/python tests/bench/bench_import.py [--runs 9] [--json OUT]

Each sample is a fresh interpreter that times only the import with ``perf_counter`` (interpreter
start-up excluded); the two imports alternate so drift hits both alike; one discarded warm-up
run each fills the bytecode cache. One extra ``-X importtime`` run lists the modules
``function_app`` adds on top of ``azure.functions``, heaviest first, to say what to trim.
Not collected by pytest; numbers are printed and written as JSON, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RATIO_GOAL = 1.1
_TIMED = ("import time; t, c = time.perf_counter(), time.process_time(); import {module}; "
          "print(time.perf_counter() - t, time.process_time() - c)")


def import_seconds(module: str) -> tuple[float, float]:
    """(wall, CPU) seconds to import ``module`` in a fresh interpreter started in the repository root.

    CPU time (``process_time``) is what the import itself costs; wall time also holds the waits for a
    core on a busy machine, so the CPU ratio is the steadier one there."""
    done = subprocess.run([sys.executable, "-c", _TIMED.format(module=module)], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`python -c 'import {module}'` failed in {ROOT} (exit {done.returncode}): "
                           f"{done.stderr.strip()[-600:]}")
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def self_times_us(module: str) -> dict[str, int]:
    """``-X importtime`` self time per imported module, in microseconds."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    times: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = (part.strip() for part in line[len("import time:"):].split("|", 2))
        times[name.strip()] = int(self_us)
    return times


def added_modules(top: int = 12) -> list[dict[str, Any]]:
    """Modules imported by ``function_app`` but not by bare ``azure.functions``, heaviest first."""
    base = self_times_us("azure.functions")
    app = self_times_us("function_app")
    extra = sorted(((us, name) for name, us in app.items() if name not in base), reverse=True)
    top_level: dict[str, int] = {}
    for us, name in extra:
        root = name.split(".")[0]
        top_level[root] = top_level.get(root, 0) + us
    return [{"module": name, "selfMs": round(us / 1000, 2)} for us, name in extra[:top]] + [
        {"package": root, "selfMsTotal": round(us / 1000, 2)}
        for root, us in sorted(top_level.items(), key=lambda kv: -kv[1])[:8]]


def run(runs: int) -> dict[str, Any]:
    import_seconds("azure.functions"), import_seconds("function_app")  # warm the bytecode cache
    bare: list[tuple[float, float]] = []
    app: list[tuple[float, float]] = []
    for _ in range(runs):
        bare.append(import_seconds("azure.functions"))
        app.append(import_seconds("function_app"))
    bare_ms, app_ms = statistics.median(w for w, _ in bare) * 1000, statistics.median(w for w, _ in app) * 1000
    bare_cpu, app_cpu = statistics.median(c for _, c in bare) * 1000, statistics.median(c for _, c in app) * 1000
    ratio, cpu_ratio = app_ms / bare_ms, app_cpu / bare_cpu
    min_ratio = min(w for w, _ in app) / min(w for w, _ in bare)  # less sensitive to a busy machine
    return {
        "bench": "import",
        "metrics": [{
            "name": "cold import function_app", "value": round(app_ms, 1), "unit": "ms",
            "goal": f"<= {RATIO_GOAL}x azure.functions", "goalMet": ratio <= RATIO_GOAL,
            "baseline": round(bare_ms, 1), "baselineLabel": "bare import azure.functions", "ratio": ratio,
            "notes": f"median wall time of {runs} fresh interpreters each; best-of ratio {min_ratio:.2f}x",
        }, {
            "name": "cold import function_app (CPU time)", "value": round(app_cpu, 1), "unit": "ms",
            "goal": f"<= {RATIO_GOAL}x azure.functions", "goalMet": cpu_ratio <= RATIO_GOAL,
            "baseline": round(bare_cpu, 1), "baselineLabel": "bare import azure.functions", "ratio": cpu_ratio,
            "notes": f"median process CPU time of the same {runs} runs (steadier than wall time under load)",
        }],
        "details": {"runs": runs, "functionAppMs": [round(w * 1000, 1) for w, _ in app],
                    "azureFunctionsMs": [round(w * 1000, 1) for w, _ in bare],
                    "functionAppCpuMs": [round(c * 1000, 1) for _, c in app],
                    "azureFunctionsCpuMs": [round(c * 1000, 1) for _, c in bare],
                    "bestOfRatio": round(min_ratio, 3), "addedByFunctionApp": added_modules()},
        "errors": [],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="samples per module (>= 7)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    try:
        result = run(max(7, args.runs))
    except RuntimeError as exc:
        result = {"bench": "import", "metrics": [], "details": {}, "errors": [str(exc)]}
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
