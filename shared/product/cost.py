"""The Azure bill of one project, estimated from what a run recorded: its event log and handlings.

The factory runs on Azure as Functions (Flex Consumption), one Service Bus topic, Cosmos DB
(serverless) and Blob storage. For each of them this module counts what one project costs, from
the project's events (``state.events_for_project``), the handlings of its trace (the span log:
one span per delivery, with its measured duration), the documents it left in the state store and
the artifacts its events name. The counting rules follow what the code does on Azure:

* Service Bus: every event is sent once; it is delivered to every subscription whose generated
  filter takes it (``delivered_to``, the same rules as ``Subscription.sql_filter``), and each delivery
  is settled once. Deliveries not made yet (scheduled timeouts) are counted too: they will happen.
* Functions: one execution per delivery (plus one HTTP execution for the request that started the
  project); GB-seconds = measured handling time × the Flex instance memory. A delivery without a
  span yet takes the mean duration of that consumer's handlings in this project.
* Cosmos DB (``CosmosStateStore``): per delivery an inbox query, a point read of the flow instance
  or execution document (coordinators and scaffold steps), one transactional batch (inbox record,
  the document if it changed, one outbox item per output); per output an event-log item, and once
  per handling with outputs an outbox query plus one replace per output (marked published). An
  agent's skill reads the project's history once (a query returning every earlier event), except
  on ``ProjectInitialized`` which carries the intent. Request units come from item sizes with the
  published rules (``azure_prices.json``).
* Blob storage: one write per distinct artifact the project's events name (content-addressed, so
  a file is stored once), one read per repository file (the release gate assembles the project to
  test it) and per JSON artifact a skill reads back.

Prices come from ``azure_prices.json`` (region and date stated there). ``project_bill`` with
``routing="broadcast"`` prices the same run as if every coordinator still took every flow's
timeouts (the routing before ``targetFlow``), which is what ``make bench`` shows as "before".
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol

from shared.contracts.manifests import TIMEOUT_EVENT, TIMEOUT_TARGET, Consumer, all_subscriptions
from shared.ports import ArtifactStore, SpanRecord, StateStore

PRICES_FILE = Path(__file__).with_name("azure_prices.json")
ENTRY_SOURCES = frozenset({"cli", "http-api", "operator"})
Routing = Literal["addressed", "broadcast"]


class CostRuntime(Protocol):
    """What the bill needs from the runtime (``shared.bootstrap.Runtime`` has it)."""

    @property
    def state(self) -> StateStore: ...

    @property
    def artifacts(self) -> ArtifactStore: ...

    @property
    def consumers(self) -> Sequence[Consumer]: ...

    @property
    def tracer(self) -> SpanReader: ...


class SpanReader(Protocol):
    def spans_for_trace(self, trace_id: str) -> list[SpanRecord]: ...


# --------------------------------------------------------------------------- prices


@dataclass(frozen=True)
class Prices:
    region: str
    currency: str
    as_of: str
    rates: Mapping[str, float]
    fixed_monthly: Mapping[str, Mapping[str, Any]]
    model: Mapping[str, Any]
    sources: Mapping[str, str]

    @property
    def instance_memory_gb(self) -> float:
        return float(self.model["flexInstanceMemoryMb"]) / 1024

    def _ru(self, key: str) -> float:
        return float(self.model["requestUnits"][key])

    def read_ru(self, size_bytes: float) -> float:
        """Point read of an item of ``size_bytes`` (1 KB: 1 RU, 100 KB: 10 RU, linear, at least 1 KB's)."""
        return _interpolate(size_bytes, self._ru("pointRead1Kb"), self._ru("pointRead100Kb"))

    def write_ru(self, size_bytes: float) -> float:
        return _interpolate(size_bytes, self._ru("write1Kb"), self._ru("write100Kb"))

    def query_ru(self, returned_bytes: float) -> float:
        return self._ru("queryBase") + self._ru("queryPerKbReturned") * returned_bytes / 1024

    @property
    def item_overhead(self) -> int:
        return int(self.model["itemOverheadBytes"])


def _interpolate(size_bytes: float, at_1kb: float, at_100kb: float) -> float:
    kb = max(1.0, size_bytes / 1024)
    return at_1kb + (at_100kb - at_1kb) * (kb - 1) / 99


@cache
def load_prices(path: Path = PRICES_FILE) -> Prices:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return Prices(region=doc["region"], currency=doc["currency"], as_of=doc["asOf"], rates=doc["rates"],
                  fixed_monthly=doc.get("fixedMonthly", {}), model=doc["model"], sources=doc.get("sources", {}))


# --------------------------------------------------------------------------- routing


def delivered_to(consumers: Iterable[Consumer], event: Mapping[str, Any], routing: Routing = "addressed") -> list[str]:
    """Subscriptions the event reaches: the generated filters' rules (``Subscription.takes``) applied to an
    event-log entry, whose payload carries what the message's properties carry (``agent``, ``flow``).
    ``broadcast``: every coordinator's subscription takes every timeout (the routing before the cut)."""
    etype = str(event.get("type"))
    data = event.get("data") or {}
    out = []
    for s in all_subscriptions(consumers):
        flow = data.get("flow") if routing == "addressed" else s.consumer.name
        properties = {"tenantId": event.get("tenantId"), "targetAgent": data.get("agent"), TIMEOUT_TARGET: flow}
        if s.takes(etype, properties):
            out.append(s.name)
    return out


# --------------------------------------------------------------------------- usage


@dataclass
class Usage:
    """What one project consumed, in the units Azure bills."""

    sends: int = 0
    deliveries: int = 0
    deliveries_pending: int = 0  # counted in ``deliveries``: scheduled, not delivered yet
    settlements: int = 0
    executions: int = 0
    gb_seconds: float = 0.0
    handling_seconds: float = 0.0
    estimated_seconds: float = 0.0  # of ``handling_seconds``, for deliveries without a measured span
    ru: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))  # request units by operation
    ru_ops: Counter[str] = field(default_factory=Counter)  # operations by kind
    cosmos_bytes: int = 0
    blob_writes: int = 0
    blob_reads: int = 0
    blob_bytes: int = 0

    @property
    def servicebus_operations(self) -> int:
        return self.sends + self.deliveries + self.settlements

    @property
    def request_units(self) -> float:
        return float(sum(self.ru.values()))


