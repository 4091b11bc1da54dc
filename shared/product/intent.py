"""The intent: what a user asks the factory to build, validated before anything else runs.

``load_intent`` accepts a path or YAML/JSON text, validates it against
``contracts/intent.schema.json`` and a few cross-field rules (relation targets exist, names are
unique, ``values`` only on enum fields...) and returns a typed :class:`Intent`. Every problem is
reported at once with its field path (``entities[1].fields[0].type``) and, where the schema has
them, the allowed values; a bad intent is never half-accepted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts import CONTRACTS_DIR
from shared.product.blueprint import FieldType

SCHEMA_PATH = CONTRACTS_DIR / "intent.schema.json"

STRING_TYPES = frozenset({"string", "text", "email"})
NUMERIC_TYPES = frozenset({"integer", "number", "money"})


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


# --------------------------------------------------------------------------- model


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Product(_Model):
    name: str
    display_name: str = Field(alias="displayName")


class Tenant(_Model):
    tenant_id: str = Field(alias="tenantId")
    mode: Literal["single", "multi"]


class IntentField(_Model):
    name: str
    type: FieldType
    required: bool = True
    description: str = ""
    values: list[str] = Field(default_factory=list)
    max_length: int | None = Field(None, alias="maxLength")
    min: float | None = None


class IntentRelation(_Model):
    name: str
    target: str
    kind: Literal["one", "many"] = "one"


class IntentEntity(_Model):
    name: str
    plural: str = ""
    description: str = ""
    fields: list[IntentField]
    relations: list[IntentRelation] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _default_plural(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and not data.get("plural") and isinstance(data.get("name"), str):
            return {**data, "plural": default_plural(data["name"])}
        return data


class Story(_Model):
    role: str
    goal: str
    benefit: str


class Feature(_Model):
    name: str
    description: str
    stories: list[Story] = Field(default_factory=list)


class NonFunctionalWishes(_Model):
    availability: str = "99.9"
    expected_rps: int = Field(50, alias="expectedRps")
    monthly_budget_usd: float = Field(200.0, alias="monthlyBudgetUsd")
    regions: list[str] = Field(default_factory=lambda: ["westeurope"])
    data_residency: str | None = Field(None, alias="dataResidency")


class Intent(_Model):
    product: Product
    purpose: str
    tenant: Tenant
    entities: list[IntentEntity]
    features: list[Feature]
    non_functional: NonFunctionalWishes = Field(
        default_factory=lambda: NonFunctionalWishes.model_validate({}), alias="nonFunctional"
    )
    owner_email: str | None = Field(None, alias="ownerEmail")

    def to_payload(self) -> dict[str, Any]:
        """The JSON form that travels in ``ProjectInitialized.data.intent`` (defaults filled in)."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        for entity in data["entities"]:
            for field in entity["fields"]:
                if not field.get("values"):
                    field.pop("values", None)
        return data


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class IntentProblem:
    path: str
    message: str
    allowed: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"{self.path or '<root>'}: {self.message}"
        if self.allowed:
            text += f" (allowed: {', '.join(self.allowed)})"
        return text


class IntentError(ValueError):
    """The intent is invalid. ``problems`` lists every problem found, in document order."""

    def __init__(self, problems: Iterable[IntentProblem], source: str = "intent") -> None:
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"{source} is not a valid intent ({len(self.problems)} problem(s)):\n{lines}\n"
            f"Fix the fields above (schema: contracts/intent.schema.json, examples: examples/*.yaml) "
            f"and submit the intent again."
        )


# --------------------------------------------------------------------------- loading


@cache
def intent_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


@cache
def _validator() -> Draft202012Validator:
    schema = intent_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def load_intent(path_or_text: str | Path) -> Intent:
    """Read an intent from a file path or from YAML/JSON text; raise :class:`IntentError` if invalid."""
    source = "intent"
    if isinstance(path_or_text, Path) or ("\n" not in path_or_text and Path(path_or_text).is_file()):
        path = Path(path_or_text)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise IntentError([IntentProblem("", f"cannot read {path}: {exc.strerror}")], str(path)) from exc
        source = str(path)
        text = decode_intent_text(raw, source)
    else:
        text = str(path_or_text)
    return intent_from_mapping(parse_intent_text(text, source), source=source)


# --------------------------------------------------------------------------- limits

#: the most an intent may weigh as compact JSON: it travels inside one ProjectInitialized message
MAX_INTENT_BYTES = 64 * 1024
#: the most intent text (YAML with comments) read before parsing
MAX_INTENT_TEXT_BYTES = 2 * MAX_INTENT_BYTES
_CLIP = 200


