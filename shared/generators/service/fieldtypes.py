"""One table per concern for the field types: JSON Schema, Python annotation parts, sample values.

The API designer, the backend developer and the QA engineer all read these, so the OpenAPI
contract, the pydantic models and the tests agree on what a field accepts, including the limits
the service applies by default when the intent states none (``DEFAULT_*`` in
``shared/product/entities.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shared.product.entities import (
    DEFAULT_INTEGER_BOUND,
    DEFAULT_MAX_ITEMS,
    DEFAULT_NUMBER_BOUND,
    Entity,
    EntityField,
    Relation,
)

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
ID_MAX_LENGTH = 64
#: the template's fieldtypes.ID_PATTERN: what an id (and a reference to one) looks like
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


def decimal_pattern(precision: int, scale: int) -> str:
    whole = precision - scale
    fraction = rf"(\.\d{{1,{scale}}})?" if scale else ""
    return rf"^-?\d{{1,{max(whole, 1)}}}{fraction}$"


def bounds(f: EntityField) -> tuple[Any, Any]:
    """(minimum, maximum) of a numeric field: the intent's, else the service defaults (None: no bound)."""
    kind = f.value_type
    if kind == "integer":
        low = math.ceil(f.minimum) if f.minimum is not None else -DEFAULT_INTEGER_BOUND
        high = math.floor(f.maximum) if f.maximum is not None else DEFAULT_INTEGER_BOUND
        return low, high
    if kind == "number":
        return (f.minimum if f.minimum is not None else -DEFAULT_NUMBER_BOUND,
                f.maximum if f.maximum is not None else DEFAULT_NUMBER_BOUND)
    if kind in ("decimal", "money"):
        return _number(f.minimum), _number(f.maximum)
    return None, None


def _number(value: float | None) -> Any:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def _value_schema(f: EntityField) -> dict[str, Any]:
    kind = f.value_type
    schema: dict[str, Any]
    if kind in ("string", "text"):
        schema = {"type": "string", "maxLength": f.length_limit()[0]}
    elif kind == "email":
        schema = {"type": "string", "format": "email", "pattern": EMAIL_PATTERN, "maxLength": f.length_limit()[0]}
    elif kind in ("integer", "number"):
        low, high = bounds(f)
        schema = {"type": kind, "minimum": low, "maximum": high}
    elif kind in ("decimal", "money"):
        precision, scale = f.digits()
        schema = {"type": "string", "pattern": decimal_pattern(precision, scale),
                  "description": f"decimal number as a string, at most {precision} digits, {scale} after the point"}
        low, high = bounds(f)
        if low is not None:
            schema["x-minimum"] = low
        if high is not None:
            schema["x-maximum"] = high
    elif kind == "boolean":
        schema = {"type": "boolean"}
    elif kind == "date":
        schema = {"type": "string", "format": "date"}
    elif kind == "datetime":
        schema = {"type": "string", "format": "date-time", "description": "with a time zone; stored in UTC"}
    elif kind == "uuid":
        schema = {"type": "string", "format": "uuid"}
    elif kind == "enum":
        schema = {"type": "string", "enum": list(f.values)}
    else:
        raise ValueError(f"unknown field type {kind!r}")
    return schema


def json_schema(f: EntityField) -> dict[str, Any]:
    """The OpenAPI (JSON Schema 2020-12) schema of a field's value."""
    if f.type == "list":
        schema: dict[str, Any] = {"type": "array", "items": _value_schema(f),
                                  "maxItems": f.max_items or DEFAULT_MAX_ITEMS}
    else:
        schema = _value_schema(f)
    if f.lifecycle is not None:
        moves = "; ".join(f"{k} -> {', '.join(v) or 'final'}" for k, v in f.lifecycle.transitions.items())
        schema["x-lifecycle"] = {"initial": list(f.lifecycle.initial), "transitions": f.lifecycle.transitions}
        schema["description"] = f"lifecycle: {moves}"
    if f.description:
        schema["description"] = f.description
    return schema


def relation_schema(r: Relation) -> dict[str, Any]:
    one = {"type": "string", "pattern": ID_PATTERN, "maxLength": ID_MAX_LENGTH, "description": f"id of a {r.target}"}
    if r.kind == "many":
        schema = {"type": "array", "items": one, "maxItems": DEFAULT_MAX_ITEMS}
        if r.required:
            schema["minItems"] = 1
        return schema
    return one


# --------------------------------------------------------------------------- sample values


def sample_value(f: EntityField) -> Any:
    """A valid value for the field, as JSON."""
    if f.type == "list":
        return [_sample(f)]
    return _sample(f)


