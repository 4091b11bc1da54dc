"""The Azure bill of one project (``shared/product/cost.py``), and what the timeout routing cut.

    .venv/bin/python tests/bench/bench_cost.py [--example task-tracker] [--json OUT]

Runs the example to release in-process on the embedded runtime (the real local host), with the state
and artifact stores wrapped in meters that count every call the handlings make. Then it prices the
project's bill from the event log and spans, as ``factory status --cost`` does, twice: with the
generated filters as they are ("after": a flow's ``FlowTimeout`` goes to that flow's subscription
only) and counted with the previous routing ("before": every coordinator took every timeout). Both
come from the same run; the timeouts are scheduled 15-60 minutes out, so their deliveries are
counted from the filters, not waited for. The meters check the model's operation counts against
the calls actually made. Not collected by pytest; numbers are printed and written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.adapters.filesystem.artifacts import FilesystemArtifactStore  # noqa: E402
from shared.adapters.sqlite.state import SqliteStateStore  # noqa: E402
from shared.bootstrap import bootstrap  # noqa: E402
from shared.host.local import build_host, drive  # noqa: E402
from shared.product.cost import project_bill  # noqa: E402
from shared.product.intent import load_intent  # noqa: E402
from shared.product.projects import project_files, start_project  # noqa: E402
from shared.settings import Settings  # noqa: E402

Metric = dict[str, Any]
_handling = threading.local()


class Meter:
    """Counts the calls made on a store during handlings (calls from outside a handling are not billed)."""

    def __init__(self, inner: Any, prefix: str, counts: Counter[str]) -> None:
        self._inner, self._prefix, self._counts = inner, prefix, counts

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if getattr(_handling, "active", False):
                self._counts[f"{self._prefix}.{name}"] += 1
            return attr(*args, **kwargs)

        return call


def metered(call: Callable[..., Any]) -> Callable[..., Any]:
    def run(**kwargs: Any) -> Any:
        _handling.active = True
        try:
            return call(**kwargs)
        finally:
            _handling.active = False

    return run


def metric(name: str, value: float | None, unit: str, *, baseline: float | None = None,
           baseline_label: str | None = None, notes: str = "", goal: str | None = None,
           met: bool | None = None) -> Metric:
    ratio = value / baseline if value is not None and baseline else None
    return {"name": name, "value": value, "unit": unit, "goal": goal, "goalMet": met, "baseline": baseline,
            "baselineLabel": baseline_label, "ratio": ratio, "notes": notes}


def run(example: str, timeout: float) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as tmp:
        home = Path(tmp)
        rt = bootstrap(Settings(FACTORY_HOME=home, APPLICATIONINSIGHTS_CONNECTION_STRING=None),  # type: ignore[call-arg]
                       state=Meter(SqliteStateStore(home / "state.db"), "state", counts),  # type: ignore[arg-type]
                       artifacts=Meter(FilesystemArtifactStore(home / "artifacts"), "blob", counts))  # type: ignore[arg-type]
        host, _ = build_host(rt, project_dir=ROOT)
        for fn in host.functions:
            object.__setattr__(fn, "call", metered(fn.call))
        project = start_project(rt, load_intent(ROOT / "examples" / f"{example}.yaml"), source="http-api")
        status = drive(rt, host, project.project_id, timeout=timeout)
        host.close()
        files = project_files(rt, project.project_id)
        after = project_bill(rt, project.project_id, repository_files=files)
        before = project_bill(rt, project.project_id, repository_files=files, routing="broadcast")
        rt.close()
    if status.outcome != "released":
        raise RuntimeError(f"{example} did not release: {status.outcome} — {status.reason}")
    return {"after": after, "before": before, "counts": counts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--example", default="task-tracker")
    parser.add_argument("--timeout", type=float, default=150.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    result: dict[str, Any] = {"bench": "cost", "metrics": [], "details": {}, "errors": []}
    try:
        r = run(args.example, args.timeout)
    except Exception as exc:  # reported, never hidden
        result["errors"].append(f"{type(exc).__name__}: {exc}")
    else:
        after, before, counts = r["after"], r["before"], r["counts"]
        p = after.prices
        currency = p.currency
        services = sorted(after.by_service().items(), key=lambda kv: -kv[1])
        note = f"list prices {p.region} {p.as_of}; " + ", ".join(f"{s} {c * 1e6:.0f}" for s, c in services)
        result["metrics"] += [
            metric(f"Azure bill of one project ({args.example})", round(after.total * 1e6, 1), f"micro-{currency}",
                   baseline=round(before.total * 1e6, 1), baseline_label="before (every coordinator took every "
                   "FlowTimeout)", notes=note + f" micro-{currency} by service"),
        ]
        u, b = after.usage, before.usage
        for name, now, then, unit in (
                ("Service Bus operations", u.servicebus_operations, b.servicebus_operations, "ops"),
                ("function executions", u.executions, b.executions, "executions"),
                ("Cosmos DB request units", round(u.request_units), round(b.request_units), "RU"),
                ("function GB-seconds", round(u.gb_seconds, 2), round(b.gb_seconds, 2), "GB-s")):
            result["metrics"].append(metric(f"cost: {name} per project", now, unit, baseline=then,
                                            baseline_label="before"))
        modelled = u.ru_ops
        checks = {  # the model's count of an operation vs the calls the handlings made (delivered so far)
            "inbox queries": (modelled["inbox.query"] - u.deliveries_pending, counts["state.inbox_contains"]),
            "unit-of-work commits": (modelled["commit.inbox"] - u.deliveries_pending, counts["state.commit"]),
            "project history reads": (modelled["history.query"], counts["state.events_for_project"]),
            "blob writes": (u.blob_writes, counts["blob.put"]),
            "blob reads": (u.blob_reads, counts["blob.get"]),
        }
        result["metrics"].append(metric(
            "cost model vs metered calls", None, "", notes="; ".join(
                f"{k}: model {m} / metered {c}" for k, (m, c) in checks.items())))
        result["details"] = {"after": after.to_dict(), "before": before.to_dict(), "meteredCalls": dict(counts),
                             "checks": {k: {"model": m, "metered": c} for k, (m, c) in checks.items()}}
    text = json.dumps(result, indent=2, default=str)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
