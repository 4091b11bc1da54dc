"""The local host: discovery of the app's triggers, settings, messages, settlement, stop, lock renewal."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage as WorkerServiceBusMessage

import function_app
from shared.bootstrap import Runtime, bootstrap
from shared.contracts.manifests import all_subscriptions, load_consumers
from shared.handling.decisions import InfrastructureError
from shared.host.local import (
    Delivery,
    HostConfigError,
    HostOptions,
    LocalHost,
    ServiceBusFunction,
    build_host,
    discover,
    drive,
    load_host_options,
    load_local_settings,
    resolve,
    subscriptions_of,
    to_functions_message,
)
from shared.ports import FakeClock, OutgoingMessage, ReceivedMessage, SystemClock
from shared.runtime import set_runtime
from shared.settings import Settings, binding_values
from tests.conftest import signed_event

ROOT = Path(__file__).resolve().parents[2]
SUB = "work"
WAIT = 10.0  # seconds a test waits on a threading.Event before failing (never reached when correct)


@pytest.fixture(autouse=True)
def fresh_app_index() -> Iterator[None]:
    """``FunctionApp.get_functions()`` refuses to run twice on one app object: reset its memo."""
    function_app.app.functions_bindings = {}
    yield
    function_app.app.functions_bindings = {}


# --------------------------------------------------------------------------- discovery


def test_discover_finds_one_service_bus_function_per_consumer_and_lane_on_the_resolved_topic() -> None:
    sb, _ = discover(function_app.app, {"FACTORY_TOPIC": "my-topic"})
    subscriptions = all_subscriptions(load_consumers())
    assert sorted((f.name, f.subscription) for f in sb) == sorted((s.function_name, s.name) for s in subscriptions)
    assert {f.topic for f in sb} == {"my-topic"}
    assert {f.connection for f in sb} == {"ServiceBusConnection"}
    assert {f.arg_name for f in sb} == {"msg"}
    assert all(callable(f.call) for f in sb)
    assert subscriptions_of(sb) == sorted(s.name for s in subscriptions)


def test_discover_finds_the_http_functions_with_routes_and_methods() -> None:
    _, http = discover(function_app.app, {"FACTORY_TOPIC": "t"})
    assert {f.name: (f.route, f.methods) for f in http} == {
        "http_health": ("health", ("GET",)),
        "http_list_projects": ("projects", ("GET",)),
        "http_create_project": ("projects", ("POST",)),
        "http_get_project": ("projects/{id}", ("GET",)),
        "http_get_project_flows": ("projects/{id}/flows", ("GET",)),
        "http_get_draft": ("projects/{id}/draft", ("GET",)),
        "http_confirm_draft": ("projects/{id}/confirm", ("POST",)),
        "http_decide_approval": ("projects/{id}/approval", ("POST",)),
        "http_get_artifact": ("projects/{id}/artifacts/{*path}", ("GET",)),
        "http_get_trace": ("traces/{traceId}", ("GET",)),
        "http_get_trace_waterfall": ("traces/{traceId}/waterfall", ("GET",)),
        "http_list_flows": ("flows", ("GET",)),
        "http_get_topology": ("topology", ("GET",)),
        "http_list_dead_letters": ("deadletters", ("GET",)),
        "http_resubmit_dead_letter": ("deadletters/{subscription}/{sequence}/resubmit", ("POST",)),
        "http_list_templates": ("templates", ("GET",)),
        "http_execute_template": ("templates/{templateId}/execute", ("POST",)),
        "http_get_execution": ("executions/{id}", ("GET",)),
        "studio_projects": ("studio", ("GET",)),
        "studio_projects_live": ("studio/live/projects", ("GET",)),
        "studio_start_project": ("studio/projects", ("POST",)),
        "studio_submit_draft": ("studio/drafts", ("POST",)),
        "studio_draft": ("studio/drafts/{id}", ("GET",)),
        "studio_confirm_draft": ("studio/drafts/{id}/confirm", ("POST",)),
        "studio_project": ("studio/projects/{id}", ("GET",)),
        "studio_project_live": ("studio/live/projects/{id}", ("GET",)),
        "studio_approval": ("studio/projects/{id}/approval", ("POST",)),
        "studio_artifact": ("studio/projects/{id}/files/{*path}", ("GET",)),
        "studio_archive": ("studio/projects/{id}/archive", ("GET",)),
        "studio_trace": ("studio/traces/{traceId}", ("GET",)),
        "studio_dead_letters": ("studio/deadletters", ("GET",)),
        "studio_resubmit": ("studio/deadletters/{subscription}/{sequence}/resubmit", ("POST",)),
        "studio_topology": ("studio/topology", ("GET",)),
        "studio_templates": ("studio/templates", ("GET",)),
        "studio_static": ("studio/static/{*path}", ("GET",)),
    }
    assert {f.arg_name for f in http} == {"req"}


def test_discover_names_the_missing_topic_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACTORY_TOPIC", raising=False)
    with pytest.raises(HostConfigError, match=r"%FACTORY_TOPIC%.*set FACTORY_TOPIC"):
        discover(function_app.app, {})


def test_discover_can_run_twice_on_the_same_app() -> None:
    # azure-functions' FunctionApp.get_functions() raises "does not have a unique function name" when it
    # runs a second time on one app object; a second build_host in one process must still work
    first, _ = discover(function_app.app, {"FACTORY_TOPIC": "t"})
    second, _ = discover(function_app.app, {"FACTORY_TOPIC": "t"})
    assert [f.name for f in first] == [f.name for f in second]


# --------------------------------------------------------------------------- settings


def test_resolve_takes_values_from_local_settings() -> None:
    assert resolve("%FACTORY_TOPIC%", {"FACTORY_TOPIC": "factory-events"}) == "factory-events"
    assert resolve("pre-%A%-%B%-post", {"A": "1", "B": "2"}) == "pre-1-2-post"
    assert resolve("no placeholder", {}) == "no placeholder"


def test_resolve_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOPIC_SETTING", "from-env")
    assert resolve("%MY_TOPIC_SETTING%", binding_values({})) == "from-env"


def test_resolve_error_names_the_missing_setting_and_where_to_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(HostConfigError) as info:
        resolve("%NOT_SET_ANYWHERE%", {"OTHER": "x"})
    assert "NOT_SET_ANYWHERE" in str(info.value)
    assert "local.settings.json" in str(info.value) and "environment" in str(info.value)


def test_environment_wins_over_local_settings_like_func_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORY_TOPIC", "from-env")
    assert resolve("%FACTORY_TOPIC%", binding_values({"FACTORY_TOPIC": "from-file"})) == "from-env"


def test_local_settings_values_are_read_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": {"FACTORY_TOPIC": "file-topic", "N": 3}}))
    values = load_local_settings(path)
    assert values == {"FACTORY_TOPIC": "file-topic", "N": "3"}
    sb, _ = discover(function_app.app, values)
    assert {f.topic for f in sb} == {"file-topic"}


def test_missing_local_settings_file_means_no_values(tmp_path: Path) -> None:
    assert load_local_settings(tmp_path / "absent.json") == {}


def test_invalid_local_settings_file_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text("{ not json")
    with pytest.raises(HostConfigError, match=r"local\.settings\.json is not valid JSON"):
        load_local_settings(path)


# --------------------------------------------------------------------------- host.json


def test_repository_host_json_options_are_loaded() -> None:
    opts = load_host_options(ROOT / "host.json", max_delivery_count=7, lock_duration=timedelta(seconds=45))
    doc = json.loads((ROOT / "host.json").read_text())["extensions"]["serviceBus"]
    assert opts.max_concurrent_calls == doc["maxConcurrentCalls"] == 16
    assert opts.max_auto_lock_renewal == timedelta(minutes=15)  # at least functionTimeout
    assert (opts.max_delivery_count, opts.lock_duration) == (7, timedelta(seconds=45))


def test_host_json_values_override_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    path.write_text(json.dumps({"version": "2.0", "extensions": {"serviceBus": {
        "maxConcurrentCalls": 3, "maxAutoLockRenewalDuration": "01:02:03.5"}}}))
    opts = load_host_options(path)
    assert opts.max_concurrent_calls == 3
    assert opts.max_auto_lock_renewal == timedelta(hours=1, minutes=2, seconds=3.5)


def test_without_host_json_the_defaults_apply(tmp_path: Path) -> None:
    assert load_host_options(tmp_path / "host.json") == HostOptions()


# --------------------------------------------------------------------------- the message handed to functions


def received(**overrides: Any) -> ReceivedMessage:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    fields: dict[str, Any] = dict(
        subscription=SUB, sequence_number=42, message_id="m-1", body=b'{"hello":"world"}',
        application_properties={"type": "ProjectCompleted", "tenantId": "t1", "n": 3},
        content_type="application/cloudevents+json; charset=utf-8", subject="ProjectCompleted",
        correlation_id="corr-1", delivery_count=2, enqueued_time=t,
        scheduled_enqueue_time=t + timedelta(seconds=5), expires_at=t + timedelta(days=14),
        locked_until=t + timedelta(seconds=60), lock_token="lock-1", time_to_live=timedelta(days=14))
    fields.update(overrides)
    return ReceivedMessage(**fields)


def test_to_functions_message_builds_the_workers_service_bus_message() -> None:
    m = received()
    msg = to_functions_message(m)
    assert isinstance(msg, WorkerServiceBusMessage) and isinstance(msg, func.ServiceBusMessage)
    assert msg.get_body() == m.body
    assert msg.message_id == "m-1"
    assert msg.application_properties == {"type": "ProjectCompleted", "tenantId": "t1", "n": 3}
    assert msg.user_properties == msg.application_properties
    assert msg.delivery_count == 2
    assert msg.enqueued_time_utc == m.enqueued_time
    assert msg.scheduled_enqueue_time_utc == m.scheduled_enqueue_time
    assert msg.expires_at_utc == m.expires_at
    assert msg.locked_until == m.locked_until
    assert msg.lock_token == "lock-1"
    assert msg.sequence_number == msg.enqueued_sequence_number == 42
    assert msg.content_type == m.content_type
    assert msg.correlation_id == "corr-1"
    assert msg.subject == msg.label == "ProjectCompleted"
    assert msg.time_to_live == timedelta(days=14)


def test_functions_message_properties_are_a_copy() -> None:
    props = {"type": "X"}
    msg = to_functions_message(received(application_properties=props))
    msg.application_properties["type"] = "changed"
    assert props == {"type": "X"}


# --------------------------------------------------------------------------- settlement


Call = Callable[[func.ServiceBusMessage], None]


def disk_io_error(*_args: Any) -> None:
    """What SQLite raises when the disk fails under it (full, a file size limit, an I/O error)."""
    raise sqlite3.OperationalError("disk I/O error")


class Bench:
    """A LocalHost on the runtime's embedded bus with one function whose behaviour a test sets."""

    def __init__(self, rt: Runtime, clock: FakeClock, *, concurrency: int = 4, lock_seconds: float = 30,
                 max_renewal: timedelta = timedelta(minutes=5), max_delivery_count: int = 5) -> None:
        assert rt.receiver is not None
        self.rt, self.receiver, self.clock = rt, rt.receiver, clock
        self.start = clock.now()
        self.behaviour: Call = lambda _msg: None
        self.seen: list[func.ServiceBusMessage] = []
        fn = ServiceBusFunction("fn_work", rt.settings.topic_name, SUB, "ServiceBusConnection", "msg",
                                self._call)
        self.deliveries: list[Delivery] = []
        self.host = LocalHost(
            rt.receiver, [fn], {SUB: "1=1"},
            HostOptions(max_concurrent_calls=concurrency, batch_size=concurrency,
                        max_delivery_count=max_delivery_count, max_auto_lock_renewal=max_renewal,
                        lock_duration=timedelta(seconds=lock_seconds)),
            settled=rt.settlement.settled, on_delivery=self.deliveries.append,
            clock=lambda: (clock.now() - self.start).total_seconds(), wall_clock=clock)
        self.host.ensure_subscriptions()

    def _call(self, msg: func.ServiceBusMessage) -> None:
        self.seen.append(msg)
        self.behaviour(msg)

    def block(self) -> tuple[threading.Event, threading.Event]:
        """The function blocks until ``release`` is set; ``running`` is set once a handling started."""
        running, release = threading.Event(), threading.Event()

        def slow(_msg: func.ServiceBusMessage) -> None:
            running.set()
            assert release.wait(WAIT)

        self.behaviour = slow
        return running, release

    def send(self, n: int, prefix: str = "m") -> list[str]:
        ids = [f"{prefix}-{i}" for i in range(n)]
        self.rt.bus.publish([OutgoingMessage(i, b"{}", {"type": "Anything"}) for i in ids])
        return ids

    def left_on_bus(self) -> list[ReceivedMessage]:
        got: list[ReceivedMessage] = []
        while batch := self.receiver.receive(SUB, max_messages=50):
            got.extend(batch)
        return got

    def outcomes(self) -> dict[str, str]:
        return {d.message_id: d.outcome for d in self.deliveries}


