"""The pure core: template source tree + parameters + seed -> rendered files + provenance manifest.

No I/O, no wall clock, no dependence on dict or filesystem order: the same inputs give
byte-identical files and manifest.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import pathspec

from shared.scaffold.casing import source_name_replacements
from shared.scaffold.conditionals import ConditionalError, process
from shared.scaffold.config import ALWAYS_EXCLUDE, CONFIG_PATH, TemplateConfig, parse_config
from shared.scaffold.errors import ParameterError, Problem, UnsafePathError, UnsupportedTemplateError
from shared.scaffold.expressions import ExpressionError, condition
from shared.scaffold.parameters import (
    default_now,
    format_guid,
    resolve_symbols,
    seeded_guid,
    validate_parameters,
)
from shared.scaffold.tree import DEFAULT_MAX_FILE_SIZE, is_binary, sha256_hex, tree_hash, unsafe_reason

ENGINE_VERSION = "1.0.0"
#: namespace of execution ids (uuid5 of the idempotency key) and of default execution ids
EXECUTION_NAMESPACE = uuid.UUID("6f1c3c52-7d0e-5d7a-9a43-5c0b1f2e8a11")
MANIFEST_PATH = ".factory/manifest.json"


@dataclass(frozen=True)
class TemplateSource:
    """A template's source tree (posix relative paths -> bytes), rooted where ``.template.config`` is."""

    files: Mapping[str, bytes]
    origin: str = "<memory>"

    @cached_property
    def config(self) -> TemplateConfig:
        if CONFIG_PATH not in self.files:
            raise UnsupportedTemplateError(
                [Problem(f"no {CONFIG_PATH} in the template source", path=self.origin)],
                "not a template")
        return parse_config(self.files[CONFIG_PATH], f"{self.origin}/{CONFIG_PATH}")

    @cached_property
    def content_hash(self) -> str:
        return tree_hash(self.files)


@dataclass(frozen=True)
class RenderOptions:
    seed: str | None = None
    execution_id: str | None = None
    trace_id: str | None = None
    now: datetime | None = None
    max_file_size: int = DEFAULT_MAX_FILE_SIZE


@dataclass(frozen=True)
class RenderResult:
    files: dict[str, bytes]
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def manifest_bytes(self) -> bytes:
        return manifest_bytes(self.manifest)

    @property
    def tree_hash(self) -> str:
        return str(self.manifest["treeHash"])


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """Canonical manifest bytes (the same serialisation as ``Artifact.json``)."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _add(table: dict[str, str], owners: dict[str, str], key: str, value: str, owner: str,
         problems: list[Problem]) -> None:
    if not key:
        return
    if key in table and table[key] != value:
        problems.append(Problem(f"replaces {key!r}, which {owners[key]} already replaces", path=owner))
        return
    table.setdefault(key, value)
    owners.setdefault(key, owner)


class _Replacer:
    """Single-pass replacement of many literal strings (longest first, no re-replacement)."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self.table = dict(table)
        keys = sorted(self.table, key=lambda k: (-len(k), k))
        self.regex = re.compile("|".join(map(re.escape, keys))) if keys else None

    def __call__(self, text: str) -> str:
        if self.regex is None:
            return text
        return self.regex.sub(lambda m: self.table[m.group(0)], text)


def _tables(config: TemplateConfig, values: Mapping[str, Any], seed: str) -> tuple[_Replacer, _Replacer]:
    problems: list[Problem] = []
    content: dict[str, str] = {}
    paths: dict[str, str] = {}
    c_owner: dict[str, str] = {}
    p_owner: dict[str, str] = {}
    if config.source_name and values.get("name"):
        for key, value in source_name_replacements(config.source_name, str(values["name"])).items():
            _add(content, c_owner, key, value, "sourceName", problems)
            _add(paths, p_owner, key, value, "sourceName", problems)
    for name in sorted(config.symbols):
        sym = config.symbols[name]
        if sym.replaces:
            _add(content, c_owner, sym.replaces, _text(values[name]), f"symbols.{name}.replaces", problems)
        if sym.file_rename:
            _add(paths, p_owner, sym.file_rename, _text(values[name]), f"symbols.{name}.fileRename", problems)
    for old in config.guids:
        try:
            old_id = uuid.UUID(old)
        except ValueError:
            problems.append(Problem(f"{old!r} is not a GUID", path="guids"))
            continue
        new_id = seeded_guid(seed, f"guid:{old_id}")
        for fmt in ("D", "d", "N", "n"):
            for table, owners in ((content, c_owner), (paths, p_owner)):
                _add(table, owners, format_guid(old_id, fmt), format_guid(new_id, fmt), "guids", problems)
    if problems:
        raise UnsupportedTemplateError(problems, "conflicting replacements")
    return _Replacer(content), _Replacer(paths)


def _spec(patterns: tuple[str, ...] | list[str]) -> pathspec.PathSpec[Any]:
    return pathspec.PathSpec.from_lines("gitignore", patterns)


def _dir_prefix(value: str) -> str:
    value = value.strip()
    if value in ("", ".", "./"):
        return ""
    value = value[2:] if value.startswith("./") else value
    return value.rstrip("/") + "/"


