"""The HTTP API functions called with real ``azure.functions.HttpRequest`` objects, and the local router."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from shared.api import http as http_api
from shared.bootstrap import Runtime
from shared.contracts.envelope import parse_wire
from shared.host.local import HttpFunction
from shared.host.serving import _Router, compile_route, handle, serve
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
    assert "neither JSON nor YAML" in assert_problem(resp, 400)["detail"]


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


# --------------------------------------------------------------------------- the local router


def test_catch_all_route_captures_the_rest_of_the_path() -> None:
    pattern = compile_route("projects/{id}/artifacts/{*path}")
    m = pattern.match("/api/projects/p1/artifacts/src/app/main.py")
    assert m is not None and m.groupdict() == {"id": "p1", "path": "src/app/main.py"}


@pytest.mark.parametrize("path", ["/api/projects/p1/artifacts/", "/api/projects/p1/artifacts",
                                  "/projects/p1/artifacts/x", "/api/projects/a/b/artifacts/x",
                                  "/api/projects/p1/artifactsx/y"])
def test_catch_all_route_rejects_paths_that_do_not_fit(path: str) -> None:
    assert compile_route("projects/{id}/artifacts/{*path}").match(path) is None


def test_route_parameters_stop_at_a_slash_and_constraints_are_accepted() -> None:
    pattern = compile_route("projects/{id:alpha}")
    assert pattern.match("/api/projects/p1") is not None
    assert pattern.match("/api/projects/p1/") is not None
    assert pattern.match("/api/projects/p1/x") is None


def test_literal_route_segments_are_escaped() -> None:
    pattern = compile_route("a.b/{id}")
    assert pattern.match("/api/a.b/1") is not None
    assert pattern.match("/api/aXb/1") is None


def echo(name: str, route: str, methods: tuple[str, ...]) -> HttpFunction:
    def call(req: func.HttpRequest) -> func.HttpResponse:
        doc = {"fn": name, "method": req.method, "route": dict(req.route_params), "params": dict(req.params),
               "body": req.get_body().decode()}
        return func.HttpResponse(json.dumps(doc), mimetype="application/json")

    return HttpFunction(name, route, methods, "req", call)


def failing(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom")


ROUTER = _Router([
    echo("artifact", "projects/{id}/artifacts/{*path}", ("GET",)),
    echo("project", "projects/{id}", ("GET",)),
    echo("special", "projects/special", ("GET",)),
    echo("create", "projects", ("POST",)),
    HttpFunction("failing", "fails", ("GET",), "req", failing),
])


def test_handle_dispatches_with_route_params_query_and_body() -> None:
    resp = handle(ROUTER, "GET", "/api/projects/p1/artifacts/docs/README.md?download=1", {}, b"")
    assert resp.status_code == 200
    assert body_of(resp) == {"fn": "artifact", "method": "GET",
                             "route": {"id": "p1", "path": "docs/README.md"},
                             "params": {"download": "1"}, "body": ""}
    created = body_of(handle(ROUTER, "POST", "/api/projects", {"content-type": "application/json"},
                             b'{"a":1}'))
    assert (created["fn"], created["body"]) == ("create", '{"a":1}')


def test_literal_routes_win_over_parameterised_ones() -> None:
    assert body_of(handle(ROUTER, "GET", "/api/projects/special", {}, b""))["fn"] == "special"
    assert body_of(handle(ROUTER, "GET", "/api/projects/other", {}, b""))["fn"] == "project"


def test_wrong_method_on_a_known_route_is_405_problem() -> None:
    doc = assert_problem(handle(ROUTER, "DELETE", "/api/projects/p1", {}, b""), 405)
    assert "DELETE" in doc["detail"] and "/api/projects/p1" in doc["detail"]
    assert_problem(handle(ROUTER, "GET", "/api/projects", {}, b""), 405)


def test_unknown_path_is_404_problem() -> None:
    doc = assert_problem(handle(ROUTER, "GET", "/api/nothing/here", {}, b""), 404)
    assert "/api/nothing/here" in doc["detail"]


def test_function_that_raises_is_500_problem_naming_it() -> None:
    doc = assert_problem(handle(ROUTER, "GET", "/api/fails", {}, b""), 500)
    assert "failing raised RuntimeError: boom" in doc["detail"]


def test_served_response_keeps_the_functions_headers_over_a_real_socket() -> None:
    # regression: azure.functions' HttpResponseHeaders iterate as (name, value) pairs; a response
    # with a header (POST /api/projects answers 202 with Location) closed the connection instead
    def created(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse('{"ok":true}', status_code=202, mimetype="application/json",
                                 headers={"Location": "/api/projects/p1"})

    server = serve([HttpFunction("create", "projects", ("POST",), "req", created)], 0)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        conn.request("POST", "/api/projects", body=b"{}")
        resp = conn.getresponse()
        assert (resp.status, resp.getheader("Location"), resp.getheader("Content-Type")) == (
            202, "/api/projects/p1", "application/json")
        assert json.loads(resp.read()) == {"ok": True}
        conn.close()
    finally:
        server.shutdown()
        server.server_close()


def test_a_burst_of_concurrent_clients_is_served_not_reset() -> None:
    # regression: the listen backlog was 5, so the 6th simultaneous connection could be reset
    def ok(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    server = serve([HttpFunction("ok", "ok", ("GET",), "req", ok)], 0)
    assert server.request_queue_size >= 100
    try:
        port = server.server_address[1]
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(50)]
        for conn in conns:
            conn.connect()  # all connected before any is served: they wait in the backlog
        for conn in conns:
            conn.request("GET", "/api/ok")
        assert [c.getresponse().read() for c in conns] == [b"ok"] * 50
        for conn in conns:
            conn.close()
    finally:
        server.shutdown()
        server.server_close()
