"""The schema registry: every event and command contract in ``contracts/``, by exact version.

Layout (JSON Schema 2020-12, one file per live major)::

    contracts/envelope.v1.json                       the envelope
    contracts/common.v1.json                         shared $defs (ArtifactRef, Finding, Digest, ...)
    contracts/events/<category>/<Name>.v<major>.json an event payload (``x-event`` block)
    contracts/commands/<Name>.v<major>.json          a command payload (``x-command`` block)
    contracts/history/<Name>/<semver>.json           frozen, self-contained copy of every released version

``Registry.get(type, version)`` resolves an exact version: the live file when its ``x-event.version``
equals it, else the history snapshot. Snapshots are *bundled* (every ``$ref`` inlined) when frozen,
so editing ``common.v1.json`` later cannot change what an old version means.

Status of a version: its own ``status``, made stricter by the live file of the same major
(a major deprecated or retired in its live file is deprecated or retired in every minor).
Sensitive paths of a snapshot are its own plus those of the live file of the same major.

Releasing a version: edit the live file (bump ``x-event.version``), then
``python -m shared.contracts.lint freeze`` writes the missing snapshots, and
``python -m shared.contracts.lint check`` (also a unit test) proves every live schema is compatible
with every snapshot of its major (see ``shared.contracts.schema_diff``).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import referencing
import referencing.exceptions
import semver
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing.jsonschema import DRAFT202012

from shared.contracts import BASE_URI, CONTRACTS_DIR, ENVELOPE_FILE, ENVELOPE_URI
from shared.contracts.errors import (
    ContractError,
    EmitterNotAllowedError,
    EnvelopeInvalidError,
    PayloadInvalidError,
    RetiredVersionError,
    UnknownTypeError,
    UnknownVersionError,
)
from shared.contracts.masking import MASK, mask_paths

if TYPE_CHECKING:
    from referencing._core import Resolver

log = logging.getLogger(__name__)


CATEGORIES = ("domain", "lifecycle", "agent", "deployment", "security", "observability", "feedback")
STATUSES = ("stable", "deprecated", "retired")

Kind = Literal["event", "command"]
_META_KEY: dict[str, Kind] = {"x-event": "event", "x-command": "command"}
_STATUS_RANK = {s: i for i, s in enumerate(STATUSES)}


@dataclass(frozen=True)
class SchemaInfo:
    """One resolvable ``(name, version)`` of an event or a command."""

    name: str
    version: str
    major: int
    category: str
    status: str
    emitters: tuple[str, ...]
    consumers: tuple[str, ...]
    sensitive: tuple[str, ...]
    kind: Kind
    path: Path
    schema: dict[str, Any] = field(hash=False, compare=False, repr=False)
    schema_uri: str = ""
    live: bool = True

    @property
    def ref(self) -> str:
        """``Name@version``, the notation ``factory events diff`` takes."""
        return f"{self.name}@{self.version}"


def history_uri(name: str, version: str) -> str:
    return f"{BASE_URI}history/{name}/{version}.json"


def semver_of(text: str) -> semver.Version:
    return semver.Version.parse(text)


def read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ContractError(f"{path}: cannot read the schema: {exc}") from exc
    if not isinstance(doc, dict):
        raise ContractError(f"{path}: a schema must be a JSON object")
    return doc


def _meta(doc: dict[str, Any], path: Path) -> tuple[Kind, dict[str, Any]]:
    found = [(kind, doc[key]) for key, kind in _META_KEY.items() if key in doc]
    if len(found) != 1:
        raise ContractError(f"{path}: a contract needs exactly one 'x-event' or 'x-command' block")
    kind, meta = found[0]
    if not isinstance(meta, dict):
        raise ContractError(f"{path}: the x-{kind} block must be an object")
    for key in ("name", "version", "category", "status", "emitters", "consumers", "sensitive"):
        if key not in meta:
            raise ContractError(f"{path}: x-{kind} is missing '{key}'")
    if meta["category"] not in CATEGORIES:
        raise ContractError(f"{path}: category '{meta['category']}' is not one of {', '.join(CATEGORIES)}")
    if meta["status"] not in STATUSES:
        raise ContractError(f"{path}: status '{meta['status']}' is not one of {', '.join(STATUSES)}")
    try:
        semver_of(meta["version"])
    except (TypeError, ValueError) as exc:
        raise ContractError(f"{path}: version {meta['version']!r} is not semver (e.g. 1.2.0)") from exc
    for key in ("emitters", "consumers", "sensitive"):
        if not isinstance(meta[key], list) or not all(isinstance(v, str) for v in meta[key]):
            raise ContractError(f"{path}: x-{kind}.{key} must be a list of strings")
    return kind, meta


def _info(doc: dict[str, Any], path: Path, *, live: bool) -> SchemaInfo:
    kind, meta = _meta(doc, path)
    version = meta["version"]
    return SchemaInfo(
        name=meta["name"], version=version, major=semver_of(version).major, category=meta["category"],
        status=meta["status"], emitters=tuple(meta["emitters"]), consumers=tuple(meta["consumers"]),
        sensitive=tuple(meta["sensitive"]), kind=kind, path=path, schema=doc,
        schema_uri=str(doc.get("$id", "")), live=live,
    )


# --------------------------------------------------------------------------- $ref bundling

_ANNOTATIONS = frozenset({"description", "title", "default", "examples", "$comment", "deprecated",
                          "readOnly", "writeOnly"})
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})


def dereference(schema: Mapping[str, Any], resolver: Resolver[Any]) -> dict[str, Any]:
    """A copy of ``schema`` with every ``$ref`` inlined (and ``$defs`` dropped).

    A ``$ref`` next to annotations only (description, ...) is merged into the referenced schema;
    next to other keywords it becomes ``allOf: [referenced]`` so its meaning is kept.
    Recursive references are refused: contracts describe finite payloads.
    """

    def walk(node: Any, res: Resolver[Any], stack: tuple[int, ...]) -> Any:
        if isinstance(node, list):
            return [walk(item, res, stack) for item in node]
        if not isinstance(node, dict):
            return node
        if "$id" in node and len(stack) > 1:
            res = res.in_subresource(DRAFT202012.create_resource(node))
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("$ref", "$defs"):
                continue
            if key in _DATA_KEYWORDS or key.startswith("x-"):
                out[key] = copy.deepcopy(value)
            elif key == "properties" and isinstance(value, dict):
                out[key] = {name: walk(sub, res, stack) for name, sub in value.items()}
            else:
                out[key] = walk(value, res, stack)
        if "$ref" not in node:
            return out
        ref = node["$ref"]
        try:
            resolved = res.lookup(ref)
        except referencing.exceptions.Unresolvable as exc:
            raise ContractError(f"cannot resolve $ref {ref!r}: {exc}") from exc
        target = id(resolved.contents)
        if target in stack:
            raise ContractError(f"recursive $ref {ref!r} is not supported in contracts")
        inlined = walk(resolved.contents, resolved.resolver, (*stack, target))
        inlined.pop("$schema", None)
        inlined.pop("$id", None)
        if set(out) <= _ANNOTATIONS:
            return {**inlined, **out} if isinstance(inlined, dict) else inlined
        return {**out, "allOf": [*out.get("allOf", []), inlined]}

    result: dict[str, Any] = walk(dict(schema), resolver, (id(schema),))
    return result


# --------------------------------------------------------------------------- registry


class Registry:
    """Every contract in a ``contracts/`` folder; validators compiled once, on first use."""

    def __init__(self, contracts_dir: Path, infos: dict[str, dict[str, SchemaInfo]],
                 envelope: dict[str, Any], refs: referencing.Registry[Any]) -> None:
        self.contracts_dir = contracts_dir
        self._infos = infos
        self._envelope = envelope
        self._refs = refs
        self._validators: dict[tuple[str, str], Draft202012Validator] = {}
        self._envelope_validator = self._compile(envelope)
        self._embedded = {(n, v): _embedded_envelopes(i.schema) for n, vs in infos.items()
                          for v, i in vs.items()}

    # ----------------------------------------------------------------- loading

    @classmethod
    def load(cls, contracts_dir: Path = CONTRACTS_DIR) -> Registry:
        """Read every schema in ``contracts_dir`` once; raise ``ContractError`` naming a bad file."""
        contracts_dir = Path(contracts_dir)
        envelope_path = contracts_dir / ENVELOPE_FILE
        envelope = read_json(envelope_path)
        resources = [envelope, *(read_json(p) for p in sorted(contracts_dir.glob("common*.json")))]
        live: list[SchemaInfo] = []
        for path in [*sorted((contracts_dir / "events").glob("*/*.json")),
                     *sorted((contracts_dir / "commands").glob("*.json"))]:
            info = _info(read_json(path), path, live=True)
            _check_live_location(info, contracts_dir)
            live.append(info)
            resources.append(info.schema)
        history: list[SchemaInfo] = []
        for path in sorted((contracts_dir / "history").glob("*/*.json")):
            info = _info(read_json(path), path, live=False)
            if info.name != path.parent.name or info.version != path.stem:
                raise ContractError(f"{path}: holds {info.name}@{info.version}; a snapshot must be stored "
                                    f"as history/{info.name}/{info.version}.json")
            history.append(info)
        for doc in resources:
            if "$id" not in doc:
                raise ContractError(f"a schema without '$id' cannot be referenced: {doc.get('title', doc)!r}")
        refs: referencing.Registry[Any] = referencing.Registry().with_resources(
            (doc["$id"], DRAFT202012.create_resource(doc)) for doc in resources
        ).crawl()
        return cls(contracts_dir, _merge(live, history), envelope, refs)

    def _compile(self, schema: Mapping[str, Any]) -> Draft202012Validator:
        return Draft202012Validator(schema, registry=self._refs,
                                    format_checker=Draft202012Validator.FORMAT_CHECKER)

    def _validator(self, info: SchemaInfo) -> Draft202012Validator:
        key = (info.name, info.version)
        validator = self._validators.get(key)
        if validator is None:
            validator = self._validators[key] = self._compile(info.schema)
        return validator

    # ----------------------------------------------------------------- lookup

    def types(self) -> list[str]:
        return sorted(self._infos)

    def versions(self, type: str) -> list[str]:
        return sorted(self._versions_of(type), key=semver_of)

    def all(self) -> list[SchemaInfo]:
        return [self._infos[t][v] for t in self.types() for v in self.versions(t)]

    def get(self, type: str, version: str) -> SchemaInfo:
        versions = self._versions_of(type)
        info = versions.get(version)
        if info is None:
            available = ", ".join(sorted(versions, key=semver_of))
            raise UnknownVersionError(
                f"{type} has no version {version!r}; available versions: {available}. "
                f"Emit one of these, or release {version} with a live schema and "
                f"`python -m shared.contracts.lint freeze`."
            )
        return info

    def latest(self, type: str, major: int | None = None) -> SchemaInfo:
        """The newest stable or deprecated version (of ``major`` when given); retired ones never."""
        candidates = [i for i in self._versions_of(type).values()
                      if i.status != "retired" and (major is None or i.major == major)]
        if not candidates:
            where = f" with major {major}" if major is not None else ""
            raise UnknownVersionError(f"{type} has no usable version{where}; available versions: "
                                      f"{', '.join(self.versions(type))} (retired ones cannot be used)")
        return max(candidates, key=lambda i: semver_of(i.version))

    def _versions_of(self, type: str) -> dict[str, SchemaInfo]:
        versions = self._infos.get(type)
        if versions is None:
            raise UnknownTypeError(f"unknown event or command type {type!r}; known types: "
                                   f"{', '.join(self.types())}. Add contracts/events/<category>/"
                                   f"{type}.v1.json to define it.")
        return versions

    def resolved_schema(self, type: str, version: str) -> dict[str, Any]:
        """The schema of ``(type, version)`` with every ``$ref`` inlined (what a snapshot stores)."""
        info = self.get(type, version)
        return dereference(info.schema, self._refs.resolver(info.schema_uri or ENVELOPE_URI))

    # ----------------------------------------------------------------- validation

    def validate(self, type: str, version: str, data: Mapping[str, Any]) -> list[str]:
        """Validate a payload. Returns warnings (deprecation); raises on any problem.

        Raises ``UnknownTypeError``/``UnknownVersionError``, ``RetiredVersionError``, or
        ``PayloadInvalidError`` listing every error with its JSON-pointer path.
        """
        info = self.get(type, version)
        if info.status == "retired":
            raise RetiredVersionError(
                f"{type}@{version} is retired and may no longer be emitted or accepted; "
                f"use {self._successor(info)}."
            )
        errors = _describe(self._validator(info).iter_errors(data))
        if errors:
            raise PayloadInvalidError(type, version, errors, info.schema_uri)
        if info.status == "deprecated":
            warning = f"{type}@{version} is deprecated; emit {self._successor(info)} instead."
            log.warning(warning)
            return [warning]
        return []

    def _successor(self, info: SchemaInfo) -> str:
        stable = [i for i in self._versions_of(info.name).values() if i.status == "stable"]
        if not stable:
            return "another event (no stable version of this type remains)"
        best = max(stable, key=lambda i: semver_of(i.version))
        return f"{best.name}@{best.version} ({best.schema_uri})"

    def validate_envelope(self, doc: Mapping[str, Any]) -> None:
        """Validate an envelope dict (camelCase) against envelope.v1.json; raise ``EnvelopeInvalidError``."""
        errors = _describe(self._envelope_validator.iter_errors(doc))
        if errors:
            raise EnvelopeInvalidError(errors)

    def check_emitter(self, type: str, version: str, source: str) -> None:
        """Raise ``EmitterNotAllowedError`` unless ``source`` is listed in the contract's emitters."""
        info = self.get(type, version)
        if source not in info.emitters:
            raise EmitterNotAllowedError(
                f"{source!r} may not emit {info.ref}; allowed emitters: {', '.join(info.emitters)}. "
                f"Add it to x-{info.kind}.emitters in {info.path.name} if this is intended."
            )

    # ----------------------------------------------------------------- masking

    def mask(self, type: str, version: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """A deep copy of ``data`` with every sensitive field replaced by ``"***"``.

        Paths are JSON pointers (``/owner/email``) or dotted (``owner.email``); ``*`` matches every
        array item or object member. A payload field holding a whole envelope (``$ref`` to the
        envelope schema, e.g. ``AgentRetryRequested.originalEvent``) has its ``data`` masked by its
        own contract.
        """
        info = self.get(type, version)
        out = copy.deepcopy(dict(data))
        mask_paths(out, info.sensitive)
        for name in self._embedded[(info.name, info.version)]:
            inner = out.get(name)
            if isinstance(inner, dict) and isinstance(inner.get("data"), dict):
                try:
                    inner["data"] = self.mask(str(inner.get("type")), str(inner.get("version")),
                                              inner["data"])
                except ContractError:
                    inner["data"] = MASK  # unknown contract: its sensitive fields are unknown
        return out


def _merge(live: list[SchemaInfo], history: list[SchemaInfo]) -> dict[str, dict[str, SchemaInfo]]:
    infos: dict[str, dict[str, SchemaInfo]] = {}
    kinds: dict[str, Kind] = {}
    live_major: dict[tuple[str, int], SchemaInfo] = {}
    for info in live:
        if (info.name, info.major) in live_major:
            raise ContractError(f"{info.path}: two live files for {info.name} major {info.major}")
        live_major[(info.name, info.major)] = info
    for info in [*live, *history]:
        if kinds.setdefault(info.name, info.kind) != info.kind:
            raise ContractError(f"{info.path}: {info.name} is declared both as an event and as a command")
        versions = infos.setdefault(info.name, {})
        if info.version in versions:
            continue  # the live file wins over its own snapshot
        head = live_major.get((info.name, info.major))
        if head is not None and not info.live:
            status = max(info.status, head.status, key=_STATUS_RANK.__getitem__)
            sensitive = tuple(dict.fromkeys((*info.sensitive, *head.sensitive)))
            info = SchemaInfo(**{**info.__dict__, "status": status, "sensitive": sensitive})
        versions[info.version] = info
    return infos


def _check_live_location(info: SchemaInfo, contracts_dir: Path) -> None:
    expected_name = f"{info.name}.v{info.major}.json"
    if info.kind == "event":
        expected = contracts_dir / "events" / info.category / expected_name
    else:
        expected = contracts_dir / "commands" / expected_name
    if info.path.resolve() != expected.resolve():
        raise ContractError(f"{info.path}: declares {info.kind} {info.name}@{info.version} "
                            f"(category {info.category}); move it to {expected.relative_to(contracts_dir)}")


def _embedded_envelopes(schema: Mapping[str, Any]) -> tuple[str, ...]:
    """Top-level payload fields that hold a whole envelope."""
    props = schema.get("properties", {})
    return tuple(name for name, sub in props.items()
                 if isinstance(sub, dict) and (sub.get("$ref") == ENVELOPE_URI
                                               or sub.get("title") == "Event envelope v1"))


# --------------------------------------------------------------------------- error messages

_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
               float: "number", type(None): "null"}


