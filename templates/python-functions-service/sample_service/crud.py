"""What the HTTP functions do for every collection, driven by the declarations in ``catalog.py``.

* list: tenant-scoped, filtered, sorted, paged with continuation tokens (``query.py``)
* create: strict body, lifecycle start value, relation targets exist (422 naming the field),
  unique values (409), ``<Entity>Created``
* read: 404 for an unknown id (an id of another tenant is unknown too)
* update: only the fields sent change; a lifecycle field may only move along its transitions
  (409 otherwise); ``<Entity>Updated`` and ``<Entity><Field>Changed`` for each transition
* delete: refused with 409 while a ``restrict`` relation points at the item; ``cascade`` deletes
  the referencing items (a ``many`` relation drops the id instead); ``<Entity>Deleted`` for each

Relations to another service's entity are checked against a replica of its ids that
``apply_events`` keeps from that service's ``Created``/``Deleted`` events (and a delete there
cascades here).
"""

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import azure.functions as func
from pydantic import BaseModel

from sample_service.events import Outbox, read_batch
from sample_service.fieldtypes import ID_PATTERN
from sample_service.problems import Problem, field_problem, guarded, json_response, not_found, read_body
from sample_service.query import FieldSpec, Filter, parse_query, parse_value
from sample_service.repository import DuplicateError, Item, Repository, repository_for
from sample_service.tenancy import tenant_of

_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True)
class RelationSpec:
    field: str  # the JSON field holding the id(s), e.g. customerId
    target: str  # the collection (or replica) of the target
    target_entity: str
    many: bool = False
    required: bool = False
    on_delete: str = "restrict"  # restrict | cascade
    remote: bool = False  # the target belongs to another service