@pytest.fixture
def bench(runtime: Runtime, clock: FakeClock) -> Iterator[Bench]:
    b = Bench(runtime, clock)
    yield b
    b.host.close()


def test_normal_return_completes_the_message(bench: Bench) -> None:
    bench.send(1)
    bench.host.run_until_idle()
    assert bench.outcomes() == {"m-0": "completed"}
    assert bench.left_on_bus() == []
    assert bench.receiver.dead_letters(SUB) == []


def test_exception_abandons_the_message_for_redelivery(bench: Bench) -> None:
    def fail(_msg: func.ServiceBusMessage) -> None:
        raise RuntimeError("downstream unavailable")

    bench.behaviour = fail
    bench.send(1)
    bench.host.pump_once()
    bench.host.drain()
    (delivery,) = bench.deliveries
    assert delivery.outcome == "abandoned"
    assert delivery.error == "RuntimeError: downstream unavailable"
    (again,) = bench.left_on_bus()
    assert again.message_id == "m-0" and again.delivery_count == 2


def test_abandoned_message_is_dead_lettered_after_max_delivery_count(runtime: Runtime,
                                                                     clock: FakeClock) -> None:
    b = Bench(runtime, clock, max_delivery_count=3)
    try:
        def fail(_msg: func.ServiceBusMessage) -> None:
            raise RuntimeError("always")

        b.behaviour = fail
        b.send(1)
        b.host.run_until_idle()
        assert [d.outcome for d in b.deliveries] == ["abandoned"] * 3
        (dead,) = b.receiver.dead_letters(SUB)
        assert dead.reason == "MaxDeliveryCountExceeded"
    finally:
        b.host.close()


