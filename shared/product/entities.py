"""The one model of entities, fields and relations: the intent states them, the blueprint carries them.

``Entity``, ``EntityField``, ``Relation`` and ``Lifecycle`` are what a user writes in an intent
(``contracts/intent.schema.json`` describes the same shapes) and what the solution-architect puts
into each service of the blueprint; the generators (OpenAPI, models, routes, tests, infrastructure)
read them. JSON names are the intent's (``min``, ``maxLength``, ``onDelete``...).

The naming helpers here are the single place that decides how a name becomes a URL segment, a
Python identifier or an event type, so the validation that refuses clashing names and the
generators that produce the names cannot disagree.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FieldType = Literal["string", "text", "integer", "number", "decimal", "money", "boolean", "date", "datetime",
                    "uuid", "email", "enum", "list"]
ItemType = Literal["string", "integer", "number", "decimal", "boolean", "date", "datetime", "uuid", "email", "enum"]

STRING_TYPES = frozenset({"string", "text", "email"})
NUMERIC_TYPES = frozenset({"integer", "number", "decimal", "money"})
DECIMAL_TYPES = frozenset({"decimal", "money"})
#: types that have an order, so lists can be sorted by them and filtered with lt/lte/gt/gte
ORDERED_TYPES = frozenset({"string", "email", "integer", "number", "decimal", "money", "date", "datetime"})

#: defaults the generated services apply when the intent states no limit (documented as defaults)
DEFAULT_MAX_LENGTH = {"string": 200, "text": 10_000, "email": 254}
DEFAULT_MAX_ITEMS = 100
DEFAULT_INTEGER_BOUND = 2**53 - 1  # the largest integer every JSON parser reads exactly
DEFAULT_NUMBER_BOUND = 1e15
MONEY_PRECISION, MONEY_SCALE = 18, 2
DEFAULT_DECIMAL_PRECISION, DEFAULT_DECIMAL_SCALE = 18, 2

#: fields every stored item has; the service sets them, an intent may not declare them
SYSTEM_FIELDS = ("id", "tenantId")
#: query parameters of list endpoints; a field with one of these names would be ambiguous
LIST_PARAMETERS = ("limit", "sort", "continuationToken")
#: routes the generated service registers besides the collections
RESERVED_ROUTES = ("health",)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Lifecycle(_Model):
    """Allowed changes of an enum field; a value that is not a key of ``transitions`` is final."""

    initial: list[str] = Field(default_factory=list, description="values allowed on create (empty: any)")
    transitions: dict[str, list[str]]

    def allows(self, old: str, new: str) -> bool:
        return old == new or new in self.transitions.get(old, [])


class EntityField(_Model):
    name: str = Field(pattern=r"^[a-z][a-zA-Z0-9]*$")
    type: FieldType
    required: bool = True
    description: str = ""
    values: list[str] = Field(default_factory=list, description="allowed values when type (or items) is enum")
    max_length: int | None = Field(None, alias="maxLength")
    minimum: float | None = Field(None, alias="min")
    maximum: float | None = Field(None, alias="max")
    precision: int | None = None
    scale: int | None = None
    items: ItemType | None = None
    max_items: int | None = Field(None, alias="maxItems")
    lifecycle: Lifecycle | None = None

    @property
    def value_type(self) -> str:
        """The type of one value: the item type of a list, the field type otherwise."""
        return self.items if self.type == "list" and self.items else self.type

    def digits(self) -> tuple[int, int]:
        """(precision, scale) of a decimal or money field (or list of decimals)."""
        if self.type == "money":
            return MONEY_PRECISION, MONEY_SCALE
        return (self.precision or DEFAULT_DECIMAL_PRECISION,
                self.scale if self.scale is not None else DEFAULT_DECIMAL_SCALE)

    def length_limit(self) -> tuple[int, bool]:
        """(longest text, whether the intent stated it) for text values."""
        if self.max_length is not None:
            return self.max_length, True
        return DEFAULT_MAX_LENGTH.get(self.value_type, DEFAULT_MAX_LENGTH["string"]), False


class Relation(_Model):
    name: str = Field(pattern=r"^[a-z][a-zA-Z0-9]*$")
    target: str
    kind: Literal["one", "many"] = "one"
    required: bool = False
    on_delete: Literal["restrict", "cascade"] | None = Field(None, alias="onDelete")

    @property
    def field_name(self) -> str:
        """The JSON field that holds the id(s): ``customer`` -> ``customerId``, many -> ``lineIds``."""
        return relation_field(self.name, self.kind)

    @property
    def delete_rule(self) -> str:
        return self.on_delete or "restrict"


class Entity(_Model):
    name: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$")
    plural: str = ""
    description: str = ""
    fields: list[EntityField]
    relations: list[Relation] = Field(default_factory=list)
    unique: list[list[str]] = Field(default_factory=list,
                                    description="field or relation names unique together (per tenant)")

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        out = dict(data)
        if not out.get("plural") and isinstance(out.get("name"), str):
            out["plural"] = default_plural(out["name"])
        if isinstance(out.get("unique"), list):
            out["unique"] = [[item] if isinstance(item, str) else item for item in out["unique"]]
        return out

    @property
    def snake(self) -> str:
        return snake(self.name)

    @property
    def collection(self) -> str:
        """The collection as a Python identifier (``line-items`` -> ``line_items``)."""
        return self.plural.replace("-", "_")

    def field(self, name: str) -> EntityField | None:
        return next((f for f in self.fields if f.name == name), None)

    def unique_fields(self) -> list[list[str]]:
        """Each uniqueness rule as JSON field names (relation names become their id fields)."""
        by_relation = {r.name: r.field_name for r in self.relations}
        return [[by_relation.get(name, name) for name in group] for group in self.unique]

    def transition_event(self, field: EntityField) -> str:
        return transition_event(self.name, field.name)


# --------------------------------------------------------------------------- naming


def pluralize(word: str) -> str:
    """English plural of a lowercase word, good enough for collection names (task -> tasks)."""
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    return word + "s"


def kebab(name: str) -> str:
    """``LineItem`` -> ``line-item``; ``lineItem`` -> ``line-item``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", name).lower()


