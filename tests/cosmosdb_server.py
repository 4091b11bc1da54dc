"""Run ``@vercel/cosmosdb-server`` (npm, pinned in package.json) for the tests, like tests/azurite.py runs Azurite.

The server speaks the Cosmos DB REST protocol over HTTPS with ``azure-cosmos`` as the client. It keeps
everything in memory (each process is a fresh, empty account), accepts any key (it never checks the
``authorization`` header) and serves a self-signed certificate shipped in the package (CN=cosmosdb,
expired 2021), so TLS verification is off for this endpoint only: ``azure-cosmos`` turns it off by
itself for the hosts ``localhost`` and ``127.0.0.1``, and ``CosmosServer.client`` says so explicitly.

It is started through ``tests/cosmosdb_server.js``, a labelled test double that patches three of the
package's request handlers to documented Cosmos DB behaviour (``SERVER_PATCHES`` below, sources cited in
the file) and turns HTTP keep-alive on (about 1 ms instead of 22 ms a call). ``-p 0`` lets the OS pick a
free port; the ready line the script prints names it (no port race, no polling).

Bind to 127.0.0.1: the server advertises ``https://<listen host>:<port>/`` as its only location and the
SDK's endpoint discovery switches to it.
"""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO_ROOT = Path(__file__).resolve().parent.parent
COSMOSDB_SERVER_PACKAGE = REPO_ROOT / "node_modules" / "@vercel" / "cosmosdb-server" / "lib" / "index.js"
LAUNCHER = Path(__file__).resolve().parent / "cosmosdb_server.js"

#: the Cosmos DB emulator's well-known key (public, documented; the server ignores keys anyway)
EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="

#: where @vercel/cosmosdb-server 1.0.1 differs from Azure Cosmos DB, and how the tests treat each difference
SERVER_PATCHES = {
    "GAP-READ-404": "patched: reading a missing document answers 404 (the package answers 500)",
    "GAP-BATCH-PK": "patched: batch operations take the batch's partition key from the request header",
    "GAP-BATCH-ATOM": "patched: a failing transactional batch writes nothing and answers 207 with 424s",
}
SERVER_GAPS = {
    "GAP-QUERY-PK": "cosmosdb-server 1.0.1 ignores x-ms-documentdb-partitionkey on queries and returns items of "
    "every partition; Azure Cosmos DB scopes a query with a partition key to that logical partition",
}

if TYPE_CHECKING:
    from azure.cosmos import CosmosClient

_READY = re.compile(rb"Ready to accept HTTPS? connections at (?P<host>\S+):(?P<port>\d+)")


class CosmosServerUnavailableError(RuntimeError):
    """cosmosdb-server is not installed or did not start."""


@dataclass(frozen=True)
class CosmosServer:
    endpoint: str  # https://127.0.0.1:<port>/
    key: str
    log: Path

    @property
    def connection_string(self) -> str:
        return f"AccountEndpoint={self.endpoint};AccountKey={self.key};"

    def client(self, **kwargs: Any) -> CosmosClient:
        """A client for this server only: TLS verification off (self-signed, expired certificate)."""
        from azure.cosmos import CosmosClient

        kwargs.setdefault("connection_verify", False)
        return CosmosClient(self.endpoint, credential=self.key, **kwargs)


@contextmanager
def cosmosdb_server(location: Path, *, node: str = "node", host: str = "127.0.0.1",
                    startup_timeout: float = 30.0) -> Iterator[CosmosServer]:
    """Start the server in memory on a free port; yield its endpoint and key; stop it on exit.

    ``location`` receives ``cosmosdb-server.log`` (the server prints each handler exception there: a
    500 is explained in it).
    """
    if not COSMOSDB_SERVER_PACKAGE.exists():
        raise CosmosServerUnavailableError(
            f"{COSMOSDB_SERVER_PACKAGE} is missing: the Cosmos tests need @vercel/cosmosdb-server. "
            "Run `npm ci` in the repository root (`make test` does it for you)."
        )
    location.mkdir(parents=True, exist_ok=True)
    log_path = location / "cosmosdb-server.log"
    log = log_path.open("wb")
    try:
        process = subprocess.Popen([node, str(LAUNCHER), "--host", host, "-p", "0"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, cwd=location)
    except OSError as error:
        log.close()
        raise CosmosServerUnavailableError(f"cannot start node ({error}); install node >= 18") from error
    lines: queue.Queue[bytes | None] = queue.Queue()

    def pump() -> None:  # copy the output to the log; hand lines to the waiter below
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            log.flush()
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, name="cosmosdb-server-log", daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + startup_timeout
        port: int | None = None
        while port is None:
            remaining = deadline - time.monotonic()
            try:
                line = lines.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                line = b""
            if line is None or remaining <= 0:
                reason = (f"exited with code {process.poll()}" if line is None
                          else f"printed no ready line within {startup_timeout}s")
                raise CosmosServerUnavailableError(
                    f"cosmosdb-server {reason}. Its log:\n{log_path.read_text(errors='replace')[-2000:]}\n"
                    "Re-install it with `npm ci` and check that node (>= 18) is on PATH.")
            match = _READY.search(line)
            if match:
                port = int(match["port"])
        yield CosmosServer(endpoint=f"https://{host}:{port}/", key=EMULATOR_KEY, log=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        reader.join(timeout=5)
        log.close()