def _size(doc: Any) -> int:
    return len(json.dumps(doc, separators=(",", ":"), default=str).encode())


def _time(event: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))


def _digests(value: Any) -> Iterable[tuple[str, str]]:
    """(key, digest) for every ``...Digest`` string in an event's data, at any depth."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, str) and key.endswith("Digest") and item.startswith("sha256:"):
                yield key, item
            else:
                yield from _digests(item)
    elif isinstance(value, list):
        for item in value:
            yield from _digests(item)


def project_usage(rt: CostRuntime, project_id: str, *, prices: Prices | None = None,
                  routing: Routing = "addressed", repository_files: Mapping[str, str] | None = None) -> Usage:
    """Count what the project consumed (see the module docstring for the rules)."""
    prices = prices or load_prices()
    events = sorted(rt.state.events_for_project(project_id), key=_time)
    usage = Usage()
    if not events:
        return usage
    subscriptions = {s.name: s for s in all_subscriptions(rt.consumers)}
    spans: dict[tuple[str, str], list[SpanRecord]] = defaultdict(list)
    for trace_id in dict.fromkeys(str(e["traceId"]) for e in events):
        for span in rt.tracer.spans_for_trace(trace_id):
            spans[(span.consumer, str(span.event_id))].append(span)
    durations: dict[str, list[float]] = defaultdict(list)
    for (consumer, _), recorded in spans.items():
        durations[consumer].extend((s.end - s.start).total_seconds() for s in recorded)
    every = [d for ds in durations.values() for d in ds]
    fallback = statistics.fmean(every) if every else 0.0
    outputs: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for e in events:
        if e.get("causationId"):
            outputs[(str(e.get("source")), str(e["causationId"]))].append(e)
    docs = _state_documents(rt.state, rt.consumers, project_id)
    overhead = prices.item_overhead
    earlier_bytes = 0
    for e in events:
        size = _size(e)
        usage.sends += 1
        # the event's own writes: its event-log item, and for an entry point nothing else
        usage.ru["events.create"] += prices.write_ru(size + overhead)
        usage.ru_ops["events.create"] += 1
        usage.cosmos_bytes += size + overhead
        if str(e.get("source")) in ENTRY_SOURCES and not e.get("causationId"):
            usage.executions += 1  # the HTTP (or CLI) request that published it
        for sub in delivered_to(rt.consumers, e, routing):
            who = subscriptions[sub].consumer  # spans, outputs and documents are the consumer's, lane or not
            recorded = spans.get((who.name, str(e["id"])), [])
            count = max(1, len(recorded))
            usage.deliveries += count
            usage.settlements += count
            usage.executions += count
            if recorded:
                seconds = sum((s.end - s.start).total_seconds() for s in recorded)
            else:
                usage.deliveries_pending += 1
                seconds = statistics.fmean(durations[who.name]) if durations.get(who.name) else fallback
                usage.estimated_seconds += seconds
            usage.handling_seconds += seconds
            for _ in range(count):
                _handling_ru(usage, prices, who, e, outputs.get((who.name, str(e["id"])), []),
                             docs.get(who.name), earlier_bytes)
        earlier_bytes += size
    usage.gb_seconds = usage.handling_seconds * prices.instance_memory_gb
    _blobs(usage, rt.artifacts, events, repository_files)
    return usage


def _state_documents(state: StateStore, consumers: Iterable[Consumer], project_id: str) -> dict[str, int]:
    """Size of each coordinator's instance document of this project (what its handlings read and write)."""
    sizes = {}
    for c in consumers:
        if c.kind == "coordinator":
            doc = state.get(f"{c.name}:{project_id}", "instance")
            if doc is not None:
                sizes[c.name] = _size(doc.body)
    return sizes


