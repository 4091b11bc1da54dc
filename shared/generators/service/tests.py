"""The pytest suites the QA engineer writes, from Jinja2 templates in ``templates/tests/``.

Per entity (``test_<collection>_api.py``): every endpoint with good and bad input (missing,
wrongly typed and coerced values, limits, unknown fields, malformed and oversized bodies),
paging/filtering/sorting, relations (unknown targets, restrict and cascade), lifecycles,
uniqueness, tenant isolation and the published events. Per service: the routes and bindings the
app registers (``test_routes_registered.py``), a hypothesis fuzz test that malformed input never
gets a 500 (``test_fuzz.py``) and, for a service that follows another's events, the contract of
those events (``test_events_in.py``). ``<package>/samples.py`` holds the valid bodies and builders
the tests share. At the repository root, a test across the services through their events.

This module computes what the templates need from the blueprint; the templates hold the code.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from shared.generators.service.code import EntityView, entity_view, render, replica_views
from shared.generators.service.fieldtypes import coercible_value, limits, other_value, sample_value
from shared.product.blueprint import Entity, EntityField, Service, ServiceBlueprint
from shared.product.entities import Lifecycle, python_name

#: field types a list can filter by equality in the generated tests
_EQ_KINDS = ("enum", "boolean", "string", "email", "integer", "date", "uuid")
_RANGE_KINDS = ("string", "email", "integer", "number", "decimal", "money", "date", "datetime")
_SORT_KINDS = ("string", "email", "integer", "number", "date", "datetime")


def valid_value(f: EntityField) -> Any:
    """A valid value; a lifecycle field starts at one of its initial values."""
    if f.lifecycle is not None and f.lifecycle.initial:
        return f.lifecycle.initial[0]
    return sample_value(f)


@dataclass(frozen=True)
class Move:
    """A lifecycle test: reach ``start`` through ``path`` (PATCHes from the created value), then try ``to``."""

    field: str
    event: str
    path: tuple[str, ...]
    start: str
    to: str


def _path(lifecycle: Lifecycle, start: str, goal: str) -> tuple[str, ...] | None:
    queue: deque[tuple[str, tuple[str, ...]]] = deque([(start, ())])
    seen = {start}
    while queue:
        value, path = queue.popleft()
        if value == goal:
            return path
        for nxt in lifecycle.transitions.get(value, []):
            if nxt not in seen:
                seen.add(nxt)
                queue.append((nxt, (*path, nxt)))
    return None


def lifecycle_moves(entity: Entity, f: EntityField) -> tuple[Move | None, Move | None]:
    """(an allowed move, a forbidden one) reachable from the value a new item starts with."""
    assert f.lifecycle is not None
    start = valid_value(f)
    event = entity.transition_event(f)
    allowed = next((Move(f.name, event, (), start, t) for t in f.lifecycle.transitions.get(start, []) if t != start),
                   None)
    for state in f.values:
        path = _path(f.lifecycle, start, state)
        if path is None:
            continue
        bad = next((t for t in f.values if t != state and t not in f.lifecycle.transitions.get(state, [])), None)
        if bad is not None:
            return allowed, Move(f.name, event, path, state, bad)
    return allowed, None


@dataclass(frozen=True)
class Referencing:
    """A relation of another local entity that points at the entity under test."""

    entity: str
    plural: str
    field: str
    many: bool
    required: bool
    on_delete: str


@dataclass
class EntityTests:
    entity: EntityView
    valid: dict[str, Any]
    required: list[str]
    fields: list[str]
    coercible: dict[str, Any]
    enums: list[str]
    too_long: dict[str, Any]
    below: dict[str, Any]
    above: dict[str, Any]
    too_many: dict[str, Any]
    too_precise: dict[str, Any]
    aliased: dict[str, Any]
    change: dict[str, Any] | None
    required_field: str | None
    filter_field: tuple[str, str, Any] | None  # (name, type, a value other than the sample)
    range_field: tuple[str, str, Any] | None
    sort_field: tuple[str, str, Any] | None
    relations: list[tuple[str, bool]] = field(default_factory=list)
    referencing: list[Referencing] = field(default_factory=list)
    moves: list[tuple[Move | None, Move | None]] = field(default_factory=list)
    bad_initial: list[tuple[str, str]] = field(default_factory=list)
    unique: list[list[str]] = field(default_factory=list)


def _plain(entity: Entity) -> list[EntityField]:
    """Fields a test may change freely: not a lifecycle field."""
    return [f for f in entity.fields if f.lifecycle is None]


def entity_tests(blueprint: ServiceBlueprint, service: Service, entity: Entity) -> EntityTests:
    limit = limits(entity)
    plain = _plain(entity)
    change_field = next(iter(plain), None)
    eq = next((f for f in plain if f.type in _EQ_KINDS and sample_value(f) != other_value(f)), None)
    ranged = next((f for f in plain if f.type in _RANGE_KINDS and sample_value(f) != other_value(f)), None)
    sortable = next((f for f in plain if f.type in _SORT_KINDS and sample_value(f) != other_value(f)), None)
    referencing = [
        Referencing(other.name, other.plural, r.field_name, r.kind == "many", r.required, r.delete_rule)
        for other in service.entities for r in other.relations if r.target == entity.name
    ]
    moves = [lifecycle_moves(entity, f) for f in entity.fields if f.lifecycle is not None]
    bad_initial = [(f.name, v) for f in entity.fields if f.lifecycle is not None and f.lifecycle.initial
                   for v in f.values[:] if v not in f.lifecycle.initial][:1]
    return EntityTests(
        entity=entity_view(entity, blueprint, service),
        valid={f.name: valid_value(f) for f in entity.fields},
        required=[f.name for f in entity.fields if f.required] + [r.field_name for r in entity.relations if r.required],
        fields=[f.name for f in entity.fields] + [r.field_name for r in entity.relations],
        coercible={f.name: coercible_value(f) for f in entity.fields},
        enums=[f.name for f in entity.fields if f.value_type == "enum"],
        too_long=limit.too_long,
        below=limit.below,
        above=limit.above,
        too_many=limit.too_many,
        too_precise=limit.too_precise,
        aliased={python_name(f.name): valid_value(f) for f in entity.fields if python_name(f.name) != f.name},
        change={change_field.name: other_value(change_field)} if change_field else None,
        required_field=next((f.name for f in entity.fields if f.required), None),
        filter_field=(eq.name, eq.type, other_value(eq)) if eq else None,
        range_field=(ranged.name, ranged.type, other_value(ranged)) if ranged else None,
        sort_field=(sortable.name, sortable.type, other_value(sortable)) if sortable else None,
        relations=[(r.field_name, r.kind == "many") for r in entity.relations],
        referencing=referencing,
        moves=moves,
        bad_initial=bad_initial,
        unique=entity.unique_fields(),
    )


def _samples_context(blueprint: ServiceBlueprint, service: Service) -> dict[str, Any]:
    owners = {e.name: s.name for s in blueprint.services for e in s.entities}
    unique: dict[str, dict[str, tuple[str, int]]] = {}
    for entity in service.entities:
        names = {name for group in entity.unique_fields() for name in group}
        fields = {f.name: (str(f.type), f.length_limit()[0]) for f in entity.fields if f.name in names}
        if fields:
            unique[entity.name] = fields
    return {
        "valid": {e.name: {f.name: valid_value(f) for f in e.fields} for e in service.entities},
        "unique": unique,
        "requires": {e.name: [(r.field_name, r.target, r.kind == "many", owners.get(r.target) != service.name)
                              for r in e.relations if r.required]
                     for e in service.entities if any(r.required for r in e.relations)},
        "paths": {e.name: f"/api/{e.plural}" for e in service.entities},
        "test_tenant": "tenant-a" if blueprint.tenancy == "multi" else None,
    }


def _context(blueprint: ServiceBlueprint, service: Service) -> dict[str, Any]:
    return {
        "service": service,
        "pkg": service.package,
        "multi": blueprint.tenancy == "multi",
        "default_tenant": blueprint.tenant_id,
        "entities": [entity_view(e, blueprint, service) for e in service.entities],
        "replicas": replica_views(blueprint, service),
        **_samples_context(blueprint, service),
    }


def render_samples(blueprint: ServiceBlueprint, service: Service) -> str:
    return render("samples.py.j2", **_context(blueprint, service))


def render_entity_tests(blueprint: ServiceBlueprint, service: Service, entity: Entity) -> str:
    return render("tests/test_entity.py.j2", t=entity_tests(blueprint, service, entity),
                  **_context(blueprint, service))


def render_registration_tests(blueprint: ServiceBlueprint, service: Service) -> str:
    routes = sorted([route, method] for e in service.entities
                    for route, method in ((e.plural, "GET"), (e.plural, "POST"), (f"{e.plural}/{{id}}", "GET"),
                                          (f"{e.plural}/{{id}}", "PATCH"), (f"{e.plural}/{{id}}", "DELETE")))
    return render("tests/test_routes_registered.py.j2", routes=routes, **_context(blueprint, service))


def render_fuzz_tests(blueprint: ServiceBlueprint, service: Service) -> str:
    tests = [entity_tests(blueprint, service, e) for e in service.entities]
    return render("tests/test_fuzz.py.j2", tests=tests, **_context(blueprint, service))


def render_event_tests(blueprint: ServiceBlueprint, service: Service) -> str | None:
    """The contract of the events this service follows, or None when it follows none."""
    context = _context(blueprint, service)
    if not context["replicas"]:
        return None
    followers = [(ref.entity, ref.relation, ref.target) for ref in blueprint.references(service) if ref.remote]
    return render("tests/test_events_in.py.j2", followers=followers, **context)


@dataclass(frozen=True)
class Link:
    """A service that follows another's entity through its events (for the test across services)."""

    consumer: Service
    owner: Service
    entity: Entity
    relation: Any
    target: Entity


def links(blueprint: ServiceBlueprint) -> list[Link]:
    by_name = {s.name: s for s in blueprint.services}
    return [Link(service, by_name[ref.owner], ref.entity, ref.relation, ref.target)
            for service in blueprint.services for ref in blueprint.references(service) if ref.remote]


def render_repository_files(blueprint: ServiceBlueprint) -> dict[str, str]:
    """Root files that let one ``pytest`` (and one ``ruff check .``) cover every service."""
    found = links(blueprint)
    context = {"product": blueprint.product, "services": blueprint.services, "links": found, "cross": bool(found)}
    files = {
        "pyproject.toml": render("repository/pyproject.toml.j2", **context),
        "requirements-dev.txt": render("repository/requirements-dev.txt.j2", **context),
    }
    if found:
        files["tests/conftest.py"] = render("repository/conftest.py.j2", **context)
        files["tests/test_across_services.py"] = render("repository/test_across_services.py.j2", **context)
    return files
