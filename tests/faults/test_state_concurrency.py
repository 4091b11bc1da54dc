"""Concurrency faults on ``SqliteStateStore``: racing writers in threads and in separate processes.

Optimistic concurrency must make every read-modify-write land exactly once (losers reload and
re-apply), make exactly one of several racing creates win, and never let a stale ETag overwrite.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.sqlite.state import SqliteStateStore
from shared.ports import ConflictError, PreconditionFailedError, UnitOfWork, Write

WORKERS = 4
INCREMENTS_PER_WORKER = 10
MAX_ATTEMPTS = 10_000


def increment(store: SqliteStateStore, partition: str, id: str, times: int) -> int:
    """Add 1 to ``body["n"]`` ``times`` times with ETag retry; return how many stale writes were retried."""
    retries = 0
    for _ in range(times):
        for _attempt in range(MAX_ATTEMPTS):
            current = store.get(partition, id)
            assert current is not None
            try:
                store.replace(partition, id, {"n": current.body["n"] + 1}, current.etag)
                break
            except PreconditionFailedError:
                retries += 1
        else:
            raise AssertionError(f"gave up after {MAX_ATTEMPTS} stale writes")
    return retries


def _increment_in_process(path: str, start: Any, times: int) -> int:
    store = SqliteStateStore(path)
    start.wait()
    try:
        return increment(store, "p", "counter", times)
    finally:
        store.close()


def _race(workers: int, task: Callable[[], Any]) -> list[Any]:
    """Run ``task`` in ``workers`` threads released together; return results or raised exceptions."""
    barrier = threading.Barrier(workers)

    def run() -> Any:
        barrier.wait()
        try:
            return task()
        except Exception as error:  # collected and asserted on by the caller
            return error

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda _: run(), range(workers)))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def test_read_modify_write_from_four_threads_applies_every_increment(db_path: Path) -> None:
    SqliteStateStore(db_path).create("p", "counter", {"n": 0})
    stores = [SqliteStateStore(db_path) for _ in range(WORKERS)]
    barrier = threading.Barrier(WORKERS)

    def work(store: SqliteStateStore) -> int:
        barrier.wait()
        return increment(store, "p", "counter", INCREMENTS_PER_WORKER)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(work, stores))
    assert SqliteStateStore(db_path).get("p", "counter").body == {"n": WORKERS * INCREMENTS_PER_WORKER}  # type: ignore[union-attr]


def test_read_modify_write_from_four_threads_sharing_one_store_applies_every_increment(db_path: Path) -> None:
    store = SqliteStateStore(db_path)
    store.create("p", "counter", {"n": 0})
    _race(WORKERS, lambda: increment(store, "p", "counter", INCREMENTS_PER_WORKER))
    assert store.get("p", "counter").body == {"n": WORKERS * INCREMENTS_PER_WORKER}  # type: ignore[union-attr]


def test_read_modify_write_from_four_processes_applies_every_increment(db_path: Path) -> None:
    SqliteStateStore(db_path).create("p", "counter", {"n": 0})
    context = multiprocessing.get_context("spawn")
    start = context.Manager().Event()
    with context.Pool(WORKERS) as pool:
        pending = [
            pool.apply_async(_increment_in_process, (str(db_path), start, INCREMENTS_PER_WORKER))
            for _ in range(WORKERS)
        ]
        start.set()
        for result in pending:
            result.get(timeout=120)
    assert SqliteStateStore(db_path).get("p", "counter").body == {"n": WORKERS * INCREMENTS_PER_WORKER}  # type: ignore[union-attr]


def test_eight_concurrent_creates_of_one_id_yield_exactly_one_winner(db_path: Path) -> None:
    stores = [SqliteStateStore(db_path) for _ in range(8)]
    turn = iter(range(8))
    lock = threading.Lock()

    def create() -> Any:
        with lock:
            index = next(turn)
        return stores[index].create("p", "flow:1", {"winner": index})

    outcomes = _race(8, create)
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    losers = [o for o in outcomes if isinstance(o, Exception)]
    assert len(winners) == 1
    assert len(losers) == 7 and all(isinstance(error, ConflictError) for error in losers)
    assert SqliteStateStore(db_path).get("p", "flow:1").body == winners[0].body  # type: ignore[union-attr]


def test_eight_concurrent_commits_of_one_event_are_processed_exactly_once(db_path: Path) -> None:
    store = SqliteStateStore(db_path)
    store.create("p", "counter", {"n": 0})

    def handle() -> Any:
        current = store.get("p", "counter")
        assert current is not None
        unit = UnitOfWork("p", "worker", "evt-1", [Write("upsert", "counter", {"n": current.body["n"] + 1})])
        return store.commit(unit)

    outcomes = _race(8, handle)
    assert sum(not isinstance(o, Exception) for o in outcomes) == 1
    assert all(isinstance(o, ConflictError) for o in outcomes if isinstance(o, Exception))
    assert store.get("p", "counter").body == {"n": 1}  # type: ignore[union-attr]


def test_stale_write_never_overwrites_a_newer_version(db_path: Path) -> None:
    first, second = SqliteStateStore(db_path), SqliteStateStore(db_path)
    first.create("p", "flow:1", {"state": "planning"})
    seen_by_a = first.get("p", "flow:1")
    seen_by_b = second.get("p", "flow:1")
    assert seen_by_a is not None and seen_by_b is not None and seen_by_a.etag == seen_by_b.etag
    first.replace("p", "flow:1", {"state": "designing"}, seen_by_a.etag)
    with pytest.raises(PreconditionFailedError):
        second.replace("p", "flow:1", {"state": "failed"}, seen_by_b.etag)
    with pytest.raises(PreconditionFailedError):
        stale = Write("replace", "flow:1", {"state": "x"}, seen_by_b.etag)
        second.commit(UnitOfWork("p", "b", "evt-9", [stale]))
    assert first.get("p", "flow:1").body == {"state": "designing"}  # type: ignore[union-attr]
    assert not second.inbox_contains("b", "evt-9")


def test_racing_replaces_with_one_etag_have_exactly_one_winner(db_path: Path) -> None:
    store = SqliteStateStore(db_path)
    base = store.create("p", "flow:1", {"n": 0})
    turn = iter(range(8))
    lock = threading.Lock()

    def replace() -> Any:
        with lock:
            index = next(turn)
        return store.replace("p", "flow:1", {"n": index + 1}, base.etag)

    outcomes = _race(8, replace)
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(winners) == 1
    assert all(isinstance(o, PreconditionFailedError) for o in outcomes if isinstance(o, Exception))
    assert store.get("p", "flow:1") == winners[0]