def _pointer(parts: Any) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(errors: Any) -> list[str]:
    """One line per problem, ``<json pointer>: <what is wrong>``, sorted by path, deduplicated."""
    lines: dict[str, None] = {}
    for error in sorted(errors, key=lambda e: ([str(p) for p in e.absolute_path], e.message)):
        for line in _describe_one(error):
            lines[line] = None
    return list(lines)


def _describe_one(error: ValidationError) -> list[str]:
    where = _pointer(error.absolute_path)
    kind, expected, value = error.validator, error.validator_value, error.instance
    if kind == "required" and isinstance(value, dict):
        base = where.rstrip("/")
        return [f"{base}/{name}: required field is missing" for name in expected if name not in value]
    if kind == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extras = [k for k in value if k not in allowed]
        base = where.rstrip("/")
        return [f"{base}/{k}: unexpected field; allowed fields: {', '.join(allowed)}" for k in extras]
    if kind == "enum":
        return [f"{where}: {short(value)} is not allowed; allowed values: "
                f"{', '.join(json.dumps(v) for v in expected)}"]
    if kind == "const":
        return [f"{where}: must be {json.dumps(expected)}, got {short(value)}"]
    if kind == "type":
        wanted = expected if isinstance(expected, str) else " or ".join(expected)
        got = _JSON_TYPES.get(type(value), type(value).__name__)
        return [f"{where}: expected {wanted}, got {got} {short(value)}"]
    if kind == "pattern":
        return [f"{where}: {short(value)} does not match the pattern {expected}"]
    if kind == "format":
        return [f"{where}: {short(value)} is not a valid {expected}"]
    if kind in ("minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                "minItems", "maxItems"):
        return [f"{where}: {short(value)} violates {kind} {expected}"]
    message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
    return [f"{where}: {message}"]


# --------------------------------------------------------------------------- process-wide instance


@cache
def default_registry() -> Registry:
    """The registry of this checkout's ``contracts/``, loaded once per process."""
    return Registry.load(CONTRACTS_DIR)


