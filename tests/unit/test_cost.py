"""The cost model's counting rules: routing as the generated filters route, request units as published."""

from __future__ import annotations

import pytest

from shared.adapters.sqlite.sql_filter import compile_filter, system_properties
from shared.contracts.manifests import RETRY_COMMAND, TIMEOUT_EVENT, TIMEOUT_TARGET, all_subscriptions, load_consumers
from shared.ports import PropertyValue
from shared.product.cost import delivered_to, load_prices

SYS = system_properties(message_id="m", subject=None, correlation_id=None, content_type=None)


def _cases() -> list[tuple[dict[str, object], dict[str, PropertyValue]]]:
    """(event-log entry, application properties) for every type a consumer takes, retries and timeouts."""
    consumers = load_consumers()
    cases: list[tuple[dict[str, object], dict[str, PropertyValue]]] = []
    for etype in sorted({t for c in consumers for t in c.subscribes_to}):
        cases.append(({"type": etype, "tenantId": "t1", "data": {}}, {"type": etype, "tenantId": "t1"}))
    for c in consumers:
        if c.kind == "agent":
            cases.append(({"type": RETRY_COMMAND, "tenantId": "t1", "data": {"agent": c.name}},
                          {"type": RETRY_COMMAND, "tenantId": "t1", "targetAgent": c.name}))
        if c.kind == "coordinator":
            cases.append(({"type": TIMEOUT_EVENT, "tenantId": "t1", "data": {"flow": c.name}},
                          {"type": TIMEOUT_EVENT, "tenantId": "t1", TIMEOUT_TARGET: c.name}))
    return cases


@pytest.mark.parametrize(("event", "props"), _cases(), ids=lambda v: str(v.get("type")) if isinstance(v, dict) else "")
def test_delivered_to_takes_what_the_generated_sql_filters_take(event: dict[str, object],
                                                                 props: dict[str, PropertyValue]) -> None:
    consumers = load_consumers()
    by_filter = sorted(s.name for s in all_subscriptions(consumers) if compile_filter(s.sql_filter)(props, SYS))
    assert sorted(delivered_to(consumers, event)) == by_filter


def test_broadcast_routing_counts_every_coordinator_that_takes_timeouts() -> None:
    consumers = load_consumers()
    takers = sorted(c.subscription for c in consumers if c.kind == "coordinator" and TIMEOUT_EVENT in c.subscribes_to)
    timeout = {"type": TIMEOUT_EVENT, "tenantId": "t1", "data": {"flow": takers[0]}}
    assert delivered_to(consumers, timeout) == [takers[0]]
    assert sorted(delivered_to(consumers, timeout, "broadcast")) == takers


@pytest.mark.parametrize(("kb", "read", "write"),
                         [(0.2, 1.0, 5.0), (1, 1.0, 5.0), (100, 10.0, 50.0), (50.5, 5.5, 27.5)])
def test_request_units_follow_the_published_1kb_and_100kb_figures(kb: float, read: float, write: float) -> None:
    prices = load_prices()
    assert prices.read_ru(kb * 1024) == pytest.approx(read)
    assert prices.write_ru(kb * 1024) == pytest.approx(write)


def test_the_price_table_states_its_region_date_and_sources() -> None:
    prices = load_prices()
    assert prices.region and prices.currency == "USD" and prices.as_of
    assert {"functions", "serviceBus", "cosmosDb", "blobStorage"} <= set(prices.sources)
    assert all(rate > 0 for rate in prices.rates.values())
