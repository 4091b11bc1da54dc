"""Serves the app's HTTP-triggered functions on localhost for ``factory host``.

Routes use the Functions route templates (``projects/{id}``, ``{*path}``) under ``/api``;
each request becomes a real ``azure.functions.HttpRequest`` and the function's
``HttpResponse`` is written back.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from shared.api.http import problem
from shared.host.local import HttpFunction


def compile_route(template: str) -> re.Pattern[str]:
    parts = []
    for segment in template.strip("/").split("/"):
        m = re.fullmatch(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}", segment)
        if m:
            parts.append(f"(?P<{m.group(2)}>.+)" if m.group(1) else f"(?P<{m.group(2)}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("^/api/" + "/".join(parts) + "/?$")


class _Router:
    def __init__(self, functions: Sequence[HttpFunction]) -> None:
        # literal routes before parameterised ones
        self.routes = sorted(((compile_route(f.route), f) for f in functions), key=lambda r: r[0].pattern.count("(?P"))

    def match(self, method: str, path: str) -> tuple[HttpFunction, dict[str, str]] | str | None:
        allowed = False
        for pattern, fn in self.routes:
            m = pattern.match(path)
            if m:
                if method in fn.methods:
                    return fn, m.groupdict()
                allowed = True
        return "method" if allowed else None


def handle(router: _Router, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> func.HttpResponse:
    url = urlsplit(raw_path)
    found = router.match(method, url.path)
    if found is None:
        return problem(404, "Not found", f"no function serves {url.path}")
    if found == "method":
        return problem(405, "Method not allowed", f"{method} is not allowed on {url.path}")
    assert not isinstance(found, str)
    fn, params = found
    req = func.HttpRequest(method=method, url=f"http://localhost{raw_path}", headers=headers,
                           params=dict(parse_qsl(url.query)), route_params=params, body=body)
    try:
        resp: func.HttpResponse = fn.call(**{fn.arg_name: req})
    except Exception as exc:  # the Functions host answers 500 for an unhandled exception
        return problem(500, "Function failed", f"{fn.name} raised {type(exc).__name__}: {exc}")
    return resp


class _Server(ThreadingHTTPServer):
    # the default listen backlog (5) resets connections when many clients submit at once
    request_queue_size = 128


def serve(functions: Sequence[HttpFunction], port: int, host: str = "127.0.0.1") -> Any:
    router = _Router(functions)

    class Handler(BaseHTTPRequestHandler):
        def _do(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            resp = handle(router, self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(resp.status_code)
            for k, v in resp.headers.items():
                if k.lower() != "content-length":
                    self.send_header(k, v)
            if resp.mimetype and "content-type" not in {k.lower() for k, _ in resp.headers.items()}:
                self.send_header("Content-Type", resp.mimetype)
            payload = resp.get_body()
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _do

        def log_message(self, *_args: Any) -> None:
            return

    server = _Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="factory-http").start()
    return server
