"""``SqliteBus`` against the bus contract, plus what only the SQLite adapter promises."""

from __future__ import annotations

import multiprocessing
import socket
import sqlite3
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from shared.adapters.sqlite.bus import SqliteBus, SubscriptionCounts, SubscriptionNotFoundError
from shared.adapters.sqlite.doorbell import doorbell_directory
from shared.ports import Bus, FakeClock, OutgoingMessage, SubscriptionSpec

from .bus_contract import WINDOW, BusContract, msg


class TestSqliteBus(BusContract):
    @pytest.fixture(autouse=True)
    def _db_path(self, tmp_path: Path) -> None:
        self.db_path = tmp_path / "bus.db"

    def make_bus(self, clock: FakeClock) -> Bus:
        return SqliteBus(self.db_path, clock=clock, duplicate_detection_window=WINDOW)


class TestSqliteBusInMemory(BusContract):
    """``SqliteBus(":memory:")``: the same engine without a file, for fast single-process tests."""

    def make_bus(self, clock: FakeClock) -> Bus:
        return SqliteBus(":memory:", clock=clock, duplicate_detection_window=WINDOW)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "factory.db"


def test_sqlite_bus_satisfies_the_bus_protocol(db_path: Path, clock: FakeClock) -> None:
    with SqliteBus(db_path, clock=clock) as bus:
        assert isinstance(bus, Bus)


def test_messages_survive_reopening_the_file(db_path: Path, clock: FakeClock) -> None:
    with SqliteBus(db_path, clock=clock) as bus:
        bus.ensure_subscription(SubscriptionSpec("a"))
        bus.publish([msg("m1"), msg("m2")])
        (first,) = bus.receive("a")
    with SqliteBus(db_path, clock=clock) as bus:
        assert [m.message_id for m in bus.receive("a", 10)] == ["m2"]
        bus.complete(first.lock_token)


def test_subscription_created_by_another_instance_receives_later_publishes(
    db_path: Path, clock: FakeClock
) -> None:
    with SqliteBus(db_path, clock=clock) as publisher, SqliteBus(db_path, clock=clock) as receiver:
        publisher.publish([msg("before")])
        receiver.ensure_subscription(SubscriptionSpec("late", "type = 'X'"))
        publisher.publish([msg("after")])
        assert [m.message_id for m in receiver.receive("late", 10)] == ["after"]


def test_changed_filter_applies_to_later_publishes(db_path: Path, clock: FakeClock) -> None:
    with SqliteBus(db_path, clock=clock) as bus:
        bus.ensure_subscription(SubscriptionSpec("a", "type = 'X'"))
        bus.ensure_subscription(SubscriptionSpec("a", "type = 'Y'"))
        bus.publish([msg("m1", "X"), msg("m2", "Y")])
        assert [m.message_id for m in bus.receive("a", 10)] == ["m2"]
        assert [s.sql_filter for s in bus.subscriptions()] == ["type = 'Y'"]


def test_invalid_filter_is_rejected_before_it_is_stored(db_path: Path, clock: FakeClock) -> None:
    with SqliteBus(db_path, clock=clock) as bus:
        with pytest.raises(ValueError, match="position"):
            bus.ensure_subscription(SubscriptionSpec("a", "type = "))
        assert bus.subscriptions() == []


def test_receive_from_unknown_subscription_says_how_to_create_it(db_path: Path, clock: FakeClock) -> None:
    with SqliteBus(db_path, clock=clock) as bus:
        bus.ensure_subscription(SubscriptionSpec("known"))
        with pytest.raises(SubscriptionNotFoundError, match="ensure_subscription") as info:
            bus.receive("missing")
        assert "known" in str(info.value)


