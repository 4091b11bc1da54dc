"""The werkzeug server through a real socket: routing in the Functions syntax, headers, status codes,
problem+json errors, a 10 MB body, a slow client, 50 concurrent requests and the middleware layer."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import azure.functions as func
import pytest
from werkzeug.wrappers import Request, Response

from shared.host.local import HttpFunction
from shared.host.serving import (
    STUDIO_MOUNT,
    Handler,
    HttpServer,
    HttpServerApp,
    RouteSyntaxError,
    problem_response,
    serve,
    werkzeug_rules,
)

PROBLEM = "application/problem+json"


def echo(name: str, route: str, methods: tuple[str, ...] = ("GET",)) -> HttpFunction:
    def call(req: func.HttpRequest) -> func.HttpResponse:
        body = req.get_body()
        doc = {"fn": name, "method": req.method, "route": dict(req.route_params), "params": dict(req.params),
               "bodyLength": len(body), "bodyStart": body[:20].decode(errors="replace"),
               "contentType": req.headers.get("content-type")}
        return func.HttpResponse(json.dumps(doc), mimetype="application/json", headers={"X-Fn": name})

    return HttpFunction(name, route, methods, "req", call)


def failing(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom")


FUNCTIONS = [
    echo("artifact", "projects/{id}/artifacts/{*path}"),
    echo("project", "projects/{id}"),
    echo("special", "projects/special"),
    echo("create", "projects", ("POST",)),
    echo("list", "projects", ("GET",)),
    echo("numbered", "items/{n:int}"),
    echo("optional", "pages/{name?}"),
    echo("studio_home", "studio"),
    echo("studio_page", "studio/pages/{id}"),
    HttpFunction("failing", "fails", ("GET",), "req", failing),
]


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    srv = serve(FUNCTIONS, 0)
    yield srv
    srv.shutdown()


def call(srv: HttpServer, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def as_json(body: bytes) -> Any:
    return json.loads(body)


def assert_problem(status: int, headers: dict[str, str], body: bytes, expected: int) -> dict[str, Any]:
    assert status == expected
    assert headers["content-type"] == PROBLEM
    doc: dict[str, Any] = json.loads(body)
    assert doc["status"] == expected and doc["title"] and doc["detail"]
    return doc


# ----------------------------------------------------------------------------- route syntax


def test_functions_route_templates_become_werkzeug_rules() -> None:
    assert werkzeug_rules("projects/{id}/artifacts/{*path}") == ["/api/projects/<id>/artifacts/<path:path>"]
    assert werkzeug_rules("items/{n:int}") == ["/api/items/<c_int:n>"]
    assert werkzeug_rules("items/{n:minlength(2)}") == ["/api/items/<n>"]
    assert werkzeug_rules("pages/{name?}") == ["/api/pages/<name>", "/api/pages"]
    assert werkzeug_rules("", prefix="/") == ["/"]
    assert werkzeug_rules("pages/{id}", prefix="/") == ["/pages/<id>"]


@pytest.mark.parametrize("template", ["a/{*rest}/b", "a{id}", "x/{id?}/y"])
def test_route_templates_the_server_cannot_honour_are_refused_by_name(template: str) -> None:
    with pytest.raises(RouteSyntaxError, match="route"):
        werkzeug_rules(template)


def test_catch_all_route_captures_the_rest_of_the_path_with_query_and_headers(server: HttpServer) -> None:
    status, headers, body = call(server, "GET", "/api/projects/p1/artifacts/docs/README.md?download=1")
    assert status == 200 and headers["x-fn"] == "artifact"
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    assert as_json(body)["route"] == {"id": "p1", "path": "docs/README.md"}
    assert as_json(body)["params"] == {"download": "1"}


def test_literal_routes_win_over_parameterised_ones_and_methods_share_a_route(server: HttpServer) -> None:
    assert as_json(call(server, "GET", "/api/projects/special")[2])["fn"] == "special"
    assert as_json(call(server, "GET", "/api/projects/other")[2])["fn"] == "project"
    assert as_json(call(server, "GET", "/api/projects")[2])["fn"] == "list"
    assert as_json(call(server, "POST", "/api/projects", b"{}")[2])["fn"] == "create"


def test_a_trailing_slash_still_matches(server: HttpServer) -> None:
    status, _, body = call(server, "GET", "/api/projects/p1/")
    assert status == 200 and as_json(body)["route"] == {"id": "p1"}


def test_constraints_and_optional_segments(server: HttpServer) -> None:
    assert as_json(call(server, "GET", "/api/items/42")[2])["route"] == {"n": "42"}
    assert_problem(*call(server, "GET", "/api/items/abc"), 404)
    assert as_json(call(server, "GET", "/api/pages/intro")[2])["route"] == {"name": "intro"}
    assert as_json(call(server, "GET", "/api/pages")[2])["route"] == {}


def test_studio_functions_are_served_at_the_root_and_under_api(server: HttpServer) -> None:
    assert as_json(call(server, "GET", "/")[2])["fn"] == "studio_home"
    assert as_json(call(server, "GET", "/api/studio")[2])["fn"] == "studio_home"
    assert as_json(call(server, "GET", "/pages/7")[2])["route"] == {"id": "7"}
    assert as_json(call(server, "GET", "/api/studio/pages/7")[2])["route"] == {"id": "7"}
    assert STUDIO_MOUNT.route_prefix == "studio"


# ----------------------------------------------------------------------------- status codes and errors


def test_unknown_path_is_404_problem(server: HttpServer) -> None:
    doc = assert_problem(*call(server, "GET", "/api/nothing/here"), 404)
    assert "/api/nothing/here" in doc["detail"]


def test_wrong_method_is_405_problem_with_allow(server: HttpServer) -> None:
    status, headers, body = call(server, "DELETE", "/api/projects/p1")
    doc = assert_problem(status, headers, body, 405)
    assert "DELETE" in doc["detail"] and "/api/projects/p1" in doc["detail"]
    assert "GET" in headers["allow"]


def test_a_function_that_raises_is_500_problem_naming_it(server: HttpServer) -> None:
    doc = assert_problem(*call(server, "GET", "/api/fails"), 500)
    assert "failing raised RuntimeError: boom" in doc["detail"]


def test_a_request_the_server_cannot_parse_is_answered_with_a_problem(server: HttpServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=30) as s:
        s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        reply = s.makefile("rb").read()
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.") and b" 400 " in head.split(b"\r\n")[0]
    assert b"application/problem+json" in head
    assert json.loads(body)["status"] == 400


def test_head_answers_headers_without_a_body(server: HttpServer) -> None:
    status, headers, body = call(server, "HEAD", "/api/projects/p1")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0


# ----------------------------------------------------------------------------- bodies, slow and many clients


def test_a_10_mb_body_arrives_whole(server: HttpServer) -> None:
    payload = b"x" * (10 * 1024 * 1024)
    status, _, body = call(server, "POST", "/api/projects", payload, {"Content-Type": "application/octet-stream"})
    assert status == 200
    doc = as_json(body)
    assert doc["bodyLength"] == len(payload) and doc["contentType"] == "application/octet-stream"


def test_a_chunked_body_arrives_whole(server: HttpServer) -> None:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    conn.request("POST", "/api/projects", body=iter([b"abc", b"def" * 1000]), encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    resp = conn.getresponse()
    assert resp.status == 200 and as_json(resp.read())["bodyLength"] == 3003
    conn.close()


def test_a_slow_client_does_not_hold_up_the_others(server: HttpServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=30) as slow:
        # half a request: the server waits for the rest on this connection's thread
        slow.sendall(b"POST /api/projects HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        status, _, body = call(server, "GET", "/api/projects/fast")
        assert status == 200 and as_json(body)["route"] == {"id": "fast"}
        slow.sendall(b"world")
        reply = slow.makefile("rb")
        assert b" 200 " in reply.readline()
        headers: dict[str, str] = {}
        while (line := reply.readline()) not in (b"\r\n", b""):
            k, _, v = line.decode().partition(":")
            headers[k.strip().lower()] = v.strip()
        doc = json.loads(reply.read(int(headers["content-length"])))
        assert doc["bodyLength"] == 10 and doc["bodyStart"] == "helloworld"


def test_fifty_concurrent_requests_are_all_answered(server: HttpServer) -> None:
    def one(i: int) -> tuple[int, dict[str, Any]]:
        status, _, body = call(server, "POST" if i % 2 else "GET", f"/api/projects/{i}" if i % 2 == 0
                               else "/api/projects", f"body {i}".encode() if i % 2 else None)
        return status, as_json(body)

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    assert [s for s, _ in results] == [200] * 50
    assert [d["route"].get("id") for i, (_, d) in enumerate(results) if i % 2 == 0] == \
        [str(i) for i in range(0, 50, 2)]
    assert all(d["bodyLength"] == len(f"body {i}") for i, (_, d) in enumerate(results) if i % 2)


def test_keep_alive_connection_serves_several_requests() -> None:
    srv = serve(FUNCTIONS, 0)
    try:
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=30)
        for i in range(3):
            conn.request("GET", f"/api/projects/k{i}")
            resp = conn.getresponse()
            assert resp.status == 200 and as_json(resp.read())["route"] == {"id": f"k{i}"}
        conn.close()
    finally:
        srv.shutdown()


# ----------------------------------------------------------------------------- middleware


def test_middleware_wraps_every_request_and_may_answer_itself() -> None:
    seen: list[str] = []

    def record(request: Request, call_next: Handler) -> Response:
        seen.append(request.path)
        response = call_next(request)
        response.headers["X-Seen"] = "1"
        return response

    def token(request: Request, call_next: Handler) -> Response:
        if request.headers.get("Authorization") != "Bearer t":
            return problem_response(401, "Unauthorized", "send Authorization: Bearer <token>",
                                    headers={"WWW-Authenticate": "Bearer"})
        return call_next(request)

    app = HttpServerApp(FUNCTIONS)
    app.add_middleware(record)
    app.add_middleware(token)
    srv = HttpServer(app, 0)
    try:
        status, headers, body = call(srv, "GET", "/api/projects/p1")
        assert_problem(status, headers, body, 401)
        assert headers["www-authenticate"] == "Bearer" and headers["x-seen"] == "1"
        status, headers, body = call(srv, "GET", "/api/projects/p1", headers={"Authorization": "Bearer t"})
        assert status == 200 and as_json(body)["route"] == {"id": "p1"} and headers["x-seen"] == "1"
        assert seen == ["/api/projects/p1", "/api/projects/p1"]
    finally:
        srv.shutdown()
