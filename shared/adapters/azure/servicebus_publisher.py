"""``ServiceBusPublisher``: the ``MessagePublisher`` port on an Azure Service Bus topic.

Uses the ``azure-servicebus`` SDK, imported lazily so the embedded configuration never loads it.
Each ``OutgoingMessage`` becomes a ``ServiceBusMessage`` with ``message_id`` = event id (so the
topic's duplicate detection drops re-publishes), the application properties that subscription
filters read (``type``, ``version``, ``tenantId``, ``projectId``, ``traceparent`` …), content type,
subject, correlation id and TTL. Immediate messages go out in as few ``ServiceBusMessageBatch``es
as fit; messages with a ``scheduled_enqueue_time`` go through ``schedule_messages``.
A failure part-way leaves earlier batches sent: the caller (the outbox) republishes everything
and the topic's duplicate detection drops what already arrived.

Two ways to connect, like the Functions host's ``ServiceBusConnection`` setting: a connection
string, or a fully qualified namespace with an Azure AD credential (``DefaultAzureCredential``,
using the user-assigned managed identity's client id when one is given).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from itertools import groupby
from typing import TYPE_CHECKING, Any

from shared.ports import OutgoingMessage, PropertyValue

if TYPE_CHECKING:
    from azure.servicebus import ServiceBusMessage


#: ``schedule_messages`` sends one request per call; keep each request well under the frame limit
SCHEDULE_CHUNK = 50


class PublishError(RuntimeError):
    """Service Bus refused or failed a send. The outbox keeps the messages and retries later."""


class ServiceBusPublisher:
    """Publishes to one Service Bus topic. Reuses one sender; call ``close()`` when done."""

    def __init__(
        self,
        topic: str,
        *,
        client_factory: Callable[[], Any],
        max_batch_size_in_bytes: int | None = None,
    ) -> None:
        """``client_factory`` makes the ``ServiceBusClient`` on first send (``shared.adapters.azure.clients``
        builds it from settings; tests pass the SDK's classes over a fake transport)."""
        self.topic = topic
        self._client_factory = client_factory
        self._max_batch_bytes = max_batch_size_in_bytes
        self._client: Any = None
        self._sender: Any = None
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- connection

    def _get_sender(self) -> Any:
        if self._sender is None:
            self._client = self._client_factory()
            self._sender = self._client.get_topic_sender(topic_name=self.topic)
        return self._sender

    def close(self) -> None:
        with self._lock:
            self._discard_connection()

    def _discard_connection(self) -> None:
        """Close the sender and client; the next publish opens fresh ones."""
        sender, client, self._sender, self._client = self._sender, self._client, None, None
        for closable in (sender, client):
            if closable is not None:
                with contextlib.suppress(Exception):  # closing a broken link must not hide the real error
                    closable.close()

    def __enter__(self) -> ServiceBusPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- publish

    def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        if not messages:
            return
        from azure.servicebus.exceptions import ServiceBusError

        immediate = [m for m in messages if m.scheduled_enqueue_time is None]
        scheduled = sorted(
            (m for m in messages if m.scheduled_enqueue_time is not None),
            key=lambda m: m.scheduled_enqueue_time,  # type: ignore[arg-type, return-value]
        )
        with self._lock:
            try:
                sender = self._get_sender()
                if immediate:
                    self._send_batched(sender, immediate)
                for at, group in groupby(scheduled, key=lambda m: m.scheduled_enqueue_time):
                    self._schedule(sender, list(group), at)
            except ServiceBusError as exc:
                self._discard_connection()
                raise PublishError(
                    f"publishing {len(messages)} message(s) to Service Bus topic '{self.topic}' failed: "
                    f"{exc}. "
                    "Check the ServiceBusConnection setting and that the identity has the "
                    "'Azure Service Bus Data Sender' role; the outbox will retry."
                ) from exc

    def _send_batched(self, sender: Any, messages: Sequence[OutgoingMessage]) -> None:
        from azure.servicebus.exceptions import MessageSizeExceededError

        batch = self._new_batch(sender)
        for message in messages:
            sb_message = to_servicebus_message(message)
            try:
                batch.add_message(sb_message)
                continue
            except MessageSizeExceededError:
                if len(batch) == 0:
                    raise self._too_large(message) from None
            sender.send_messages(batch)
            batch = self._new_batch(sender)
            try:
                batch.add_message(sb_message)
            except MessageSizeExceededError:
                raise self._too_large(message) from None
        if len(batch):
            sender.send_messages(batch)

    def _new_batch(self, sender: Any) -> Any:
        if self._max_batch_bytes is None:
            return sender.create_message_batch()
        return sender.create_message_batch(max_size_in_bytes=self._max_batch_bytes)

    def _too_large(self, message: OutgoingMessage) -> PublishError:
        return PublishError(
            f"message {message.message_id} ({len(message.body)} bytes body) does not fit in a Service Bus "
            f"message on topic '{self.topic}'. Store large content as an artifact and send its reference."
        )

    @staticmethod
    def _schedule(sender: Any, messages: Sequence[OutgoingMessage], at: datetime) -> None:
        for start in range(0, len(messages), SCHEDULE_CHUNK):
            chunk = [to_servicebus_message(m) for m in messages[start : start + SCHEDULE_CHUNK]]
            sender.schedule_messages(chunk, at)


#: trace-context properties, written under the SDK's own (bytes) keys: see ``servicebus_properties``
TRACE_PROPERTIES = ("traceparent", "Diagnostic-Id", "tracestate")


def servicebus_properties(properties: Mapping[str, PropertyValue]) -> dict[str | bytes, PropertyValue]:
    """Application properties for a ``ServiceBusMessage``, trace context under bytes keys.

    When azure-core tracing is on (the azure-monitor distro turns it on unless told otherwise), the SDK
    adds ``b"traceparent"``/``b"Diagnostic-Id"``/``b"tracestate"`` with ``setdefault`` and its own span's
    context. Under str keys ours would travel beside them as a second entry of the same name, and
    receivers keep the SDK's. Under the SDK's bytes keys its ``setdefault`` finds ours and leaves them:
    the message carries our PRODUCER span's context whatever the SDK's instrumentation does.
    """
    return {(key.encode("ascii") if key in TRACE_PROPERTIES else key): value for key, value in properties.items()}


def to_servicebus_message(message: OutgoingMessage) -> ServiceBusMessage:
    """Map the transport-neutral message onto the SDK's ``ServiceBusMessage``."""
    from azure.servicebus import ServiceBusMessage

    return ServiceBusMessage(
        message.body,
        message_id=message.message_id,
        application_properties=servicebus_properties(message.application_properties),  # type: ignore[arg-type]
        content_type=message.content_type,
        subject=message.subject,
        correlation_id=message.correlation_id,
        scheduled_enqueue_time_utc=message.scheduled_enqueue_time,
        time_to_live=message.time_to_live,
    )