def _sample(f: EntityField, variant: int = 0) -> Any:
    kind = f.value_type
    limit = f.length_limit()[0]
    match kind:
        case "string":
            return (["Sample ", "Changed "][variant] + f.name)[:limit]
        case "text":
            return (["Some longer text for ", "Other text for "][variant] + f.name + ".")[:limit]
        case "integer":
            low, high = bounds(f)
            value = max(low, min(1, high)) + variant
            return value if value <= high else low
        case "number":
            low, high = bounds(f)
            value = max(low, min(1.5, high)) + variant * 0.5
            return value if value <= high else low
        case "decimal" | "money":
            _, scale = f.digits()
            low, high = bounds(f)
            step = Decimal(1).scaleb(-scale) if scale else Decimal(1)
            value = Decimal(str(low)) if low is not None else Decimal(0)
            value = value + step * (1 + variant)
            if high is not None and value > Decimal(str(high)):
                value = Decimal(str(high))
            return str(value.quantize(step))
        case "boolean":
            return variant == 0
        case "date":
            return ["2024-01-15", "2024-02-20"][variant]
        case "datetime":
            return ["2024-01-15T10:30:00Z", "2024-02-20T08:00:00Z"][variant]
        case "uuid":
            return f"00000000-0000-4000-8000-00000000000{variant + 1}"
        case "email":
            return ["someone@example.com", "someone.else@example.com"][variant]
        case "enum":
            return f.values[0] if variant == 0 else f.values[-1]
    raise ValueError(f"unknown field type {kind!r}")


def other_value(f: EntityField) -> Any:
    """A different valid value (used to prove an update changes the item)."""
    if f.type == "list":
        return [_sample(f, 1)]
    return _sample(f, 1)


def below_minimum(f: EntityField) -> Any | None:
    if f.type == "list" or f.minimum is None:
        return None
    if f.type == "integer":
        return math.ceil(f.minimum) - 1
    if f.type in ("decimal", "money"):
        _, scale = f.digits()
        return str(Decimal(str(f.minimum)) - Decimal(1).scaleb(-scale))
    if f.type == "number":
        return f.minimum - 0.5
    return None


def above_maximum(f: EntityField) -> Any | None:
    if f.type == "list" or f.maximum is None:
        return None
    if f.type == "integer":
        return math.floor(f.maximum) + 1
    if f.type in ("decimal", "money"):
        _, scale = f.digits()
        return str(Decimal(str(f.maximum)) + Decimal(1).scaleb(-scale))
    if f.type == "number":
        return f.maximum + 0.5
    return None


#: values a lax parser would coerce into the field's type; a strict service refuses each (422)
_COERCIBLE: dict[str, Any] = {
    "string": 12,
    "text": 12,
    "email": 12,
    "integer": "1",
    "number": "1.5",
    "decimal": 1.5,
    "money": 10,
    "boolean": "yes",
    "date": 20240115,
    "datetime": 1705314600,
    "uuid": 1,
    "enum": 1,
}


def coercible_value(f: EntityField) -> Any:
    """A value of the wrong JSON type that a lax parser would accept (``"1"`` for an integer)."""
    if f.type == "list":
        return [_COERCIBLE[f.value_type]]
    return _COERCIBLE[f.type]


@dataclass(frozen=True)
class Limits:
    """The limits a test can probe on one entity: text lengths, numeric bounds, list sizes.

    ``too_long`` maps a field to (type, length, is a list); ``too_many`` to (an item, count): the
    tests build the values, so the generated code stays short.
    """

    too_long: dict[str, tuple[str, int, bool]] = field(default_factory=dict)
    below: dict[str, Any] = field(default_factory=dict)
    above: dict[str, Any] = field(default_factory=dict)
    too_many: dict[str, tuple[Any, int]] = field(default_factory=dict)
    too_precise: dict[str, Any] = field(default_factory=dict)


def limits(entity: Entity) -> Limits:
    out = Limits()
    for f in entity.fields:
        if f.value_type in ("string", "text", "email"):
            limit = f.length_limit()[0]
            out.too_long[f.name] = (f.value_type, limit + 1, f.type == "list")
        if f.type in ("integer", "number", "decimal", "money"):
            low = below_minimum(f)
            high = above_maximum(f)
            if low is None and f.type == "integer":
                low = -DEFAULT_INTEGER_BOUND - 1
            if high is None and f.type == "integer":
                high = 10**40
            if high is None and f.type == "number":
                high = DEFAULT_NUMBER_BOUND * 10
            if low is not None:
                out.below[f.name] = low
            if high is not None:
                out.above[f.name] = high
        if f.type in ("decimal", "money"):
            _, scale = f.digits()
            out.too_precise[f.name] = "1." + "1" * (scale + 1)
        if f.type == "list":
            out.too_many[f.name] = (_sample(f), (f.max_items or DEFAULT_MAX_ITEMS) + 1)
    return out
