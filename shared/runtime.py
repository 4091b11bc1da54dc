"""The process-wide runtime the triggered functions call into (built lazily, on first use)."""

from __future__ import annotations

import threading
from typing import Any

from shared.bootstrap import Runtime, bootstrap
from shared.handling.telemetry import InvocationTrace

_runtime: Runtime | None = None
_lock = threading.Lock()


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        with _lock:
            if _runtime is None:
                _runtime = bootstrap()
    return _runtime


def set_runtime(runtime: Runtime | None) -> None:
    """Install a runtime (the local host and tests do this before invoking functions)."""
    global _runtime
    with _lock:
        _runtime = runtime


def handle(consumer: str, message: Any, context: Any = None) -> None:
    """Entry point of every Service Bus–triggered function: run the handling pipeline.

    ``context`` is the invocation's ``func.Context``: its ``trace_context`` is the Functions host's span
    for this invocation, the parent of the handling's span. Returns normally when the message is done
    (completed, duplicate, or dead-lettered); raises on a transient failure so the host abandons it and
    Service Bus redelivers.
    """
    get_runtime().pipeline.handle(consumer, message, InvocationTrace.of(context))
