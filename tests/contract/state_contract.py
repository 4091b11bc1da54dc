"""The one contract every ``StateStore`` adapter honours; subclassed per adapter in ``test_state_*.py``.

Names (partitions, consumers, traces) carry a per-test suffix so the same cases can run against a
shared live Cosmos account without seeing each other's data.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.ports import (
    ConflictError,
    FakeClock,
    NotFoundError,
    OutboxRecord,
    OutgoingMessage,
    PreconditionFailedError,
    StateStore,
    UnitOfWork,
    Write,
)


def envelope(
    event_id: str, trace_id: str, project_id: str, time: str, type_: str = "IntentSubmitted"
) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": type_,
        "version": "1.0.0",
        "source": "cli",
        "traceId": trace_id,
        "projectId": project_id,
        "time": time,
        "payload": {"n": event_id},
    }


class StateStoreContract:
    """Abstract case: subclasses implement ``make_store``."""

    def make_store(self, clock: FakeClock) -> StateStore:
        raise NotImplementedError

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock(datetime(2026, 1, 1, tzinfo=UTC))

    @pytest.fixture
    def store(self, clock: FakeClock) -> StateStore:
        return self.make_store(clock)

    @pytest.fixture
    def ns(self) -> str:
        return uuid.uuid4().hex[:10]

    # ------------------------------------------------------------------ documents

    def test_create_then_get_returns_body_and_etag(self, store: StateStore, ns: str) -> None:
        created = store.create(f"p-{ns}", "flow:1", {"state": "new", "n": 1})
        loaded = store.get(f"p-{ns}", "flow:1")
        assert loaded is not None
        assert loaded.body == {"state": "new", "n": 1}
        assert loaded.etag == created.etag
        assert (loaded.partition, loaded.id) == (f"p-{ns}", "flow:1")

    def test_get_of_missing_document_returns_none(self, store: StateStore, ns: str) -> None:
        assert store.get(f"p-{ns}", "nothing-here") is None

    def test_same_id_in_another_partition_is_another_document(self, store: StateStore, ns: str) -> None:
        store.create(f"a-{ns}", "doc", {"v": "a"})
        store.create(f"b-{ns}", "doc", {"v": "b"})
        assert store.get(f"a-{ns}", "doc").body == {"v": "a"}  # type: ignore[union-attr]
        assert store.get(f"b-{ns}", "doc").body == {"v": "b"}  # type: ignore[union-attr]

    def test_create_twice_raises_conflict(self, store: StateStore, ns: str) -> None:
        store.create(f"p-{ns}", "flow:1", {"n": 1})
        with pytest.raises(ConflictError):
            store.create(f"p-{ns}", "flow:1", {"n": 2})
        assert store.get(f"p-{ns}", "flow:1").body == {"n": 1}  # type: ignore[union-attr]

    def test_replace_with_current_etag_changes_body_and_etag(self, store: StateStore, ns: str) -> None:
        created = store.create(f"p-{ns}", "flow:1", {"n": 1})
        replaced = store.replace(f"p-{ns}", "flow:1", {"n": 2}, created.etag)
        assert replaced.etag != created.etag
        loaded = store.get(f"p-{ns}", "flow:1")
        assert loaded is not None and loaded.body == {"n": 2} and loaded.etag == replaced.etag

    def test_replace_with_stale_etag_fails_and_leaves_document_unchanged(
        self, store: StateStore, ns: str
    ) -> None:
        created = store.create(f"p-{ns}", "flow:1", {"n": 1})
        current = store.replace(f"p-{ns}", "flow:1", {"n": 2}, created.etag)
        with pytest.raises(PreconditionFailedError):
            store.replace(f"p-{ns}", "flow:1", {"n": 99}, created.etag)
        loaded = store.get(f"p-{ns}", "flow:1")
        assert loaded is not None and loaded.body == {"n": 2} and loaded.etag == current.etag

    def test_replace_of_missing_document_raises_not_found(self, store: StateStore, ns: str) -> None:
        with pytest.raises(NotFoundError):
            store.replace(f"p-{ns}", "ghost", {"n": 1}, "some-etag")

    def test_upsert_creates_then_overwrites(self, store: StateStore, ns: str) -> None:
        first = store.upsert(f"p-{ns}", "cfg", {"v": 1})
        second = store.upsert(f"p-{ns}", "cfg", {"v": 2})
        assert first.etag != second.etag
        assert store.get(f"p-{ns}", "cfg").body == {"v": 2}  # type: ignore[union-attr]

    def test_ids_with_reserved_characters_round_trip(self, store: StateStore, ns: str) -> None:
        awkward = "repo/src\\main?x=1#frag:%~ é"
        store.create(f"p/{ns}?#", awkward, {"ok": True})
        loaded = store.get(f"p/{ns}?#", awkward)
        assert loaded is not None and loaded.id == awkward and loaded.body == {"ok": True}
        assert [d.id for d in store.query(f"p/{ns}?#", "repo/src")] == [awkward]

    def test_nested_bodies_round_trip(self, store: StateStore, ns: str) -> None:
        body: dict[str, Any] = {"list": [1, 2.5, "x", None, True], "map": {"k": {"deep": []}}, "text": "ü"}
        store.create(f"p-{ns}", "nested", body)
        assert store.get(f"p-{ns}", "nested").body == body  # type: ignore[union-attr]

    def test_query_lists_documents_of_the_partition_by_id_prefix(self, store: StateStore, ns: str) -> None:
        store.create(f"p-{ns}", "flow:b", {"n": 2})
        store.create(f"p-{ns}", "flow:a", {"n": 1})
        store.create(f"p-{ns}", "exec:a", {"n": 3})
        store.create(f"other-{ns}", "flow:c", {"n": 4})
        assert [d.id for d in store.query(f"p-{ns}", "flow:")] == ["flow:a", "flow:b"]
        assert sorted(d.id for d in store.query(f"p-{ns}")) == ["exec:a", "flow:a", "flow:b"]
        assert store.query(f"p-{ns}", "nope") == []

    # ------------------------------------------------------------------ unit of work

    def _outbox(self, consumer: str, source: str, message_id: str, **extra: Any) -> OutboxRecord:
        message = OutgoingMessage(message_id=message_id, body=f"body-{message_id}".encode(), **extra)
        return OutboxRecord(message=message, consumer=consumer, source_event_id=source)

    def test_commit_applies_inbox_writes_and_outbox_together(self, store: StateStore, ns: str) -> None:
        base = store.create(f"p-{ns}", "flow:1", {"state": "planning"})
        unit = UnitOfWork(
            partition=f"p-{ns}",
            consumer=f"planner-{ns}",
            inbox_event_id="evt-1",
            writes=[
                Write("replace", "flow:1", {"state": "designing"}, base.etag),
                Write("create", "exec:1", {"step": 1}),
                Write("upsert", "cfg", {"x": 1}),
            ],
            outbox=[self._outbox(f"planner-{ns}", "evt-1", "out-1")],
        )
        written = store.commit(unit)
        assert [d.id for d in written] == ["flow:1", "exec:1", "cfg"]
        assert store.get(f"p-{ns}", "flow:1").body == {"state": "designing"}  # type: ignore[union-attr]
        assert store.get(f"p-{ns}", "flow:1").etag == written[0].etag  # type: ignore[union-attr]
        assert store.inbox_contains(f"planner-{ns}", "evt-1")
        assert [r.message.message_id for r in store.pending_outbox(consumer=f"planner-{ns}")] == ["out-1"]

    def test_commit_with_stale_write_leaves_inbox_outbox_and_documents_untouched(
        self, store: StateStore, ns: str
    ) -> None:
        base = store.create(f"p-{ns}", "flow:1", {"state": "a"})
        store.replace(f"p-{ns}", "flow:1", {"state": "b"}, base.etag)
        unit = UnitOfWork(
            partition=f"p-{ns}",
            consumer=f"c-{ns}",
            inbox_event_id="evt-1",
            writes=[Write("create", "exec:1", {}), Write("replace", "flow:1", {"state": "c"}, base.etag)],
            outbox=[self._outbox(f"c-{ns}", "evt-1", "out-1")],
        )
        with pytest.raises(PreconditionFailedError):
            store.commit(unit)
        assert not store.inbox_contains(f"c-{ns}", "evt-1")
        assert store.pending_outbox(consumer=f"c-{ns}") == []
        assert store.get(f"p-{ns}", "exec:1") is None
        assert store.get(f"p-{ns}", "flow:1").body == {"state": "b"}  # type: ignore[union-attr]

    def test_commit_with_processed_inbox_id_raises_conflict_and_writes_nothing(
        self, store: StateStore, ns: str
    ) -> None:
        first = UnitOfWork(f"p-{ns}", f"c-{ns}", "evt-1", [Write("create", "exec:1", {"n": 1})])
        store.commit(first)
        again = UnitOfWork(
            f"p-{ns}",
            f"c-{ns}",
            "evt-1",
            writes=[Write("upsert", "exec:1", {"n": 2}), Write("create", "exec:2", {})],
            outbox=[self._outbox(f"c-{ns}", "evt-1", "out-1")],
        )
        with pytest.raises(ConflictError, match="already processed"):
            store.commit(again)
        assert store.get(f"p-{ns}", "exec:1").body == {"n": 1}  # type: ignore[union-attr]
        assert store.get(f"p-{ns}", "exec:2") is None
        assert store.pending_outbox(consumer=f"c-{ns}") == []

    def test_inbox_is_per_consumer(self, store: StateStore, ns: str) -> None:
        store.commit(UnitOfWork(f"p-{ns}", f"a-{ns}", "evt-1"))
        store.commit(UnitOfWork(f"p-{ns}", f"b-{ns}", "evt-1"))
        assert store.inbox_contains(f"a-{ns}", "evt-1") and store.inbox_contains(f"b-{ns}", "evt-1")
        assert not store.inbox_contains(f"a-{ns}", "evt-2")

    def test_commit_with_colliding_create_rolls_back_everything(self, store: StateStore, ns: str) -> None:
        store.create(f"p-{ns}", "exec:1", {"n": 1})
        unit = UnitOfWork(
            f"p-{ns}",
            f"c-{ns}",
            "evt-1",
            writes=[Write("upsert", "cfg", {"v": 1}), Write("create", "exec:1", {"n": 2})],
            outbox=[self._outbox(f"c-{ns}", "evt-1", "out-1")],
        )
        with pytest.raises(ConflictError):
            store.commit(unit)
        assert store.get(f"p-{ns}", "cfg") is None
        assert not store.inbox_contains(f"c-{ns}", "evt-1")
        assert store.pending_outbox(consumer=f"c-{ns}") == []

    def test_commit_replace_of_missing_document_raises_not_found(self, store: StateStore, ns: str) -> None:
        unit = UnitOfWork(f"p-{ns}", f"c-{ns}", "evt-1", writes=[Write("replace", "ghost", {}, "etag")])
        with pytest.raises(NotFoundError):
            store.commit(unit)
        assert not store.inbox_contains(f"c-{ns}", "evt-1")

    def test_commit_deletes_with_current_etag_and_refuses_stale_one(self, store: StateStore, ns: str) -> None:
        first = store.create(f"p-{ns}", "lease", {"v": 1})
        second = store.replace(f"p-{ns}", "lease", {"v": 2}, first.etag)
        with pytest.raises(PreconditionFailedError):
            store.commit(UnitOfWork(f"p-{ns}", f"c-{ns}", None, [Write("delete", "lease", etag=first.etag)]))
        assert store.get(f"p-{ns}", "lease") is not None
        delete = Write("delete", "lease", etag=second.etag)
        assert store.commit(UnitOfWork(f"p-{ns}", f"c-{ns}", None, [delete])) == []
        assert store.get(f"p-{ns}", "lease") is None
        store.create(f"p-{ns}", "tmp", {})
        store.commit(UnitOfWork(f"p-{ns}", f"c-{ns}", None, [Write("delete", "tmp")]))
        assert store.get(f"p-{ns}", "tmp") is None

    # ------------------------------------------------------------------ outbox

    def test_pending_outbox_rebuilds_the_message_exactly(
        self, store: StateStore, ns: str, clock: FakeClock
    ) -> None:
        message = OutgoingMessage(
            message_id="out-1",
            body=b"\x00\xff{\"binary\": true}\n",
            application_properties={"type": "PlanReady", "version": "1.0.0", "n": 3, "ratio": 0.5,
                                    "flag": True, "none": None},
            content_type="application/cloudevents+json; charset=utf-8",
            subject="PlanReady",
            correlation_id="corr-1",
            scheduled_enqueue_time=datetime(2026, 1, 1, 0, 5, 30, 123456, tzinfo=UTC),
            time_to_live=timedelta(hours=2, microseconds=7),
        )
        record = OutboxRecord(message=message, consumer=f"c-{ns}", source_event_id="evt-1")
        store.commit(UnitOfWork(f"p-{ns}", f"c-{ns}", "evt-1", outbox=[record]))
        [pending] = store.pending_outbox(consumer=f"c-{ns}")
        assert pending == record
        assert type(pending.message.body) is bytes
        props = pending.message.application_properties
        assert type(props["n"]) is int and type(props["flag"]) is bool and type(props["ratio"]) is float

    def test_pending_outbox_defaults_round_trip(self, store: StateStore, ns: str) -> None:
        record = self._outbox(f"c-{ns}", "evt-1", "out-1")
        store.commit(UnitOfWork(f"p-{ns}", f"c-{ns}", "evt-1", outbox=[record]))
        assert store.pending_outbox(consumer=f"c-{ns}") == [record]

    def test_pending_outbox_is_oldest_first_and_filterable(
        self, store: StateStore, ns: str, clock: FakeClock
    ) -> None:
        a, b, e2 = f"a-{ns}", f"b-{ns}", f"evt-2-{ns}"
        store.commit(UnitOfWork(f"p-{ns}", a, "evt-1", outbox=[self._outbox(a, "evt-1", "m1"),
                                                             self._outbox(a, "evt-1", "m2")]))
        clock.advance(1)
        store.commit(UnitOfWork(f"q-{ns}", b, e2, outbox=[self._outbox(b, e2, "m3")]))
        clock.advance(1)
        store.commit(UnitOfWork(f"p-{ns}", a, "evt-3", outbox=[self._outbox(a, "evt-3", "m4")]))

        def ids(records: list[OutboxRecord]) -> list[str]:
            return [r.message.message_id for r in records]

        assert ids(store.pending_outbox(consumer=a)) == ["m1", "m2", "m4"]
        assert ids(store.pending_outbox(consumer=a, source_event_id="evt-3")) == ["m4"]
        assert ids(store.pending_outbox(source_event_id=e2)) == ["m3"]
        assert ids(store.pending_outbox(consumer=a, limit=2)) == ["m1", "m2"]

    def test_mark_published_removes_records_from_pending(self, store: StateStore, ns: str) -> None:
        c = f"c-{ns}"
        store.commit(UnitOfWork(f"p-{ns}", c, "evt-1", outbox=[self._outbox(c, "evt-1", "m1"),
                                                             self._outbox(c, "evt-1", "m2")]))
        store.mark_published(["m1"], c)
        assert [r.message.message_id for r in store.pending_outbox(consumer=c)] == ["m2"]
        store.mark_published(["m1", "m2", "unknown"], c)
        assert store.pending_outbox(consumer=c) == []

    def test_mark_published_only_affects_the_named_consumer(self, store: StateStore, ns: str) -> None:
        a, b = f"a-{ns}", f"b-{ns}"
        store.commit(UnitOfWork(f"p-{ns}", a, "evt-1", outbox=[self._outbox(a, "evt-1", "m1")]))
        store.commit(UnitOfWork(f"p-{ns}", b, "evt-1", outbox=[self._outbox(b, "evt-1", "m1")]))
        store.mark_published(["m1"], a)
        assert store.pending_outbox(consumer=a) == []
        assert [r.consumer for r in store.pending_outbox(consumer=b)] == [b]

    # ------------------------------------------------------------------ event log

    def test_events_for_trace_are_in_time_order(self, store: StateStore, ns: str) -> None:
        trace = f"trace-{ns}"
        store.append_events([
            envelope(f"e2-{ns}", trace, f"proj-{ns}", "2026-01-01T00:00:02Z", "PlanReady"),
            envelope(f"e1-{ns}", trace, f"proj-{ns}", "2026-01-01T00:00:01Z"),
            envelope(f"x-{ns}", f"other-{ns}", f"proj-{ns}", "2026-01-01T00:00:00Z"),
        ])
        events = store.events_for_trace(trace)
        assert [e["id"] for e in events] == [f"e1-{ns}", f"e2-{ns}"]
        assert events[1]["payload"] == {"n": f"e2-{ns}"} and events[1]["type"] == "PlanReady"

    def test_events_for_project_span_traces(self, store: StateStore, ns: str) -> None:
        store.append_events([
            envelope(f"e1-{ns}", f"t1-{ns}", f"proj-{ns}", "2026-01-01T00:00:03+00:00"),
            envelope(f"e2-{ns}", f"t2-{ns}", f"proj-{ns}", "2026-01-01T00:00:01+00:00"),
            envelope(f"e3-{ns}", f"t3-{ns}", f"elsewhere-{ns}", "2026-01-01T00:00:02+00:00"),
        ])
        assert [e["id"] for e in store.events_for_project(f"proj-{ns}")] == [f"e2-{ns}", f"e1-{ns}"]

    def test_append_events_is_idempotent_by_id(self, store: StateStore, ns: str) -> None:
        event = envelope(f"e1-{ns}", f"t-{ns}", f"proj-{ns}", "2026-01-01T00:00:01Z")
        store.append_events([event])
        store.append_events([event, envelope(f"e2-{ns}", f"t-{ns}", f"proj-{ns}", "2026-01-01T00:00:02Z")])
        store.append_events([event])
        assert [e["id"] for e in store.events_for_trace(f"t-{ns}")] == [f"e1-{ns}", f"e2-{ns}"]
        assert len(store.events_for_project(f"proj-{ns}")) == 2

    def test_append_events_rejects_envelopes_without_trace(self, store: StateStore, ns: str) -> None:
        broken = {"id": f"e-{ns}", "type": "X", "time": "2026-01-01T00:00:00Z"}
        with pytest.raises(ValueError, match="traceId"):
            store.append_events([broken])
        assert store.events_for_trace("") == []

    def test_unknown_trace_and_project_have_no_events(self, store: StateStore, ns: str) -> None:
        assert store.events_for_trace(f"none-{ns}") == []
        assert store.events_for_project(f"none-{ns}") == []
