"""``ServiceBusPublisher`` against a real Service Bus namespace, when one is configured.

Runs only when ``ServiceBusConnection`` (connection string) or
``ServiceBusConnection__fullyQualifiedNamespace`` (managed identity / az login) is set.
The probes carry ``type = 'BusContractProbe'``, which no consumer's filter matches, so they
are accepted by the topic and delivered nowhere.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.azure.clients import servicebus_publisher
from shared.ports import OutgoingMessage
from shared.settings import load_settings

settings = load_settings()
pytestmark = [
    pytest.mark.azure,
    pytest.mark.skipif(
        settings.servicebus_connection is None and settings.servicebus_namespace is None,
        reason="no Service Bus configured: set ServiceBusConnection or "
        "ServiceBusConnection__fullyQualifiedNamespace to run the live publisher contract",
    ),
]


def probe(**kw: object) -> OutgoingMessage:
    return OutgoingMessage(
        message_id=str(uuid.uuid4()),
        body=b'{"probe": true}',
        application_properties={"type": "BusContractProbe", "version": "1.0.0", "tenantId": "contract-tests"},
        subject="BusContractProbe",
        time_to_live=timedelta(minutes=5),
        **kw,  # type: ignore[arg-type]
    )


def test_live_topic_accepts_batches_duplicates_and_scheduled_messages() -> None:
    with servicebus_publisher(settings) as publisher:
        first = probe()
        publisher.publish([first, probe(), probe()])
        publisher.publish([first])  # a re-publish: dropped by duplicate detection, never an error
        publisher.publish([probe(scheduled_enqueue_time=datetime.now(UTC) + timedelta(minutes=1))])
        assert publisher.topic == settings.topic_name
