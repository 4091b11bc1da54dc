"""Classify the change between two versions of a payload schema as compatible or breaking.

"Compatible" means a consumer written against the new schema still reads every payload the old
schema allowed, and no field a consumer relied on disappears. Anything narrower is breaking and
needs a new major file (``<Name>.v<major+1>.json``) plus an upcaster in ``shared.contracts.upcasters``.

``diff_schemas`` is pure and works on dereferenced schemas (``Registry.resolved_schema`` or a
history snapshot). A ``$ref`` left in either side is compared as text: a different target is
reported as breaking because it cannot be proven compatible. Keywords it does not understand
are treated the same way: when in doubt, breaking.

Paths are payload locations: ``/artifacts/*/digest`` (``*`` = every array item, ``/`` = root).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from shared.contracts.errors import ContractError

if TYPE_CHECKING:
    from shared.contracts.registry import Registry

Compatibility = Literal["compatible", "breaking"]


@dataclass(frozen=True)
class Change:
    path: str
    kind: str
    compatibility: Compatibility
    reason: str

    @property
    def breaking(self) -> bool:
        return self.compatibility == "breaking"


# keywords that never change which payloads are valid
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description", "default",
                          "examples", "deprecated", "readOnly", "writeOnly", "contentMediaType",
                          "contentEncoding"})
# keywords handled explicitly below
_HANDLED = frozenset({"type", "enum", "const", "properties", "required", "additionalProperties", "items",
                      "$ref", "pattern", "format", "multipleOf", "uniqueItems"})
# upper bounds: adding one or lowering it narrows; lower bounds: adding one or raising it narrows
_UPPER = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_LOWER = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")
_ALL_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})


def diff_schemas(old: dict[str, Any] | bool, new: dict[str, Any] | bool, path: str = "") -> list[Change]:
    """Every change from ``old`` to ``new``, each classified compatible or breaking."""
    where = path or "/"
    old, new = _as_schema(old), _as_schema(new)
    changes: list[Change] = []
    changes += _diff_ref(old, new, where)
    changes += _diff_type(old, new, where)
    changes += _diff_enum(old, new, where)
    changes += _diff_bounds(old, new, where)
    changes += _diff_text_constraints(old, new, where)
    changes += _diff_object(old, new, path)
    if isinstance(old.get("items"), dict | bool) and isinstance(new.get("items"), dict | bool):
        changes += diff_schemas(old["items"], new["items"], f"{path}/*")
    elif "items" in old or "items" in new:
        changes += _diff_opaque("items", old, new, where)
    for key in sorted((set(old) | set(new)) - _ANNOTATIONS - _HANDLED - set(_UPPER) - set(_LOWER)):
        if not key.startswith("x-"):
            changes += _diff_opaque(key, old, new, where)
    return changes


def breaking(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.breaking]


def is_compatible(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return not breaking(diff_schemas(old, new))


# --------------------------------------------------------------------------- rules


def _as_schema(schema: dict[str, Any] | bool) -> dict[str, Any]:
    """Boolean schemas as objects: ``true`` accepts anything, ``false`` nothing."""
    if schema is True:
        return {}
    if schema is False:
        return {"not": {}}
    return schema


def _diff_ref(old: dict[str, Any], new: dict[str, Any], where: str) -> list[Change]:
    if old.get("$ref") == new.get("$ref"):
        return []
    return [Change(where, "ref-changed", "breaking",
                   f"$ref changed from {old.get('$ref')!r} to {new.get('$ref')!r}; dereference both "
                   f"schemas to compare what they mean")]


def _types(schema: dict[str, Any]) -> frozenset[str]:
    declared = schema.get("type")
    if declared is None:
        return _ALL_TYPES
    names = frozenset([declared] if isinstance(declared, str) else declared)
    return names | {"integer"} if "number" in names else names


def _diff_type(old: dict[str, Any], new: dict[str, Any], where: str) -> list[Change]:
    before, after = _types(old), _types(new)
    if before == after:
        return []
    if before <= after:
        return [Change(where, "type-widened", "compatible",
                       f"type widened from {_fmt_type(old)} to {_fmt_type(new)}")]
    return [Change(where, "type-changed", "breaking",
                   f"type changed from {_fmt_type(old)} to {_fmt_type(new)}; "
                   f"{', '.join(sorted(before - after))} no longer accepted")]


def _fmt_type(schema: dict[str, Any]) -> str:
    declared = schema.get("type", "any")
    return declared if isinstance(declared, str) else "|".join(declared)


def _allowed_values(schema: dict[str, Any]) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    if "enum" in schema:
        return list(schema["enum"])
    return None


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _diff_enum(old: dict[str, Any], new: dict[str, Any], where: str) -> list[Change]:
    before, after = _allowed_values(old), _allowed_values(new)
    if before is None and after is None:
        return []
    if before is None:
        return [Change(where, "enum-added", "breaking",
                       f"values now restricted to {after}; other values are rejected")]
    if after is None:
        return [Change(where, "enum-removed", "compatible", "the value restriction was lifted")]
    old_keys, new_keys = {_key(v) for v in before}, {_key(v) for v in after}
    changes = []
    removed = [v for v in before if _key(v) not in new_keys]
    added = [v for v in after if _key(v) not in old_keys]
    if removed:
        changes.append(Change(where, "enum-narrowed", "breaking", f"allowed values removed: {removed}"))
    if added:
        changes.append(Change(where, "enum-widened", "compatible", f"allowed values added: {added}"))
    return changes


def _diff_bounds(old: dict[str, Any], new: dict[str, Any], where: str) -> list[Change]:
    changes = []
    for key in (*_UPPER, *_LOWER):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        upper = key in _UPPER
        if after is None:
            changes.append(Change(where, "constraint-relaxed", "compatible", f"{key} {before} removed"))
        elif before is None:
            changes.append(Change(where, "constraint-tightened", "breaking", f"{key} {after} added"))
        elif (after < before) == upper:
            changes.append(Change(where, "constraint-tightened", "breaking", f"{key} {before} -> {after}"))
        else:
            changes.append(Change(where, "constraint-relaxed", "compatible", f"{key} {before} -> {after}"))
    return changes


def _diff_text_constraints(old: dict[str, Any], new: dict[str, Any], where: str) -> list[Change]:
    changes = []
    for key in ("pattern", "format", "multipleOf"):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if after is None:
            changes.append(Change(where, "constraint-relaxed", "compatible", f"{key} {before!r} removed"))
        else:
            verb = "added" if before is None else f"changed from {before!r}"
            changes.append(Change(where, "constraint-tightened", "breaking", f"{key} {after!r} {verb}"))
    if not old.get("uniqueItems") and new.get("uniqueItems"):
        changes.append(Change(where, "constraint-tightened", "breaking", "uniqueItems added"))
    elif old.get("uniqueItems") and not new.get("uniqueItems"):
        changes.append(Change(where, "constraint-relaxed", "compatible", "uniqueItems removed"))
    return changes


def _diff_object(old: dict[str, Any], new: dict[str, Any], path: str) -> list[Change]:
    where = path or "/"
    changes: list[Change] = []
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    old_req, new_req = set(old.get("required", [])), set(new.get("required", []))
    for name in old_props:
        if name not in new_props:
            changes.append(Change(f"{path}/{name}", "property-removed", "breaking",
                                  f"property '{name}' was removed; consumers reading it break"))
        else:
            changes += diff_schemas(old_props[name], new_props[name], f"{path}/{name}")
    for name in new_props:
        if name in old_props:
            continue
        if name in new_req:
            changes.append(Change(f"{path}/{name}", "required-property-added", "breaking",
                                  f"new required property '{name}'; payloads without it are rejected"))
        else:
            changes.append(Change(f"{path}/{name}", "optional-property-added", "compatible",
                                  f"new optional property '{name}'"))
    for name in sorted(new_req - old_req):
        if name in old_props or name not in new_props:
            changes.append(Change(f"{path}/{name}", "became-required", "breaking",
                                  f"'{name}' is now required; payloads without it are rejected"))
    for name in sorted(old_req - new_req):
        changes.append(Change(f"{path}/{name}", "required-removed", "compatible",
                              f"'{name}' is no longer required; consumers must tolerate its absence"))
    changes += _diff_additional(old.get("additionalProperties"), new.get("additionalProperties"), path, where)
    return changes


def _diff_additional(before: Any, after: Any, path: str, where: str) -> list[Change]:
    open_before, open_after = before in (None, True), after in (None, True)
    if open_before and open_after:
        return []
    if open_before and after is False:
        return [Change(where, "additional-properties-closed", "breaking",
                       "additionalProperties true -> false; payloads with extra fields are rejected")]
    if before is False and open_after:
        return [Change(where, "additional-properties-opened", "compatible",
                       "additionalProperties false -> true; extra fields are now accepted")]
    if isinstance(before, dict) and isinstance(after, dict):
        return diff_schemas(before, after, f"{path}/*")
    return diff_schemas(True if before is None else before, True if after is None else after,
                        f"{path}/* (additionalProperties)")


def _diff_opaque(key: str, old: dict[str, Any], new: dict[str, Any], where: str) -> list[Change]:
    if _key(old.get(key)) == _key(new.get(key)):
        return []
    if key not in new:
        return [Change(where, "keyword-removed", "compatible", f"'{key}' removed")]
    return [Change(where, "keyword-changed", "breaking",
                   f"'{key}' {'added' if key not in old else 'changed'}; not classified automatically, "
                   f"so treated as breaking (compare by hand if you believe it is compatible)")]


# --------------------------------------------------------------------------- Name@semver


def parse_ref(text: str) -> tuple[str, str | None]:
    """``"Name@1.2.0"`` -> ``("Name", "1.2.0")``; ``"Name@1"`` -> ``("Name", "1")``; ``"Name"`` -> latest."""
    name, _, version = text.partition("@")
    if not name or (_ and not version):
        raise ContractError(f"{text!r} is not a contract reference; write Name@version, e.g. "
                            f"ProjectInitialized@1.1.0 (or Name@<major>, or Name for the latest)")
    return name, version or None


def _resolve(registry: Registry, text: str) -> tuple[str, str]:
    name, version = parse_ref(text)
    if version is None:
        return name, registry.latest(name).version
    if version.isdigit():
        return name, registry.latest(name, int(version)).version
    return name, registry.get(name, version).version


def diff_refs(registry: Registry, a: str, b: str) -> list[Change]:
    """Diff two contract versions named ``Name@semver`` (e.g. ``AgentFailed@1.0.0 AgentFailed@2.0.0``)."""
    old = registry.resolved_schema(*_resolve(registry, a))
    new = registry.resolved_schema(*_resolve(registry, b))
    return diff_schemas(old, new)