@dataclass(frozen=True)
class LifecycleSpec:
    field: str
    event: str  # e.g. InvoiceStatusChanged
    initial: tuple[str, ...] = ()  # values allowed on create (empty: any)
    transitions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Collection:
    name: str  # URL segment and container, e.g. invoice-lines
    entity: str
    create: type[BaseModel]
    update: type[BaseModel]
    fields: Mapping[str, FieldSpec]
    relations: tuple[RelationSpec, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    lifecycles: tuple[LifecycleSpec, ...] = ()

    def repository(self) -> Repository:
        return repository_for(self.name, [list(group) for group in self.unique])

    def event(self, what: str) -> str:
        return f"{self.entity}{what}"


@dataclass(frozen=True)
class Replica:
    """The ids of another service's entity this service refers to, kept from that service's events."""

    name: str  # container, e.g. books-replica
    entity: str
    service: str  # the service that owns the entity

    def repository(self) -> Repository:
        return repository_for(self.name)


@dataclass(frozen=True)
class Service:
    tenancy: str  # single | multi
    default_tenant: str
    collections: tuple[Collection, ...]
    replicas: tuple[Replica, ...] = ()

    def store(self, name: str) -> Repository:
        for holder in (*self.collections, *self.replicas):
            if holder.name == name:
                return holder.repository()
        raise KeyError(name)

    def referencing(self, name: str) -> list[tuple[Collection, RelationSpec]]:
        return [(c, r) for c in self.collections for r in c.relations if r.target == name]


def public(col: Collection, item: Mapping[str, Any]) -> dict[str, Any]:
    """The item as the API returns it: its id and its fields (never the tenant)."""
    return {"id": item["id"], **{name: item.get(name) for name in col.fields}}


def _tenant(req: func.HttpRequest, service: Service) -> str:
    return tenant_of(req, service.tenancy, service.default_tenant)


def _existing(req: func.HttpRequest, service: Service, col: Collection) -> tuple[str, str, Item]:
    """(tenant, id, item) of the item the route names, or not found (another tenant's item is not found too)."""
    tenant, item_id = _tenant(req, service), _item_id(req, col)
    item = col.repository().get(tenant, item_id)
    if item is None:
        raise not_found(col.entity, item_id)
    return tenant, item_id, item


def _subject(col: Collection, item_id: str) -> str:
    return f"{col.name}/{item_id}"


def _item_id(req: func.HttpRequest, col: Collection) -> str:
    """The id in the route; one that cannot be an id of this service is simply not found."""
    item_id = req.route_params.get("id", "")
    if not _ID.fullmatch(item_id):
        raise not_found(col.entity, item_id[:100])
    return item_id


# --------------------------------------------------------------------------- checks


def _lookup_value(spec: FieldSpec, value: Any) -> Any:
    """A stored value in the form query filters compare with."""
    if spec.kind in ("decimal", "money"):
        return Decimal(str(value))
    if spec.kind == "datetime":
        return parse_value(spec.name, spec, str(value))
    return value


def _check_start(col: Collection, item: Item) -> None:
    for lifecycle in col.lifecycles:
        value = item.get(lifecycle.field)
        if lifecycle.initial and value is not None and value not in lifecycle.initial:
            raise field_problem(422, lifecycle.field,
                                f"a new {col.entity} starts as {' or '.join(map(repr, lifecycle.initial))}, "
                                f"not {value!r}", "lifecycle_initial")


def _transitions(col: Collection, before: Item, after: Item) -> list[tuple[LifecycleSpec, Any, Any]]:
    changes = []
    for lifecycle in col.lifecycles:
        old, new = before.get(lifecycle.field), after.get(lifecycle.field)
        if old == new:
            continue
        allowed = lifecycle.transitions.get(old, ()) if old is not None else (lifecycle.initial or (new,))
        if new not in allowed:
            options = ", ".join(map(repr, allowed)) or "none (it is final)"
            raise Problem(409, f"{lifecycle.field} of {col.entity} {after['id']!r} cannot change from {old!r} to "
                               f"{new!r}; allowed from {old!r}: {options}.",
                          errors=[{"field": lifecycle.field, "message": f"{old!r} -> {new!r} is not allowed",
                                   "type": "lifecycle_transition"}])
        changes.append((lifecycle, old, new))
    return changes


def _check_relations(service: Service, col: Collection, tenant: str, item: Item, before: Item | None) -> None:
    for rel in col.relations:
        value = item.get(rel.field)
        if before is not None and before.get(rel.field) == value:
            continue
        ids = list(value or []) if rel.many else ([value] if value is not None else [])
        if len(set(ids)) != len(ids):
            raise field_problem(422, rel.field, "lists the same id twice", "relation_duplicate")
        store = service.store(rel.target)
        for target_id in ids:
            found = store.get(tenant, target_id)
            if found is None or found.get("deleted"):
                where = " (known from its service's events)" if rel.remote else ""
                raise field_problem(422, rel.field, f"no {rel.target_entity} {target_id!r} exists{where}",
                                    "relation_unknown")


def _check_unique(col: Collection, tenant: str, item: Item) -> None:
    for group in col.unique:
        values = [item.get(name) for name in group]
        if any(v is None for v in values):
            continue  # an absent value never clashes
        filters = [Filter(name, "eq", _lookup_value(col.fields[name], v), col.fields[name].kind)
                   for name, v in zip(group, values, strict=True)]
        clash = [other for other in col.repository().find(tenant, filters) if other["id"] != item["id"]]
        if clash:
            said = " and ".join(f"{name} {v!r}" for name, v in zip(group, values, strict=True))
            raise Problem(409, f"{col.entity} {clash[0]['id']!r} already has {said}; it must be unique.",
                          errors=[{"field": name, "message": "already taken", "type": "unique"} for name in group])


def _save(write: Any, col: Collection, item: Item) -> Item:
    try:
        saved: Item = write(item)
    except DuplicateError as exc:
        raise Problem(409, f"a {col.entity} with these unique values already exists: {exc}") from exc
    return saved


# --------------------------------------------------------------------------- deletes


@dataclass
class _Plan:
    """What one delete does: items to delete and items to detach, the referencing ones first."""

    deletes: list[tuple[Collection, Item]] = field(default_factory=list)
    detaches: list[tuple[Collection, Item]] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)


def _plan_delete(service: Service, tenant: str, target: str, entity: str, item_id: str, plan: _Plan) -> None:
    """Walk the relations that point at ``target``/``item_id``: 409 for restrict, collect cascades."""
    plan.seen.add((target, item_id))
    for col, rel in service.referencing(target):
        flt = Filter(rel.field, "contains" if rel.many else "eq", item_id, "id")
        refs = [r for r in col.repository().find(tenant, [flt]) if (col.name, r["id"]) not in plan.seen]
        if not refs:
            continue
        if rel.on_delete == "restrict":
            raise Problem(409, f"{entity} {item_id!r} is still referenced by {len(refs)} {col.name} through "
                               f"{rel.field} (e.g. {refs[0]['id']!r}); delete or change those first.",
                          errors=[{"field": f"{col.name}.{rel.field}", "message": "still referenced",
                                   "type": "relation_restrict"}])
        for ref in refs:
            remaining = [i for i in ref.get(rel.field) or [] if i != item_id] if rel.many else []
            if rel.many and (remaining or not rel.required):
                plan.seen.add((col.name, ref["id"]))
                plan.detaches.append((col, {**ref, rel.field: remaining}))
            else:
                _plan_delete(service, tenant, col.name, col.entity, ref["id"], plan)
                plan.deletes.append((col, ref))


