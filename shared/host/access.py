"""The local API's edge: what a request must be before any function sees it (``HttpServerApp`` middleware).

* Framing: ``Content-Length`` must be a whole number no larger than the body limit (400 / 413); a body
  shorter than its ``Content-Length`` is answered 400 once the socket's read timeout passes (the server
  never holds a thread for ever); header values are bounded (431) and ``x-tenant-id`` must be a tenant id
  (400).
* DNS rebinding: the ``Host`` must be this machine's loopback name (421 otherwise).
* CSRF: a mutating request (POST, PUT, PATCH, DELETE) needs the home's API token, as
  ``Authorization: Bearer <token>`` (the CLI, scripts) or the ``factory_token`` cookie (Studio: the link
  ``factory host`` prints sets it once, ``SameSite=Strict``); a request whose ``Origin`` is another site is
  refused (403). No CORS header is ever sent.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Sequence

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Request, Response

from shared.host.local import HttpFunction
from shared.host.serving import Handler, HttpServer, Middleware, problem_response, serve

LOOPBACK = "127.0.0.1"
TOKEN_COOKIE = "factory_token"
TOKEN_PARAM = "token"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
#: the largest request body the local API reads (an intent is at most 128 KiB of text)
MAX_BODY_BYTES = 1024 * 1024
MAX_HEADER_VALUE = 8 * 1024
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def request_limits(max_body: int = MAX_BODY_BYTES) -> Middleware:
    """Framing and header checks; reads the body (bounded) before the function runs."""

    def middleware(request: Request, call_next: Handler) -> Response:
        raw = request.headers.get("Content-Length")
        declared = 0
        if raw is not None:
            if not raw.strip().isdigit():
                return problem_response(400, "Invalid Content-Length", f"Content-Length {raw[:40]!r} is not a "
                                        "whole number of bytes")
            declared = int(raw)
            if declared > max_body:
                return problem_response(413, "Body too large", f"the body is {declared:,} bytes; the local API "
                                        f"reads at most {max_body:,}")
        elif request.method in MUTATING and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            return problem_response(411, "Length required", "send the body with a Content-Length")
        for name, value in request.headers.items():
            if len(value) > MAX_HEADER_VALUE:
                return problem_response(431, "Header too large", f"header {name[:40]} is {len(value):,} "
                                        f"characters; at most {MAX_HEADER_VALUE:,}")
        tenant = request.headers.get("x-tenant-id")
        if tenant is not None and not TENANT_PATTERN.fullmatch(tenant):
            return problem_response(400, "Invalid tenant", "x-tenant-id must be 1 to 64 letters, digits, '-' or "
                                    f"'_' (starting with a letter or digit); got {len(tenant)} character(s)")
        if declared:
            try:
                body = request.get_data(cache=True)
            except (ClientDisconnected, TimeoutError, OSError):
                body = b""
            if len(body) < declared:
                return problem_response(400, "Incomplete body", f"the body ended after {len(body):,} of the "
                                        f"{declared:,} bytes its Content-Length announced")
        return call_next(request)

    return middleware


def local_access(token: str, *, allowed_hosts: Iterable[str] = LOOPBACK_NAMES) -> Middleware:
    """Loopback ``Host`` only, same-origin only, and the token on every mutating request."""
    hosts = {h.lower() for h in allowed_hosts}

    def middleware(request: Request, call_next: Handler) -> Response:
        host = _host_name(request.headers.get("Host", ""))
        if host not in hosts:
            return problem_response(421, "Unknown host", f"this server answers only to {', '.join(sorted(hosts))}; "
                                    "open Studio through the link `factory host` prints")
        origin = request.headers.get("Origin")
        if origin is not None and origin != "null":
            same = _host_name(origin.split("://", 1)[-1]) in hosts
            if not same:
                return problem_response(403, "Cross-origin request", f"requests from {origin[:100]} are refused; "
                                        "the local API serves only its own pages")
        elif origin == "null" and request.method in MUTATING \
                and request.headers.get("Sec-Fetch-Site") not in ("same-origin", "none"):
            # Studio's pages send no referrer, so their forms post with `Origin: null`; the browser's own
            # Sec-Fetch-Site still says whether the page was this server's
            return problem_response(403, "Cross-origin request", "requests from an opaque origin are refused")
        if request.headers.get("Sec-Fetch-Site") == "cross-site" and request.method in MUTATING:
            return problem_response(403, "Cross-site request", "a cross-site request cannot change anything here")
        offered = request.args.get(TOKEN_PARAM)
        if request.method == "GET" and offered is not None:
            if not hmac.compare_digest(offered.encode(), token.encode()):
                return problem_response(401, "Wrong token", "the token in the link is not this home's; copy the "
                                        "link `factory host` printed")
            # the link factory host printed: keep the token in a strict cookie and drop it from the address
            others = [(k, v) for k, v in request.args.items(multi=True) if k != TOKEN_PARAM]
            target = request.path + ("?" + "&".join(f"{k}={v}" for k, v in others) if others else "")
            response = Response(status=303, headers={"Location": target})
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict", path="/")
            return response
        if request.method in MUTATING:
            presented = request.cookies.get(TOKEN_COOKIE, "")
            auth = request.headers.get("Authorization", "")
            if auth.lower().startswith("bearer "):
                presented = auth[7:].strip()
            if not presented or not hmac.compare_digest(presented.encode(), token.encode()):
                return problem_response(401, "Token required", "a request that changes something needs this "
                                        "home's API token: `Authorization: Bearer <token>` (the token is in "
                                        "FACTORY_HOME/api.token and printed by `factory host`), or open Studio "
                                        "through the link `factory host` prints",
                                        headers={"WWW-Authenticate": 'Bearer realm="factory"'})
        return call_next(request)

    return middleware


def serve_local(functions: Sequence[HttpFunction], port: int, token: str, *, read_timeout: float = 10.0,
                max_body: int = MAX_BODY_BYTES) -> HttpServer:
    """The API and Studio as ``factory host`` serves them: loopback only, framing checked, token required."""
    return serve(functions, port, LOOPBACK, middleware=[request_limits(max_body), local_access(token)],
                 read_timeout=read_timeout)