class _IntentLoader(yaml.SafeLoader):
    """YAML's safe loader without aliases: an intent never needs ``*ref``, and a billion-laughs file
    would expand to gigabytes once encoded."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, f"aliases (*{event.anchor}) are not allowed in an intent",
                                              event.start_mark)
        return super().compose_node(parent, index)


def decode_intent_text(raw: bytes, source: str = "intent") -> str:
    """UTF-8 text of an intent file, or an :class:`IntentError` saying why it is not one."""
    if len(raw) > MAX_INTENT_TEXT_BYTES:
        raise IntentError([IntentProblem("", f"is {len(raw):,} bytes; an intent file may have at most "
                                             f"{MAX_INTENT_TEXT_BYTES:,}")], source)
    if b"\0" in raw:
        raise IntentError([IntentProblem("", "is a binary file, not YAML or JSON text")], source)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IntentError([IntentProblem("", f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                                             f"{exc.start}); save it as UTF-8")], source) from exc


def parse_intent_text(text: str, source: str = "intent") -> Any:
    """YAML/JSON text -> data, with the text size bounded and aliases refused."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_INTENT_TEXT_BYTES:
        raise IntentError([IntentProblem("", f"is more than {MAX_INTENT_TEXT_BYTES:,} bytes of text")], source)
    try:
        return yaml.load(text, Loader=_IntentLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise IntentError([IntentProblem("", f"not valid YAML/JSON: {' '.join(str(exc).split())}")], source) from exc
    except RecursionError as exc:
        raise IntentError([IntentProblem("", "is nested too deeply to be an intent")], source) from exc


#: the most values (mappings, lists and scalars, counted as they would be encoded) an intent may hold
MAX_INTENT_VALUES = 50_000


def _values_beyond(data: Any, budget: int) -> bool:
    """Whether ``data`` holds more than ``budget`` values, counting a value shared by aliases every time."""
    stack, seen = [data], 0
    while stack:
        value = stack.pop()
        seen += 1
        if seen > budget:
            return True
        if isinstance(value, Mapping):
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
    return False


def limit_problems(data: Any) -> list[IntentProblem]:
    """Size and shape limits, checked first: the encoded size, and every list against its schema ``maxItems``
    (one short line each, where the schema's own message would repeat the whole value)."""
    if _values_beyond(data, MAX_INTENT_VALUES):  # a YAML alias bomb expands without end: count before encoding
        return [IntentProblem("", f"has more than {MAX_INTENT_VALUES:,} values (or repeats one through YAML aliases); "
                                  "an intent is a small document")]
    try:
        size = len(json.dumps(data, separators=(",", ":"), default=str).encode())
    except (RecursionError, ValueError):
        return [IntentProblem("", "is nested too deeply to be an intent")]
    problems: list[IntentProblem] = []
    if size > MAX_INTENT_BYTES:
        problems.append(IntentProblem("", f"is {size:,} bytes as JSON; an intent may have at most "
                                          f"{MAX_INTENT_BYTES:,} (it travels in one message)"))
    schema = intent_schema()

    def walk(value: Any, node: Mapping[str, Any], path: list[str | int]) -> None:
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            node = schema["$defs"][ref.removeprefix("#/$defs/")]
        if isinstance(value, list):
            limit = node.get("maxItems")
            if isinstance(limit, int) and len(value) > limit:
                problems.append(IntentProblem(format_path(path), f"has {len(value)} items; at most {limit}"))
                return
            for i, item in enumerate(value):
                walk(item, node.get("items", {}), [*path, i])
        elif isinstance(value, Mapping):
            properties = node.get("properties", {})
            for key, item in value.items():
                if isinstance(key, str) and key in properties:
                    walk(item, properties[key], [*path, key])

    walk(data, schema, [])
    return problems


def intent_from_mapping(data: Any, *, source: str = "intent") -> Intent:
    """Validate an already parsed intent (e.g. the one carried by ``ProjectInitialized``)."""
    if not isinstance(data, Mapping):
        raise IntentError([IntentProblem("", f"must be a mapping, got {type(data).__name__}")], source)
    limits = limit_problems(data)
    if limits:
        raise IntentError(limits, source)
    problems = [_problem(e) for e in _validator().iter_errors(data)]
    problems += _semantic_problems(data)
    problems = [p if len(p.message) <= _CLIP else IntentProblem(p.path, p.message[:_CLIP] + "…", p.allowed)
                for p in problems]
    if problems:
        unique = sorted(set(problems), key=lambda p: (_sort_key(p.path), p.message))
        raise IntentError(unique, source)
    return Intent.model_validate(dict(data))


def format_path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _sort_key(path: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"[.\[\]]+", path) if t]


