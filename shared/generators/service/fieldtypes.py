"""One table per concern for the blueprint's field types: JSON Schema, Python type, sample values.

The API designer, the backend developer and the QA engineer all read these, so the OpenAPI
contract, the pydantic models and the tests agree on what a field accepts.
"""

from __future__ import annotations

import keyword
import math
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from shared.product.blueprint import Entity, EntityField

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
MONEY_PATTERN = r"^-?\d{1,16}(\.\d{1,2})?$"

_BASE_SCHEMA: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "text": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "uuid": {"type": "string", "format": "uuid"},
    "email": {"type": "string", "format": "email", "pattern": EMAIL_PATTERN, "maxLength": 254},
    "enum": {"type": "string"},
    "money": {"type": "string", "pattern": MONEY_PATTERN, "description": "decimal amount, 2 places"},
}

_PY_TYPE: dict[str, str] = {
    "string": "str",
    "text": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "date": "_dt.date",
    "datetime": "_dt.datetime",
    "uuid": "_uuid.UUID",
    "email": "str",
    "enum": "str",
    "money": "_Decimal",
}

_RESERVED = set(dir(BaseModel)) | {"id"}


def json_schema(field: EntityField) -> dict[str, Any]:
    schema = dict(_BASE_SCHEMA[field.type])
    if field.type == "enum":
        schema["enum"] = list(field.values)
    if field.max_length is not None:
        schema["maxLength"] = field.max_length
    if field.minimum is not None and field.type in ("integer", "number"):
        schema["minimum"] = int(field.minimum) if field.type == "integer" else field.minimum
    if field.description:
        schema["description"] = field.description
    return schema


def relation_fields(entity: Entity) -> list[tuple[str, bool]]:
    """``(field name, is_list)`` for each relation: ``customer`` -> ``customerId``, many -> ``lineIds``."""
    return [(r.name + ("Ids" if r.kind == "many" else "Id"), r.kind == "many") for r in entity.relations]


def python_name(name: str) -> str:
    """A safe attribute name (``from`` -> ``from_``); the JSON name stays in the alias."""
    return name + "_" if keyword.iskeyword(name) or name in _RESERVED or name.startswith("model_") else name


def python_annotation(field: EntityField) -> str:
    if field.type == "enum":
        return "Literal[" + ", ".join(repr(v) for v in field.values) + "]"
    return _PY_TYPE[field.type]


def constraints(field: EntityField) -> list[str]:
    out: list[str] = []
    if field.type in ("string", "text") and field.max_length is not None:
        out.append(f"max_length={field.max_length}")
    if field.type == "email":
        out += [f"pattern={EMAIL_PATTERN!r}", f"max_length={field.max_length or 254}"]
    if field.type == "money":
        out += ["max_digits=18", "decimal_places=2"]
    if field.minimum is not None and field.type in ("integer", "number", "money"):
        value = int(field.minimum) if field.type == "integer" else field.minimum
        out.append(f"ge={value!r}")
    return out


def sample_value(field: EntityField) -> Any:
    """A valid value for the field, as JSON."""
    low = field.minimum
    match field.type:
        case "string":
            return f"Sample {field.name}"[: field.max_length or 200]
        case "text":
            return f"Some longer text for {field.name}."[: field.max_length or 2000]
        case "integer":
            return max(1, math.ceil(low)) if low is not None else 1
        case "number":
            return (low + 1.5) if low is not None else 1.5
        case "boolean":
            return True
        case "date":
            return "2024-01-15"
        case "datetime":
            return "2024-01-15T10:30:00Z"
        case "uuid":
            return "00000000-0000-4000-8000-000000000001"
        case "email":
            return "someone@example.com"
        case "enum":
            return field.values[0]
        case "money":
            return str((Decimal(str(low)) if low is not None else Decimal(0)) + Decimal("10.00"))
    raise ValueError(f"unknown field type {field.type!r}")


def other_value(field: EntityField) -> Any:
    """A different valid value (used to prove an update changes the item)."""
    value = sample_value(field)
    match field.type:
        case "string" | "text":
            return ("Changed " + str(value))[: field.max_length or 2000]
        case "integer" | "number":
            return value + 1
        case "boolean":
            return False
        case "date":
            return "2024-02-20"
        case "datetime":
            return "2024-02-20T08:00:00Z"
        case "uuid":
            return "00000000-0000-4000-8000-000000000002"
        case "email":
            return "someone.else@example.com"
        case "enum":
            return field.values[-1]
        case "money":
            return str(Decimal(value) + Decimal("5.00"))
    raise ValueError(f"unknown field type {field.type!r}")


def below_minimum(field: EntityField) -> Any | None:
    if field.minimum is None or field.type not in ("integer", "number", "money"):
        return None
    if field.type == "integer":
        return math.ceil(field.minimum) - 1
    if field.type == "money":
        return str(Decimal(str(field.minimum)) - Decimal("0.01"))
    return field.minimum - 0.5
