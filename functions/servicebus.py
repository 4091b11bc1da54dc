"""Registers one Service Bus topic trigger per consumer manifest on a blueprint.

Each trigger takes the invocation's ``context`` (a parameter the Python worker fills by that exact name;
it is not a binding) and hands its ``trace_context`` on, so the handling's span is a child of the host's
span for the invocation. No ``from __future__ import annotations`` here: the worker checks that the
``context`` annotation is the ``azure.functions.Context`` class itself, not a string.
"""

import azure.functions as func

from shared.contracts.manifests import Consumer, ConsumerKind, load_consumers

#: the app setting (and Functions binding expression) naming the topic
TOPIC_SETTING = "%FACTORY_TOPIC%"
CONNECTION = "ServiceBusConnection"


def _trigger_for(consumer: Consumer):  # type: ignore[no-untyped-def]
    name = consumer.name

    def trigger(msg: func.ServiceBusMessage, context: func.Context) -> None:
        from shared.runtime import handle  # imported on first message: keeps `import function_app` fast

        handle(name, msg, context)

    trigger.__name__ = consumer.function_name
    trigger.__qualname__ = consumer.function_name
    trigger.__doc__ = consumer.description or f"{consumer.kind} {consumer.name}"
    return trigger


def blueprint_for(kind: ConsumerKind) -> func.Blueprint:
    """A blueprint with one trigger per consumer of ``kind``, from the manifests in contracts/."""
    bp = func.Blueprint()
    for consumer in load_consumers():
        if consumer.kind != kind:
            continue
        fn = _trigger_for(consumer)
        fn = bp.service_bus_topic_trigger(
            arg_name="msg", connection=CONNECTION, topic_name=TOPIC_SETTING,
            subscription_name=consumer.subscription)(fn)
        bp.function_name(consumer.function_name)(fn)
    return bp
