"""The domain code the backend developer writes into the scaffolded service, from Jinja2 templates.

``render_models`` (pydantic models per entity: ``<Entity>Create``, ``<Entity>Update``, ``<Entity>``),
``render_catalog`` (what each collection holds and may do: fields, relations, uniqueness,
lifecycles, replicas of other services' entities) and ``render_routes`` (the HTTP functions with
their Service Bus output binding, and the trigger that follows other services' events) fill the
templates in ``shared/generators/service/templates/`` with views of the blueprint built here. The
generic behaviour lives in the ``python-functions-service`` template (``crud.py``, ``query.py``...).

Every name in generated code is safe by construction: imports are private (``_pd``, ``_t``...),
so an entity called ``Field`` or ``BaseModel`` shadows nothing; field names that are Python
keywords or pydantic attributes get a trailing underscore and keep their JSON name as alias;
the intent validation refuses what cannot be made safe (``shared/product/intent.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from shared.generators.service.fieldtypes import ID_MAX_LENGTH, bounds
from shared.product.blueprint import Entity, EntityField, Relation, Service, ServiceBlueprint
from shared.product.entities import (
    DEFAULT_INTEGER_BOUND,
    DEFAULT_MAX_ITEMS,
    DEFAULT_MAX_LENGTH,
    DEFAULT_NUMBER_BOUND,
    python_name,
    snake,
)

TEMPLATES = Path(__file__).with_name("templates")


def py(value: Any) -> str:
    """A Python literal for a JSON-like value (strings in double quotes, like JSON)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(py(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py(k)}: {py(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no Python literal for {type(value).__name__}")


def py_block(value: Any, indent: str = "") -> str:
    """A Python literal that keeps lines short: one item per line for dicts and long lists."""
    if isinstance(value, dict) and value:
        inner = "".join(f"{indent}    {py(k)}: {py_block(v, indent + '    ')},\n" for k, v in value.items())
        return "{\n" + inner + indent + "}"
    if isinstance(value, list) and len(py(value)) > 60:
        inner = "".join(f"{indent}    {py_block(v, indent + '    ')},\n" for v in value)
        return "[\n" + inner + indent + "]"
    return py(value)


def py_tuple(values: Any, indent: str = "") -> str:
    """A tuple literal, one item per line when it would be long."""
    items = [py(v) for v in values]
    flat = "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if len(flat) <= 60:
        return flat
    return "(\n" + "".join(f"{indent}    {item},\n" for item in items) + indent + ")"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Python and Markdown, not HTML
    )
    env.filters["py"] = py
    env.filters["py_block"] = py_block
    env.filters["py_tuple"] = py_tuple
    env.filters["snake"] = snake
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class Alias:
    """A module-level type alias: ``_Annotated[base, *extras]`` or, for enums, ``_Literal[values]``."""

    name: str
    base: str = ""
    extras: tuple[str, ...] = ()
    literal: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldView:
    name: str  # JSON name
    pyname: str
    annotation: str
    required: bool
    kind: str  # for list queries: the value type, or "id" for relation ids
    many: bool = False
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class RelationView:
    field: str
    target: str
    target_entity: str
    many: bool
    required: bool
    on_delete: str
    remote: bool


@dataclass(frozen=True)
class LifecycleView:
    field: str
    event: str
    initial: tuple[str, ...]
    transitions: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass
class EntityView:
    name: str
    plural: str
    collection: str
    snake: str
    constant: str
    aliases: list[Alias] = field(default_factory=list)
    fields: list[FieldView] = field(default_factory=list)
    relations: list[RelationView] = field(default_factory=list)
    unique: list[list[str]] = field(default_factory=list)
    lifecycles: list[LifecycleView] = field(default_factory=list)

    @property
    def registrations(self) -> list[tuple[str, str, str, bool]]:
        """(route, method, function, publishes events) of each HTTP function."""
        item = f"{self.plural}/{{id}}"
        return [
            (self.plural, "GET", f"list_{self.collection}", False),
            (self.plural, "POST", f"create_{self.snake}", True),
            (item, "GET", f"read_{self.snake}", False),
            (item, "PATCH", f"update_{self.snake}", True),
            (item, "DELETE", f"delete_{self.snake}", True),
        ]


@dataclass(frozen=True)
class ReplicaView:
    name: str
    entity: str
    service: str


def replica_name(target: Entity) -> str:
    """The container that keeps the ids of another service's entity."""
    return f"{target.plural}-replica"


def _field_args(**values: Any) -> str:
    return "_pd.Field(" + ", ".join(f"{k}={py(v)}" for k, v in values.items() if v is not None) + ")"


def _value_alias(name: str, f: EntityField) -> Alias | str:
    """The annotation of one value of ``f``: an alias to declare, or a plain type."""
    kind = f.value_type
    if kind in ("string", "text"):
        return Alias(name, "str", (_field_args(max_length=f.length_limit()[0]),))
    if kind == "email":
        return Alias(name, "str", ("_pd.Field(pattern=_t.EMAIL_PATTERN, max_length=" + str(f.length_limit()[0]) + ")",))
    if kind in ("integer", "number"):
        low, high = bounds(f)
        return Alias(name, "int" if kind == "integer" else "float", (_field_args(ge=low, le=high),))
    if kind in ("decimal", "money"):
        precision, scale = f.digits()
        low, high = bounds(f)
        return Alias(name, "_Decimal", ("_pd.BeforeValidator(_t.decimal_text)",
                                        _field_args(max_digits=precision, decimal_places=scale, ge=low, le=high)))
    if kind == "enum":
        return Alias(name, literal=tuple(f.values))
    return {"boolean": "bool", "date": "_dt.date", "datetime": "_t.UtcDatetime", "uuid": "_uuid.UUID"}[kind]


def _field_view(entity: Entity, f: EntityField) -> tuple[list[Alias], FieldView]:
    alias_name = f"_{entity.name}_{f.name}"
    aliases: list[Alias] = []
    if f.type == "list":
        item = _value_alias(alias_name + "_item", f)
        if isinstance(item, Alias):
            aliases.append(item)
            item_type = item.name
        else:
            item_type = item
        aliases.append(Alias(alias_name, f"list[{item_type}]",
                             (_field_args(max_length=f.max_items or DEFAULT_MAX_ITEMS),)))
        annotation = alias_name
    else:
        value = _value_alias(alias_name, f)
        if isinstance(value, Alias):
            aliases.append(value)
            annotation = value.name
        else:
            annotation = value
    view = FieldView(f.name, python_name(f.name), annotation, f.required, f.value_type, f.type == "list",
                     tuple(f.values))
    return aliases, view


def _relation_view(entity: Entity, r: Relation, blueprint: ServiceBlueprint,
                   service: Service) -> tuple[list[Alias], FieldView, RelationView]:
    owner = blueprint.owner_of(r.target)
    target = owner.entity(r.target) if owner else None
    if owner is None or target is None:
        raise ValueError(f"{entity.name}.{r.name}: no service owns {r.target}")
    remote = owner.name != service.name
    aliases: list[Alias] = []
    if r.kind == "many":
        alias = Alias(f"_{entity.name}_{r.field_name}", "list[_t.ItemId]",
                      (_field_args(min_length=1 if r.required else None, max_length=DEFAULT_MAX_ITEMS),))
        aliases.append(alias)
        annotation = alias.name
    else:
        annotation = "_t.ItemId"
    view = FieldView(r.field_name, python_name(r.field_name), annotation, r.required, "id", r.kind == "many")
    relation = RelationView(
        field=r.field_name,
        target=replica_name(target) if remote else target.plural,
        target_entity=target.name,
        many=r.kind == "many",
        required=r.required,
        on_delete="cascade" if remote else r.delete_rule,
        remote=remote,
    )
    return aliases, view, relation


def entity_view(entity: Entity, blueprint: ServiceBlueprint, service: Service) -> EntityView:
    view = EntityView(entity.name, entity.plural, entity.collection, entity.snake, entity.collection.upper())
    for f in entity.fields:
        aliases, fv = _field_view(entity, f)
        view.aliases += aliases
        view.fields.append(fv)
        if f.lifecycle is not None:
            view.lifecycles.append(LifecycleView(
                f.name, entity.transition_event(f), tuple(f.lifecycle.initial),
                tuple((k, tuple(v)) for k, v in f.lifecycle.transitions.items())))
    for r in entity.relations:
        aliases, fv, rv = _relation_view(entity, r, blueprint, service)
        view.aliases += aliases
        view.fields.append(fv)
        view.relations.append(rv)
    view.unique = entity.unique_fields()
    return view


def entity_views(blueprint: ServiceBlueprint, service: Service) -> list[EntityView]:
    return [entity_view(e, blueprint, service) for e in service.entities]


def replica_views(blueprint: ServiceBlueprint, service: Service) -> list[ReplicaView]:
    targets = blueprint.remote_targets(service)
    return [ReplicaView(replica_name(target), target.name, owner) for target, owner in targets]


def _imports(views: list[EntityView]) -> list[str]:
    text = " ".join(a.base + " ".join(a.extras) for v in views for a in v.aliases)
    text += " ".join(f.annotation for v in views for f in v.fields)
    lines = []
    if "_dt." in text:
        lines.append("import datetime as _dt")
    if "_uuid." in text:
        lines.append("import uuid as _uuid")
    if "_Decimal" in text:
        lines.append("from decimal import Decimal as _Decimal")
    if any(a.base for v in views for a in v.aliases):
        lines.append("from typing import Annotated as _Annotated")
    if any(a.literal for v in views for a in v.aliases):
        lines.append("from typing import Literal as _Literal")
    return lines


DEFAULTS = {
    "string": DEFAULT_MAX_LENGTH["string"],
    "text": DEFAULT_MAX_LENGTH["text"],
    "list_items": DEFAULT_MAX_ITEMS,
    "integer": DEFAULT_INTEGER_BOUND,
    "number": f"{DEFAULT_NUMBER_BOUND:g}",
}


def _context(blueprint: ServiceBlueprint, service: Service) -> dict[str, Any]:
    views = entity_views(blueprint, service)
    return {
        "service": service,
        "pkg": service.package,
        "entities": views,
        "replicas": replica_views(blueprint, service),
        "imports": _imports(views),
        "defaults": DEFAULTS,
        "multi": blueprint.tenancy == "multi",
        "service_tenancy": blueprint.tenancy,
        "default_tenant": blueprint.tenant_id,
        "id_max_length": ID_MAX_LENGTH,
    }


def render_models(blueprint: ServiceBlueprint, service: Service) -> str:
    return render("models.py.j2", **_context(blueprint, service))


def render_catalog(blueprint: ServiceBlueprint, service: Service) -> str:
    return render("catalog.py.j2", **_context(blueprint, service))


def render_routes(blueprint: ServiceBlueprint, service: Service) -> str:
    return render("routes.py.j2", **_context(blueprint, service))


def events_topic(blueprint: ServiceBlueprint) -> str:
    """The topic every service of a product publishes to and subscribes on."""
    return f"{blueprint.product}-events"


def render_local_settings(blueprint: ServiceBlueprint, service: Service) -> str:
    return render("local.settings.json.j2", service=service, topic=events_topic(blueprint))
