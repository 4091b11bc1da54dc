"""The HTTP API functions called with real ``azure.functions.HttpRequest`` objects (tests/http: a real socket)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from shared.api import http as http_api
from shared.bootstrap import Runtime
from shared.contracts.envelope import parse_wire
from shared.ports import SubscriptionSpec
from shared.runtime import set_runtime

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"
YAML = {"content-type": "application/yaml"}


@pytest.fixture
def api(runtime: Runtime) -> Iterator[Runtime]:
    """The runtime the HTTP functions reach through ``shared.runtime.get_runtime()``."""
    assert runtime.receiver is not None
    runtime.receiver.ensure_subscription(SubscriptionSpec("observer", "type = 'ProjectInitialized'"))
    set_runtime(runtime)
    yield runtime
    set_runtime(None)


def request(method: str, path: str, body: bytes = b"", *, headers: dict[str, str] | None = None,
            route_params: dict[str, str] | None = None,
            params: dict[str, str] | None = None) -> func.HttpRequest:
    return func.HttpRequest(method=method, url=f"http://localhost{path}", headers=headers or {},
                            params=params or {}, route_params=route_params or {}, body=body)


def body_of(resp: func.HttpResponse) -> Any:
    return json.loads(resp.get_body())


def assert_problem(resp: func.HttpResponse, status: int) -> dict[str, Any]:
    assert resp.status_code == status
    assert resp.mimetype == PROBLEM
    doc: dict[str, Any] = body_of(resp)
    assert doc["status"] == status and doc["title"] and doc["detail"]
    return doc


def observed(rt: Runtime) -> list[Any]:
    assert rt.receiver is not None
    got = rt.receiver.receive("observer", max_messages=50)
    for m in got:
        rt.receiver.complete(m.lock_token)
    return got


# --------------------------------------------------------------------------- POST /api/projects


def test_bad_intent_is_422_problem_listing_every_path(api: Runtime) -> None:
    raw = (ROOT / "examples" / "bad-intent.yaml").read_bytes()
    resp = http_api.create_project(request("POST", "/api/projects", raw, headers=YAML))
    doc = assert_problem(resp, 422)
    assert doc["type"] == "https://factory.local/problems/invalid-intent"
    paths = {e["path"] for e in doc["errors"]}
    assert {"entities[1].fields[0].type", "entities[1].relations[0].target", "tenant.mode", "product.name",
            "purpose", "features"} <= paths
    by_path = {e["path"]: e for e in doc["errors"]}
    assert "integer" in by_path["entities[1].fields[0].type"]["allowed"]
    assert by_path["tenant.mode"]["allowed"] == ["single", "multi"]
    assert all(e["message"] for e in doc["errors"])
    assert str(len(doc["errors"])) in doc["detail"]
    assert observed(api) == []  # nothing was published


def test_json_intent_that_is_not_an_object_is_422(api: Runtime) -> None:
    doc = assert_problem(http_api.create_project(request("POST", "/api/projects", b"[1, 2]")), 422)
    assert doc["errors"][0]["path"] == ""


def test_empty_body_is_400_problem(api: Runtime) -> None:
    doc = assert_problem(http_api.create_project(request("POST", "/api/projects", b"")), 400)
    assert "empty" in doc["detail"]


def test_unreadable_body_is_400_problem(api: Runtime) -> None:
    resp = http_api.create_project(request("POST", "/api/projects", b"key: [unclosed",
                                           headers={"content-type": "application/yaml"}))
    assert "not valid YAML/JSON" in assert_problem(resp, 400)["detail"]


def test_yaml_intent_is_accepted_with_202_and_publishes_a_signed_project_initialized(api: Runtime) -> None:
    raw = (ROOT / "examples" / "task-tracker.yaml").read_bytes()
    resp = http_api.create_project(request("POST", "/api/projects", raw, headers=YAML))
    assert resp.status_code == 202
    doc = body_of(resp)
    project_id, trace_id = doc["projectId"], doc["traceId"]
    assert project_id.startswith("task-tracker-") and len(trace_id) == 32
    assert doc["status"] == resp.headers["Location"] == f"/api/projects/{project_id}"
    (message,) = observed(api)
    event = parse_wire(message.body)
    assert (event.type, event.project_id, event.trace_id, event.tenant_id) == (
        "ProjectInitialized", project_id, trace_id, "acme")
    assert event.source == "http-api"
    assert event.data["productName"] == "Task Tracker"
    assert event.signature_valid(api.signing_key)
    assert message.message_id == event.id
    assert message.application_properties["projectId"] == project_id


def test_the_same_intent_posted_twice_is_the_same_project_published_once(api: Runtime) -> None:
    raw = (ROOT / "examples" / "task-tracker.yaml").read_bytes()
    first = body_of(http_api.create_project(request("POST", "/api/projects", raw)))
    second = body_of(http_api.create_project(request("POST", "/api/projects", raw)))
    assert first == second
    assert len(observed(api)) == 1  # duplicate detection by MessageId


def test_accepted_project_is_readable_and_has_a_trace(api: Runtime) -> None:
    raw = (ROOT / "examples" / "task-tracker.yaml").read_bytes()
    started = body_of(http_api.create_project(request("POST", "/api/projects", raw)))
    project = http_api.get_project(request("GET", "/api/projects/x",
                                           route_params={"id": started["projectId"]}))
    assert project.status_code == 200
    doc = body_of(project)
    assert (doc["projectId"], doc["traceId"], doc["outcome"]) == (started["projectId"], started["traceId"],
                                                                  "running")
    trace = http_api.get_trace(request("GET", "/api/traces/x", route_params={"traceId": started["traceId"]}))
    assert trace.status_code == 200
    assert body_of(trace)["traceId"] == started["traceId"]
    assert body_of(trace)["tree"]


# --------------------------------------------------------------------------- GET 404s


def test_unknown_project_is_404_problem_saying_how_to_create_one(api: Runtime) -> None:
    resp = http_api.get_project(request("GET", "/api/projects/nope", route_params={"id": "nope"}))
    doc = assert_problem(resp, 404)
    assert "'nope'" in doc["detail"] and "POST /api/projects" in doc["detail"]


def test_unknown_trace_is_404_problem(api: Runtime) -> None:
    resp = http_api.get_trace(request("GET", "/api/traces/" + "0" * 32, route_params={"traceId": "0" * 32}))
    assert "0" * 32 in assert_problem(resp, 404)["detail"]


def test_unknown_artifact_is_404_problem_naming_the_path(api: Runtime) -> None:
    resp = http_api.get_artifact(request("GET", "/api/projects/p/artifacts/a/b.py",
                                         route_params={"id": "p", "path": "a/b.py"}))
    doc = assert_problem(resp, 404)
    assert "'a/b.py'" in doc["detail"] and "GET /api/projects/p" in doc["detail"]


def test_unknown_execution_is_404_problem(api: Runtime) -> None:
    resp = http_api.get_execution(request("GET", "/api/executions/e1", route_params={"id": "e1"}))
    assert "'e1'" in assert_problem(resp, 404)["detail"]


def test_template_execution_request_must_be_an_object_with_parameters(api: Runtime) -> None:
    resp = http_api.execute_template(request("POST", "/api/templates/t/execute", b'{"parameters": [1]}',
                                             route_params={"templateId": "t"}))
    assert "parameters" in assert_problem(resp, 400)["detail"]


def test_problem_details_follow_rfc_9457() -> None:
    resp = http_api.problem(409, "Conflict", "it changed; reload and retry", extra={"etag": "x"})
    assert resp.mimetype == PROBLEM
    assert body_of(resp) == {"type": "about:blank", "title": "Conflict", "status": 409,
                             "detail": "it changed; reload and retry", "etag": "x"}
