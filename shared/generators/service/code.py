"""The domain code the backend developer writes into the scaffolded service.

``render_models`` writes one pydantic model per entity and shape (``<Entity>Create`` for POST,
``<Entity>Update`` for PATCH with every field optional, ``<Entity>`` for responses);
``render_routes`` writes the CRUD functions and registers them on the blueprint ``bp`` with
function-level auth. Plain functions are registered (not decorated) so tests can call them
directly with ``azure.functions.HttpRequest`` objects.
"""

from __future__ import annotations

from shared.generators.service.fieldtypes import (
    EMAIL_PATTERN,
    constraints,
    python_annotation,
    python_name,
    relation_fields,
)
from shared.product.blueprint import Entity, EntityField, Service
from shared.product.intent import snake

_MAX = 110


def _field_line(name: str, annotation: str, default: str | None, args: list[str]) -> list[str]:
    """``name: annotation [= Field(...)]``, wrapped when longer than the line limit."""
    pyname = python_name(name)
    if pyname != name:
        args = [*args, f"alias={name!r}"]
    if default is not None and not args:
        return [f"    {pyname}: {annotation} = {default}"]
    if not args:
        return [f"    {pyname}: {annotation}"]
    call_args = ([] if default is None else [default if default != "[]" else "default_factory=list"]) + args
    line = f"    {pyname}: {annotation} = Field({', '.join(call_args)})"
    if len(line) <= _MAX:
        return [line]
    return [f"    {pyname}: {annotation} = Field(", *[f"        {a}," for a in call_args], "    )"]


def _annotation(field: EntityField, enum_alias: str) -> str:
    if field.type == "enum":
        return enum_alias
    if field.type == "email":
        return "Email"
    if field.type == "money":
        return "Money"
    return python_annotation(field)


def _enum_alias(entity: Entity, field: EntityField) -> str:
    return f"{entity.name}{field.name[:1].upper()}{field.name[1:]}Value"


def _field_args(field: EntityField) -> list[str]:
    if field.type in ("email", "money"):
        return [c for c in constraints(field) if c.startswith("ge=")]
    return constraints(field)


def _fields(entity: Entity, *, optional: bool) -> list[str]:
    lines: list[str] = []
    for f in entity.fields:
        annotation = _annotation(f, _enum_alias(entity, f))
        if f.required and not optional:
            lines += _field_line(f.name, annotation, None, _field_args(f))
        else:
            lines += _field_line(f.name, f"{annotation} | None", "None", _field_args(f))
    for name, many in relation_fields(entity):
        if many:
            lines += _field_line(
                name, "list[str] | None" if optional else "list[str]", "None" if optional else "[]", []
            )
        else:
            lines += _field_line(name, "str | None", "None", [])
    return lines


def _uses(service: Service, *types: str) -> bool:
    return any(f.type in types for e in service.entities for f in e.fields)


def render_models(service: Service) -> str:
    imports = []
    if _uses(service, "date", "datetime"):
        imports.append("import datetime as _dt")
    if _uses(service, "uuid"):
        imports.append("import uuid as _uuid")
    if _uses(service, "money"):
        imports.append("from decimal import Decimal as _Decimal")
    imports.append(
        "from typing import Annotated, Literal" if _uses(service, "enum") else "from typing import Annotated"
    )
    out = [
        f'"""Request and response models of {service.name} (generated from the service blueprint)."""',
        "",
        *imports,
        "",
        "from pydantic import BaseModel, ConfigDict, Field",
        "",
        f"Email = Annotated[str, Field(pattern={EMAIL_PATTERN!r}, max_length=254)]",
    ]
    if _uses(service, "money"):
        out.append("Money = Annotated[_Decimal, Field(max_digits=18, decimal_places=2)]")
    for entity in service.entities:
        for f in entity.fields:
            if f.type == "enum":
                values = ", ".join(repr(v) for v in f.values)
                line = f"{_enum_alias(entity, f)} = Literal[{values}]"
                out += (
                    [line]
                    if len(line) <= _MAX
                    else [f"{_enum_alias(entity, f)} = Literal[", *[f"    {v!r}," for v in f.values], "]"]
                )
    out += [
        "",
        "",
        "class _Model(BaseModel):",
        '    model_config = ConfigDict(extra="forbid", populate_by_name=True)',
    ]
    for entity in service.entities:
        path = f"/api/{entity.plural}"
        out += [
            "",
            "",
            f"class {entity.name}Create(_Model):",
            f'    """Body of ``POST {path}``."""',
            "",
            *_fields(entity, optional=False),
        ]
        out += [
            "",
            "",
            f"class {entity.name}Update(_Model):",
            f'    """Body of ``PATCH {path}/{{id}}``: only the fields sent change."""',
            "",
            *_fields(entity, optional=True),
        ]
        out += [
            "",
            "",
            f"class {entity.name}(_Model):",
            f'    """A stored {entity.name} as the API returns it."""',
            "",
            "    id: str",
            *_fields(entity, optional=False),
        ]
    return "\n".join(out) + "\n"


