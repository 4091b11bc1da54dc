"""Benchmarks of the local host running ``function_app`` plus the diagnostics no-op on the SQLite bus.

    .venv/bin/python tests/bench/bench_host.py --part throughput|latency|rss|all [--quick] [--json OUT]

* throughput: N ``BenchPing`` messages published straight to the ``SqliteBus`` (batches of 500),
  then the real ``LocalHost`` (every function of ``function_app`` + ``diagnostics_noop``) drains
  them. Baseline: a bare receive/complete loop on the same bus and subscription, no host.
  Below the goal, a short cProfile of the host names where the time goes.
* latency: a publisher thread (its own bus connection) offers 1 message/ms carrying
  ``perf_counter()`` in an application property; the no-op's probe records the start time.
* rss: this process's RSS before and after 100,000 queued messages, and after receiving a few.

Not collected by pytest (no ``test_`` prefix). Numbers are printed and written as JSON, never asserted.
Run from the repository root (``host.json`` and ``contracts/`` are read from there).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import azure.functions as func  # noqa: E402
import psutil  # noqa: E402

from shared.adapters.sqlite.bus import SqliteBus  # noqa: E402
from shared.bootstrap import Runtime, bootstrap  # noqa: E402
from shared.host.local import HostOptions, LocalHost, _Batch, build_host  # noqa: E402
from shared.ports import OutgoingMessage, SubscriptionSpec  # noqa: E402
from shared.settings import ArtifactKind, BusKind, Settings, StateKind  # noqa: E402
from tests.bench import noop_function as diagnostics  # noqa: E402

BATCH = 500
PING = "BenchPing"
FILTER = f"type = '{PING}'"
STAMP = "benchPublishedAt"
THROUGHPUT_RATIO_GOAL = 0.8  # host rate / bare SqliteBus receive+complete rate, measured in the same run
LATENCY_GOAL_MS = 1.0  # p95 at 1,000/s, both connection modes
LATENCY_P99_GOAL_MS = 3.0
RSS_GOAL_MB = 50.0  # growth with 100k queued; ours: "bounded" means the backlog stays in SQLite

Metric = dict[str, Any]


def metric(name: str, value: float | None, unit: str, *, goal: str | None = None, met: bool | None = None,
           baseline: float | None = None, baseline_label: str | None = None, notes: str = "") -> Metric:
    """One row of the results table (run_all prints these)."""
    ratio = value / baseline if value is not None and baseline else None
    return {"name": name, "value": value, "unit": unit, "goal": goal, "goalMet": met, "baseline": baseline,
            "baselineLabel": baseline_label, "ratio": ratio, "notes": notes}


# --------------------------------------------------------------------------- wiring


def bench_app() -> func.FunctionApp:
    """A fresh app with every blueprint ``function_app`` registers, plus the diagnostics blueprint."""
    import function_app

    blueprints: dict[int, func.Blueprint] = {}
    for value in vars(function_app).values():
        bp = getattr(value, "bp", None)
        if isinstance(bp, func.Blueprint) and getattr(value, "__name__", "").startswith("functions."):
            blueprints[id(bp)] = bp
    blueprints[id(diagnostics.bp)] = diagnostics.bp
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    for bp in blueprints.values():
        app.register_functions(bp)
    return app


@contextmanager
def hosted(home: Path) -> Iterator[tuple[Runtime, LocalHost]]:
    """A runtime on a fresh FACTORY_HOME and the local host for ``bench_app()`` on its SQLite bus."""
    settings = Settings(FACTORY_HOME=home, FACTORY_BUS=BusKind.sqlite, FACTORY_STATE=StateKind.sqlite,
                        FACTORY_ARTIFACTS=ArtifactKind.filesystem,
                        APPLICATIONINSIGHTS_CONNECTION_STRING=None)  # type: ignore[call-arg]
    runtime = bootstrap(settings)
    host, _ = build_host(runtime, bench_app(), project_dir=ROOT,
                         extra_filters={diagnostics.SUBSCRIPTION: FILTER})
    try:
        yield runtime, host
    finally:
        diagnostics.set_probe(None)
        host.close()
        runtime.close()


def pings(start: int, count: int, run: str, **extra: Any) -> list[OutgoingMessage]:
    return [OutgoingMessage(message_id=f"{run}-{i}", body=b'{"bench":true}',
                            application_properties={"type": PING, "n": i, **extra})
            for i in range(start, start + count)]


def publish_all(bus: SqliteBus, count: int, run: str) -> float:
    """Publish ``count`` pings in batches of 500; returns seconds taken."""
    t0 = time.perf_counter()
    for start in range(0, count, BATCH):
        bus.publish(pings(start, min(BATCH, count - start), run))
    return time.perf_counter() - t0


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 1_048_576


# --------------------------------------------------------------------------- throughput


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return float(usage.ru_utime + usage.ru_stime)


def bare_bus_rate(home: Path, count: int, batch: int) -> tuple[float, float, str]:
    """Baseline: receive and settle on one subscription with no host (same batch size), settling each
    batch with ``complete_many`` where the bus has it (as the host does). Returns (events/s, CPU s, label)."""
    with SqliteBus(home / "bare.db") as bus:
        bus.ensure_subscription(SubscriptionSpec(diagnostics.SUBSCRIPTION, FILTER))
        publish_all(bus, count, "bare")
        complete_many = getattr(bus, "complete_many", None)
        t0, c0 = time.perf_counter(), _cpu_seconds()
        done = 0
        while got := bus.receive(diagnostics.SUBSCRIPTION, batch):
            if complete_many is not None:
                complete_many([m.lock_token for m in got])
            else:
                for m in got:
                    bus.complete(m.lock_token)
            done += len(got)
        seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        label = "bare SqliteBus receive + " + ("complete_many" if complete_many is not None else "complete")
        return done / seconds, cpu, label


def drain(host: LocalHost, count: int) -> float:
    """Run the host until it has handled ``count`` deliveries; returns seconds."""
    target = host.deliveries + count
    t0 = time.perf_counter()
    host.run(until=lambda: host.deliveries >= target)
    return time.perf_counter() - t0


def profile_host(home: Path, count: int, top: int = 14) -> dict[str, Any]:
    """cProfile of the host draining ``count`` pings: where the time goes, by own (tottime) cost."""
    with hosted(home) as (runtime, host):
        publish_all(runtime.bus, count, "prof")  # type: ignore[arg-type]
        profiler = cProfile.Profile()
        profiler.enable()
        seconds = drain(host, count)
        profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]  # type: ignore[attr-defined]
    hot = [{"function": f"{Path(file).name}:{line}({name})", "tottimeShare": round(tt / total, 3),
            "calls": nc, "cumtimeS": round(ct, 3)} for (file, line, name), (_cc, nc, tt, ct, _callers) in rows]
    cum = sorted(stats.stats.items(), key=lambda kv: kv[1][3], reverse=True)  # type: ignore[attr-defined]
    by_cum = [{"function": f"{Path(file).name}:{line}({name})", "cumtimeS": round(ct, 3), "calls": nc}
              for (file, line, name), (_cc, nc, _tt, ct, _callers) in cum
              if file.endswith(_HOST_FILES)][:12]
    return {"messages": count, "profiledSeconds": round(seconds, 3), "threadsNote":
            "cProfile sees the host (pump) thread only: the handlings it runs itself (fast functions) are in "
            "it, worker-thread time appears as waits",
            "hostThreadShares": _shares(stats, seconds), "topOwnTime": hot, "hostAndBusCumulative": by_cum}


_HOST_FILES = ("host/local.py", "sqlite/bus.py", "bench/noop_function.py")
_PHASES = {  # (file suffix, function name) -> phase of the host thread's loop
    ("bus.py", "receive"): "receive",
    ("bus.py", "complete_and_receive"): "settle and receive (one transaction)",
    ("local.py", "flush_completions"): "settle (batched completes)",
    ("local.py", "_dispatch"): "queue received messages",
    ("local.py", "_run_inline"): "run fast handlings on the pump thread",
    ("local.py", "_renew_locks"): "renew locks",
    ("local.py", "_await"): "let the workers take a batch",
    ("threading.py", "wait"): "waiting (idle back-off and hand-off waits)",
}


def _shares(stats: pstats.Stats, seconds: float) -> dict[str, Any]:
    """Cumulative time of each loop phase as a share of the profiled wall time (one thread).

    receive, settle and hand-off happen inside ``pump_once``; the back-off sleep is ``run()`` waiting
    after a pump that dispatched nothing (also when every concurrency slot was busy)."""
    shares: dict[str, Any] = {}
    for (file, _line, name), (_cc, nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        phase = _PHASES.get((Path(file).name, name))
        # Event.wait calls Condition.wait (both "wait" in threading.py): keep the outer one
        if phase is not None and (phase not in shares or ct / seconds > shares[phase]["share"]):
            shares[phase] = {"share": round(ct / seconds, 3), "calls": nc}
    return shares


def profile_workers(home: Path, count: int, top: int = 12) -> dict[str, Any]:
    """cProfile of what one delivery costs (on whichever thread runs it): ``LocalHost._invoke`` called directly."""
    with hosted(home) as (runtime, host):
        publish_all(runtime.bus, count, "wprof")  # type: ignore[arg-type]
        (fn,) = [f for f in host.functions if f.subscription == diagnostics.SUBSCRIPTION]
        profiler = cProfile.Profile()
        done = 0
        while done < count:
            got = runtime.receiver.receive(fn.subscription, 32)  # type: ignore[union-attr]
            if not got:
                break
            batch = _Batch(fn, time.monotonic(), {m.lock_token for m in got})
            for m in got:
                profiler.enable()
                host._invoke((batch, m))
                profiler.disable()
            done += len(got)
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]  # type: ignore[attr-defined]
    return {"messages": done, "perDeliveryUs": round(total / max(1, done) * 1e6, 1),
            "topOwnTime": [{"function": f"{Path(file).name}:{line}({name})", "tottimeShare": round(tt / total, 3),
                            "calls": nc} for (file, line, name), (_cc, nc, tt, _ct, _callers) in rows]}


def limited_by(details: dict[str, Any], functions: int) -> str:
    """One sentence from the measurements: where the host thread's time went, and unit costs."""
    shares = details["profileHostThread"]["hostThreadShares"]
    costs = details["unitCosts"]
    phases = ", ".join(f"{phase} {v['share']:.0%} ({v['calls']} calls)"
                       for phase, v in sorted(shares.items(), key=lambda kv: -kv[1]["share"]))
    return (f"host thread: {phases}; one pump over {functions} subscriptions with nothing due costs "
            f"{costs['emptyPumpOnceUs']:.0f} us; one no-op delivery costs "
            f"{details['profileDelivery']['perDeliveryUs']:.0f} us under cProfile; "
            f"complete {costs['completeOneUs']:.0f} us/msg alone"
            + (f", {costs['completeManyBatchOf32PerMessageUs']:.0f} us/msg batched by 32"
               if "completeManyBatchOf32PerMessageUs" in costs else "")
            + f"; single-message publish {costs['publishOneMessageUs']:.0f} us")


