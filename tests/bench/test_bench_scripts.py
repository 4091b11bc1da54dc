"""The benchmark scripts keep working as the CLI and the API change: the scale benchmark drives real
`factory host` processes through the local API exactly as `make bench` does, on one small run.

Nothing here is timed; the numbers belong to `make bench`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_scale_benchmark_starts_hosts_posts_intents_with_the_token_and_sees_them_released(
        tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    done = subprocess.run([sys.executable, "tests/bench/bench_scale.py", "--projects", "1", "--sequential", "1",
                           "--only", "one-host", "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["errors"] == []
    rate = next(m for m in report["metrics"] if m["name"] == "scale one-host: projects/min")
    assert rate["value"] > 0 and rate["notes"].startswith("1/1 released"), rate
    run = report["details"]["one-host"]
    assert 0.0 < run["machineCpuBusy"] <= 1.0  # the machine did work during the run, never more than all cores
    assert run["releaseSecondsFirst"] == run["releaseSecondsP50"] > 0  # one project: first is the median
