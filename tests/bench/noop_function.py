"""A no-op Service Bus trigger that measures the host itself, not the pipeline (benchmarks only).

The benchmarks register ``bp`` on their own ``FunctionApp`` beside ``function_app``'s blueprints.
The function never runs the handling pipeline: it returns at once, so the host completes the
message. A benchmark may install a
probe (``set_probe``) that sees each message as the function starts, to time delivery.
"""

from __future__ import annotations

from collections.abc import Callable

import azure.functions as func

from functions.servicebus import CONNECTION, TOPIC_SETTING

FUNCTION_NAME = "diagnostics_noop"
SUBSCRIPTION = "diagnostics-noop"

Probe = Callable[[func.ServiceBusMessage], None]

bp = func.Blueprint()
_probe: Probe | None = None


def set_probe(probe: Probe | None) -> None:
    """Call ``probe(msg)`` at the start of every diagnostics invocation (``None`` removes it)."""
    global _probe
    _probe = probe


@bp.function_name(FUNCTION_NAME)
@bp.service_bus_topic_trigger(arg_name="msg", connection=CONNECTION, topic_name=TOPIC_SETTING,
                              subscription_name=SUBSCRIPTION)
def diagnostics_noop(msg: func.ServiceBusMessage) -> None:
    """Return at once (the host completes the message); tell the probe first, if one is set."""
    probe = _probe
    if probe is not None:
        probe(msg)