def test_counts_report_active_scheduled_locked_and_dead_lettered(db_path: Path, clock: FakeClock) -> None:
    with SqliteBus(db_path, clock=clock) as bus:
        bus.ensure_subscription(SubscriptionSpec("a"))
        bus.ensure_subscription(SubscriptionSpec("b", "type = 'nothing'"))
        later = clock.now() + timedelta(minutes=1)
        bus.publish([msg("m1"), msg("m2"), msg("m3"), msg("m4")])
        bus.publish([OutgoingMessage("s1", b"{}", {"type": "X"}, scheduled_enqueue_time=later)])
        locked, dead = bus.receive("a", 2)
        bus.dead_letter(dead.lock_token, "Poison", "")
        assert bus.counts("a") == SubscriptionCounts("a", active=2, scheduled=1, locked=1, dead_lettered=1)
        assert bus.describe() == {
            "a": SubscriptionCounts("a", 2, 1, 1, 1),
            "b": SubscriptionCounts("b", 0, 0, 0, 0),
        }
        clock.advance(61)  # lock expired, schedule reached
        assert bus.counts("a") == SubscriptionCounts("a", active=4, scheduled=0, locked=0, dead_lettered=1)
        assert locked.message_id == "m1"


def test_large_batch_is_published_and_drained_in_order(db_path: Path, clock: FakeClock) -> None:
    with SqliteBus(db_path, clock=clock) as bus:
        bus.ensure_subscription(SubscriptionSpec("a"))
        bus.publish([msg(f"m{i:05d}") for i in range(2500)])
        received: list[str] = []
        while batch := bus.receive("a", 300):
            received.extend(m.message_id for m in batch)
            for m in batch:
                bus.complete(m.lock_token)
        assert received == [f"m{i:05d}" for i in range(2500)]


def test_duplicate_detection_table_is_pruned_after_the_window(db_path: Path, clock: FakeClock) -> None:
    with SqliteBus(db_path, clock=clock, duplicate_detection_window=timedelta(seconds=60)) as bus:
        bus.publish([msg(f"m{i}") for i in range(50)])
        clock.advance(61)
        bus.publish([msg("fresh")])
        (rows,) = bus._db.execute("SELECT COUNT(*) FROM bus_dedup").fetchone()
        assert rows == 1


def test_naive_datetimes_are_rejected_with_a_clear_message(db_path: Path, clock: FakeClock) -> None:
    naive = clock.now().replace(tzinfo=None)
    with SqliteBus(db_path, clock=clock) as bus, pytest.raises(ValueError, match="timezone-aware"):
        bus.publish([OutgoingMessage("m1", b"{}", {}, scheduled_enqueue_time=naive)])


def test_complete_many_settles_in_one_call_and_reports_lost_locks(db_path: Path, clock: FakeClock) -> None:
    with SqliteBus(db_path, clock=clock) as bus:
        bus.ensure_subscription(SubscriptionSpec("a", lock_duration=timedelta(seconds=60)))
        bus.publish([msg("m1"), msg("m2"), msg("m3")])
        early = bus.receive("a")
        clock.advance(61)
        late = bus.receive("a", 3)
        assert [m.message_id for m in late] == ["m1", "m2", "m3"]
        lost = bus.complete_many([early[0].lock_token, *(m.lock_token for m in late)])
        assert lost == [early[0].lock_token]
        clock.advance(3600)
        assert bus.receive("a", 10) == []


def test_complete_and_receive_settles_the_finished_and_claims_the_next_in_one_call(db_path: Path,
                                                                                   clock: FakeClock) -> None:
    with SqliteBus(db_path, clock=clock) as bus:
        bus.ensure_subscription(SubscriptionSpec("a", lock_duration=timedelta(seconds=60)))
        bus.publish([msg(f"m{i}") for i in range(5)])
        first = bus.receive("a", 2)
        expired = bus.receive("a")
        clock.advance(61)  # m0..m2 lose their locks; the host finished m0 and m1 meanwhile
        again = bus.receive("a", 3)
        assert [m.message_id for m in again] == ["m0", "m1", "m2"]
        lost, got = bus.complete_and_receive([m.lock_token for m in (*again[:2], *expired)], "a", 10)
        assert lost == [expired[0].lock_token]
        assert [m.message_id for m in got] == ["m3", "m4"]
        assert first[0].lock_token not in {m.lock_token for m in got}
        # nothing receivable: the completions are still made
        lost, got = bus.complete_and_receive([m.lock_token for m in (again[2], *got)], "a", 10)
        assert (lost, got) == ([], [])
        clock.advance(3600)
        assert bus.receive("a", 10) == []


