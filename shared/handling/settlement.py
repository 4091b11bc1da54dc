"""Dead-lettering a permanently failed message, the same call on both hosts.

Embedded (``BusSettlement``): the local host hands the function a real
``azure.functions.ServiceBusMessage`` carrying the lock token; the pipeline dead-letters
through the bus with the reason, and the host sees the message is already settled.

Azure (``RecordAndCompleteSettlement``): the Python worker's default binding cannot settle a
message, so a permanent failure is *recorded* (a ``deadletters`` document in the state store
with the reason, description and the full message) and the function returns normally, so the
host completes the message. It is never retried ``maxDeliveryCount`` times. Transient failures
raise, the host abandons, and Service Bus itself dead-letters after ``maxDeliveryCount``.
``factory dlq list`` shows both kinds; ``factory dlq resubmit`` republishes either
(``RecordedDeadLetters`` for the recorded ones, the bus's ``DeadLetterQueue`` for the others).
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

from shared.handling.decisions import MessageView
from shared.handling.telemetry import Tracer
from shared.ports import (
    Clock,
    Document,
    MessagePublisher,
    MessageReceiver,
    OutgoingMessage,
    ResubmitTooEarlyError,
    StateStore,
    UnitOfWork,
    Write,
)

DEAD_LETTER_PARTITION = "deadletters"


class BusSettlement:
    def __init__(self, receiver: MessageReceiver) -> None:
        self.receiver = receiver
        self.settled: set[str] = set()

    def dead_letter(self, consumer: str, message: MessageView, reason: str, description: str) -> None:
        token = getattr(message, "lock_token", None)
        if not token:
            raise RuntimeError("embedded dead-lettering needs the message's lock token")
        self.receiver.dead_letter(str(token), reason, description[:4000])
        self.settled.add(str(token))


class RecordAndCompleteSettlement:
    def __init__(self, state: StateStore, clock: Clock) -> None:
        self.state = state
        self.clock = clock

    def dead_letter(self, consumer: str, message: MessageView, reason: str, description: str) -> None:
        body: bytes = message.get_body()
        enqueued = message.enqueued_time_utc
        self.state.upsert(DEAD_LETTER_PARTITION, record_id(consumer, message.message_id), {
            "consumer": consumer,
            "messageId": message.message_id,
            "reason": reason,
            "description": description[:4000],
            "deliveryCount": message.delivery_count,
            "applicationProperties": {k: v for k, v in dict(message.application_properties or {}).items()
                                      if isinstance(v, str | int | float | bool)},
            "bodyBase64": base64.b64encode(body).decode(),
            "contentType": getattr(message, "content_type", None),
            "subject": getattr(message, "subject", None) or getattr(message, "label", None),
            "correlationId": getattr(message, "correlation_id", None),
            "enqueuedAt": enqueued.isoformat() if enqueued else None,
            "deadLetteredAt": self.clock.now().isoformat(),
        })


def record_id(consumer: str, message_id: str) -> str:
    return f"{consumer}:{message_id}"


class RecordedDeadLetters:
    """The dead letters ``RecordAndCompleteSettlement`` recorded: list them, publish one again.

    A resubmission sends the recorded message to the topic again (same id, body and properties, so its
    handling hangs below the original publish in the trace) and removes the record; a consumer that
    already handled the event finds it in its inbox. The topic's duplicate detection would drop the copy
    while its window since the original was enqueued lasts: that is refused with the time it ends.
    """

    def __init__(self, state: StateStore, bus: MessagePublisher, *, clock: Clock,
                 duplicate_detection_window: timedelta, tracer: Tracer) -> None:
        self.state = state
        self.bus = bus
        self.clock = clock
        self.window = duplicate_detection_window
        self.tracer = tracer

    def list(self, consumer: str | None = None) -> list[dict[str, Any]]:
        return [doc.body for doc in self.state.query(DEAD_LETTER_PARTITION)
                if consumer is None or doc.body.get("consumer") == consumer]

    def resubmit(self, consumer: str, message_id: str) -> OutgoingMessage:
        doc = self.state.get(DEAD_LETTER_PARTITION, record_id(consumer, message_id))
        if doc is None:
            raise LookupError(f"no recorded dead letter {message_id} for consumer '{consumer}'. "
                              "List them with `factory dlq list`.")
        self._check_window(doc)
        record = doc.body
        message = OutgoingMessage(
            message_id=message_id, body=base64.b64decode(record["bodyBase64"]),
            application_properties=dict(record.get("applicationProperties") or {}),
            content_type=record.get("contentType") or OutgoingMessage.content_type,
            subject=record.get("subject"), correlation_id=record.get("correlationId"))
        with self.tracer.producing([message]) as stamped:
            self.bus.publish(stamped)
        self._remove(doc)
        return message

    def _check_window(self, doc: Document) -> None:
        since = doc.body.get("enqueuedAt") or doc.body["deadLetteredAt"]
        possible_at = datetime.fromisoformat(since) + self.window
        if self.clock.now() < possible_at:
            raise ResubmitTooEarlyError(
                f"message {doc.body['messageId']} was enqueued at {since}; the topic's duplicate detection "
                f"({self.window.total_seconds():.0f} s window) would drop a copy with the same id until "
                f"{possible_at.isoformat()}. Resubmit after that time; the record stays meanwhile.")

    def _remove(self, doc: Document) -> None:
        self.state.commit(UnitOfWork(DEAD_LETTER_PARTITION, "dlq-resubmit", None,
                                     [Write("delete", doc.id, etag=doc.etag)]))
