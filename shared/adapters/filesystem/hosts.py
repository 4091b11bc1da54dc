"""Which hosts run on a home: ``FACTORY_HOME/hosts/<pid>.json`` while a ``factory host`` runs.

A record whose process is gone (killed, crashed) is a dead host: the messages it had locked come back when
their locks expire. ``factory doctor`` tells the two apart.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil


def _alive(record: dict[str, Any]) -> bool:
    try:
        process = psutil.Process(int(record["pid"]))
        return bool(abs(process.create_time() - float(record["started"])) < 2.0)  # not a recycled pid
    except (psutil.Error, KeyError, ValueError, TypeError):
        return False


@contextlib.contextmanager
def registered_host(folder: Path) -> Iterator[Path]:
    """Record this process as a host of the home while the block runs."""
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / f"{os.getpid()}.json"
    started = psutil.Process().create_time()
    record.write_text(json.dumps({"pid": os.getpid(), "started": started, "machine": socket.gethostname(),
                                  "since": time.time()}), encoding="utf-8")
    try:
        yield record
    finally:
        record.unlink(missing_ok=True)


def hosts(folder: Path) -> list[dict[str, Any]]:
    """Every host record of the home, each with ``alive`` (a dead one's process is gone)."""
    out = []
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict):
            same_machine = record.get("machine") == socket.gethostname()
            out.append({**record, "alive": _alive(record) if same_machine else None, "path": str(path)})
    return out
