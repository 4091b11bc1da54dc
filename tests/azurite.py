"""Run the Azurite blob emulator (npm ``azurite``, pinned in package.json) for the blob contract tests."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
AZURITE_BLOB = REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"

#: Azurite's fixed development account (public, documented; not a secret)
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class AzuriteUnavailableError(RuntimeError):
    """Azurite is not installed or did not start."""


def connection_string(port: int, host: str = "127.0.0.1") -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://{host}:{port}/{ACCOUNT_NAME};"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def azurite_blob(
    location: Path, *, binary: Path = AZURITE_BLOB, startup_timeout: float = 30.0
) -> Iterator[str]:
    """Start ``azurite-blob`` in memory on a free port; yield its connection string; stop it on exit.

    ``location`` is the working folder (for the log). Azurite 3.35 refuses ``--location`` together
    with ``--inMemoryPersistence``, so nothing else is written there.
    """
    if not binary.exists():
        raise AzuriteUnavailableError(
            f"{binary} is missing: the blob contract tests need the Azurite emulator. "
            "Run `npm ci` in the repository root (`make test` does it for you)."
        )
    host, port = "127.0.0.1", free_port()
    location.mkdir(parents=True, exist_ok=True)
    log_path = location / "azurite.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(binary), "--blobHost", host, "--blobPort", str(port),
             "--silent", "--skipApiVersionCheck", "--inMemoryPersistence", "--disableTelemetry"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=location,
        )
        try:
            deadline = time.monotonic() + startup_timeout
            while not _accepts_connections(host, port):
                try:
                    # waiting on the process (not sleeping) both paces the poll and notices an early exit
                    code = process.wait(timeout=0.1)
                except subprocess.TimeoutExpired:
                    code = None
                if code is not None or time.monotonic() > deadline:
                    reason = (
                        f"exited with code {code}" if code is not None
                        else f"was not listening after {startup_timeout}s"
                    )
                    raise AzuriteUnavailableError(
                        f"Azurite blob emulator {reason} on {host}:{port}. Its log:\n"
                        f"{log_path.read_text(errors='replace')[-2000:]}\n"
                        "Re-install it with `npm ci` and check that node (>=18) is on PATH."
                    )
            yield connection_string(port, host)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