def test_message_the_function_dead_lettered_is_left_settled(bench: Bench, runtime: Runtime) -> None:
    def reject(msg: func.ServiceBusMessage) -> None:
        runtime.settlement.dead_letter("work", msg, "InvalidEnvelope", "the body is not a CloudEvent")

    bench.behaviour = reject
    bench.send(1)
    bench.host.run_until_idle()
    assert bench.outcomes() == {"m-0": "dead-lettered"}
    assert [d.error for d in bench.deliveries] == [None]
    (dead,) = bench.receiver.dead_letters(SUB)
    assert (dead.message_id, dead.reason, dead.description) == ("m-0", "InvalidEnvelope",
                                                                "the body is not a CloudEvent")
    assert bench.left_on_bus() == []
    assert runtime.settlement.settled == set()  # the host consumed the marker


def test_function_receives_a_real_service_bus_message_with_the_lock_token(bench: Bench) -> None:
    bench.send(1)
    bench.host.run_until_idle()
    (msg,) = bench.seen
    assert isinstance(msg, WorkerServiceBusMessage)
    assert msg.message_id == "m-0" and msg.delivery_count == 1 and msg.lock_token
    assert msg.application_properties["type"] == "Anything"


# --------------------------------------------------------------------------- graceful stop


def test_stop_lets_in_flight_handlings_finish_and_leaves_the_rest_on_the_bus(runtime: Runtime,
                                                                            clock: FakeClock) -> None:
    b = Bench(runtime, clock, concurrency=2)
    release = threading.Event()
    started = threading.Semaphore(0)

    def slow(_msg: func.ServiceBusMessage) -> None:
        started.release()
        assert release.wait(WAIT)

    b.behaviour = slow
    try:
        ids = b.send(10)
        assert b.host.pump_once() == 2  # two handlings in flight (maxConcurrentCalls)
        assert started.acquire(timeout=WAIT) and started.acquire(timeout=WAIT)
        b.host.stop()
        assert b.host.stopping
        assert b.host.pump_once() == 0  # stopped: nothing more is received
        release.set()
        b.host.drain()
        assert b.host.inflight() == 0
        assert sorted(b.outcomes().values()) == ["completed", "completed"]
        rest = b.left_on_bus()
        assert all(m.delivery_count == 1 for m in rest)  # never touched
        assert {m.message_id for m in rest} == set(ids) - set(b.outcomes())
        assert len(b.outcomes()) + len(rest) == 10  # nothing lost
    finally:
        b.host.close()