def render_routes(service: Service) -> str:
    pkg = service.package
    model_names = sorted(n for e in service.entities for n in (e.name, f"{e.name}Create", f"{e.name}Update"))
    model_import = f"from {pkg}.models import {', '.join(model_names)}"
    if len(model_import) > _MAX:
        model_import = "\n".join([f"from {pkg}.models import (", *[f"    {n}," for n in model_names], ")"])
    out = [
        f'"""HTTP functions of {service.name} (generated from the service blueprint).',
        "",
        "Every route needs a function key. Bodies are validated by the pydantic models; errors are",
        "problem+json responses (400 invalid JSON, 404 unknown id, 422 field errors).",
        '"""',
        "",
        "import uuid",
        "",
        "import azure.functions as func",
        "from pydantic import BaseModel",
        "",
        model_import,
        f"from {pkg}.problems import guarded, json_response, not_found, read_json",
        f"from {pkg}.repository import Repository, repository_for",
        "",
        "bp = func.Blueprint()",
        "",
        "",
        "def _public(model: type[BaseModel], item: dict) -> dict:",
        '    """The item as the API returns it (validated against the response model)."""',
        '    return model.model_validate(item).model_dump(mode="json", by_alias=True)',
    ]
    registrations: list[str] = []
    for entity in service.entities:
        out += _entity_routes(entity)
        registrations += _registrations(entity)
    out += ["", "", *registrations]
    return "\n".join(out) + "\n"


def _entity_routes(entity: Entity) -> list[str]:
    name = entity.name
    one = snake(name)
    many = entity.plural.replace("-", "_")
    repo = f"_{many}"
    dump = 'model_dump(mode="json", by_alias=True)'
    return [
        "",
        "",
        f"def {repo}() -> Repository:",
        f'    return repository_for("{entity.plural}")',
        "",
        "",
        "@guarded",
        f"def list_{many}(req: func.HttpRequest) -> func.HttpResponse:",
        f"    items = [_public({name}, item) for item in {repo}().list()]",
        '    return json_response({"items": items, "count": len(items)})',
        "",
        "",
        "@guarded",
        f"def create_{one}(req: func.HttpRequest) -> func.HttpResponse:",
        f"    body = {name}Create.model_validate(read_json(req))",
        f'    item = {repo}().add({{"id": str(uuid.uuid4()), **body.{dump}}})',
        f'    headers = {{"Location": f"/api/{entity.plural}/{{item[\'id\']}}"}}',
        f"    return json_response(_public({name}, item), 201, headers)",
        "",
        "",
        "@guarded",
        f"def read_{one}(req: func.HttpRequest) -> func.HttpResponse:",
        '    item_id = req.route_params.get("id", "")',
        f"    item = {repo}().get(item_id)",
        "    if item is None:",
        f'        raise not_found("{name}", item_id)',
        f"    return json_response(_public({name}, item))",
        "",
        "",
        "@guarded",
        f"def update_{one}(req: func.HttpRequest) -> func.HttpResponse:",
        '    item_id = req.route_params.get("id", "")',
        f"    current = {repo}().get(item_id)",
        "    if current is None:",
        f'        raise not_found("{name}", item_id)',
        f"    changes = {name}Update.model_validate(read_json(req)).model_dump(",
        '        mode="json", by_alias=True, exclude_unset=True)',
        '    fields = {key: value for key, value in {**current, **changes}.items() if key != "id"}',
        f"    merged = {name}Create.model_validate(fields)",
        f'    item = {repo}().replace({{"id": item_id, **merged.{dump}}})',
        f"    return json_response(_public({name}, item))",
        "",
        "",
        "@guarded",
        f"def delete_{one}(req: func.HttpRequest) -> func.HttpResponse:",
        '    item_id = req.route_params.get("id", "")',
        f"    if not {repo}().delete(item_id):",
        f'        raise not_found("{name}", item_id)',
        "    return func.HttpResponse(status_code=204)",
    ]


def _registrations(entity: Entity) -> list[str]:
    one = snake(entity.name)
    many = entity.plural.replace("-", "_")
    auth = "auth_level=func.AuthLevel.FUNCTION"
    routes = [
        (entity.plural, "GET", f"list_{many}"),
        (entity.plural, "POST", f"create_{one}"),
        (f"{entity.plural}/{{id}}", "GET", f"read_{one}"),
        (f"{entity.plural}/{{id}}", "PATCH", f"update_{one}"),
        (f"{entity.plural}/{{id}}", "DELETE", f"delete_{one}"),
    ]
    lines: list[str] = []
    for route, method, handler in routes:
        line = f'bp.route(route="{route}", methods=["{method}"], {auth})({handler})'
        lines += [line] if len(line) <= _MAX else [line[: -len(handler) - 1], f"    {handler}", ")"]
    return lines
