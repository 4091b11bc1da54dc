"""The trace context a receiver sees is ours, whatever the Service Bus SDK's own tracing does.

``ServiceBusPublisher`` drives the SDK's real client, sender, batch and ``schedule_messages``; only the
network is cut (the sender's ``_send`` and management call are replaced, the link sizes preset). Tracing is
switched on the way the azure-monitor distro does it (``azure.core.settings.tracing_implementation =
OpenTelemetrySpan`` with an SDK tracer provider), so the SDK writes its own ``traceparent``/``Diagnostic-Id``
with its own span's context where none is present. What went out is decoded with the SDK's own AMQP decoder.
The probe runs in a subprocess: the tracer provider and azure-core settings are process-global.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FAKE_NAMESPACE = "Endpoint=sb://fake-ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0"
OURS = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def probe() -> None:  # runs in the subprocess; prints what a receiver decodes
    from azure.core.settings import settings
    from azure.core.tracing.ext.opentelemetry_span import OpenTelemetrySpan
    from azure.servicebus import ServiceBusClient
    from azure.servicebus._common.constants import MGMT_REQUEST_MESSAGE, MGMT_REQUEST_MESSAGES
    from azure.servicebus._pyamqp._decode import decode_payload
    from azure.servicebus._transport._pyamqp_transport import PyamqpTransport
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from shared.adapters.azure.servicebus_publisher import ServiceBusPublisher
    from shared.ports import OutgoingMessage

    trace.set_tracer_provider(TracerProvider())
    settings.tracing_implementation = OpenTelemetrySpan  # what the distro's azure_sdk instrumentation does
    sent: list[Any] = []

    class Client(ServiceBusClient):  # type: ignore[misc]
        def get_topic_sender(self, topic_name: str, **kwargs: Any) -> Any:
            sender = super().get_topic_sender(topic_name=topic_name, **kwargs)
            sender._max_message_size_on_link = sender._max_batch_size_on_link = 256 * 1024  # no link to open
            sender._send = lambda message, timeout=None, last_exception=None: sent.append(("batch", message))
            sender._mgmt_request_response_with_retry = (
                lambda mgmt_operation, message, callback, **kw: sent.append(("schedule", message)) or [1])
            return sender

    def message(i: int, scheduled: datetime | None = None) -> OutgoingMessage:
        return OutgoingMessage(f"m-{i}", b"{}", {"type": "VisionDocumentCreated", "traceparent": OURS,
                                                 "Diagnostic-Id": OURS}, scheduled_enqueue_time=scheduled)

    publisher = ServiceBusPublisher("factory-events",
                                    client_factory=lambda: Client.from_connection_string(FAKE_NAMESPACE))
    with trace.get_tracer("probe").start_as_current_span("some current span"):  # the SDK's spans hang below it
        publisher.publish([message(1), message(2), message(3, datetime.now(UTC) + timedelta(minutes=5))])
    seen = []
    for kind, payload in sent:
        if kind == "batch":
            encoded = [PyamqpTransport.encode_message(type("M", (), {"_message": m._message})())
                       for m in payload._messages]
        else:
            encoded = [bytes(m[MGMT_REQUEST_MESSAGE]) for m in payload[MGMT_REQUEST_MESSAGES]]
        for raw in encoded:
            props = decode_payload(memoryview(raw)).application_properties
            seen.append({"kind": kind,
                         "traceparent": props[b"traceparent"].decode(),
                         "Diagnostic-Id": props[b"Diagnostic-Id"].decode(),
                         "traceparent entries on the wire": raw.count(b"\xa1\x0btraceparent")})
    print(json.dumps(seen))


def test_receivers_see_our_context_with_the_sdk_tracing_on_for_batches_and_schedules() -> None:
    done = subprocess.run([sys.executable, "-c", "from tests.unit.test_servicebus_trace_context import probe; probe()"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(s["kind"] for s in seen) == ["batch", "batch", "schedule"]
    for entry in seen:
        assert entry == {"kind": entry["kind"], "traceparent": OURS, "Diagnostic-Id": OURS,
                         "traceparent entries on the wire": 1}
