"""A tiny stateful consumer and a host around it, to drive the pipeline through faults."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from shared.bootstrap import Runtime
from shared.contracts.envelope import Envelope
from shared.contracts.manifests import Consumer
from shared.handling.context import HandlingContext
from shared.handling.decisions import Decision, Route
from shared.host.local import HostOptions, LocalHost, ServiceBusFunction
from shared.ports import Document, SubscriptionSpec
from shared.ports.skills import Emit

INPUT = "ProjectCompleted"
OUTPUT = "CoordinatorStateChanged"


class CounterHandler:
    """Counts the events it handled in one state document and emits one event per handling."""

    consumer = Consumer("counter", "coordinator", (INPUT,))

    def __init__(self) -> None:
        self.calls = 0
        self.before_decide: Callable[[int, Envelope], None] | None = None
        self.fail: Callable[[int, Envelope], None] | None = None
        self._lock = threading.Lock()

    def subject(self, event: Envelope) -> Envelope:

        return event


    def route(self, event: Envelope) -> Route:
        return Route("counter:p1", "counter")

    def decide(self, event: Envelope, state: Document | None, ctx: HandlingContext) -> Decision:
        with self._lock:
            self.calls += 1
            call = self.calls
        if self.fail:
            self.fail(call, event)
        if self.before_decide:
            self.before_decide(call, event)
        body: dict[str, Any] = dict(state.body) if state else {"count": 0, "events": []}
        body["count"] += 1
        body["events"] = [*body["events"], event.id]
        return Decision(state=body, emits=[Emit(OUTPUT, {
            "flow": "counter", "flowVersion": "1.0.0", "instanceId": "p1",
            "from": str(body["count"] - 1), "to": str(body["count"]), "trigger": event.type})])


class Harness:
    def __init__(self, rt: Runtime, handler: CounterHandler | None = None, *, max_delivery_count: int = 3,
                 lock_seconds: float = 30, concurrency: int = 4) -> None:
        self.rt = rt
        self.handler = handler or CounterHandler()
        self.pipeline = rt.pipeline_with({"counter": self.handler})
        fn = ServiceBusFunction("counter_fn", rt.settings.topic_name, "counter", "ServiceBusConnection", "msg",
                                lambda msg: self.pipeline.handle("counter", msg))
        self.host = LocalHost(rt.receiver, [fn], {"counter": f"type = '{INPUT}'"},  # type: ignore[arg-type]
                              HostOptions(max_concurrent_calls=concurrency, max_delivery_count=max_delivery_count,
                                          lock_duration=timedelta(seconds=lock_seconds)),
                              settled=rt.settlement.settled, wall_clock=rt.clock)
        self.host.ensure_subscriptions()
        assert rt.receiver is not None
        rt.receiver.ensure_subscription(SubscriptionSpec("observer", f"type = '{OUTPUT}'"))
        self.deliveries: list[Any] = []
        self.host.on_delivery = self.deliveries.append

    def publish(self, event: Envelope) -> None:
        self.rt.publisher.publish_envelopes([event])

    def run(self) -> None:
        self.host.run_until_idle()

    def state(self) -> dict[str, Any] | None:
        doc = self.rt.state.get("counter:p1", "counter")
        return doc.body if doc else None

    def outputs(self) -> list[str]:
        """Ids of every output event that reached the topic (drained from an observer subscription)."""
        assert self.rt.receiver is not None
        got = []
        while batch := self.rt.receiver.receive("observer", max_messages=100):
            for m in batch:
                got.append(m.message_id)
                self.rt.receiver.complete(m.lock_token)
        return got
