"""A live factory for tests that go through a socket or a browser: the real local host pumping
``function_app``'s triggers in a thread and the real HTTP server (API + Studio) on a free port.

Waiting is event driven (no sleeps): every delivery the host settles wakes ``wait_until``.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from shared.bootstrap import Runtime, api_token_of, bootstrap
from shared.host.access import serve_local
from shared.host.local import Delivery, LocalHost, build_host
from shared.host.serving import HttpServer
from shared.runtime import set_runtime
from shared.settings import Settings

T = TypeVar("T")


class LiveFactory:
    def __init__(self, rt: Runtime, host: LocalHost, server: HttpServer) -> None:
        self.rt, self.host, self.server = rt, host, server
        self.url = server.url
        self.token = api_token_of(rt.settings)
        #: the link `factory host` prints: it sets Studio's token cookie
        self.studio_url = f"{self.url}/?token={self.token}"
        self.deliveries: list[Delivery] = []
        self._changed = threading.Condition()
        self._pumping = threading.Thread(target=host.run, name="test-host", daemon=True)

    def start(self) -> None:
        """Start pumping the triggers (idempotent)."""
        if not self._pumping.is_alive() and not self.host.stopping:
            self._pumping.start()

    def delivered(self, d: Delivery) -> None:
        with self._changed:
            self.deliveries.append(d)
            self._changed.notify_all()

    def wait_until(self, probe: Callable[[], T | None], *, timeout: float = 120.0, what: str = "") -> T:
        """Re-check ``probe`` after every delivery (or every half second) until it returns a truthy value."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or probe}")
            with self._changed:
                self._changed.wait(min(0.5, left))


@contextmanager
def live_factory(home: Path, *, pump: bool = True, read_timeout: float = 10.0,
                 **settings: Any) -> Iterator[LiveFactory]:
    """The factory on ``home``; ``pump=False`` serves HTTP only (published events stay queued until
    ``start()``)."""
    rt = bootstrap(Settings(FACTORY_HOME=home, **settings))
    holder: list[LiveFactory] = []
    host, http = build_host(rt, on_delivery=lambda d: holder[0].delivered(d) if holder else None)
    server = serve_local(http, 0, api_token_of(rt.settings), read_timeout=read_timeout)
    live = LiveFactory(rt, host, server)
    holder.append(live)
    if pump:
        live.start()
    try:
        yield live
    finally:
        host.stop()
        if live._pumping.is_alive():
            live._pumping.join(timeout=60)
        host.close()
        server.shutdown()
        set_runtime(None)
        rt.close()


def call(live: LiveFactory, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str | None] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request through a real socket, with the home's token as a script sends it (a ``None`` header is left
    out: ``{"Authorization": None}`` sends none) → (status, lower-cased headers, body)."""
    conn = http.client.HTTPConnection(live.server.host, live.server.port, timeout=60)
    try:
        sent = {"Authorization": f"Bearer {live.token}", **(headers or {})}
        conn.request(method, path, body=body, headers={k: v for k, v in sent.items() if v is not None})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()
