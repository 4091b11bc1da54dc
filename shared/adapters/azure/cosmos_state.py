"""``CosmosStateStore``: the state store on Azure Cosmos DB (NoSQL API).

Containers and partition keys come from ``shared/storage_layout.py``:

* ``state`` (pk ``/partition``) holds, per logical partition, the documents of a flow instance or
  execution *and* the inbox and outbox records of the handlings that wrote them, so ``commit`` is
  one transactional batch: inbox ``create`` (409 = already processed), the writes (``replace`` with
  ``if_match_etag``: 412 = stale), outbox ``create``s. All or nothing.
* ``events`` (pk ``/traceId``) is the event log; a trace is one partition read.

Item shapes in ``state`` (``kind`` tells them apart)::

    {"id": "doc:<escaped id>", "partition": p, "kind": "doc", "docId": id, "body": {...}}
    {"id": "inbox:<consumer>:<event id>", "partition": p, "kind": "inbox", "consumer", "eventId"}
    {"id": "outbox:<consumer>:<message id>", "partition": p, "kind": "outbox", "consumer",
     "messageId", "sourceEventId", "message": {...}, "createdAt", "ordinal", "publishedAt": null}

Cosmos ids may not contain ``/ \\ ? #``; every id part is escaped (``escape_id_part``) and the
original id is kept in the item, so queries never depend on the escaping. ``azure-cosmos`` is
imported lazily: embedded mode never needs it.

Note: the inbox record is unique per (partition, consumer, event id). A consumer must therefore
commit a given event into the same partition every time (it does: the partition is derived from
the event), which is what makes redeliveries collide with their inbox record.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from shared.adapters.records import sortable_time, validate_envelope
from shared.ports import (
    Clock,
    ConflictError,
    Document,
    NotFoundError,
    OutboxRecord,
    OutgoingMessage,
    PreconditionFailedError,
    SystemClock,
    UnitOfWork,
    Write,
)

#: the service refuses transactional batches with more operations than this
MAX_BATCH_OPERATIONS = 100
MAX_ID_LENGTH = 255
_SAFE_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")

STATE_CONTAINER = "state"
EVENTS_CONTAINER = "events"


# --------------------------------------------------------------------------- pure helpers


def escape_id_part(value: str) -> str:
    """Escape one id component: letters, digits, ``-_.`` stay; every other UTF-8 byte becomes ``~XX``.

    Injective and prefix-preserving per character, and never yields ``/ \\ ? #`` (nor ``:``, the
    separator between components).
    """
    out: list[str] = []
    for char in value:
        if char in _SAFE_ID_CHARS:
            out.append(char)
        else:
            out.extend(f"~{byte:02X}" for byte in char.encode("utf-8"))
    return "".join(out)


def item_id(kind: str, *parts: str) -> str:
    """The Cosmos ``id`` for a record: ``<kind>:<escaped part>[:<escaped part>…]`` (hashed if too long)."""
    candidate = ":".join([kind, *(escape_id_part(part) for part in parts)])
    if len(candidate) <= MAX_ID_LENGTH:
        return candidate
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()
    return f"{kind}:~h{digest}"


def message_to_json(message: OutgoingMessage) -> dict[str, Any]:
    """``OutgoingMessage`` as a JSON-safe dict (body base64, times ISO 8601, TTL in microseconds)."""
    scheduled = message.scheduled_enqueue_time
    ttl = message.time_to_live
    return {
        "messageId": message.message_id,
        "body": base64.b64encode(bytes(message.body)).decode("ascii"),
        "applicationProperties": dict(message.application_properties),
        "contentType": message.content_type,
        "subject": message.subject,
        "correlationId": message.correlation_id,
        "scheduledEnqueueTime": None if scheduled is None else scheduled.isoformat(),
        "timeToLiveMicroseconds": None if ttl is None else ttl // timedelta(microseconds=1),
    }


def message_from_json(data: Mapping[str, Any]) -> OutgoingMessage:
    scheduled = data.get("scheduledEnqueueTime")
    ttl = data.get("timeToLiveMicroseconds")
    return OutgoingMessage(
        message_id=data["messageId"],
        body=base64.b64decode(data["body"]),
        application_properties=dict(data.get("applicationProperties") or {}),
        content_type=data["contentType"],
        subject=data.get("subject"),
        correlation_id=data.get("correlationId"),
        scheduled_enqueue_time=None if scheduled is None else datetime.fromisoformat(scheduled),
        time_to_live=None if ttl is None else timedelta(microseconds=ttl),
    )


def _document(item: Mapping[str, Any], etag: str | None = None) -> Document:
    return Document(item["partition"], item["docId"], dict(item["body"]), etag or item["_etag"])


# --------------------------------------------------------------------------- adapter


class CosmosStateStore:
    """State store over two Cosmos containers (``state`` and ``events``)."""

    def __init__(self, state_container: Any, events_container: Any, *, clock: Clock = SystemClock()) -> None:
        self.state = state_container
        self.events = events_container
        self._clock = clock

    @classmethod
    def from_database(cls, database: Any, *, clock: Clock = SystemClock()) -> CosmosStateStore:
        """Use the ``state`` and ``events`` containers of a ``DatabaseProxy`` (or a double of it)."""
        return cls(
            database.get_container_client(STATE_CONTAINER),
            database.get_container_client(EVENTS_CONTAINER),
            clock=clock,
        )

    # ------------------------------------------------------------------ documents

    def get(self, partition: str, id: str) -> Document | None:
        from azure.cosmos.exceptions import CosmosResourceNotFoundError

        try:
            item = self.state.read_item(item=item_id("doc", id), partition_key=partition)
        except CosmosResourceNotFoundError:
            return None
        return _document(item)

    def create(self, partition: str, id: str, body: dict[str, Any]) -> Document:
        from azure.cosmos.exceptions import CosmosResourceExistsError

        try:
            item = self.state.create_item(body=self._doc_item(partition, id, body))
        except CosmosResourceExistsError as error:
            raise ConflictError(
                f"cannot create document {id!r} in partition {partition!r}: it already exists. "
                "Read it and replace it with its ETag instead."
            ) from error
        return _document(item)

    def replace(self, partition: str, id: str, body: dict[str, Any], etag: str) -> Document:
        from azure.core import MatchConditions
        from azure.cosmos.exceptions import CosmosAccessConditionFailedError, CosmosResourceNotFoundError

        try:
            item = self.state.replace_item(
                item=item_id("doc", id),
                body=self._doc_item(partition, id, body),
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except CosmosAccessConditionFailedError as error:
            raise PreconditionFailedError(
                f"cannot replace document {id!r} in partition {partition!r}: it changed since it was read "
                f"(ETag {etag} is stale). Reload it and re-apply the change."
            ) from error
        except CosmosResourceNotFoundError as error:
            raise NotFoundError(
                f"cannot replace document {id!r} in partition {partition!r}: it does not exist. "
                "Create it instead."
            ) from error
        return _document(item)

    def upsert(self, partition: str, id: str, body: dict[str, Any]) -> Document:
        return _document(self.state.upsert_item(body=self._doc_item(partition, id, body)))

    def query(self, partition: str, id_prefix: str = "") -> list[Document]:
        # the partition filter repeats the ``partition_key`` scope: on Cosmos DB an equality filter on the
        # partition key is the documented in-partition form, and results stay right on servers that ignore
        # the scope header (cosmosdb-server does, see tests/cosmosdb_server.py GAP-QUERY-PK)
        items = self.state.query_items(
            query="SELECT * FROM c WHERE c.partition = @partition AND c.kind = @kind "
            "AND STARTSWITH(c.docId, @prefix)",
            parameters=[{"name": "@partition", "value": partition}, {"name": "@kind", "value": "doc"},
                        {"name": "@prefix", "value": id_prefix}],
            partition_key=partition,
        )
        return sorted((_document(item) for item in items), key=lambda document: document.id)

    def _doc_item(self, partition: str, id: str, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": item_id("doc", id),
            "partition": partition,
            "kind": "doc",
            "docId": id,
            "body": body,
            "updatedAt": self._clock.now().isoformat(),
        }

    # ------------------------------------------------------------------ unit of work

    def commit(self, unit: UnitOfWork) -> list[Document]:
        from azure.cosmos.exceptions import CosmosBatchOperationError

        now = self._clock.now().isoformat()
        ordinal = time.time_ns()
        operations: list[tuple[Any, ...]] = []
        roles: list[tuple[str, str]] = []  # (role, name) per operation, to explain a failure
        if unit.inbox_event_id is not None:
            inbox = {
                "id": item_id("inbox", unit.consumer, unit.inbox_event_id),
                "partition": unit.partition,
                "kind": "inbox",
                "consumer": unit.consumer,
                "eventId": unit.inbox_event_id,
                "processedAt": now,
            }
            operations.append(("create", (inbox,), {}))
            roles.append(("inbox", unit.inbox_event_id))
        for write in unit.writes:
            operations.append(self._write_operation(unit.partition, write))
            roles.append((write.op, write.id))
        for index, record in enumerate(unit.outbox):
            outbox = {
                "id": item_id("outbox", record.consumer, record.message.message_id),
                "partition": unit.partition,
                "kind": "outbox",
                "consumer": record.consumer,
                "messageId": record.message.message_id,
                "sourceEventId": record.source_event_id,
                "message": message_to_json(record.message),
                "createdAt": now,
                "ordinal": [ordinal, index],
                "publishedAt": None,
            }
            operations.append(("create", (outbox,), {}))
            roles.append(("outbox", record.message.message_id))
        if not operations:
            return []
        if len(operations) > MAX_BATCH_OPERATIONS:
            raise ValueError(
                f"unit of work for partition {unit.partition!r} has {len(operations)} operations; a Cosmos "
                f"transactional batch allows {MAX_BATCH_OPERATIONS}. Split the handling's output."
            )
        try:
            results = self.state.execute_item_batch(batch_operations=operations, partition_key=unit.partition)
        except CosmosBatchOperationError as error:
            raise self._batch_error(unit, error, roles) from error
        results = list(results)
        first_write = 0 if unit.inbox_event_id is None else 1
        written: list[Document] = []
        for index, write in enumerate(unit.writes):
            if write.op == "delete":
                continue
            result = results[first_write + index]
            resource = result.get("resourceBody") or {}
            etag = result.get("eTag") or resource.get("_etag")
            if etag is None:  # content response disabled on the client: read the new version's ETag
                current = self.state.read_item(item=item_id("doc", write.id), partition_key=unit.partition)
                etag = current["_etag"]
            written.append(Document(unit.partition, write.id, dict(write.body), etag))
        return written

    def _write_operation(self, partition: str, write: Write) -> tuple[Any, ...]:
        id_ = item_id("doc", write.id)
        if write.op == "create":
            return ("create", (self._doc_item(partition, write.id, write.body),), {})
        if write.op == "upsert":
            return ("upsert", (self._doc_item(partition, write.id, write.body),), {})
        if write.op == "replace":
            if write.etag is None:
                raise ValueError(
                    f"cannot replace document {write.id!r} without an ETag: read it first and pass its etag"
                )
            item = self._doc_item(partition, write.id, write.body)
            return ("replace", (id_, item), {"if_match_etag": write.etag})
        if write.op == "delete":
            return ("delete", (id_,), {} if write.etag is None else {"if_match_etag": write.etag})
        raise ValueError(f"unknown write operation {write.op!r}: use create, replace, upsert or delete")

    @staticmethod
    def _batch_error(unit: UnitOfWork, error: Any, roles: list[tuple[str, str]]) -> Exception:
        index = error.error_index if error.error_index is not None else 0
        role, name = roles[index] if 0 <= index < len(roles) else ("?", "?")
        where = f"partition {unit.partition!r}"
        status = error.status_code
        if status == 409 and role == "inbox":
            return ConflictError(
                f"event {name!r} was already processed by {unit.consumer!r} (inbox record exists in "
                f"{where}): drop this delivery, nothing was written"
            )
        if status == 409 and role == "outbox":
            return ConflictError(
                f"outbox already holds message {name!r} for {unit.consumer!r} in {where}: output ids must be "
                "unique per consumer (derive them from the incoming event id and index); nothing was written"
            )
        if status == 409:
            return ConflictError(
                f"cannot create document {name!r} in {where}: it already exists; nothing was written. "
                "Read it and replace it with its ETag instead."
            )
        if status == 412:
            return PreconditionFailedError(
                f"cannot {role} document {name!r} in {where}: it changed since it was read (stale ETag); "
                "nothing was written. Reload it and re-apply the change."
            )
        if status == 404:
            return NotFoundError(
                f"cannot {role} document {name!r} in {where}: it does not exist; nothing was written"
            )
        return error if isinstance(error, Exception) else RuntimeError(str(error))

    def inbox_contains(self, consumer: str, event_id: str) -> bool:
        items = self.state.query_items(
            query="SELECT * FROM c WHERE c.kind = @kind AND c.consumer = @consumer AND c.eventId = @eventId",
            parameters=[
                {"name": "@kind", "value": "inbox"},
                {"name": "@consumer", "value": consumer},
                {"name": "@eventId", "value": event_id},
            ],
            enable_cross_partition_query=True,
        )
        return any(True for _ in items)

    # ------------------------------------------------------------------ outbox

    def pending_outbox(
        self, consumer: str | None = None, source_event_id: str | None = None, limit: int = 1000
    ) -> list[OutboxRecord]:
        query = "SELECT * FROM c WHERE c.kind = @kind AND IS_NULL(c.publishedAt)"
        parameters: list[dict[str, Any]] = [{"name": "@kind", "value": "outbox"}]
        if consumer is not None:
            query += " AND c.consumer = @consumer"
            parameters.append({"name": "@consumer", "value": consumer})
        if source_event_id is not None:
            query += " AND c.sourceEventId = @source"
            parameters.append({"name": "@source", "value": source_event_id})
        items = list(
            self.state.query_items(query=query, parameters=parameters, enable_cross_partition_query=True)
        )
        items.sort(key=lambda item: (item["createdAt"], item["ordinal"]))
        return [
            OutboxRecord(message_from_json(item["message"]), item["consumer"], item["sourceEventId"])
            for item in items[:limit]
        ]

    def mark_published(self, message_ids: Iterable[str], consumer: str) -> None:
        from azure.core import MatchConditions
        from azure.cosmos.exceptions import CosmosAccessConditionFailedError

        ids = list(message_ids)
        if not ids:
            return
        items = self.state.query_items(
            query="SELECT * FROM c WHERE c.kind = @kind AND c.consumer = @consumer "
            "AND ARRAY_CONTAINS(@ids, c.messageId)",
            parameters=[
                {"name": "@kind", "value": "outbox"},
                {"name": "@consumer", "value": consumer},
                {"name": "@ids", "value": ids},
            ],
            enable_cross_partition_query=True,
        )
        now = self._clock.now().isoformat()
        for item in items:
            if item.get("publishedAt") is not None:
                continue
            updated = {key: value for key, value in item.items() if not key.startswith("_")}
            updated["publishedAt"] = now
            try:
                self.state.replace_item(
                    item=item["id"],
                    body=updated,
                    etag=item["_etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except CosmosAccessConditionFailedError:
                continue  # someone else marked it in the meantime: the only field that ever changes

    # ------------------------------------------------------------------ event log

    def append_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        from azure.cosmos.exceptions import CosmosResourceExistsError

        for event in events:
            validate_envelope(event)
        now = self._clock.now().isoformat()
        ordinal = time.time_ns()
        for index, event in enumerate(events):
            item = {
                "id": item_id("event", str(event["id"])),
                "traceId": str(event["traceId"]),
                "projectId": None if event.get("projectId") is None else str(event["projectId"]),
                "type": str(event["type"]),
                "sortTime": sortable_time(event["time"]),
                "appendedAt": now,
                "ordinal": [ordinal, index],
                "envelope": dict(event),
            }
            try:
                self.events.create_item(body=item)
            except CosmosResourceExistsError:
                continue  # idempotent by envelope id

    def events_for_trace(self, trace_id: str) -> list[dict[str, Any]]:
        items = self.events.query_items(
            query="SELECT * FROM c WHERE c.traceId = @traceId",
            parameters=[{"name": "@traceId", "value": trace_id}],
            partition_key=trace_id,
        )
        return self._in_time_order(items)

    def events_for_project(self, project_id: str) -> list[dict[str, Any]]:
        items = self.events.query_items(
            query="SELECT * FROM c WHERE c.projectId = @projectId",
            parameters=[{"name": "@projectId", "value": project_id}],
            enable_cross_partition_query=True,
        )
        return self._in_time_order(items)

    @staticmethod
    def _in_time_order(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        ordered = sorted(items, key=lambda item: (item["sortTime"], item["appendedAt"], item["ordinal"]))
        return [dict(item["envelope"]) for item in ordered]