def _handling_ru(usage: Usage, prices: Prices, consumer: Consumer, event: Mapping[str, Any],
                 outputs: Sequence[Mapping[str, Any]], doc_size: int | None, earlier_bytes: int) -> None:
    """Request units of one handling in ``CosmosStateStore`` (see the module docstring)."""
    ru, ops, overhead = usage.ru, usage.ru_ops, prices.item_overhead
    ru["inbox.query"] += prices.query_ru(0)
    ops["inbox.query"] += 1
    stateful = consumer.kind in ("coordinator", "step")
    state_bytes = (doc_size if doc_size is not None else 1024) + overhead
    if stateful:
        ru["state.read"] += prices.read_ru(state_bytes)
        ops["state.read"] += 1
    # a coordinator leaves its document alone for another flow's command or a late timeout
    foreign = event.get("type") == TIMEOUT_EVENT and (event.get("data") or {}).get("flow") != consumer.name
    writes_state = stateful and not foreign and not (event.get("type") == TIMEOUT_EVENT and not outputs)
    ru["commit.inbox"] += prices.write_ru(overhead)
    ops["commit.inbox"] += 1
    if writes_state:
        ru["commit.state"] += prices.write_ru(state_bytes)
        ops["commit.state"] += 1
    if consumer.kind == "agent" and event.get("type") != "ProjectInitialized":
        ru["history.query"] += prices.query_ru(earlier_bytes)
        ops["history.query"] += 1
    if not outputs:
        return
    outbox = [_size(o) * 4 / 3 + overhead for o in outputs]  # the message body is stored base64
    for size in outbox:
        ru["commit.outbox"] += prices.write_ru(size)
        ru["outbox.markPublished"] += prices.write_ru(size)
    ops["commit.outbox"] += len(outbox)
    ops["outbox.markPublished"] += len(outbox)
    ru["outbox.query"] += prices.query_ru(sum(outbox))
    ops["outbox.query"] += 1


def _blobs(usage: Usage, artifacts: ArtifactStore, events: Sequence[Mapping[str, Any]],
           repository_files: Mapping[str, str] | None) -> None:
    named: dict[str, str] = {}
    files = dict(repository_files or {})
    for e in events:
        data = e.get("data") or {}
        for key, digest in _digests(data):
            named.setdefault(digest, key)
        for ref in data.get("artifacts", []) or []:
            if isinstance(ref, Mapping) and isinstance(ref.get("digest"), str):
                files.setdefault(str(ref.get("path")), ref["digest"])
    stored = set(named) | set(files.values())
    usage.blob_writes = len(stored)
    usage.blob_reads = len(files) + sum(1 for key in named.values() if key != "reportDigest")
    total = 0
    for digest in stored:
        try:
            total += len(artifacts.get(digest))
        except (KeyError, OSError):
            continue  # named but not stored (a failed run): not billed
    usage.blob_bytes = total