# --------------------------------------------------------------------------- waking and waiting


def test_a_publish_through_another_instance_wakes_the_listeners_of_this_one(db_path: Path, clock: FakeClock) -> None:
    with SqliteBus(db_path, clock=clock) as receiver, SqliteBus(db_path, clock=clock) as publisher:
        receiver.ensure_subscription(SubscriptionSpec("a"))
        woken = threading.Event()
        receiver.add_publish_listener(woken.set)
        publisher.publish([msg("m1")])
        assert woken.wait(10)  # the doorbell rang: no polling needed to notice another connection's publish
        assert [m.message_id for m in receiver.receive("a")] == ["m1"]


def test_a_publish_from_another_process_wakes_the_listener(db_path: Path, clock: FakeClock) -> None:
    with SqliteBus(db_path, clock=clock) as receiver:
        receiver.ensure_subscription(SubscriptionSpec("a"))
        woken = threading.Event()
        receiver.add_publish_listener(woken.set)
        proc = multiprocessing.get_context("spawn").Process(target=_publish_one, args=(str(db_path),))
        proc.start()
        proc.join(60)
        assert proc.exitcode == 0
        assert woken.wait(10)


def _publish_one(path: str) -> None:
    with SqliteBus(path) as bus:
        bus.publish([OutgoingMessage("from-child", b"{}", {"type": "X"})])


def test_a_listener_that_died_without_closing_is_forgotten_by_the_next_ring(db_path: Path, clock: FakeClock) -> None:
    directory = doorbell_directory(db_path)
    directory.mkdir(parents=True, exist_ok=True)
    stale = directory / "0-dead"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dead:
        dead.bind(str(stale))  # bound, then closed without unlinking: like a killed host
    with SqliteBus(db_path, clock=clock) as bus:
        bus.publish([msg("m1")])
    assert not stale.exists()


def test_a_write_lock_held_by_another_connection_is_waited_for_then_named(db_path: Path, clock: FakeClock) -> None:
    with SqliteBus(db_path, clock=clock, busy_timeout=timedelta(milliseconds=200)) as bus:
        bus.ensure_subscription(SubscriptionSpec("a"))
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
        with pytest.raises(sqlite3.OperationalError, match=r"after 0.2 s: another connection holds .*factory\.db"):
            bus.publish([msg("m1")])
        other.execute("COMMIT")
        other.close()
        bus.publish([msg("m1")])  # the lock is free again: the same call goes through
        assert [m.message_id for m in bus.receive("a")] == ["m1"]


def test_receive_claims_a_batch_with_distinct_guid_shaped_lock_tokens(db_path: Path, clock: FakeClock) -> None:
    with SqliteBus(db_path, clock=clock) as bus:
        bus.ensure_subscription(SubscriptionSpec("a"))
        bus.publish([msg(f"m{i}") for i in range(40)])
        got = bus.receive("a", 40) + bus.receive("a", 40)
        tokens = [m.lock_token for m in got]
        assert len(set(tokens)) == len(tokens) == 40
        assert all(str(uuid.UUID(t)) == t and uuid.UUID(t).version == 4 for t in tokens)
        assert bus.complete_many(tokens) == []


def test_commits_never_checkpoint_the_log_a_thread_of_its_own_does(tmp_path: Path) -> None:
    checkpoints: list[tuple[int, int, int]] = []
    done = threading.Event()

    def seen(result: tuple[int, int, int]) -> None:
        checkpoints.append(result)
        if result[1] and result[1] == result[2]:
            done.set()  # every frame of the log is in the database file

    with SqliteBus(tmp_path / "bus.db") as bus:
        assert bus._db.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)  # not inside a commit
        assert bus._checkpointer is not None
        bus._checkpointer.on_checkpoint = seen
        bus.ensure_subscription(SubscriptionSpec("a"))
        bus.publish([msg(f"m{i}") for i in range(200)])
        assert done.wait(10), checkpoints
