"""Cross-process wake-ups for one SQLite bus file: a publisher rings, every listening receiver wakes.

SQLite has no LISTEN/NOTIFY, so a host process on the same file would otherwise only notice another
process's publish by polling. Each listening ``SqliteBus`` binds a Unix datagram socket in a short
per-bus directory under the temp folder (socket paths are limited to ~100 characters, so not next to
the database); after every committed publish the bus sends one byte to each socket but its own.
A lost or refused datagram costs nothing but latency: receivers still poll with a back-off, and a
socket nobody listens on any more is removed by the next ring. Where Unix datagram sockets do not
exist (Windows), ``listen`` returns ``False`` and receivers rely on polling alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

_CLOSE = b"close"


def doorbell_directory(database: Path) -> Path:
    """The directory of listening sockets for the bus at ``database`` (same file → same directory)."""
    digest = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"factory-bus-{digest}"


class Doorbell:
    """Ring (after a publish) and listen (in a receiver) for one bus file."""

    def __init__(self, database: Path) -> None:
        self.directory = doorbell_directory(database)
        self._sender: socket.socket | None = None
        self._listener: socket.socket | None = None
        self._own: str | None = None
        self._peers: list[str] = []
        self._scanned_at: int | None = None  # the directory's mtime when ``_peers`` was read
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ ringing

    def ring(self) -> None:
        """Wake every other listener of this bus (never blocks, never raises)."""
        if not hasattr(socket, "AF_UNIX"):
            return
        with self._lock:
            try:
                mtime = os.stat(self.directory).st_mtime_ns
            except OSError:
                return  # nobody has ever listened on this bus
            if mtime != self._scanned_at:
                try:
                    self._peers = [e.path for e in os.scandir(self.directory) if e.path != self._own]
                except OSError:
                    return
                self._scanned_at = mtime
            if not self._peers:
                return
            if self._sender is None:
                self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sender.setblocking(False)
            for peer in self._peers:
                try:
                    self._sender.sendto(b"\0", peer)
                except BlockingIOError:
                    pass  # its buffer is full of rings: it is awake already
                except (ConnectionRefusedError, FileNotFoundError):
                    with contextlib.suppress(OSError):  # a listener that died without closing
                        os.unlink(peer)
                except OSError:
                    pass

    # ------------------------------------------------------------------ listening

    def listen(self, wake: Callable[[], None]) -> bool:
        """Call ``wake()`` from a daemon thread whenever another bus instance publishes.

        Returns ``False`` where Unix datagram sockets are unavailable (callers keep polling)."""
        if not hasattr(socket, "AF_UNIX") or self._listener is not None:
            return self._listener is not None
        try:
            self.directory.mkdir(mode=0o700, exist_ok=True)
            own = str(self.directory / f"{os.getpid()}-{os.urandom(4).hex()}")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            listener.bind(own)
        except OSError:
            return False
        self._listener, self._own = listener, own
        threading.Thread(target=self._receive, args=(listener, wake), name="factory-bus-doorbell",
                         daemon=True).start()
        return True

    @staticmethod
    def _receive(listener: socket.socket, wake: Callable[[], None]) -> None:
        while True:
            try:
                data = listener.recv(64)
            except OSError:
                return  # closed
            if data == _CLOSE:
                return
            wake()

    def close(self) -> None:
        with self._lock:
            if self._listener is not None and self._own is not None:
                with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                    s.sendto(_CLOSE, self._own)  # wakes the receiving thread, which then ends
                self._listener.close()
                with contextlib.suppress(OSError):
                    os.unlink(self._own)
            self._listener = self._own = None
            if self._sender is not None:
                self._sender.close()
                self._sender = None
