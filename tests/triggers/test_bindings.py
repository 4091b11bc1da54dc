"""The binding JSON of every function registered in ``function_app`` (what the Functions host reads)."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions._abc import TraceContext

import function_app
from shared.contracts.manifests import all_subscriptions, load_consumers
from shared.handling.telemetry import InvocationTrace
from shared.runtime import set_runtime

ROOT = Path(__file__).resolve().parents[2]

#: the Functions host's rule for function names
FUNCTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,127}$")

HTTP_ROUTES: dict[str, tuple[str, list[str]]] = {
    "http_health": ("health", ["GET"]),
    "http_list_projects": ("projects", ["GET"]),
    "http_create_project": ("projects", ["POST"]),
    "http_get_project": ("projects/{id}", ["GET"]),
    "http_get_project_flows": ("projects/{id}/flows", ["GET"]),
    "http_get_draft": ("projects/{id}/draft", ["GET"]),
    "http_confirm_draft": ("projects/{id}/confirm", ["POST"]),
    "http_decide_approval": ("projects/{id}/approval", ["POST"]),
    "http_get_artifact": ("projects/{id}/artifacts/{*path}", ["GET"]),
    "http_get_trace": ("traces/{traceId}", ["GET"]),
    "http_get_trace_waterfall": ("traces/{traceId}/waterfall", ["GET"]),
    "http_list_flows": ("flows", ["GET"]),
    "http_get_topology": ("topology", ["GET"]),
    "http_list_dead_letters": ("deadletters", ["GET"]),
    "http_resubmit_dead_letter": ("deadletters/{subscription}/{sequence}/resubmit", ["POST"]),
    "http_list_templates": ("templates", ["GET"]),
    "http_execute_template": ("templates/{templateId}/execute", ["POST"]),
    "http_get_execution": ("executions/{id}", ["GET"]),
    "studio_projects": ("studio", ["GET"]),
    "studio_projects_live": ("studio/live/projects", ["GET"]),
    "studio_start_project": ("studio/projects", ["POST"]),
    "studio_submit_draft": ("studio/drafts", ["POST"]),
    "studio_draft": ("studio/drafts/{id}", ["GET"]),
    "studio_confirm_draft": ("studio/drafts/{id}/confirm", ["POST"]),
    "studio_project": ("studio/projects/{id}", ["GET"]),
    "studio_project_live": ("studio/live/projects/{id}", ["GET"]),
    "studio_approval": ("studio/projects/{id}/approval", ["POST"]),
    "studio_artifact": ("studio/projects/{id}/files/{*path}", ["GET"]),
    "studio_archive": ("studio/projects/{id}/archive", ["GET"]),
    "studio_trace": ("studio/traces/{traceId}", ["GET"]),
    "studio_dead_letters": ("studio/deadletters", ["GET"]),
    "studio_resubmit": ("studio/deadletters/{subscription}/{sequence}/resubmit", ["POST"]),
    "studio_topology": ("studio/topology", ["GET"]),
    "studio_templates": ("studio/templates", ["GET"]),
    "studio_static": ("studio/static/{*path}", ["GET"]),
}

FORBIDDEN_AT_IMPORT = ("azure.servicebus", "azure.cosmos", "azure.storage", "azure.identity", "azure.monitor",
                       "pydantic")


def registered() -> list[Any]:
    """The app's functions, built like the worker's indexer builds them.

    ``FunctionApp.get_functions()`` remembers the names it has built and raises "does not have a
    unique function name" when called again on the same app object (azure-functions 1.2x), so the
    memo is cleared first; duplicates inside one build are still refused.
    """
    function_app.app.functions_bindings = {}
    functions: list[Any] = function_app.app.get_functions()
    function_app.app.functions_bindings = {}
    return functions


def function_json() -> dict[str, dict[str, Any]]:
    """``function.json`` of every registered function, by function name, as the host sees it."""
    docs: dict[str, dict[str, Any]] = {}
    for fn in registered():
        docs[fn.get_function_name()] = json.loads(fn.get_function_json())
    return docs


def triggers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in doc["bindings"] if b["type"].endswith("Trigger")]


CONSUMERS = load_consumers()
SUBSCRIPTIONS = all_subscriptions(CONSUMERS)


def test_every_function_has_a_unique_valid_name() -> None:
    names = [fn.get_function_name() for fn in registered()]
    assert len(names) == len(set(names))
    assert [n for n in names if not FUNCTION_NAME.fullmatch(n)] == []


def test_the_app_registers_one_function_per_consumer_and_lane_and_the_http_api_and_nothing_else() -> None:
    expected = {s.function_name for s in SUBSCRIPTIONS} | set(HTTP_ROUTES)
    assert set(function_json()) == expected
    assert len(CONSUMERS) >= 10  # the manifests were actually read


def test_every_function_has_exactly_one_trigger() -> None:
    docs = function_json()
    assert {name: len(triggers(doc)) for name, doc in docs.items()} == {name: 1 for name in docs}


@pytest.mark.parametrize("subscription", SUBSCRIPTIONS, ids=[s.name for s in SUBSCRIPTIONS])
def test_consumer_function_binds_its_subscription_on_the_factory_topic(subscription: Any) -> None:
    doc = function_json()[subscription.function_name]
    assert doc["scriptFile"] == "function_app.py"
    assert doc["bindings"] == [{
        "direction": "IN",
        "type": "serviceBusTrigger",
        "name": "msg",
        "connection": "ServiceBusConnection",
        "topicName": "%FACTORY_TOPIC%",
        "subscriptionName": subscription.name,
    }]


@pytest.mark.parametrize("name", sorted(HTTP_ROUTES))
def test_http_function_has_its_route_methods_and_function_auth_level(name: str) -> None:
    route, methods = HTTP_ROUTES[name]
    doc = function_json()[name]
    (trigger,) = triggers(doc)
    assert trigger["type"] == "httpTrigger" and trigger["direction"] == "IN"
    assert trigger["route"] == route
    assert trigger["methods"] == methods
    assert trigger["authLevel"] == "FUNCTION"
    outputs = [b for b in doc["bindings"] if b["direction"] == "OUT"]
    assert outputs == [{"direction": "OUT", "type": "http", "name": "$return"}]


def test_binding_names_match_the_python_parameter_names() -> None:
    """Every parameter is a binding, except ``context``, which the worker fills (annotated func.Context)."""
    for fn in registered():
        (trigger,) = triggers(json.loads(fn.get_function_json()))
        params = inspect.signature(fn.get_user_function()).parameters
        assert [p for p in params if p != "context"] == [trigger["name"]], fn.get_function_name()
        if "context" in params:  # the worker refuses any other annotation (and a string one)
            assert params["context"].annotation is func.Context, fn.get_function_name()


def test_service_bus_functions_take_the_invocation_context() -> None:
    for fn in registered():
        if triggers(json.loads(fn.get_function_json()))[0]["type"] == "serviceBusTrigger":
            assert "context" in inspect.signature(fn.get_user_function()).parameters, fn.get_function_name()


class RecordingPipeline:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.invocations: list[InvocationTrace | None] = []

    def handle(self, consumer: str, message: Any, invocation: InvocationTrace | None = None) -> None:
        self.calls.append((consumer, message))
        self.invocations.append(invocation)


class HostTrace(TraceContext):
    trace_parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    trace_state = "k=v"
    attributes: dict[str, str] = {}


class HostContext:
    """What the worker passes as ``context`` (only ``trace_context`` is read)."""

    trace_context = HostTrace()


class RecordingRuntime:
    def __init__(self) -> None:
        self.pipeline = RecordingPipeline()


@pytest.fixture
def recording_runtime() -> Iterator[RecordingRuntime]:
    rt = RecordingRuntime()
    set_runtime(rt)  # type: ignore[arg-type]
    yield rt
    set_runtime(None)


def test_each_service_bus_function_hands_the_message_to_its_own_consumer(
        recording_runtime: RecordingRuntime) -> None:
    by_name = {fn.get_function_name(): fn for fn in registered()}
    for s in SUBSCRIPTIONS:  # a lane's function hands its messages to the lane's agent
        message = object()
        assert by_name[s.function_name].get_user_function()(msg=message, context=HostContext()) is None
        assert recording_runtime.pipeline.calls[-1] == (s.consumer.name, message)
        assert recording_runtime.pipeline.invocations[-1] == InvocationTrace(HostTrace.trace_parent, "k=v")
    assert len(recording_runtime.pipeline.calls) == len(SUBSCRIPTIONS)


def test_importing_function_app_loads_no_azure_sdk_and_no_pydantic() -> None:
    script = ("import json, sys\n"
              "import function_app\n"
              "print(json.dumps(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "function_app" in loaded and "azure.functions" in loaded
    offending = [m for m in loaded if any(m == p or m.startswith(p + ".") for p in FORBIDDEN_AT_IMPORT)]
    assert offending == []