def test_stop_during_run_drains_and_loses_nothing(runtime: Runtime, clock: FakeClock) -> None:
    b = Bench(runtime, clock, concurrency=3)
    b.behaviour = lambda _msg: b.host.stop()  # "Ctrl-C" arrives while the first handlings run
    try:
        ids = b.send(20)
        b.host.run()
        assert b.host.inflight() == 0
        handled = b.outcomes()
        assert set(handled.values()) == {"completed"}
        assert 1 <= len(handled) < 20
        rest = {m.message_id for m in b.left_on_bus()}
        assert rest.isdisjoint(handled)
        assert set(handled) | rest == set(ids)
        assert b.receiver.dead_letters(SUB) == []
    finally:
        b.host.close()


# --------------------------------------------------------------------------- lock renewal


def test_lock_renewal_keeps_the_lock_of_a_long_handling(runtime: Runtime, clock: FakeClock) -> None:
    b = Bench(runtime, clock, lock_seconds=30)
    running, release = b.block()
    try:
        b.send(1)
        b.host.pump_once()
        assert running.wait(WAIT)
        (first,) = b.seen
        for _ in range(4):  # 4 x 20 s = 80 s, far beyond the 30 s lock
            clock.advance(20)
            b.host.pump_once()  # renews locks older than half the lock duration
        release.set()
        b.host.drain()
        assert b.outcomes() == {"m-0": "completed"}
        assert first.locked_until is not None and first.locked_until < clock.now()
        assert [m.delivery_count for m in b.seen] == [1]  # never redelivered
        assert b.left_on_bus() == []  # and the completion took
    finally:
        b.host.close()


def test_without_renewal_the_lock_of_a_long_handling_is_lost(runtime: Runtime, clock: FakeClock) -> None:
    b = Bench(runtime, clock, lock_seconds=30)
    running, release = b.block()
    try:
        b.send(1)
        b.host.pump_once()
        assert running.wait(WAIT)
        clock.advance(40)  # nobody pumps: no renewal
        release.set()
        b.host.drain()
        assert b.outcomes()["m-0"] == "lock-lost"  # reported once the batched completion found the lock gone
        (again,) = b.left_on_bus()  # the completion did not take: the message is delivered again
        assert again.message_id == "m-0" and again.delivery_count == 2
    finally:
        b.host.close()


