"""Several OS processes on one SQLite bus file: no message is held by two receivers at once.

Locks are an hour long, so a message is only ever redelivered if the claim itself is broken;
every message must therefore be delivered exactly once (delivery_count 1) and completed once.
Processes start with ``spawn`` (fresh interpreters, as separate host processes would be).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from shared.adapters.sqlite.bus import SqliteBus
from shared.ports import FakeClock, OutgoingMessage, SubscriptionSpec

SUBSCRIPTION = "work"
LONG_LOCK = timedelta(hours=1)


def _message(i: int) -> OutgoingMessage:
    return OutgoingMessage(f"m{i:05d}", f'{{"n": {i}}}'.encode(), {"type": "Work"})


def _publisher(path: str, ids: range, barrier: Barrier) -> None:
    with SqliteBus(path) as bus:
        barrier.wait(timeout=60)
        batch = [_message(i) for i in ids]
        for start in range(0, len(batch), 100):
            bus.publish(batch[start : start + 100])


def _receiver(path: str, barrier: Barrier, results: Any) -> None:
    got: list[tuple[str, int]] = []
    with SqliteBus(path) as bus:
        barrier.wait(timeout=60)
        while batch := bus.receive(SUBSCRIPTION, 20, lock_duration=LONG_LOCK):
            for m in batch:
                got.append((m.message_id, m.delivery_count))
                bus.complete(m.lock_token)
    results.put((os.getpid(), got))


def _crashing_receiver(path: str, count: int) -> None:
    bus = SqliteBus(path)
    bus.receive(SUBSCRIPTION, count, lock_duration=timedelta(seconds=60))
    os._exit(3)  # dies holding the locks, like a host process that is killed


def _run(ctx: Any, target: Any, args_list: list[tuple[Any, ...]]) -> list[Any]:
    procs = [ctx.Process(target=target, args=args) for args in args_list]
    for p in procs:
        p.start()
    return procs


def _create(path: Path) -> None:
    with SqliteBus(path) as bus:
        bus.ensure_subscription(SubscriptionSpec(SUBSCRIPTION, "type = 'Work'"))


def test_concurrent_processes_publish_and_receive_each_message_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "bus.db"
    _create(path)
    ctx = mp.get_context("spawn")

    # two publishers with overlapping ids: topic-level duplicate detection works across processes
    barrier = ctx.Barrier(2)
    publishers = _run(
        ctx, _publisher, [(str(path), range(0, 2000), barrier), (str(path), range(1000, 3000), barrier)]
    )
    for p in publishers:
        p.join(timeout=120)
        assert p.exitcode == 0

    receivers_count = 4
    barrier = ctx.Barrier(receivers_count)
    results = ctx.Queue()
    receivers = _run(ctx, _receiver, [(str(path), barrier, results)] * receivers_count)
    per_process = [results.get(timeout=120) for _ in receivers]
    for p in receivers:
        p.join(timeout=60)
        assert p.exitcode == 0

    delivered = [mid for _, got in per_process for mid, _ in got]
    assert len(delivered) == 3000
    assert sorted(delivered) == [f"m{i:05d}" for i in range(3000)]
    assert {count for _, got in per_process for _, count in got} == {1}
    with SqliteBus(path) as bus:
        assert bus.next_due(SUBSCRIPTION) is None
        assert bus.dead_letters() == []


def test_locks_of_a_killed_process_expire_and_the_messages_are_redelivered(tmp_path: Path) -> None:
    path = tmp_path / "bus.db"
    _create(path)
    with SqliteBus(path) as bus:
        bus.publish([_message(i) for i in range(15)])
    ctx = mp.get_context("spawn")
    (crasher,) = _run(ctx, _crashing_receiver, [(str(path), 10)])
    crasher.join(timeout=60)
    assert crasher.exitcode == 3

    # a surviving host, its clock past the dead process's 60 s locks
    clock = FakeClock(datetime.now(UTC) + timedelta(minutes=2))
    with SqliteBus(path, clock=clock) as bus:
        again = bus.receive(SUBSCRIPTION, 50)
        assert [m.message_id for m in again] == [f"m{i:05d}" for i in range(15)]
        assert [m.delivery_count for m in again] == [2] * 10 + [1] * 5
