"""Serves the app's HTTP-triggered functions (the API and Studio) for ``factory host``, on werkzeug.

Routes keep the Functions route syntax (``projects/{id}``, ``{id:int}``, ``{id?}``, ``{*path}``)
and are translated to werkzeug rules under ``/api``; a function whose route starts with a
*mount* prefix (Studio's ``studio``) is also served at the mount point (``/``), so the pages
live at ``/`` locally and at ``/api/studio`` on Azure from one route table. Each request becomes
a real ``azure.functions.HttpRequest`` and the function's ``HttpResponse`` is written back.

Every error is RFC 9457 ``application/problem+json``: unknown path (404), wrong method (405, with
``Allow``), a function that raises (500), and a request the server itself cannot parse.

Middleware: ``HttpServerApp.add_middleware(mw)`` wraps every request. A middleware is
``mw(request, call_next) -> Response`` with werkzeug ``Request``/``Response``: it may answer
itself (e.g. 401/413 as ``problem_response``) or call ``call_next(request)``. They run in the
order added, outermost first, before routing.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from shared.host.local import HttpFunction

log = logging.getLogger("factory.http")

PROBLEM = "application/problem+json"
API_PREFIX = "/api"

Handler = Callable[[Request], Response]
Middleware = Callable[[Request, Handler], Response]


class RouteSyntaxError(ValueError):
    """A Functions route template this server cannot translate. The message names the segment."""


def problem_response(status: int, title: str, detail: str, *, headers: Mapping[str, str] | None = None,
                     extra: Mapping[str, Any] | None = None) -> Response:
    """An RFC 9457 problem as a werkzeug response (for middleware and server-level errors)."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **(extra or {})}
    return Response(json.dumps(body), status=status, content_type=PROBLEM, headers=dict(headers or {}))


# ----------------------------------------------------------------------------- route templates

#: Functions route constraints (``{id:int}``) this server enforces; any other is accepted as a plain segment
_CONSTRAINTS = {
    "int": r"-?\d+", "long": r"-?\d+", "alpha": r"[A-Za-z]+", "bool": r"(?i:true|false)",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
    "decimal": r"-?\d+(?:\.\d+)?", "double": r"-?\d+(?:\.\d+)?", "float": r"-?\d+(?:\.\d+)?",
}
_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(\??)(?::([^}]*))?\}")


class _Constrained(BaseConverter):
    """A segment matching a Functions constraint (``regex`` set per subclass); the value stays a string."""

    part_isolating = True


def werkzeug_rules(template: str, prefix: str = API_PREFIX) -> list[str]:
    """The werkzeug rule strings for one Functions route template under ``prefix``.

    ``{name}`` → one segment, ``{name:int}`` → a constrained segment, ``{*name}`` → the rest of
    the path, ``{name?}`` → the route with and without that final segment.
    """
    segments = [s for s in template.strip("/").split("/") if s] if template.strip("/") else []
    out: list[str] = []
    optional_from: int | None = None
    for i, seg in enumerate(segments):
        m = _PARAM.fullmatch(seg)
        if m is None:
            if "{" in seg or "}" in seg:
                raise RouteSyntaxError(f"route '{template}': segment '{seg}' mixes text and a parameter; "
                                       "use one parameter per segment")
            out.append(seg)
            continue
        star, name, optional, constraint = m.groups()
        if star:
            if i != len(segments) - 1:
                raise RouteSyntaxError(f"route '{template}': catch-all '{seg}' must be the last segment")
            out.append(f"<path:{name}>")
        elif constraint and constraint.split("(")[0] in _CONSTRAINTS:
            out.append(f"<c_{constraint.split('(')[0]}:{name}>")
        else:
            out.append(f"<{name}>")
        if optional:
            if i != len(segments) - 1:
                raise RouteSyntaxError(f"route '{template}': optional '{seg}' must be the last segment")
            optional_from = i
    base = prefix.rstrip("/")
    rules = [base + "/" + "/".join(out) if out else (base or "/")]
    if optional_from is not None:
        rules.append(base + "/" + "/".join(out[:optional_from]) if optional_from else (base or "/"))
    return rules


# ----------------------------------------------------------------------------- the WSGI app


@dataclass(frozen=True)
class Mount:
    """Functions whose route starts with ``route_prefix`` are also served under ``at``."""

    route_prefix: str
    at: str = "/"


def _to_functions_request(request: Request, route_params: Mapping[str, str]) -> func.HttpRequest:
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        k = key.lower()
        headers[k] = f"{headers[k]}, {value}" if k in headers else value
    return func.HttpRequest(method=request.method, url=request.url, headers=headers,
                            params={k: v for k, v in request.args.items()}, route_params=dict(route_params),
                            body=request.get_data(cache=False))


def _to_werkzeug_response(resp: func.HttpResponse) -> Response:
    headers = [(k, v) for k, v in resp.headers.items() if k.lower() != "content-length"]
    out = Response(resp.get_body(), status=resp.status_code, headers=headers)
    if not any(k.lower() == "content-type" for k, _ in headers):
        mimetype = resp.mimetype or "text/plain"
        text = mimetype.startswith("text/") or mimetype.endswith(("json", "javascript", "xml"))
        out.content_type = f"{mimetype}; charset={resp.charset or 'utf-8'}" if text and "json" not in mimetype \
            else mimetype
    return out


