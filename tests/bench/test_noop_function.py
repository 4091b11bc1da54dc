"""The diagnostics blueprint: its binding JSON, and the local host running it as a no-op."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage as WorkerServiceBusMessage

from shared.adapters.sqlite.bus import SqliteBus
from shared.bootstrap import Runtime
from shared.host.local import build_host, discover
from shared.ports import OutgoingMessage
from shared.runtime import set_runtime
from tests.bench import noop_function as diagnostics


def _app() -> func.FunctionApp:
    app = func.FunctionApp()
    app.register_functions(diagnostics.bp)
    return app


def _message(message_id: str) -> func.ServiceBusMessage:
    """The message class the Python worker (and the local host) hands to a trigger."""
    return WorkerServiceBusMessage(body=b"{}", message_id=message_id, application_properties={},
                                   user_properties={})


def _bindings(app: func.FunctionApp) -> dict[str, list[dict[str, Any]]]:
    return {str(f.get_function_name()): json.loads(f.get_function_json())["bindings"] for f in app.get_functions()}


@pytest.fixture
def no_probe() -> Iterator[None]:
    diagnostics.set_probe(None)
    yield
    diagnostics.set_probe(None)


def test_blueprint_holds_exactly_the_noop_function() -> None:
    assert list(_bindings(_app())) == ["diagnostics_noop"]


def test_binding_is_a_service_bus_topic_trigger_on_the_factory_topic() -> None:
    (binding,) = _bindings(_app())["diagnostics_noop"]
    assert binding == {
        "direction": "IN",
        "type": "serviceBusTrigger",
        "name": "msg",
        "connection": "ServiceBusConnection",
        "topicName": "%FACTORY_TOPIC%",
        "subscriptionName": "diagnostics-noop",
    }


def test_local_host_discovers_it_with_the_topic_resolved() -> None:
    (fn,), http = discover(_app(), {"FACTORY_TOPIC": "bench-topic"})
    assert (fn.name, fn.topic, fn.subscription, fn.connection, fn.arg_name) == (
        "diagnostics_noop", "bench-topic", "diagnostics-noop", "ServiceBusConnection", "msg")
    assert http == []


def test_noop_returns_none_without_a_probe(no_probe: None) -> None:
    msg = _message("m1")
    assert diagnostics.diagnostics_noop(msg) is None


def test_probe_sees_each_message_as_the_function_starts(no_probe: None) -> None:
    seen: list[str | None] = []
    diagnostics.set_probe(lambda m: seen.append(m.message_id))
    diagnostics.diagnostics_noop(_message("m1"))
    diagnostics.set_probe(None)
    diagnostics.diagnostics_noop(_message("m2"))
    assert seen == ["m1"]


def test_local_host_delivers_matching_messages_to_the_noop_and_completes_them(
        runtime: Runtime, no_probe: None) -> None:
    seen: list[tuple[str | None, Any]] = []
    diagnostics.set_probe(lambda m: seen.append((m.message_id, m.application_properties.get("n"))))
    host, _ = build_host(runtime, _app(), extra_filters={diagnostics.SUBSCRIPTION: "type = 'BenchPing'"})
    try:
        runtime.bus.publish([
            OutgoingMessage(message_id="ping-1", body=b"{}",
                            application_properties={"type": "BenchPing", "n": 1}),
            OutgoingMessage(message_id="other", body=b"{}", application_properties={"type": "NotForUs"}),
        ])
        host.run_until_idle(max_seconds=30)
    finally:
        host.close()
        set_runtime(None)
    assert seen == [("ping-1", 1)]
    assert host.deliveries == 1
    assert isinstance(runtime.receiver, SqliteBus)
    counts = runtime.receiver.counts(diagnostics.SUBSCRIPTION)
    assert (counts.active, counts.locked, counts.dead_lettered) == (0, 0, 0)
