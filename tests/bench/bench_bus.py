"""Micro-benchmark of ``SqliteBus``: publish, receive and complete throughput on one file.

    .venv/bin/python tests/bench/bench_bus.py [--events 20000] [--batch 100] [--subscriptions 14]

Not collected by pytest (no ``test_`` prefix). Prints events/s for each phase and for a
steady-state loop that publishes a batch, receives it and completes it (what a host does).
Subscriptions carry manifest-style filters so fan-out evaluation is part of the cost.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from shared.adapters.sqlite.bus import SqliteBus
from shared.ports import OutgoingMessage, SubscriptionSpec


def _messages(start: int, count: int, types: int) -> list[OutgoingMessage]:
    return [
        OutgoingMessage(
            message_id=f"evt-{i}",
            body=b'{"specversion":"1.0","type":"T","data":{"name":"thing","n":%d}}' % i,
            application_properties={
                "type": f"T{i % types}", "version": "1.0.0", "tenantId": "t1", "projectId": "p1",
                "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
            },
        )
        for i in range(start, start + count)
    ]


def _drain(bus: SqliteBus, names: list[str], batch: int, settle_many: bool = False) -> int:
    done = 0
    for name in names:
        while got := bus.receive(name, batch):
            if settle_many:
                bus.complete_many([m.lock_token for m in got])
            else:
                for m in got:
                    bus.complete(m.lock_token)
            done += len(got)
    return done


def run(events: int, batch: int, subscriptions: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, SqliteBus(Path(tmp) / "bench.db") as bus:
        names = [f"consumer-{i}" for i in range(subscriptions)]
        for i, name in enumerate(names):
            # each consumer takes one event type (plus retries addressed to it), like the manifests
            bus.ensure_subscription(SubscriptionSpec(
                name, f"(type IN ('T{i}') OR (type = 'AgentRetryRequested' AND targetAgent = '{name}')) "
                "AND tenantId = 't1'"))
        results: dict[str, float] = {}

        t0 = time.perf_counter()
        for start in range(0, events, batch):
            bus.publish(_messages(start, min(batch, events - start), subscriptions))
        results["publish events/s"] = events / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        delivered = _drain(bus, names, batch)
        results["receive+complete deliveries/s"] = delivered / (time.perf_counter() - t0)

        for settle_many in (False, True):
            offset = (2 + settle_many) * events
            t0 = time.perf_counter()
            for start in range(offset, offset + events, batch):
                bus.publish(_messages(start, min(batch, offset + events - start), subscriptions))
                _drain(bus, names, batch, settle_many)
            label = "complete_many" if settle_many else "complete"
            results[f"steady publish+receive+{label} events/s"] = events / (time.perf_counter() - t0)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--subscriptions", type=int, default=14)
    args = parser.parse_args()
    for name, value in run(args.events, args.batch, args.subscriptions).items():
        print(f"{name:45s} {value:12,.0f}")


if __name__ == "__main__":
    main()