class HttpServerApp:
    """A WSGI app over the function app's HTTP functions: routing, middleware, problem errors."""

    def __init__(self, functions: Sequence[HttpFunction], *, mounts: Iterable[Mount] = (),
                 middleware: Iterable[Middleware] = ()) -> None:
        self.functions = {f.name: f for f in functions}
        rules: list[Rule] = []
        for fn in functions:
            for rule in werkzeug_rules(fn.route):
                rules.append(Rule(rule, endpoint=fn.name, methods=list(fn.methods)))
            for mount in mounts:
                route = fn.route.strip("/")
                if route == mount.route_prefix or route.startswith(mount.route_prefix + "/"):
                    for rule in werkzeug_rules(route[len(mount.route_prefix):], prefix=mount.at):
                        rules.append(Rule(rule, endpoint=fn.name, methods=list(fn.methods)))
        converters = {f"c_{kind}": type(f"C_{kind}", (_Constrained,), {"regex": rx})
                      for kind, rx in _CONSTRAINTS.items()}
        self.url_map = Map(rules, converters=converters, strict_slashes=False, merge_slashes=False)
        self._middleware: list[Middleware] = list(middleware)

    def add_middleware(self, middleware: Middleware) -> None:
        """Wrap every request (runs after the ones added before it)."""
        self._middleware.append(middleware)

    # ------------------------------------------------------------------ dispatch

    def dispatch(self, request: Request) -> Response:
        """Route one request to its function (no middleware)."""
        adapter = self.url_map.bind(request.host, url_scheme=request.scheme)
        try:
            endpoint, params = adapter.match(request.path, method=request.method)
        except MethodNotAllowed as exc:
            allowed = sorted(exc.valid_methods or [])
            return problem_response(405, "Method not allowed",
                                    f"{request.method} is not allowed on {request.path}; use {', '.join(allowed)}",
                                    headers={"Allow": ", ".join(allowed)})
        except NotFound:
            return problem_response(404, "Not found", f"no function serves {request.path}; the API is under "
                                    f"{API_PREFIX}/ (see the README's HTTP API table) and Studio at /")
        except HTTPException as exc:  # e.g. a redirect werkzeug wants for a slash
            return problem_response(exc.code or 400, exc.name, exc.description or str(exc))
        fn = self.functions[str(endpoint)]
        try:
            req = _to_functions_request(request, {k: str(v) for k, v in params.items()})
            resp = fn.call(**{fn.arg_name: req})
        except Exception as exc:  # the Functions host answers 500 for an unhandled exception
            log.exception("function %s failed on %s %s", fn.name, request.method, request.path)
            return problem_response(500, "Function failed", f"{fn.name} raised {type(exc).__name__}: {exc}; "
                                    "see the host's log for the traceback")
        if not isinstance(resp, func.HttpResponse):
            return problem_response(500, "Function failed", f"{fn.name} returned {type(resp).__name__}, "
                                    "not an azure.functions.HttpResponse")
        return _to_werkzeug_response(resp)

    def handle(self, request: Request) -> Response:
        """Run the middleware chain, then ``dispatch``."""
        call: Handler = self.dispatch
        for mw in reversed(self._middleware):
            call = _bind(mw, call)
        try:
            return call(request)
        except Exception as exc:
            log.exception("middleware failed on %s %s", request.method, request.path)
            return problem_response(500, "Request failed", f"{type(exc).__name__}: {exc}")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self.handle(request)
        result: Iterable[bytes] = response(environ, start_response)
        return result


def _bind(mw: Middleware, nxt: Handler) -> Handler:
    return lambda request: mw(request, nxt)


# ----------------------------------------------------------------------------- the server


class _RequestHandler(WSGIRequestHandler):
    """werkzeug's handler, quiet (the host prints deliveries), answering its own errors as problems.

    ``timeout`` bounds every read of the socket: a client that announces more body than it sends, or sends
    nothing, is cut off instead of holding a thread."""

    timeout = 10.0

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, getattr(self, "path", "?"), code)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        if not str(getattr(self, "request_version", "")).startswith("HTTP/1."):
            self.request_version = "HTTP/1.0"  # unreadable request line: answer with headers all the same
        self.close_connection = True
        title = message or self.responses.get(code, ("Error", ""))[0]
        body = json.dumps({"type": "about:blank", "title": title, "status": code,
                           "detail": explain or self.responses.get(code, ("", "the request could not be read"))[1]
                           }).encode()
        self.send_response(code, message)
        self.send_header("Content-Type", PROBLEM)
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)


class HttpServer:
    """A running threaded HTTP server (one thread per connection) in a background thread."""

    def __init__(self, app: HttpServerApp, port: int, host: str = "127.0.0.1", *, read_timeout: float = 10.0) -> None:
        self.app = app
        handler = type("_TimedRequestHandler", (_RequestHandler,), {"timeout": read_timeout})
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, request_handler=handler)
        self.host = host
        self.port: int = int(self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="factory-http")
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


#: Studio's functions (routes ``studio/...``) are also served at ``/``
STUDIO_MOUNT = Mount("studio", "/")


def serve(functions: Sequence[HttpFunction], port: int, host: str = "127.0.0.1", *,
          mounts: Iterable[Mount] = (STUDIO_MOUNT,), middleware: Iterable[Middleware] = (),
          read_timeout: float = 10.0) -> HttpServer:
    """Serve ``functions`` on ``host:port`` (0 = a free port) until ``shutdown()``."""
    return HttpServer(HttpServerApp(functions, mounts=mounts, middleware=middleware), port, host,
                      read_timeout=read_timeout)