def throughput(work: Path, count: int, pairs: int = 5) -> dict[str, Any]:
    """``pairs`` alternating runs of the bare loop and the host on fresh buses: the ratio of each pair,
    so a busy machine slows both sides of a ratio alike; the median pair is reported."""
    runs: list[dict[str, float]] = []
    label = ""
    for i in range(pairs):
        bare, bare_cpu, label = bare_bus_rate(work / f"bare{i}", count, HostOptions().batch_size)
        with hosted(work / f"tp{i}") as (runtime, host):
            functions = len(host.functions)
            publish_s = publish_all(runtime.bus, count, "tp")  # type: ignore[arg-type]
            c0 = _cpu_seconds()
            seconds = drain(host, count)
            cpu = _cpu_seconds() - c0
            counts = runtime.receiver.counts(diagnostics.SUBSCRIPTION)  # type: ignore[union-attr]
            handled = host.deliveries
            options = host.options
        runs.append({"host": handled / seconds, "bare": bare, "ratio": handled / seconds / bare,
                     "cpuRatio": bare_cpu / cpu, "publish": count / publish_s})
    median = sorted(runs, key=lambda r: r["ratio"])[len(runs) // 2]
    ratios = [r["ratio"] for r in runs]
    cpu_ratio = statistics.median(r["cpuRatio"] for r in runs)
    details: dict[str, Any] = {
        "messages": count, "pairs": [{k: round(v, 3) for k, v in r.items()} for r in runs],
        "functionsHosted": functions, "hostBatchSize": options.batch_size, "prefetchCount": options.prefetch_count,
        "maxConcurrentCalls": options.max_concurrent_calls,
        "leftOnBus": {"active": counts.active, "locked": counts.locked, "deadLettered": counts.dead_lettered},
        "cpus": os.cpu_count(), "cpuRatioMedian": round(cpu_ratio, 3),
    }
    ratio = median["ratio"]
    metrics = [
        metric("host throughput (no-op)", round(median["host"], 1), "events/s",
               goal=f">= {THROUGHPUT_RATIO_GOAL}x bare bus", met=ratio >= THROUGHPUT_RATIO_GOAL,
               baseline=round(median["bare"], 1), baseline_label=label,
               notes=f"median of {pairs} alternating pairs, {count} msgs each, {functions} functions hosted; "
                     f"pair ratios {min(ratios):.2f}-{max(ratios):.2f}; CPU-time ratio {cpu_ratio:.2f}"),
        metric("publish to SqliteBus (batches of 500)", round(statistics.median(r["publish"] for r in runs), 1),
               "events/s", notes=f"fan-out filters of {functions} subscriptions evaluated per message"),
    ]
    details["profileHostThread"] = profile_host(work / "prof", min(count, 4000))
    details["profileDelivery"] = profile_workers(work / "wprof", min(count, 4000))
    details["unitCosts"] = unit_costs(work / "costs")
    details["limitedBy"] = limited_by(details, functions)
    if ratio < THROUGHPUT_RATIO_GOAL:
        metrics[0]["notes"] += " (what limits it: see findings / details.limitedBy)"
    return {"metrics": metrics, "details": details}


# --------------------------------------------------------------------------- latency


def _latency_run(work: Path, seconds: float, *, shared_connection: bool, warmup: int,
                 rate: float = 1000.0) -> dict[str, Any]:
    """Offer ``rate`` msgs/s from a publisher thread while the host runs; handler-start minus publish stamp."""
    starts: list[tuple[int, float]] = []

    def probe(msg: func.ServiceBusMessage) -> None:
        now = time.perf_counter()
        props = msg.application_properties
        starts.append((int(props["n"]), now - float(props[STAMP])))

    total = int(seconds * rate)
    lateness: list[float] = []
    with hosted(work) as (runtime, host):
        diagnostics.set_probe(probe)
        own = None if shared_connection else SqliteBus(runtime.settings.factory_home / "bus.db",
                                                        topic=runtime.settings.topic_name)
        publisher = own or runtime.bus

        def publish() -> None:
            t0 = time.perf_counter()
            for i in range(total):
                due = t0 + i / rate
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                sent = time.perf_counter()
                lateness.append(sent - due)
                publisher.publish([OutgoingMessage(message_id=f"lat-{i}", body=b'{"bench":true}',
                                                   application_properties={"type": PING, "n": i, STAMP: sent})])

        thread = threading.Thread(target=publish, name="bench-publisher", daemon=True)
        t0 = time.perf_counter()
        thread.start()
        host.run(until=lambda: not thread.is_alive() and host.deliveries >= total and host.inflight() == 0)
        wall = time.perf_counter() - t0
        thread.join()
        if own is not None:
            own.close()
    measured = sorted(lat * 1000.0 for n, lat in starts if n >= warmup)
    if len(measured) < 2:
        raise RuntimeError(f"only {len(measured)} deliveries were measured out of {total} published")
    q = statistics.quantiles(measured, n=100, method="inclusive")
    late = sorted(lateness)
    return {"p50": q[49], "p95": q[94], "p99": q[98], "max": measured[-1], "mean": statistics.fmean(measured),
            "offered": total / wall, "messages": total, "measured": len(measured), "warmupDiscarded": warmup,
            "publisherLatenessP95Ms": late[int(0.95 * (len(late) - 1))] * 1000.0,
            "over10msShare": sum(1 for x in measured if x > 10) / len(measured)}


def latency(work: Path, seconds: float, warmup: int = 200) -> dict[str, Any]:
    """At 1,000/s offered, two publishers: on the runtime's bus connection (as in-host handlers
    publish) and on its own connection to the same file (as the CLI, the HTTP API or another host
    process publish). Then 100/s on the shared connection: the floor when the host is not busy."""
    metrics: list[Metric] = []
    details: dict[str, Any] = {}
    runs = (("1000/s, shared connection", True, 1000.0, warmup),
            ("1000/s, separate connection", False, 1000.0, warmup),
            ("100/s, shared connection", True, 100.0, warmup // 10))
    for label, shared_connection, rate, skip in runs:
        run = _latency_run(work / label.replace(" ", "").replace("/", "-").replace(",", "_"), seconds,
                           shared_connection=shared_connection, warmup=skip, rate=rate)
        details[label] = {k: round(v, 3) if isinstance(v, float) else v for k, v in run.items()}
        notes = f"{run['offered']:,.0f}/s achieved, {run['measured']} measured, max {run['max']:.1f} ms"
        goal = rate == 1000.0
        metrics += [
            metric(f"latency p50 ({label})", round(run["p50"], 3), "ms", notes=notes),
            metric(f"latency p95 ({label})", round(run["p95"], 3), "ms",
                   goal=f"<= {LATENCY_GOAL_MS}" if goal else None, met=run["p95"] <= LATENCY_GOAL_MS if goal else None,
                   notes=notes),
            metric(f"latency p99 ({label})", round(run["p99"], 3), "ms",
                   goal=f"<= {LATENCY_P99_GOAL_MS}" if goal else None,
                   met=run["p99"] <= LATENCY_P99_GOAL_MS if goal else None, notes=notes),
        ]
    return {"metrics": metrics, "details": details}


# --------------------------------------------------------------------------- unit costs


def _per_call_us(fn: Callable[[], object], repeat: int) -> float:
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat * 1e6


def unit_costs(work: Path) -> dict[str, float]:
    """What one step of the host's loop costs, single-threaded and uncontended (microseconds)."""
    costs: dict[str, float] = {}
    with hosted(work) as (runtime, host):
        bus: SqliteBus = runtime.bus  # type: ignore[assignment]
        sub = diagnostics.SUBSCRIPTION
        costs["emptyReceiveUs"] = _per_call_us(lambda: bus.receive(sub, 32), 300)
        costs["emptyPumpOnceUs"] = _per_call_us(host.pump_once, 100)
        n = iter(range(10**9))
        costs["publishOneMessageUs"] = _per_call_us(lambda: bus.publish(pings(next(n), 1, "one")), 500)
        publish_all(bus, 3200, "settle")
        got = [m for _ in range(50) for m in bus.receive(sub, 32)]
        t0 = time.perf_counter()
        for m in got:
            bus.complete(m.lock_token)
        costs["completeOneUs"] = (time.perf_counter() - t0) / len(got) * 1e6
        complete_many = getattr(bus, "complete_many", None)
        if complete_many is not None:
            batches = [bus.receive(sub, 32) for _ in range(50)]
            t0 = time.perf_counter()
            for batch in batches:
                complete_many([m.lock_token for m in batch])
            costs["completeManyBatchOf32PerMessageUs"] = (time.perf_counter() - t0) / sum(map(len, batches)) * 1e6
    return {k: round(v, 1) for k, v in costs.items()}


# --------------------------------------------------------------------------- rss


def rss(work: Path, count: int, receive: int = 100) -> dict[str, Any]:
    with hosted(work / "rss") as (runtime, host):
        before = rss_mb()
        publish_s = publish_all(runtime.bus, count, "rss")  # type: ignore[arg-type]
        queued = rss_mb()
        target = receive
        host.run(until=lambda: host.deliveries >= target)
        after = rss_mb()
        counts = runtime.receiver.counts(diagnostics.SUBSCRIPTION)  # type: ignore[union-attr]
        db = runtime.settings.factory_home / "bus.db"
        db_mb = sum(p.stat().st_size for p in db.parent.glob("bus.db*")) / 1_048_576
    growth = after - before
    return {"metrics": [
        metric("RSS with 100k queued (growth)", round(growth, 1), "MB", goal=f"<= {RSS_GOAL_MB:.0f} (bounded)",
               met=growth <= RSS_GOAL_MB, baseline=round(before, 1), baseline_label="RSS before publishing",
               notes=f"before {before:.1f} MB, queued {queued:.1f} MB, after receiving {receive}: {after:.1f} MB"),
    ], "details": {"queued": count, "rssBeforeMb": round(before, 1), "rssQueuedMb": round(queued, 1),
                   "rssAfterReceiveMb": round(after, 1), "received": receive, "stillActive": counts.active,
                   "busFilesMb": round(db_mb, 1), "publishSeconds": round(publish_s, 2)}}


# --------------------------------------------------------------------------- cli

PARTS: dict[str, Callable[[Path, bool], dict[str, Any]]] = {
    "throughput": lambda work, quick: throughput(work, 5_000 if quick else 20_000, 3 if quick else 5),
    "latency": lambda work, quick: latency(work, 2.0 if quick else 5.0),
    "rss": lambda work, quick: rss(work, 100_000),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all")
    parser.add_argument("--quick", action="store_true", help="fewer messages, shorter runs")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    result: dict[str, Any] = {"bench": "host", "metrics": [], "details": {}, "errors": []}
    for name in PARTS if args.part == "all" else [args.part]:
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
            try:
                part = PARTS[name](Path(tmp), args.quick)
            except Exception as exc:  # reported, never hidden: the table shows the failure
                result["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
                continue
        result["metrics"].extend(part["metrics"])
        result["details"][name] = part["details"]
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
