"""Domain events: CloudEvents 1.0 published through the function's Service Bus output binding.

Every create, update, delete and lifecycle transition produces events; a request may produce
several (an update that changes a status, a delete that cascades), and the Python output
binding sends one message per invocation, so each message body is a CloudEvents JSON *batch*
(``application/cloudevents-batch+json``): a JSON array of events. Each event has ``type``
(e.g. ``InvoiceCreated``), ``source`` (``/services/<service>``), ``subject``
(``<collection>/<id>``), the ``tenantid`` extension and the item as ``data``.

The topic is the ``EVENTS_TOPIC`` app setting; the connection is ``ServiceBusConnection``
(``ServiceBusConnection__fullyQualifiedNamespace`` with a managed identity on Azure).
"""

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func

from sample_service import SERVICE_NAME

BATCH_MEDIA_TYPE = "application/cloudevents-batch+json"
TOPIC_SETTING = "%EVENTS_TOPIC%"
SUBSCRIPTION_SETTING = "%EVENTS_SUBSCRIPTION%"
CONNECTION = "ServiceBusConnection"


def cloud_event(event_type: str, subject: str, tenant: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"/services/{SERVICE_NAME}",
        "type": event_type,
        "subject": subject,
        "time": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "tenantid": tenant,
        "data": data,
    }


@dataclass
class Outbox:
    """The events of one invocation, sent as one batch message when the invocation succeeds."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, event_type: str, subject: str, tenant: str, data: dict[str, Any]) -> None:
        self.events.append(cloud_event(event_type, subject, tenant, data))

    def send(self, out: func.Out[str]) -> None:
        if self.events:
            out.set(json.dumps(self.events))


class EventError(ValueError):
    """A message is not a CloudEvents batch this service understands (it is dead-lettered after retries)."""


def read_batch(body: bytes) -> list[dict[str, Any]]:
    """The events of a message body: a CloudEvents batch (or a single structured CloudEvent)."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EventError(f"the message body is not JSON: {str(exc)[:200]}") from exc
    events = value if isinstance(value, list) else [value]
    for event in events:
        if not isinstance(event, dict) or not isinstance(event.get("type"), str) or "data" not in event:
            raise EventError("every event needs a string 'type' and 'data' (CloudEvents 1.0 structured JSON)")
        if not isinstance(event.get("tenantid"), str) or not isinstance(event["data"], dict):
            raise EventError(f"event {event.get('type')!r} needs a 'tenantid' and an object as 'data'")
    return events