def snake(name: str) -> str:
    """``LineItem`` / ``line-item`` -> ``line_item``."""
    return kebab(name).replace("-", "_")


def default_plural(entity_name: str) -> str:
    parts = kebab(entity_name).split("-")
    return "-".join([*parts[:-1], pluralize(parts[-1])])


def relation_field(name: str, kind: str) -> str:
    return name + ("Ids" if kind == "many" else "Id")


def entity_events(entity_name: str) -> tuple[str, str, str]:
    return f"{entity_name}Created", f"{entity_name}Updated", f"{entity_name}Deleted"


def transition_event(entity_name: str, field_name: str) -> str:
    return f"{entity_name}{field_name[:1].upper()}{field_name[1:]}Changed"


#: names a generated model class may not take: Python keywords and built-ins (a class named
#: ``Exception`` would shadow the built-in in the generated module)
RESERVED_CLASS_NAMES = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))
#: attribute names pydantic models own; a field with such a name gets a trailing underscore in Python
_MODEL_ATTRIBUTES = frozenset(dir(BaseModel))


def python_name(name: str) -> str:
    """A safe attribute name for a JSON field (``from`` -> ``from_``); the JSON name stays the alias.

    JSON names cannot contain ``_`` (the intent schema forbids it), so ``from_`` can never be a
    JSON name and the generated models accept only the alias.
    """
    unsafe = keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in _MODEL_ATTRIBUTES
    return name + "_" if unsafe or name.startswith("model_") else name


def generated_class_names(entity_name: str) -> tuple[str, ...]:
    """Classes (and OpenAPI schemas) generated for an entity."""
    return entity_name, f"{entity_name}Create", f"{entity_name}Update", f"{entity_name}List"
