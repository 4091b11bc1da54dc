"""Registers one Service Bus topic trigger per consumer on a blueprint, from ``functions/triggers.json``.

The index is derived from the manifests in ``contracts/`` by ``factory generate`` (a test fails while
it is stale); reading it with ``json`` keeps YAML and the manifest code out of a cold start.

Each trigger takes the invocation's ``context`` (a parameter the Python worker fills by that exact name;
it is not a binding) and hands its ``trace_context`` on, so the handling's span is a child of the host's
span for the invocation. No ``from __future__ import annotations`` here: the worker checks that the
``context`` annotation is the ``azure.functions.Context`` class itself, not a string.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypedDict

import azure.functions as func

#: the app setting (and Functions binding expression) naming the topic
TOPIC_SETTING = "%FACTORY_TOPIC%"
CONNECTION = "ServiceBusConnection"
INDEX = Path(__file__).with_name("triggers.json")

ConsumerKind = Literal["agent", "coordinator", "step"]


class Trigger(TypedDict):
    kind: ConsumerKind
    name: str
    subscription: str
    functionName: str
    description: str


def _triggers() -> list[Trigger]:
    triggers: list[Trigger] = json.loads(INDEX.read_text(encoding="utf-8"))["triggers"]
    return triggers


def _trigger_for(entry: Trigger) -> Callable[[func.ServiceBusMessage, func.Context], None]:
    name = entry["name"]

    def trigger(msg: func.ServiceBusMessage, context: func.Context) -> None:
        from shared.runtime import handle  # imported on first message: keeps `import function_app` fast

        handle(name, msg, context)

    trigger.__name__ = trigger.__qualname__ = entry["functionName"]
    trigger.__doc__ = entry["description"]
    return trigger


def blueprint_for(kind: ConsumerKind) -> func.Blueprint:
    """A blueprint with one trigger per consumer of ``kind`` (the manifests in contracts/, via the index)."""
    bp = func.Blueprint()
    for entry in _triggers():
        if entry["kind"] != kind:
            continue
        fn = bp.service_bus_topic_trigger(
            arg_name="msg", connection=CONNECTION, topic_name=TOPIC_SETTING,
            subscription_name=entry["subscription"])(_trigger_for(entry))
        bp.function_name(entry["functionName"])(fn)
    return bp
