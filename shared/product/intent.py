"""The intent: what a user asks the factory to build, validated before anything else runs.

``load_intent`` accepts a path or YAML/JSON text, validates it against
``contracts/intent.schema.json`` and the rules JSON Schema cannot express (relation targets
exist, names are unique, limits apply to the type, lifecycles name real values, contexts cover
every entity once, and no name clashes with what the factory generates) and returns a typed
:class:`Intent`. Every problem is reported at once with its field path
(``entities[1].fields[0].type``) and, where the schema has them, the allowed values; a bad intent
is never half-accepted.

Entities, fields and relations are the model in ``shared/product/entities.py``, the same one the
service blueprint carries.
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
from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import CONTRACTS_DIR
from shared.product.blueprint import NonFunctional
from shared.product.entities import (
    LIST_PARAMETERS,
    NUMERIC_TYPES,
    RESERVED_CLASS_NAMES,
    RESERVED_ROUTES,
    STRING_TYPES,
    SYSTEM_FIELDS,
    Entity,
    default_plural,
    generated_class_names,
    kebab,
    relation_field,
    snake,
    transition_event,
)

__all__ = [
    "Context",
    "Deployment",
    "Feature",
    "Intent",
    "IntentError",
    "IntentProblem",
    "Product",
    "Story",
    "Tenant",
    "default_plural",
    "intent_from_mapping",
    "intent_schema",
    "kebab",
    "load_intent",
    "snake",
]

SCHEMA_PATH = CONTRACTS_DIR / "intent.schema.json"


# --------------------------------------------------------------------------- model


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Product(_Model):
    name: str
    display_name: str = Field(alias="displayName")


class Tenant(_Model):
    tenant_id: str = Field(alias="tenantId")
    mode: Literal["single", "multi"]


class Context(_Model):
    name: str
    description: str = ""
    entities: list[str]


class Story(_Model):
    role: str
    goal: str
    benefit: str


class Feature(_Model):
    name: str
    description: str
    stories: list[Story] = Field(default_factory=list)


class Deployment(_Model):
    target: Literal["functions", "containers"] = "functions"


class Intent(_Model):
    product: Product
    purpose: str
    tenant: Tenant
    entities: list[Entity]
    contexts: list[Context] = Field(default_factory=list)
    features: list[Feature]
    non_functional: NonFunctional = Field(default_factory=NonFunctional, alias="nonFunctional")
    deployment: Deployment = Field(default_factory=Deployment)
    owner_email: str | None = Field(None, alias="ownerEmail")

    def bounded_contexts(self) -> list[tuple[str, list[Entity]]]:
        """(service name, entities) per bounded context; one service named after the product without contexts."""
        if not self.contexts:
            return [(self.product.name, list(self.entities))]
        by_name = {e.name: e for e in self.entities}
        return [(f"{self.product.name}-{c.name}", [by_name[n] for n in c.entities]) for c in self.contexts]

    def to_payload(self) -> dict[str, Any]:
        """The JSON form that travels in ``ProjectInitialized.data.intent`` (defaults filled in)."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        for entity in data["entities"]:
            for field in entity["fields"]:
                for key in ("values", "description"):
                    if not field.get(key):
                        field.pop(key, None)
                if "lifecycle" in field and not field["lifecycle"].get("initial"):
                    field["lifecycle"].pop("initial", None)
            for key in ("unique", "description"):
                if not entity.get(key):
                    entity.pop(key, None)
        nf = data.get("nonFunctional", {})
        if not nf.get("regions"):
            nf.pop("regions", None)
        if not data.get("contexts"):
            data.pop("contexts", None)
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
        return IntentProblem(
            format_path(parts),
            f"{error.instance!r} is reserved: every item gets it from the service "
            f"({', '.join(SYSTEM_FIELDS)}); rename the field",
        )
    if error.validator == "pattern":
        description = error.schema.get("description", "")
        hint = f" — {description}" if description else ""
        return IntentProblem(format_path(parts), f"{error.instance!r} does not match {error.validator_value}{hint}")
    return IntentProblem(format_path(parts), error.message)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class _Rules:
    """Rules JSON Schema cannot express; written defensively because the shape may be wrong too."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.problems: list[IntentProblem] = []
        self.entities = [(i, e) for i, e in enumerate(_list(data.get("entities"))) if isinstance(e, Mapping)]
        self.known = sorted({n for _, e in self.entities if (n := _str(e.get("name")))})
        self.context_of: dict[str, str] = {}

    def add(self, path: str, message: str, allowed: Iterable[str] = ()) -> None:
        self.problems.append(IntentProblem(path, message, tuple(allowed)))

    def run(self) -> list[IntentProblem]:
        self.contexts()
        self.entity_names()
        for i, entity in self.entities:
            self.entity(i, entity)
        self.required_cycles()
        self.features()
        return self.problems

    # ------------------------------------------------------------------ contexts

    def contexts(self) -> None:
        contexts = _list(self.data.get("contexts"))
        names: set[str] = set()
        for i, context in enumerate(contexts):
            context = _mapping(context)
            name = _str(context.get("name"))
            if name is not None:
                if name in names:
                    self.add(f"contexts[{i}].name", f"duplicate context {name!r}")
                names.add(name)
            for j, entity in enumerate(_list(context.get("entities"))):
                if not isinstance(entity, str):
                    continue
                where = f"contexts[{i}].entities[{j}]"
                if entity not in self.known:
                    self.add(where, f"unknown entity {entity!r}", self.known)
                elif entity in self.context_of:
                    self.add(where, f"entity {entity!r} is already in context {self.context_of[entity]!r}; "
                                    "an entity belongs to exactly one context")
                else:
                    self.context_of[entity] = name or "?"
        if contexts:
            for i, entity in self.entities:
                name = _str(entity.get("name"))
                if name and name not in self.context_of:
                    self.add(f"entities[{i}].name", f"entity {name!r} is in no context; add it to one of "
                                                    "the contexts", sorted(names))

    # ------------------------------------------------------------------ entity names

    def entity_names(self) -> None:
        classes: dict[str, str] = {}
        snakes: dict[str, str] = {}
        plurals: dict[str, str] = {}
        transitions: dict[str, str] = {}
        for i, entity in self.entities:
            name = _str(entity.get("name"))
            if name is None:
                continue
            where = f"entities[{i}].name"
            if name in RESERVED_CLASS_NAMES:
                self.add(where, f"entity {name!r} would shadow the Python name {name!r} in the generated models; "
                                "rename the entity")
            for generated in generated_class_names(name):
                owner = classes.get(generated)
                if owner == name:
                    self.add(where, f"duplicate entity name {name!r}")
                    break
                if owner is not None:
                    self.add(where, f"entity {name!r} clashes with the generated class {generated!r} of entity "
                                    f"{owner!r}; rename one of them")
                    break
            for generated in generated_class_names(name):
                classes.setdefault(generated, name)
            other = snakes.setdefault(snake(name), name)
            if other != name:
                self.add(where, f"entities {other!r} and {name!r} both become {snake(name)!r} in generated code; "
                                "rename one of them")
            plural = _str(entity.get("plural")) or default_plural(name)
            ppath = f"entities[{i}].plural"
            if plural in RESERVED_ROUTES:
                self.add(ppath, f"the collection {plural!r} of entity {name!r} clashes with the generated route "
                                f"/api/{plural}; set another plural")
            owner = plurals.setdefault(plural.replace("-", "_"), name)
            if owner != name:
                self.add(ppath, f"duplicate collection name {plural!r} (entities {owner!r} and {name!r})")
            for j, field in enumerate(_list(entity.get("fields"))):
                fname = _str(_mapping(field).get("name"))
                if fname and _mapping(field).get("lifecycle") is not None:
                    event = transition_event(name, fname)
                    first = transitions.setdefault(event, f"{name}.{fname}")
                    if first != f"{name}.{fname}":
                        self.add(f"entities[{i}].fields[{j}].name",
                                 f"the transition event {event!r} of {name}.{fname} is also the event of {first}; "
                                 "rename the field or the entity")

    # ------------------------------------------------------------------ one entity

    def entity(self, i: int, entity: Mapping[str, Any]) -> None:
        name = _str(entity.get("name")) or "?"
        field_names: dict[str, str] = {}
        for j, field in enumerate(_list(entity.get("fields"))):
            if isinstance(field, Mapping):
                self.field(f"entities[{i}].fields[{j}]", name, field, field_names)
        relation_names: set[str] = set()
        for k, relation in enumerate(_list(entity.get("relations"))):
            if isinstance(relation, Mapping):
                self.relation(f"entities[{i}].relations[{k}]", name, relation, field_names, relation_names)
        self.unique(i, name, entity, field_names, relation_names)

    def field(self, path: str, entity: str, field: Mapping[str, Any], names: dict[str, str]) -> None:
        fname, ftype = _str(field.get("name")), field.get("type")
        value_type = field.get("items") if ftype == "list" else ftype
        if fname is not None:
            if fname in names:
                self.add(f"{path}.name", f"duplicate field name {fname!r} in entity {entity!r}")
            names[fname] = "field"
            if fname in LIST_PARAMETERS:
                self.add(f"{path}.name", f"field {entity}.{fname} clashes with the list query parameter "
                                         f"{fname!r} of /api/<collection>; rename the field")
        if "values" in field and value_type != "enum":
            self.add(f"{path}.values", "only enum fields (or lists of enum items) take values",
                     ("remove values", "set type: enum"))
        if value_type == "enum" and ftype == "list" and "values" not in field:
            self.add(f"{path}.values", "a list of enum items needs values")
        if "maxLength" in field and value_type not in STRING_TYPES:
            self.add(f"{path}.maxLength", f"maxLength does not apply to {value_type!r}", sorted(STRING_TYPES))
        for key in ("min", "max"):
            if key in field and ftype not in NUMERIC_TYPES:
                self.add(f"{path}.{key}", f"{key} does not apply to {ftype!r}", sorted(NUMERIC_TYPES))
        low, high = field.get("min"), field.get("max")
        if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
            self.add(f"{path}.max", f"max ({high:g}) is below min ({low:g})")
        for key in ("precision", "scale"):
            if key in field and value_type != "decimal":
                self.add(f"{path}.{key}", f"{key} applies to decimal fields only", ("decimal",))
        precision, scale = field.get("precision"), field.get("scale")
        if isinstance(precision, int) and isinstance(scale, int) and scale > precision:
            self.add(f"{path}.scale", f"scale ({scale}) is larger than precision ({precision})")
        for key in ("items", "maxItems"):
            if key in field and ftype != "list":
                self.add(f"{path}.{key}", f"{key} applies to list fields only", ("list",))
        if "lifecycle" in field:
            self.lifecycle(f"{path}.lifecycle", ftype, field)

    def lifecycle(self, path: str, ftype: Any, field: Mapping[str, Any]) -> None:
        if ftype != "enum":
            self.add(path, f"a lifecycle applies to enum fields only, not {ftype!r}", ("enum",))
            return
        values = [v for v in _list(field.get("values")) if isinstance(v, str)]
        lifecycle = _mapping(field.get("lifecycle"))
        for j, value in enumerate(_list(lifecycle.get("initial"))):
            if value not in values:
                self.add(f"{path}.initial[{j}]", f"{value!r} is not one of the field's values", values)
        for source, targets in _mapping(lifecycle.get("transitions")).items():
            if source not in values:
                self.add(f"{path}.transitions.{source}", f"{source!r} is not one of the field's values", values)
            for j, target in enumerate(_list(targets)):
                if target not in values:
                    self.add(f"{path}.transitions.{source}[{j}]", f"{target!r} is not one of the field's values",
                             values)

    def relation(self, path: str, entity: str, relation: Mapping[str, Any], names: dict[str, str],
                 relation_names: set[str]) -> None:
        target = _str(relation.get("target"))
        if target is not None and target not in self.known:
            self.add(f"{path}.target", f"unknown entity {target!r}", self.known)
        rname = _str(relation.get("name"))
        if rname is None:
            return
        if rname in relation_names or names.get(rname) == "field":
            self.add(f"{path}.name", f"relation name {rname!r} is already used in entity {entity!r}")
        relation_names.add(rname)
        generated = relation_field(rname, str(relation.get("kind", "one")))
        if generated in names:
            self.add(f"{path}.name", f"the relation adds field {generated!r} to entity {entity!r}, which already "
                                     "exists")
        elif generated in SYSTEM_FIELDS:
            self.add(f"{path}.name", f"the relation adds field {generated!r}, which is reserved")
        names[generated] = "relation"
        here, there = self.context_of.get(entity), self.context_of.get(target or "")
        if here and there and here != there and relation.get("onDelete") == "restrict":
            self.add(f"{path}.onDelete",
                     f"{entity}.{rname} points at {target} in context {there!r}: its service cannot see references "
                     f"kept in context {here!r}, so it cannot refuse the delete; use cascade", ("cascade",))

    def unique(self, i: int, entity: str, data: Mapping[str, Any], names: dict[str, str],
               relation_names: set[str]) -> None:
        fields = {_str(_mapping(f).get("name")): _mapping(f) for f in _list(data.get("fields"))}
        kinds = {_str(_mapping(r).get("name")): _mapping(r).get("kind", "one") for r in _list(data.get("relations"))}
        for k, group in enumerate(_list(data.get("unique"))):
            for j, name in enumerate([group] if isinstance(group, str) else _list(group)):
                where = f"entities[{i}].unique[{k}]" + ("" if isinstance(group, str) else f"[{j}]")
                if name in fields:
                    if fields[name].get("type") in ("list", "text"):
                        self.add(where, f"{entity}.{name} is a {fields[name].get('type')} field; uniqueness needs "
                                        "a single short value")
                elif name in relation_names:
                    if kinds.get(name) == "many":
                        self.add(where, f"{entity}.{name} is a many relation; uniqueness needs a single id")
                else:
                    self.add(where, f"{name!r} is not a field or relation of entity {entity!r}",
                             sorted(n for n in [*fields, *relation_names] if n))

    # ------------------------------------------------------------------ across entities

    def required_cycles(self) -> None:
        """Items whose required relations form a cycle could never be created."""
        edges: dict[str, list[str]] = {}
        for _, entity in self.entities:
            name = _str(entity.get("name"))
            if name:
                edges[name] = [t for r in _list(entity.get("relations"))
                               if _mapping(r).get("required") and (t := _str(_mapping(r).get("target")))]
        reported: set[frozenset[str]] = set()
        for i, entity in self.entities:
            start = _str(entity.get("name"))
            if not start:
                continue
            path = self._cycle(start, edges)
            if path and frozenset(path) not in reported:
                reported.add(frozenset(path))
                self.add(f"entities[{i}].relations",
                         f"required relations form a cycle {' -> '.join([*path, path[0]])}: no item could ever be "
                         "created first; make one of these relations optional")

    @staticmethod
    def _cycle(start: str, edges: Mapping[str, list[str]]) -> list[str]:
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in edges.get(node, []):
                if nxt == start:
                    return path
                if nxt not in path:
                    stack.append((nxt, [*path, nxt]))
        return []

    def features(self) -> None:
        seen: set[str] = set()
        for i, feature in enumerate(_list(self.data.get("features"))):
            name = _str(_mapping(feature).get("name"))
            if name is not None:
                if name in seen:
                    self.add(f"features[{i}].name", f"duplicate feature {name!r}")
                seen.add(name)


def _semantic_problems(data: Mapping[str, Any]) -> list[IntentProblem]:
    return _Rules(data).run()
