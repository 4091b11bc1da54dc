"""``ServiceBusDeadLetterQueue``: the ``DeadLetterQueue`` port on the dead-letter sub-queues of a topic's
subscriptions (``<topic>/Subscriptions/<name>/$DeadLetterQueue``).

Service Bus dead-letters a message there itself: after ``maxDeliveryCount`` failed deliveries (the
pipeline raised, the host abandoned), when it expires, or when a filter fails. ``dead_letters`` peeks (it
changes nothing); ``resubmit`` receives the one message under a peek-lock (the others it meets are
abandoned, so they stay), sends a copy to the topic and completes the dead-lettered one only once the copy
is accepted.

The copy keeps the event id as ``MessageId`` (the pipeline requires it). The topic's duplicate detection
drops a message whose id it saw within its window (``duplicateDetectionHistoryTimeWindow``), so a
resubmission before the window has passed since the original was enqueued is refused with the time it
becomes possible, instead of vanishing. The copy goes to the topic: every subscription whose filter takes
it receives it, and consumers that already handled the event find it in their inbox (a no-op).
The identity needs "Azure Service Bus Data Receiver" and "Data Sender" on the namespace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.ports import Clock, DeadLetter, PropertyValue, ResubmitTooEarlyError, SystemClock

#: receive this many at a time while looking for the one to resubmit
RECEIVE_BATCH = 50
PEEK_BATCH = 250
_DEAD_LETTER_PROPERTIES = ("DeadLetterReason", "DeadLetterErrorDescription")


class DeadLetterNotFoundError(LookupError):
    """No dead-lettered message with that sequence number on that subscription."""


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _properties(message: Any) -> dict[str, PropertyValue]:
    props = {str(_text(k)): _text(v) for k, v in dict(message.application_properties or {}).items()}
    return {k: v for k, v in props.items() if k not in _DEAD_LETTER_PROPERTIES
            and (v is None or isinstance(v, str | int | float | bool))}


def _body(message: Any) -> bytes:
    body = message.body
    return bytes(body) if isinstance(body, bytes | bytearray) else b"".join(body)


class ServiceBusDeadLetterQueue:
    """Lists and resubmits dead-lettered messages of the topic's subscriptions."""

    def __init__(self, topic: str, subscriptions: Sequence[str], *, client_factory: Callable[[], Any],
                 duplicate_detection_window: timedelta, clock: Clock | None = None) -> None:
        self.topic = topic
        self.subscriptions = tuple(subscriptions)
        self._client_factory = client_factory
        self._client: Any = None
        self.window = duplicate_detection_window
        self.clock = clock or SystemClock()

    def _service(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def _dead_letter_receiver(self, subscription: str) -> Any:
        from azure.servicebus import ServiceBusReceiveMode, ServiceBusSubQueue

        return self._service().get_subscription_receiver(
            topic_name=self.topic, subscription_name=subscription, sub_queue=ServiceBusSubQueue.DEAD_LETTER,
            receive_mode=ServiceBusReceiveMode.PEEK_LOCK)

    # ----------------------------------------------------------------- list

    def dead_letters(self, subscription: str | None = None) -> list[DeadLetter]:
        found: list[DeadLetter] = []
        for name in [subscription] if subscription else self.subscriptions:
            with self._dead_letter_receiver(name) as receiver:
                next_sequence = 0
                while True:
                    batch = receiver.peek_messages(max_message_count=PEEK_BATCH, sequence_number=next_sequence)
                    if not batch:
                        break
                    found += [self._dead_letter(name, m) for m in batch]
                    next_sequence = max(m.sequence_number for m in batch) + 1
        return found

    @staticmethod
    def _dead_letter(subscription: str, message: Any) -> DeadLetter:
        enqueued = message.enqueued_time_utc or datetime.fromtimestamp(0, UTC)
        return DeadLetter(
            subscription=subscription, sequence_number=int(message.sequence_number), message_id=str(message.message_id),
            body=_body(message), application_properties=_properties(message),
            delivery_count=int(message.delivery_count or 0), reason=str(message.dead_letter_reason or ""),
            description=str(message.dead_letter_error_description or ""), dead_lettered_at=enqueued)

    # ----------------------------------------------------------------- resubmit

    def resubmit(self, subscription: str, sequence_number: int) -> None:
        from azure.servicebus import ServiceBusMessage

        with self._dead_letter_receiver(subscription) as receiver:
            target = None
            seen: set[int] = set()
            while target is None:
                batch = receiver.receive_messages(max_message_count=RECEIVE_BATCH, max_wait_time=5)
                fresh = [m for m in batch if m.sequence_number not in seen]
                if not fresh:
                    for message in batch:
                        receiver.abandon_message(message)
                    raise DeadLetterNotFoundError(
                        f"no dead-lettered message #{sequence_number} on subscription '{subscription}' of topic "
                        f"'{self.topic}'. List them with `factory dlq list --subscription {subscription}`.")
                for message in batch:
                    seen.add(message.sequence_number)
                    if message.sequence_number == sequence_number and target is None:
                        target = message
                    else:
                        receiver.abandon_message(message)
            try:
                self._check_window(target.enqueued_time_utc, target.message_id)
                copy = ServiceBusMessage(
                    _body(target), message_id=target.message_id, content_type=target.content_type,
                    subject=target.subject, correlation_id=target.correlation_id,
                    application_properties={k: v for k, v in dict(target.application_properties or {}).items()
                                            if _text(k) not in _DEAD_LETTER_PROPERTIES})
                with self._service().get_topic_sender(topic_name=self.topic) as sender:
                    sender.send_messages(copy)
            except BaseException:
                receiver.abandon_message(target)  # it stays dead-lettered
                raise
            receiver.complete_message(target)

    def _check_window(self, enqueued: datetime | None, message_id: str) -> None:
        if enqueued is None:
            return
        possible_at = enqueued + self.window
        if self.clock.now() < possible_at:
            raise ResubmitTooEarlyError(
                f"message {message_id} was enqueued at {enqueued.isoformat()}; the topic's duplicate detection "
                f"({self.window.total_seconds():.0f} s window) would drop a copy with the same id until "
                f"{possible_at.isoformat()}. Resubmit after that time; it stays dead-lettered meanwhile.")