def _run_plan(plan: _Plan, tenant: str, outbox: Outbox) -> None:
    for col, item in plan.detaches:
        if any(c.name == col.name and i["id"] == item["id"] for c, i in plan.deletes):
            continue
        saved = col.repository().replace(item)
        outbox.add(col.event("Updated"), _subject(col, saved["id"]), tenant, public(col, saved))
    for col, item in plan.deletes:
        if col.repository().delete(tenant, item["id"]):
            outbox.add(col.event("Deleted"), _subject(col, item["id"]), tenant, public(col, item))


# --------------------------------------------------------------------------- the operations


def list_items(req: func.HttpRequest, service: Service, col: Collection) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        tenant = _tenant(req, service)
        query = parse_query(dict(req.params), col.fields)
        items, token = col.repository().page(tenant, query, col.fields)
        return json_response({"items": [public(col, i) for i in items], "count": len(items),
                              "continuationToken": token})

    return guarded(req, run)


def create_item(req: func.HttpRequest, out: func.Out[str], service: Service, col: Collection) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        tenant = _tenant(req, service)
        body = col.create.model_validate_json(read_body(req))
        item = {"id": str(uuid.uuid4()), "tenantId": tenant, **body.model_dump(mode="json", by_alias=True)}
        _check_start(col, item)
        _check_relations(service, col, tenant, item, None)
        _check_unique(col, tenant, item)
        saved = _save(col.repository().add, col, item)
        outbox = Outbox()
        outbox.add(col.event("Created"), _subject(col, saved["id"]), tenant, public(col, saved))
        outbox.send(out)
        return json_response(public(col, saved), 201, {"Location": f"/api/{col.name}/{saved['id']}"})

    return guarded(req, run)


def read_item(req: func.HttpRequest, service: Service, col: Collection) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        tenant, item_id, item = _existing(req, service, col)
        return json_response(public(col, item))

    return guarded(req, run)


def update_item(req: func.HttpRequest, out: func.Out[str], service: Service, col: Collection) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        tenant, item_id, current = _existing(req, service, col)
        changes = col.update.model_validate_json(read_body(req)).model_dump(
            mode="json", by_alias=True, exclude_unset=True)
        fields = {k: v for k, v in {**public(col, current), **changes}.items() if k != "id"}
        merged = col.create.model_validate_json(json.dumps(fields))
        item = {"id": item_id, "tenantId": tenant, **merged.model_dump(mode="json", by_alias=True)}
        transitions = _transitions(col, current, item)
        _check_relations(service, col, tenant, item, current)
        _check_unique(col, tenant, item)
        saved = _save(col.repository().replace, col, item)
        outbox = Outbox()
        subject = _subject(col, item_id)
        outbox.add(col.event("Updated"), subject, tenant, public(col, saved))
        for lifecycle, old, new in transitions:
            outbox.add(lifecycle.event, subject, tenant,
                       {"id": item_id, "field": lifecycle.field, "from": old, "to": new, "item": public(col, saved)})
        outbox.send(out)
        return json_response(public(col, saved))

    return guarded(req, run)


def delete_item(req: func.HttpRequest, out: func.Out[str], service: Service, col: Collection) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        tenant, item_id, current = _existing(req, service, col)
        plan = _Plan()
        _plan_delete(service, tenant, col.name, col.entity, item_id, plan)
        plan.deletes.append((col, current))
        outbox = Outbox()
        _run_plan(plan, tenant, outbox)
        outbox.send(out)
        return func.HttpResponse(status_code=204)

    return guarded(req, run)


# --------------------------------------------------------------------------- events of other services


def apply_events(body: bytes, out: func.Out[str], service: Service) -> int:
    """Follow the ``Created``/``Deleted`` events of the entities this service refers to.

    A created id joins the replica; a deleted id is kept as a tombstone (so a late ``Created``
    cannot revive it) and the local items that refer to it are cascaded. Returns how many events
    were applied; events of other types are ignored. A malformed message raises ``EventError``
    (the Functions host retries it, then dead-letters it).
    """
    outbox = Outbox()
    applied = 0
    for event in read_batch(body):
        replica = next((r for r in service.replicas if event["type"] in (r.entity + "Created", r.entity + "Deleted")),
                       None)
        if replica is None:
            continue
        tenant, item_id = event["tenantid"], event["data"].get("id")
        if not isinstance(item_id, str) or not _ID.fullmatch(item_id):
            continue
        store = replica.repository()
        known = store.get(tenant, item_id)
        if event["type"].endswith("Created"):
            if known is None:
                store.replace({"id": item_id, "tenantId": tenant, "deleted": False})
        elif known is None or not known.get("deleted"):
            plan = _Plan()
            _plan_delete(service, tenant, replica.name, replica.entity, item_id, plan)
            _run_plan(plan, tenant, outbox)
            store.replace({"id": item_id, "tenantId": tenant, "deleted": True})
        applied += 1
    outbox.send(out)
    return applied