def test_lock_renewal_stops_after_max_auto_lock_renewal_duration(runtime: Runtime, clock: FakeClock) -> None:
    b = Bench(runtime, clock, lock_seconds=30, max_renewal=timedelta(seconds=60))
    running, release = b.block()
    try:
        b.send(1)
        b.host.pump_once()
        assert running.wait(WAIT)
        for _ in range(6):  # 120 s of pumping: renewed until 60 s, then the lock runs out at 90 s
            clock.advance(20)
            b.host.pump_once()  # at 100 s the message is receivable again: a second delivery starts
        release.set()
        b.host.drain()
        assert sorted(m.delivery_count or 0 for m in b.seen) == [1, 2]  # renewal stopped: redelivered
        assert b.left_on_bus() == []  # the second delivery completed it
        assert b.receiver.dead_letters(SUB) == []
    finally:
        b.host.close()


# --------------------------------------------------------------------------- build_host


def test_build_host_creates_one_subscription_per_consumer_and_lane_with_manifest_filters(runtime: Runtime,
                                                                                        tmp_path: Path) -> None:
    host, http = build_host(runtime, project_dir=tmp_path)
    try:
        subscriptions = all_subscriptions(load_consumers())
        assert subscriptions_of(host.functions) == sorted(s.name for s in subscriptions)
        assert dict(host.filters) == {s.name: s.sql_filter for s in subscriptions}
        specs = {s.name: s for s in runtime.receiver.subscriptions()}  # type: ignore[union-attr]
        assert {s.name for s in subscriptions} <= set(specs)
        assert all(specs[s.name].sql_filter == s.sql_filter for s in subscriptions)
        assert len(http) == 35
    finally:
        host.close()
        set_runtime(None)


def test_build_host_refuses_functions_listening_on_another_topic(runtime: Runtime, tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"FACTORY_TOPIC": "elsewhere"}}))
    with pytest.raises(HostConfigError, match=r"\['elsewhere'\].*'factory-events' \(FACTORY_TOPIC\)"):
        build_host(runtime, project_dir=tmp_path)


# --------------------------------------------------------------------------- concurrency


def test_a_subscription_never_runs_more_than_its_manifest_concurrency(runtime: Runtime, clock: FakeClock) -> None:
    b = Bench(runtime, clock, concurrency=4)
    b.host.concurrency = {SUB: 2}
    release = threading.Event()
    started = threading.Semaphore(0)
    lock = threading.Lock()
    running, peak = 0, 0

    def slow(_msg: func.ServiceBusMessage) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        started.release()
        assert release.wait(WAIT)
        with lock:
            running -= 1

    b.behaviour = slow
    try:
        b.send(5)
        assert b.host.pump_once() == 2
        assert started.acquire(timeout=WAIT) and started.acquire(timeout=WAIT)
        assert b.host.pump_once() == 0  # both slots taken: nothing more is received
        release.set()
        b.host.run_until_idle()
        assert sorted(b.outcomes().values()) == ["completed"] * 5
        assert peak == 2
    finally:
        b.host.close()


def test_slow_handlings_widen_the_pool_up_to_the_concurrency_limit(runtime: Runtime, clock: FakeClock) -> None:
    b = Bench(runtime, clock, concurrency=4)
    release = threading.Event()
    all_running = threading.Barrier(4, timeout=WAIT)

    def slow(_msg: func.ServiceBusMessage) -> None:
        all_running.wait()  # passes only once four handlings run at the same time
        assert release.wait(WAIT)

    b.behaviour = slow
    try:
        b.send(4)
        assert b.host.pump_once() == 4
        release.set()
        b.host.drain()
        assert sorted(b.outcomes().values()) == ["completed"] * 4
    finally:
        b.host.close()


def test_build_host_takes_each_consumers_concurrency_from_its_manifest(runtime: Runtime, tmp_path: Path) -> None:
    host, _ = build_host(runtime, project_dir=tmp_path)
    try:
        assert dict(host.concurrency) == {s.name: s.max_concurrency for s in all_subscriptions(load_consumers())}
    finally:
        host.close()
        set_runtime(None)


def test_stopping_gives_back_received_messages_no_worker_started(runtime: Runtime, clock: FakeClock) -> None:
    b = Bench(runtime, clock, concurrency=1)
    b.host.options.batch_size = 5  # one worker, five received: four wait for it
    running, release = b.block()
    try:
        b.send(5)
        assert b.host.pump_once() == 5
        assert running.wait(WAIT)
        b.host.stop()
        release.set()
        b.host.drain()
        assert list(b.outcomes().values()) == ["completed"]  # only the started one is reported
        rest = b.left_on_bus()  # the others were abandoned at once, not left locked
        assert sorted(m.message_id for m in rest) == sorted(set(f"m-{i}" for i in range(5)) - set(b.outcomes()))
    finally:
        b.host.close()