def _cond(expr: str | None, values: Mapping[str, Any], where: str) -> bool:
    if expr is None:
        return True
    try:
        return condition(expr, values)
    except ExpressionError as exc:
        raise UnsupportedTemplateError([Problem(str(exc), path=where)]) from exc


def default_execution_id(config: TemplateConfig, content_hash: str, parameters: Mapping[str, Any]) -> str:
    key = json.dumps({"t": config.identity, "v": config.version, "h": content_hash, "p": parameters},
                     sort_keys=True, default=str)
    return str(uuid.uuid5(EXECUTION_NAMESPACE, key))


def render(source: TemplateSource, parameters: Mapping[str, Any] | None = None,
           options: RenderOptions | None = None) -> RenderResult:
    """Render ``source`` with ``parameters``. Raises a ``ScaffoldError`` subclass listing every problem."""
    options = options or RenderOptions()
    parameters = dict(parameters or {})
    config = source.config
    problems = validate_parameters(config, parameters)
    if problems:
        raise ParameterError(problems, f"invalid parameters for template {config.identity}@{config.version}")
    execution_id = options.execution_id or default_execution_id(config, source.content_hash, parameters)
    seed = options.seed or execution_id
    now = options.now or default_now(seed)
    values = resolve_symbols(config, parameters, seed, now)
    content_rx, path_rx = _tables(config, values, seed)
    always = _spec(list(ALWAYS_EXCLUDE))

    files: dict[str, bytes] = {}
    origin_of: dict[str, str] = {}
    binary: set[str] = set()
    unsafe: list[Problem] = []
    for index, spec in enumerate(config.sources):
        where = f"sources[{index}]"
        if not _cond(spec.condition, values, where + ".condition"):
            continue
        src_prefix, dst_prefix = _dir_prefix(spec.source), _dir_prefix(spec.target)
        for label, value in (("source", src_prefix), ("target", dst_prefix)):
            reason = unsafe_reason(value.rstrip("/")) if value else None
            if reason:
                unsafe.append(Problem(f"{value!r} {reason}", path=f"{where}.{label}"))
        include, exclude, copy_only = list(spec.include), list(spec.exclude), list(spec.copy_only)
        rename = dict(spec.rename)
        for j, mod in enumerate(spec.modifiers):
            if _cond(mod.condition, values, f"{where}.modifiers[{j}].condition"):
                include += mod.include
                exclude += mod.exclude
                copy_only += mod.copy_only
                rename.update(mod.rename)
        inc, exc, copy = _spec(include), _spec(exclude), _spec(copy_only)
        for path in sorted(source.files):
            if not path.startswith(src_prefix) or always.match_file(path):
                continue
            rel = path[len(src_prefix):]
            if not inc.match_file(rel) or exc.match_file(rel):
                continue
            data = source.files[path]
            if len(data) > options.max_file_size:
                unsafe.append(Problem(f"is {len(data)} bytes, over the {options.max_file_size}-byte limit",
                                      path=path))
                continue
            target = dst_prefix + path_rx(rename.get(rel, rel))
            reason = unsafe_reason(target)
            if reason:
                unsafe.append(Problem(f"renders to {target!r}, which {reason}", path=path))
                continue
            if target in files:
                raise UnsupportedTemplateError(
                    [Problem(f"both {origin_of[target]} and {path} render to this path", path=target)],
                    "two template files render to the same path")
            is_bin = is_binary(path, data)
            if is_bin or copy.match_file(rel):
                out = data
                if is_bin:
                    binary.add(target)
            else:
                try:
                    text = process(data.decode("utf-8"), values, path)
                except ConditionalError as err:
                    raise UnsupportedTemplateError([Problem(str(err), path=path)],
                                                   "bad conditional block") from err
                out = content_rx(text).encode("utf-8")
            if len(out) > options.max_file_size:
                unsafe.append(Problem(f"renders to {len(out)} bytes, over the {options.max_file_size}-byte "
                                      "limit", path=target))
                continue
            files[target] = out
            origin_of[target] = path
    if unsafe:
        raise UnsafePathError(unsafe, f"template {config.identity} has unsafe paths or oversized files")

    files = dict(sorted(files.items()))
    primary = [dict(entry, path=path_rx(str(entry.get("path", "")))) for i, entry in
               enumerate(config.primary_outputs)
               if _cond(entry.get("condition"), values, f"primaryOutputs[{i}].condition")]
    post = [dict(entry) for i, entry in enumerate(config.post_actions)
            if _cond(entry.get("condition"), values, f"postActions[{i}].condition")]
    manifest: dict[str, Any] = {
        "engineVersion": ENGINE_VERSION,
        "template": {
            "identity": config.identity, "name": config.name, "shortName": config.short_name,
            "version": config.version, "contentHash": source.content_hash,
        },
        "executionId": execution_id,
        "seed": seed,
        "traceId": options.trace_id,
        "now": now.isoformat(),
        "inputParameters": dict(sorted(parameters.items())),
        "parameters": dict(sorted(values.items())),
        "files": [{"path": p, "sha256": sha256_hex(d), "size": len(d), "binary": p in binary}
                  for p, d in files.items()],
        "fileCount": len(files),
        "treeHash": tree_hash(files),
        "primaryOutputs": primary,
        "postActions": post,
    }
    return RenderResult(files, manifest)