# --------------------------------------------------------------------------- the bill


@dataclass(frozen=True)
class LineItem:
    service: str
    meter: str
    quantity: float
    unit: str
    unit_price: float
    note: str = ""

    @property
    def cost(self) -> float:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class Bill:
    project_id: str
    routing: Routing
    usage: Usage
    items: tuple[LineItem, ...]
    monthly: tuple[LineItem, ...]
    prices: Prices

    @property
    def total(self) -> float:
        return sum(i.cost for i in self.items)

    @property
    def monthly_total(self) -> float:
        return sum(i.cost for i in self.monthly)

    def by_service(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for item in self.items:
            out[item.service] += item.cost
        return dict(out)

    def to_dict(self) -> dict[str, Any]:
        u = self.usage
        return {
            "projectId": self.project_id, "routing": self.routing, "currency": self.prices.currency,
            "region": self.prices.region, "pricesAsOf": self.prices.as_of, "total": self.total,
            "storagePerMonth": self.monthly_total, "byService": self.by_service(),
            "items": [{"service": i.service, "meter": i.meter, "quantity": i.quantity, "unit": i.unit,
                       "unitPrice": i.unit_price, "cost": i.cost, "note": i.note} for i in self.items],
            "usage": {"sends": u.sends, "deliveries": u.deliveries, "deliveriesPending": u.deliveries_pending,
                      "settlements": u.settlements, "executions": u.executions, "gbSeconds": u.gb_seconds,
                      "handlingSeconds": u.handling_seconds, "estimatedSeconds": u.estimated_seconds,
                      "requestUnits": dict(u.ru), "cosmosOperations": dict(u.ru_ops),
                      "blobWrites": u.blob_writes, "blobReads": u.blob_reads, "blobBytes": u.blob_bytes},
        }


def price(project_id: str, usage: Usage, prices: Prices | None = None, routing: Routing = "addressed") -> Bill:
    p = prices or load_prices()
    r = p.rates
    mem = p.model["flexInstanceMemoryMb"]
    items = (
        LineItem("Functions", "executions", usage.executions, "executions", r["functions.execution"],
                 "one per delivery, plus the request that started the project"),
        LineItem("Functions", "execution time", usage.gb_seconds, "GB-s", r["functions.gbSecond"],
                 f"{usage.handling_seconds:.2f} s handling x {mem} MB"
                 + (f" ({usage.estimated_seconds:.2f} s estimated for deliveries still scheduled)"
                    if usage.estimated_seconds else "")),
        LineItem("Service Bus", "operations", usage.servicebus_operations, "operations", r["serviceBus.operation"],
                 f"{usage.sends} sends, {usage.deliveries} deliveries ({usage.deliveries_pending} still scheduled), "
                 f"{usage.settlements} settlements"),
        LineItem("Cosmos DB", "request units", usage.request_units, "RU", r["cosmosDb.requestUnit"],
                 ", ".join(f"{k} {v:.0f}" for k, v in sorted(usage.ru.items(), key=lambda kv: -kv[1]))),
        LineItem("Blob storage", "write operations", usage.blob_writes, "operations", r["blob.writeOperation"],
                 f"{usage.blob_bytes / 1024:.0f} KB in distinct artifacts"),
        LineItem("Blob storage", "read operations", usage.blob_reads, "operations", r["blob.readOperation"]),
    )
    gb = 1024**3
    monthly = (
        LineItem("Cosmos DB", "storage", usage.cosmos_bytes / gb, "GB-month", r["cosmosDb.storageGbMonth"],
                 "the event log (state documents are small beside it)"),
        LineItem("Blob storage", "storage", usage.blob_bytes / gb, "GB-month", r["blob.storageGbMonth"]),
    )
    return Bill(project_id, routing, usage, items, monthly, p)


def project_bill(rt: CostRuntime, project_id: str, *, routing: Routing = "addressed",
                 repository_files: Mapping[str, str] | None = None, prices: Prices | None = None) -> Bill:
    """The priced bill of one project (``routing="broadcast"``: as before timeouts were addressed)."""
    p = prices or load_prices()
    usage = project_usage(rt, project_id, prices=p, routing=routing, repository_files=repository_files)
    return price(project_id, usage, p, routing)