def test_a_bus_that_fails_while_stopping_still_lets_the_host_stop_and_loses_nothing(
        runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    b = Bench(runtime, clock, concurrency=1)
    b.host.options.batch_size = 5
    running, release = b.block()
    try:
        b.send(5)
        assert b.host.pump_once() == 5
        assert running.wait(WAIT)

        monkeypatch.setattr(b.receiver, "abandon", disk_io_error)  # giving the four back fails (a full disk)
        b.host.stop()
        release.set()
        b.host.drain()  # returns: the worker that could not abandon them lives on and books them
        assert b.host.inflight() == 0 and list(b.outcomes().values()) == ["completed"]
        monkeypatch.undo()
        clock.advance(31)  # their locks expire: delivered again, nothing lost
        assert sorted(m.message_id for m in b.left_on_bus()) == sorted(
            set(f"m-{i}" for i in range(5)) - set(b.outcomes()))
    finally:
        b.host.close()


def test_an_infrastructure_failure_keeps_the_lock_through_a_back_off_then_is_abandoned(bench: Bench,
                                                                                       clock: FakeClock) -> None:
    def disk_full(_msg: func.ServiceBusMessage) -> None:
        raise InfrastructureError("infrastructure failure: OSError: [Errno 28] No space left on device")

    bench.behaviour = disk_full
    bench.send(1)
    bench.host.pump_once()
    bench.host._await(lambda: not bench.host._inflight_count, 5)  # the worker finished it
    (delivery,) = bench.deliveries
    assert delivery.outcome == "backing-off" and "No space left" in (delivery.error or "")
    assert bench.host.next_backoff_in() == pytest.approx(0.1) and not bench.host.idle()
    bench.host.pump_once()  # the back-off has not passed: still locked, not redelivered
    assert len(bench.seen) == 1 and bench.receiver.receive(SUB) == []
    clock.advance(0.2)
    bench.behaviour = lambda _msg: None  # the disk has room again
    bench.host.pump_once()  # abandons it; the next pump redelivers it
    bench.host.run_until_idle()
    assert len(bench.seen) == 2 and bench.seen[1].delivery_count == 2
    assert bench.left_on_bus() == []


def test_a_failing_bus_is_backed_off_and_never_ends_the_host(bench: Bench) -> None:
    real = bench.receiver.receive
    failures = iter([sqlite3.OperationalError("database or disk is full"), sqlite3.OperationalError("disk I/O error")])

    def flaky(subscription: str, max_messages: int = 1, lock_duration: timedelta | None = None) -> list[Any]:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return real(subscription, max_messages, lock_duration)

    bench.host.receiver.receive = flaky  # type: ignore[method-assign]
    bench.host.backoff_first = 0.0  # no real waiting in a test
    bench.send(2)
    assert bench.host._pump_guarded() == 0 and bench.host.last_bus_error == "OperationalError: database or disk is full"
    assert bench.host._pump_guarded() == 0
    bench.host.run_until_idle()
    assert bench.outcomes() == {"m-0": "completed", "m-1": "completed"} and bench.host.last_bus_error is None


def test_completions_riding_a_receive_that_fails_are_settled_by_the_next_pump(bench: Bench, clock: FakeClock,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    bench.send(2)
    assert bench.host.pump_once() == 2
    bench.host._await(lambda: not bench.host._inflight_count, 5)  # both handled, their completions wait
    bench.send(1, prefix="later")

    monkeypatch.setattr(bench.host, "_complete_and_receive", disk_io_error)
    with pytest.raises(sqlite3.OperationalError):
        bench.host.pump_once()
    monkeypatch.undo()
    assert bench.host.pump_once() == 1  # settles the two in the transaction that receives the third
    bench.host._await(lambda: not bench.host._inflight_count, 5)
    bench.host.flush_completions()
    assert bench.outcomes() == {"m-0": "completed", "m-1": "completed", "later-0": "completed"}
    clock.advance(31)  # had a completion been dropped, its message would come back once its lock expired
    assert bench.left_on_bus() == []


def test_completions_of_a_flush_that_fails_are_kept_for_the_next_flush(bench: Bench, clock: FakeClock,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    bench.send(2)
    assert bench.host.pump_once() == 2
    bench.host._await(lambda: not bench.host._inflight_count, 5)  # both handled, their completions wait

    monkeypatch.setattr(bench.host, "_complete_many", disk_io_error)
    with pytest.raises(sqlite3.OperationalError):
        bench.host.flush_completions()
    monkeypatch.undo()
    bench.host.flush_completions()
    assert bench.outcomes() == {"m-0": "completed", "m-1": "completed"}
    clock.advance(31)  # had a completion been dropped, its message would come back once its lock expired
    assert bench.left_on_bus() == []


# --------------------------------------------------------------------------- fast handlings on the pump thread


def run_until_seen(b: Bench, count: int) -> None:
    """``run`` on this thread until the function was called ``count`` times in all."""
    b.host.run(until=lambda: len(b.seen) >= count)


class PumpThread:
    """``run`` on a thread of its own, the pump's, until the function was called ``more`` more times; a test's
    blocked handling waits for ``release``. Leaving stops and closes the host, whatever the test did."""

    def __init__(self, b: Bench, more: int, release: threading.Event) -> None:
        self.b, self.release = b, release
        self.thread = threading.Thread(target=run_until_seen, args=(b, len(b.seen) + more), name="test-pump")

    def __enter__(self) -> PumpThread:
        self.thread.start()
        return self

    def finish(self) -> None:
        """Release the blocked handling; ``run`` must then end."""
        self.release.set()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self.b.host.stop()
        self.thread.join(WAIT)
        self.b.host.close()


def warm_up_inline(b: Bench) -> None:
    """Rounds of no-op handlings through ``run`` until one round ran wholly on this (the pump's) thread: the first
    handlings of a function go to the workers, which find it fast."""
    threads: list[threading.Thread] = []
    b.behaviour = lambda _msg: threads.append(threading.current_thread())
    for round_ in range(20):
        threads.clear()
        b.send(5, prefix=f"warm{round_}")
        run_until_seen(b, len(b.seen) + 5)
        # and its last handling was fast too (one preempted for 1 ms sends the next messages to the workers)
        if threads == [threading.current_thread()] * 5 and "fn_work" in b.host._fast:
            return
    pytest.fail("no round of fast handlings ran on the pump's thread")


def test_run_calls_a_fast_function_on_its_own_thread_and_its_first_handlings_on_workers(
        runtime: Runtime, clock: FakeClock) -> None:
    b = Bench(runtime, clock)
    threads: list[threading.Thread] = []
    b.behaviour = lambda _msg: threads.append(threading.current_thread())
    try:
        b.send(1)
        run_until_seen(b, 1)
        assert threads[0] is not threading.current_thread()  # not known to be fast yet: a worker runs it
        warm_up_inline(b)
        assert b.host.inflight() == 0 and b.left_on_bus() == []
        assert set(b.outcomes().values()) == {"completed"}
    finally:
        b.host.close()


def test_a_handling_that_turns_slow_on_the_pump_thread_does_not_stop_receiving(runtime: Runtime,
                                                                               clock: FakeClock) -> None:
    b = Bench(runtime, clock, concurrency=4)
    warm_up_inline(b)
    running, release, after_done = threading.Event(), threading.Event(), threading.Event()
    after: list[threading.Thread] = []
    slow_thread: list[threading.Thread] = []

    def behaviour(msg: func.ServiceBusMessage) -> None:
        if msg.message_id.startswith("slow"):
            slow_thread.append(threading.current_thread())
            running.set()
            assert release.wait(WAIT)
        else:
            after.append(threading.current_thread())
            if len(after) == 5:
                after_done.set()

    b.behaviour = behaviour
    with PumpThread(b, 6, release) as pump:
        b.send(1, prefix="slow")
        assert running.wait(WAIT)
        assert slow_thread == [pump.thread]  # it was fast: the pump's thread runs it, and is now held
        b.send(5, prefix="after")
        # the watchdog receives them in the pump's place, and the workers run them while the slow one holds
        assert after_done.wait(WAIT)
        assert not release.is_set() and all(t is not pump.thread for t in after)
        pump.finish()
        assert b.host.inflight() == 0 and b.left_on_bus() == []
        assert b.outcomes()["slow-0"] == "completed"
        assert all(b.outcomes()[f"after-{i}"] == "completed" for i in range(5))


def test_the_watchdog_renews_the_lock_of_a_slow_handling_on_the_pump_thread(
        runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    b = Bench(runtime, clock, lock_seconds=30)
    warm_up_inline(b)
    running, release = b.block()
    renewed = threading.Semaphore(0)
    renew = b.receiver.renew_lock

    def counted_renew(token: str) -> Any:
        result = renew(token)
        renewed.release()
        return result

    monkeypatch.setattr(b.receiver, "renew_lock", counted_renew)
    with PumpThread(b, 1, release) as pump:
        b.send(1, prefix="long")
        assert running.wait(WAIT)
        for _ in range(4):  # 4 x 20 s = 80 s, far beyond the 30 s lock, while the pump's thread is held
            clock.advance(20)
            assert renewed.acquire(timeout=WAIT)  # the watchdog pumped and renewed it
        pump.finish()
        assert b.outcomes()["long-0"] == "completed"
        assert [m.delivery_count for m in b.seen if m.message_id == "long-0"] == [1]  # never redelivered
        assert b.left_on_bus() == []


def test_ctrl_c_in_a_handling_on_the_pump_thread_stops_the_host_and_loses_nothing(runtime: Runtime,
                                                                                 clock: FakeClock) -> None:
    b = Bench(runtime, clock, concurrency=2)
    warm_up_inline(b)

    def interrupted(msg: func.ServiceBusMessage) -> None:
        if msg.message_id == "m-2":
            raise KeyboardInterrupt

    b.behaviour = interrupted
    ids = b.send(8)
    with pytest.raises(KeyboardInterrupt):
        b.host.run()
    try:
        assert b.host.stopping and b.host.inflight() == 0
        handled = {k: v for k, v in b.outcomes().items() if k in ids}
        assert handled["m-2"] == "abandoned"  # given back as the Functions host does with a failed handling
        assert {v for k, v in handled.items() if k != "m-2"} <= {"completed"}
        rest = {m.message_id for m in b.left_on_bus()}  # what was received and not started was given back too
        assert "m-2" in rest
        completed = {k for k, v in handled.items() if v == "completed"}
        assert completed | rest == set(ids) and completed.isdisjoint(rest)
        assert b.receiver.dead_letters(SUB) == []
    finally:
        b.host.close()


# --------------------------------------------------------------------------- delivery latency metric


def metered(rt: Runtime, clock: Any) -> LocalHost:
    """A host with one no-op function on ``SUB`` that records the delivery latency in ``rt.metrics``."""
    assert rt.receiver is not None and rt.metrics is not None
    fn = ServiceBusFunction("fn_work", rt.settings.topic_name, SUB, "ServiceBusConnection", "msg", lambda msg: None)
    host = LocalHost(rt.receiver, [fn], {SUB: "1=1"}, metrics=rt.metrics, wall_clock=clock)
    host.ensure_subscriptions()
    return host


def test_delivery_latency_is_measured_from_enqueue_or_from_the_scheduled_time(runtime: Runtime,
                                                                             clock: FakeClock) -> None:
    host = metered(runtime, clock)
    try:
        runtime.bus.publish([OutgoingMessage("now", b"{}", {"type": "Anything"})])
        runtime.bus.publish([OutgoingMessage("later", b"{}", {"type": "Anything"},
                                             scheduled_enqueue_time=clock.now() + timedelta(seconds=10))])
        clock.advance(2.5)
        host.run_until_idle()
        clock.advance(10)  # the scheduled one is due 10 s after publishing: 2.5 s late
        host.run_until_idle()
        assert runtime.metrics is not None and runtime.metrics.latencies == [2500.0, 2500.0]
    finally:
        host.close()


def test_delivery_latency_on_the_real_clock_counts_the_time_a_message_waited(tmp_path: Path) -> None:
    rt = bootstrap(Settings(FACTORY_HOME=tmp_path / "factory"), clock=SystemClock())
    host = metered(rt, rt.clock)
    try:
        before = datetime.now(UTC)
        rt.bus.publish([OutgoingMessage("waited", b"{}", {"type": "Anything"})])
        threading.Event().wait(0.05)
        host.run_until_idle()
        since_before = (datetime.now(UTC) - before).total_seconds() * 1000.0
        assert rt.metrics is not None and len(rt.metrics.latencies) == 1
        assert 50.0 <= rt.metrics.latencies[0] <= since_before + 0.01  # a microsecond's rounding at most
    finally:
        host.close()
        rt.close()


def test_run_ends_without_waiting_out_a_back_off_the_watchdog_took_for_a_failing_bus(
        runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    b = Bench(runtime, clock)
    warm_up_inline(b)
    running, release = b.block()
    b.host.backoff_first = 60.0  # a back-off far longer than WAIT: ending ``run`` must not wait it out
    failed = threading.Event()

    def failing(*_args: Any, **_kwargs: Any) -> None:
        failed.set()
        disk_io_error()

    with PumpThread(b, 1, release) as pump:
        b.send(1, prefix="held")
        assert running.wait(WAIT)
        monkeypatch.setattr(b.receiver, "receive", failing)  # the disk fails while the pump's thread is held
        monkeypatch.setattr(b.receiver, "complete_and_receive", failing)
        b.send(1, prefix="later")
        assert failed.wait(WAIT)  # the watchdog pumped in its place, failed, and backs off
        monkeypatch.undo()
        pump.finish()
        assert b.host.inflight() == 0 and b.outcomes()["held-0"] == "completed"


# --------------------------------------------------------------------------- drive


def test_drive_handles_what_a_completed_project_still_has_due_and_leaves_later_timers(runtime: Runtime,
                                                                                       clock: FakeClock) -> None:
    b = Bench(runtime, clock)
    seen_done = threading.Event()

    def behaviour(msg: func.ServiceBusMessage) -> None:
        if msg.message_id == "finish":  # the project completes; its last event is published after drive saw that
            runtime.state.append_events([signed_event(runtime, "ProjectCompleted",
                                                      {"projectId": "p1", "outcome": "released"}).to_dict()])
            assert seen_done.wait(WAIT)
            runtime.bus.publish([OutgoingMessage("trailing-1", b"{}", {"type": "Anything"})])
        elif msg.message_id == "trailing-1":  # and that one leads to one more
            runtime.bus.publish([OutgoingMessage("trailing-2", b"{}", {"type": "Anything"})])

    def on_tick(status: Any) -> None:
        if status.done:
            seen_done.set()

    b.behaviour = behaviour
    try:
        runtime.bus.publish([OutgoingMessage("timer", b"{}", {"type": "Anything"},
                                             scheduled_enqueue_time=clock.now() + timedelta(hours=1))])
        runtime.bus.publish([OutgoingMessage("finish", b"{}", {"type": "Anything"})])
        status = drive(runtime, b.host, "p1", timeout=WAIT, on_tick=on_tick)
        assert status.outcome == "released"
        assert [m.message_id for m in b.seen] == ["finish", "trailing-1", "trailing-2"]
        assert b.host.inflight() == 0
        clock.advance(3600)  # the later timer was left on the bus for its time
        assert [m.message_id for m in b.left_on_bus()] == ["timer"]
    finally:
        b.host.close()
