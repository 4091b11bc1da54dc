"""A local stand-in for an Azure Container Apps session pool (custom container), served by werkzeug.

It does what the pool management endpoint documents for custom containers
(learn.microsoft.com/azure/container-apps/sessions-custom-container, "Working with sessions"):

- every request needs ``Authorization: Bearer <token>`` (Azure checks an Entra token for the
  audience https://dynamicsessions.io; here: the one token the test's credential hands out) -> 401;
- every request needs ``?identifier=`` (4-128 characters: letters, digits and ``|-&^%$#(){}[];<>``) -> 400;
- a new identifier allocates a session; past ``max_sessions`` concurrent ones the pool answers 404;
- anything in the path is forwarded to the session's container, which here is the real container
  app (``SessionServer`` built by ``shared.bootstrap.session_server_app``-style code) in-process,
  each session with its own folder; the container exiting (``on_exit``) ends the session.

What it does not do: Hyper-V, real token validation, egress rules (the container's runner uses the
bubblewrap jail here, so there is still no network), cooldown timers.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

IDENTIFIER = re.compile(r"^[A-Za-z0-9|\-&^%$#(){}\[\];<>]{4,128}$")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class PoolStandIn:
    """The pool front: auth, identifier, allocation, forwarding."""

    make_session: Callable[[str, Callable[[], None]], WSGIApp]
    token: str
    max_sessions: int = 10
    forbidden: bool = False  # the caller's identity lacks the Session Executor role
    sessions: dict[str, WSGIApp] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, identifier
    ended: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return Response("missing or invalid bearer token", 401)(environ, start_response)  # type: ignore[no-any-return]
        if self.forbidden:
            return Response("the principal lacks Microsoft.App/sessionPools/interpreters/execute", 403)(
                environ, start_response)
        identifier = request.args.get("identifier", "")
        if not IDENTIFIER.match(identifier):
            return Response("identifier must be 4-128 allowed characters", 400)(environ, start_response)  # type: ignore[no-any-return]
        with self._lock:
            self.requests.append((request.method, request.path, identifier))
            session = self.sessions.get(identifier)
            if session is None:
                if len(self.sessions) >= self.max_sessions:
                    return Response("no session available", 404)(environ, start_response)  # type: ignore[no-any-return]
                session = self.make_session(identifier, lambda: self._end(identifier))
                self.sessions[identifier] = session
        return session(environ, start_response)

    def _end(self, identifier: str) -> None:
        with self._changed:
            self.sessions.pop(identifier, None)
            self.ended.append(identifier)
            self._changed.notify_all()

    def wait_ended(self, count: int, timeout: float = 30) -> list[str]:
        """The ended sessions once ``count`` have ended (a container exits after its last answer is sent)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.ended) >= count, timeout)
            return list(self.ended)


@contextmanager
def serving(app: WSGIApp) -> Iterator[str]:
    """Serve ``app`` on a free loopback port (threaded, for long polls); yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
