"""Overlays: partial blueprint documents deep-merged onto the base in a declared order.

An overlay file is YAML::

    precedence: 30          # optional; higher wins. env = 10, edition = 20, user files = 30
    description: why        # optional
    values:                 # a partial InfrastructureBlueprint document (camelCase keys)
      resilience: {autoscale: {minReplicas: 3}}

Layers are applied from the lowest precedence to the highest. Maps merge key by key, lists
and scalars replace, ``null`` unsets. Two layers at the *same* precedence that set one key
differently, or a map meeting a scalar, are errors that name the file and the key path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

ENVIRONMENT_PRECEDENCE = 10
EDITION_PRECEDENCE = 20
USER_PRECEDENCE = 30

BASE_SOURCE = "base (derived from the service blueprint)"

KeyPath = tuple[str | int, ...]


class OverlayError(ValueError):
    """An overlay could not be applied. ``source`` names the file, ``key_path`` the key."""

    def __init__(self, message: str, *, source: str, key_path: str = "") -> None:
        super().__init__(message)
        self.source = source
        self.key_path = key_path


class OverlayConflictError(OverlayError):
    """Two overlays at the same precedence disagree, or a map meets a scalar."""


class OverlayValidationError(OverlayError):
    """The merged document is not a valid infrastructure blueprint."""


@dataclass(frozen=True)
class OverlayLayer:
    source: str
    precedence: int
    values: Mapping[str, Any]


def dotted(path: Iterable[str | int]) -> str:
    return ".".join(str(p) for p in path) or "<root>"


def parse_overlay(text: str, source: str, default_precedence: int) -> OverlayLayer:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OverlayError(f"{source}: not valid YAML ({exc}); fix the syntax and retry", source=source) from exc
    raw = raw or {}
    if not isinstance(raw, dict):
        raise OverlayError(f"{source}: an overlay must be a mapping with a 'values' key", source=source)
    unknown = sorted(set(raw) - {"precedence", "description", "values"})
    if unknown:
        raise OverlayError(
            f"{source}: unknown top-level keys {unknown}; put blueprint keys under 'values:'",
            source=source,
            key_path=str(unknown[0]),
        )
    precedence = raw.get("precedence", default_precedence)
    if not isinstance(precedence, int) or isinstance(precedence, bool):
        raise OverlayError(
            f"{source}: precedence must be an integer, got {precedence!r}",
            source=source,
            key_path="precedence",
        )
    values = raw.get("values") or {}
    if not isinstance(values, dict):
        raise OverlayError(f"{source}: 'values' must be a mapping", source=source, key_path="values")
    return OverlayLayer(source=source, precedence=precedence, values=values)


def load_overlay(path: Path, default_precedence: int = USER_PRECEDENCE) -> OverlayLayer:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OverlayError(f"cannot read overlay {path}: {exc.strerror}; check the path", source=str(path)) from exc
    return parse_overlay(text, str(path), default_precedence)


def _builtin(relative: str) -> resources.abc.Traversable:
    return resources.files("shared.generators.infrastructure").joinpath("overlays", *relative.split("/"))


def available_editions() -> list[str]:
    folder = _builtin("editions")
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def environment_layer(environment: str) -> OverlayLayer:
    ref = _builtin(f"{environment}.yaml")
    if not ref.is_file():
        raise OverlayError(
            f"no built-in overlay for environment {environment!r}; use dev, staging or prod",
            source=f"overlays/{environment}.yaml",
        )
    return parse_overlay(ref.read_text(encoding="utf-8"), f"overlays/{environment}.yaml", ENVIRONMENT_PRECEDENCE)


def edition_layer(edition: str) -> OverlayLayer:
    ref = _builtin(f"editions/{edition}.yaml")
    if not ref.is_file():
        raise OverlayError(
            f"unknown edition {edition!r}; available: {', '.join(available_editions())}",
            source=f"overlays/editions/{edition}.yaml",
        )
    return parse_overlay(ref.read_text(encoding="utf-8"), f"overlays/editions/{edition}.yaml", EDITION_PRECEDENCE)


def _combine_same_level(
    into: dict[str, Any], values: Mapping[str, Any], source: str, owners: dict[KeyPath, str], path: KeyPath
) -> None:
    for key, value in values.items():
        here = (*path, key)
        if key not in into:
            into[key] = _copy(value)
            _own(owners, here, value, source)
            continue
        current = into[key]
        if isinstance(current, dict) and isinstance(value, dict):
            _combine_same_level(current, value, source, owners, here)
        elif current != value:
            other = owners.get(here, "another overlay")
            raise OverlayConflictError(
                f"{source} and {other} both set {dotted(here)} at the same precedence "
                f"({current!r} vs {value!r}); remove one, or give one file a higher 'precedence'",
                source=source,
                key_path=dotted(here),
            )


def _apply(
    onto: dict[str, Any],
    values: Mapping[str, Any],
    owners: dict[KeyPath, str],
    origin: dict[KeyPath, str],
    path: KeyPath,
) -> None:
    for key, value in values.items():
        here = (*path, key)
        current = onto.get(key)
        source = owners.get(here) or _owner_of(owners, here)
        if isinstance(current, dict) and isinstance(value, dict):
            _apply(current, value, owners, origin, here)
            continue
        if value is not None and current is not None and isinstance(current, dict) != isinstance(value, dict):
            have, got = type(current).__name__, type(value).__name__
            raise OverlayConflictError(
                f"{source}: {dotted(here)} is a {have} in the layers below but this overlay sets a {got}; "
                f"use the same shape (see docs/infrastructure-blueprints.md)",
                source=source,
                key_path=dotted(here),
            )
        onto[key] = _copy(value)
        _own(origin, here, value, source)


def _own(owners: dict[KeyPath, str], path: KeyPath, value: Any, source: str) -> None:
    owners[path] = source
    if isinstance(value, dict):
        for key, inner in value.items():
            _own(owners, (*path, key), inner, source)


def _owner_of(owners: Mapping[KeyPath, str], path: KeyPath) -> str:
    for cut in range(len(path), 0, -1):
        if path[:cut] in owners:
            return owners[path[:cut]]
    return BASE_SOURCE


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


@dataclass(frozen=True)
class MergeResult:
    document: dict[str, Any]
    #: key path -> the layer that last set it (absent = base)
    origin: Mapping[KeyPath, str]

    def source_of(self, path: Sequence[str | int]) -> str:
        """The layer that set ``path``, an enclosing key, or (for errors on a map) a key inside it."""
        key = tuple(path)
        owner = _owner_of(self.origin, key)
        if owner != BASE_SOURCE:
            return owner
        inside = sorted({s for p, s in self.origin.items() if p[: len(key)] == key})
        return ", ".join(inside) if inside else BASE_SOURCE


def merge(base: Mapping[str, Any], layers: Sequence[OverlayLayer]) -> MergeResult:
    """Deep-merge ``layers`` onto ``base`` by ascending precedence (stable within one precedence)."""
    document = _copy(dict(base))
    origin: dict[KeyPath, str] = {}
    for precedence in sorted({layer.precedence for layer in layers}):
        combined: dict[str, Any] = {}
        owners: dict[KeyPath, str] = {}
        for layer in (x for x in layers if x.precedence == precedence):
            _combine_same_level(combined, layer.values, layer.source, owners, ())
        _apply(document, combined, owners, origin, ())
    return MergeResult(document=document, origin=origin)
