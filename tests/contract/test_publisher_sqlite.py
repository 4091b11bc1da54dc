"""The publisher contract on the embedded ``SqliteBus`` (observed through a catch-all subscription)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from shared.adapters.sqlite.bus import SqliteBus
from shared.ports import FakeClock, MessagePublisher, SubscriptionSpec
from tests.contract.publisher_contract import Observed, PublisherContract

WATCH = "contract-watch"


class TestSqliteBusPublisher(PublisherContract):
    @pytest.fixture(autouse=True)
    def _home(self, tmp_path: Path) -> None:
        self.path = tmp_path / "bus.db"

    def make_publisher(self, clock: FakeClock) -> MessagePublisher:
        bus = SqliteBus(self.path, clock=clock, duplicate_detection_window=timedelta(minutes=10))
        bus.ensure_subscription(SubscriptionSpec(WATCH))
        return bus

    def observed(self, publisher: MessagePublisher, clock: FakeClock) -> list[Observed]:
        assert isinstance(publisher, SqliteBus)
        clock.advance(3600)  # scheduled messages become visible; a receive sees everything once
        got = publisher.receive(WATCH, 1000)
        for m in got:
            publisher.abandon(m.lock_token)
        return [Observed(m.message_id, m.body, dict(m.application_properties), m.content_type, m.subject,
                         m.correlation_id, m.scheduled_enqueue_time)
                for m in sorted(got, key=lambda m: m.sequence_number)]