def _problem(error: ValidationError) -> IntentProblem:
    parts = list(error.absolute_path)
    if error.validator == "required":
        missing = re.match(r"'([^']+)'", error.message)
        name = missing.group(1) if missing else "?"
        return IntentProblem(format_path([*parts, name]), "is required but missing")
    if error.validator == "additionalProperties":
        extras = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return IntentProblem(
            format_path(parts),
            f"unknown field(s): {', '.join(extras)}",
            tuple(sorted(error.schema.get("properties", {}))),
        )
    if error.validator == "enum":
        return IntentProblem(
            format_path(parts),
            f"{error.instance!r} is not an allowed value",
            tuple(str(v) for v in error.validator_value),
        )
    if error.validator == "not" and parts and parts[-1] == "name":
        return IntentProblem(format_path(parts), f"{error.instance!r} is reserved (the service assigns ids)")
    if error.validator == "pattern":
        description = error.schema.get("description", "")
        hint = f" — {description}" if description else ""
        return IntentProblem(format_path(parts), f"{error.instance!r} does not match {error.validator_value}{hint}")
    return IntentProblem(format_path(parts), error.message)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _semantic_problems(data: Mapping[str, Any]) -> list[IntentProblem]:
    """Rules JSON Schema cannot express; written defensively because the shape may be wrong too."""
    problems: list[IntentProblem] = []
    entities = _list(data.get("entities"))
    names = [e.get("name") for e in entities if isinstance(e, Mapping)]
    known = sorted({n for n in names if isinstance(n, str)})
    seen: set[str] = set()
    seen_plural: set[str] = set()
    for i, entity in enumerate(entities):
        if not isinstance(entity, Mapping):
            continue
        name = entity.get("name")
        if isinstance(name, str):
            if name in seen:
                problems.append(IntentProblem(f"entities[{i}].name", f"duplicate entity name {name!r}"))
            seen.add(name)
            plural = entity.get("plural") or default_plural(name)
            if plural in seen_plural:
                problems.append(IntentProblem(f"entities[{i}].plural", f"duplicate collection name {plural!r}"))
            seen_plural.add(plural)
        fields = _list(entity.get("fields"))
        field_names: set[str] = set()
        for j, field in enumerate(fields):
            if not isinstance(field, Mapping):
                continue
            path = f"entities[{i}].fields[{j}]"
            fname, ftype = field.get("name"), field.get("type")
            if isinstance(fname, str):
                if fname in field_names:
                    problems.append(IntentProblem(f"{path}.name", f"duplicate field name {fname!r}"))
                field_names.add(fname)
            if "values" in field and ftype != "enum":
                problems.append(
                    IntentProblem(f"{path}.values", "only enum fields take values", ("remove values", "set type: enum"))
                )
            if "maxLength" in field and ftype not in STRING_TYPES:
                problems.append(
                    IntentProblem(
                        f"{path}.maxLength",
                        f"maxLength does not apply to {ftype!r}",
                        tuple(sorted(STRING_TYPES)),
                    )
                )
            if "min" in field and ftype not in NUMERIC_TYPES:
                problems.append(
                    IntentProblem(f"{path}.min", f"min does not apply to {ftype!r}", tuple(sorted(NUMERIC_TYPES)))
                )
        relations = _list(entity.get("relations"))
        for k, relation in enumerate(relations):
            if not isinstance(relation, Mapping):
                continue
            target = relation.get("target")
            if isinstance(target, str) and target not in known:
                problems.append(
                    IntentProblem(f"entities[{i}].relations[{k}].target", f"unknown entity {target!r}", tuple(known))
                )
            rname = relation.get("name")
            if isinstance(rname, str):
                generated = rname + ("Ids" if relation.get("kind") == "many" else "Id")
                if generated in field_names:
                    problems.append(
                        IntentProblem(
                            f"entities[{i}].relations[{k}].name",
                            f"the relation adds field {generated!r}, which already exists",
                        )
                    )
    features = _list(data.get("features"))
    feature_names: set[str] = set()
    for i, feature in enumerate(features):
        if isinstance(feature, Mapping) and isinstance(feature.get("name"), str):
            if feature["name"] in feature_names:
                problems.append(IntentProblem(f"features[{i}].name", f"duplicate feature {feature['name']!r}"))
            feature_names.add(feature["name"])
    return problems
