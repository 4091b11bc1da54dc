"""The pure core: template source tree + parameters + seed -> rendered files + provenance manifest.

No I/O, no wall clock, no dependence on dict or filesystem order: the same inputs give
byte-identical files and manifest.
"""

from __future__ import annotations

import json
import posixpath
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any

import pathspec

from shared.scaffold.conditionals import ConditionalError, FileOps, msbuild_conditions, process
from shared.scaffold.config import ALWAYS_EXCLUDE, CONFIG_PATH, NAME, TemplateConfig, parse_config
from shared.scaffold.errors import ParameterError, Problem, UnsafePathError, UnsupportedTemplateError
from shared.scaffold.expressions import evaluate_faulted
from shared.scaffold.operations import OperationsResolver
from shared.scaffold.parameters import name_used, validate_parameters
from shared.scaffold.replacements import Replacer, build
from shared.scaffold.symbols import Resolved, default_now, resolve
from shared.scaffold.tree import DEFAULT_MAX_FILE_SIZE, is_binary, sha256_hex, tree_hash, unsafe_reason
from shared.scaffold.values import jsonable

ENGINE_VERSION = "2.0.0"
#: namespace of execution ids (uuid5 of the idempotency key) and of default execution ids
EXECUTION_NAMESPACE = uuid.UUID("6f1c3c52-7d0e-5d7a-9a43-5c0b1f2e8a11")
MANIFEST_PATH = ".factory/manifest.json"


@dataclass(frozen=True)
class TemplateSource:
    """A template's files (posix paths -> bytes) as mounted; ``.template.config`` sits in ``config_root``.

    ``sources[].source`` is relative to ``config_root`` and may point above it (``../``) as long as
    it stays inside the mounted files.
    """

    files: Mapping[str, bytes]
    origin: str = "<memory>"
    config_root: str = ""

    @property
    def config_path(self) -> str:
        return f"{self.config_root}/{CONFIG_PATH}" if self.config_root else CONFIG_PATH

    @cached_property
    def config(self) -> TemplateConfig:
        if self.config_path not in self.files:
            raise UnsupportedTemplateError(
                [Problem(f"no {self.config_path} in the template source", path=self.origin)], "not a template")
        return parse_config(self.files[self.config_path], f"{self.origin}/{self.config_path}")

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
    #: upstream's deterministic mode: fixed GUID, 1900-01-01, random/port = low
    deterministic: bool = False
    #: values of ``bind`` symbols: ``{"host:NAME" | "env:NAME" | "NAME": value}``
    bindings: Mapping[str, str] = field(default_factory=dict)


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

    @property
    def warnings(self) -> list[str]:
        return list(self.manifest.get("warnings", []))


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """Canonical manifest bytes (the same serialisation as ``Artifact.json``)."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


class _Globs:
    """gitignore-style globs (``pathspec``); without negations they are one compiled regex."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self._spec = pathspec.PathSpec.from_lines("gitignore", patterns)
        self._rx: re.Pattern[str] | None = None
        regexes = [p.regex for p in self._spec.patterns if p.include is not None]
        if all(p.include for p in self._spec.patterns if p.include is not None):
            sources = [r.pattern for r in regexes if r is not None and isinstance(r.pattern, str)]
            try:
                self._rx = re.compile("|".join(f"(?:{src})" for src in sources) if sources else r"(?!x)x")
            except re.error:
                self._rx = None

    def match_file(self, path: str) -> bool:
        if self._rx is not None:
            return self._rx.search(path) is not None
        return bool(self._spec.match_file(path))


@lru_cache(maxsize=512)
def _spec(patterns: tuple[str, ...]) -> _Globs:
    return _Globs(patterns)


_ALWAYS = _spec(ALWAYS_EXCLUDE)


def _dir_prefix(value: str) -> str:
    value = value.strip().replace("\\", "/")
    if value in ("", ".", "./"):
        return ""
    value = value[2:] if value.startswith("./") else value
    return value.rstrip("/") + "/"


def _cond(expr: str | None, variables: Mapping[str, Any], where: str, warnings: list[str]) -> bool:
    if expr is None or not expr.strip():
        return True
    value, fault = evaluate_faulted(expr, variables, "C++2")
    if fault:
        warnings.append(f"{where}: {fault} (false, as dotnet new does)")
    return value


def default_execution_id(config: TemplateConfig, content_hash: str, parameters: Mapping[str, Any]) -> str:
    key = json.dumps({"t": config.identity, "v": config.version, "h": content_hash, "p": parameters},
                     sort_keys=True, default=str)
    return str(uuid.uuid5(EXECUTION_NAMESPACE, key))


class _Content:
    """Renders text files: conditionals by file type, then replacements."""

    def __init__(self, config: TemplateConfig, resolved: Resolved, content: Replacer, seed: str,
                 deterministic: bool, warnings: list[str]) -> None:
        self.config = config
        self.variables = resolved.variables
        self.values = resolved.values
        self.content = content
        self.seed = seed
        self.deterministic = deterministic
        self.warnings = warnings
        self.resolver = OperationsResolver(config, resolved.variables)
        self._replacers: dict[FileOps, Replacer] = {}
        self._memo: dict[tuple[str, str], tuple[bool, str | None]] = {}  # the variables do not change

    def replacer(self, ops: FileOps) -> Replacer:
        if not ops.replacements:
            return self.content
        if ops not in self._replacers:
            self._replacers[ops] = build(self.config, self.values, seed=self.seed, deterministic=self.deterministic,
                                         custom=ops.replacements)[0]
        return self._replacers[ops]

    def render(self, source_path: str, rel: str, text: str) -> str:
        ops = self.resolver.ops_for(rel)
        replace = self.replacer(ops)
        if not ops.styles and not ops.msbuild and "+:" not in text and "-:" not in text:
            return replace(text)
        try:
            processed = process(text, ops, self.variables, source_path, self.warnings.append, self._memo)
        except ConditionalError as err:
            raise UnsupportedTemplateError([Problem(str(err), path=source_path)], "bad conditional block") from err
        if ops.msbuild:
            processed.chunks = [(msbuild_conditions(t, self.variables), r) for t, r in processed.chunks]
        if len(processed.chunks) == 1 and processed.chunks[0][1]:
            return replace(processed.chunks[0][0])
        return "".join(replace(t) if r else t for t, r in processed.chunks)


def render(source: TemplateSource, parameters: Mapping[str, Any] | None = None,
           options: RenderOptions | None = None) -> RenderResult:
    """Render ``source`` with ``parameters``. Raises a ``ScaffoldError`` subclass listing every problem.

    ``parameters[k] = None`` means "option given without a value" (``defaultIfOptionWithoutValue``).
    """
    options = options or RenderOptions()
    parameters = dict(parameters or {})
    config = source.config
    problems = validate_parameters(config, parameters)
    if problems:
        raise ParameterError(problems, f"invalid parameters for template {config.identity}@{config.version}")
    execution_id = options.execution_id or default_execution_id(config, source.content_hash, parameters)
    seed = options.seed or execution_id
    now = options.now or default_now(seed)
    resolved = resolve(config, parameters, seed=seed, now=now, deterministic=options.deterministic,
                       bindings=options.bindings)
    warnings = list(resolved.warnings)
    content_rx, path_rx = build(config, resolved.values, seed=seed, deterministic=options.deterministic)
    warnings += content_rx.warnings + path_rx.warnings
    renderer = _Content(config, resolved, content_rx, seed, options.deterministic, warnings)
    name = resolved.values.get(NAME)
    if name is None and name_used(config):
        what = f"sourceName {config.source_name!r} is left as written" if config.source_name else \
            "symbols derived from it have no value"
        warnings.append(f"no name was given and the template has no defaultName: {what} (pass --param name=...)")
    files: dict[str, bytes] = {}
    origin_of: dict[str, str] = {}
    binary: set[str] = set()
    unsafe: list[Problem] = []
    placeholders = set(config.placeholders)
    all_paths = sorted(source.files)
    for index, spec in enumerate(config.sources):
        where = f"sources[{index}]"
        if not _cond(spec.condition, resolved.variables, where + ".condition", warnings):
            continue
        joined = posixpath.normpath(posixpath.join(source.config_root or ".", _dir_prefix(spec.source) or "."))
        if joined == ".." or joined.startswith("../") or posixpath.isabs(joined):
            unsafe.append(Problem(f"{spec.source!r} points outside the template's files", path=f"{where}.source"))
            continue
        src_prefix = "" if joined == "." else joined + "/"
        dst_prefix = _dir_prefix(spec.target)
        if dst_prefix and config.source_name and name is not None:
            dst_prefix = dst_prefix.replace(config.source_name, str(name).strip())
        reason = unsafe_reason(dst_prefix.rstrip("/")) if dst_prefix else None
        if reason:
            unsafe.append(Problem(f"{spec.target!r} {reason}", path=f"{where}.target"))
            continue
        include, exclude, copy_only = list(spec.include), list(spec.exclude), list(spec.copy_only)
        rename = dict(spec.rename)
        for j, mod in enumerate(spec.modifiers):
            if _cond(mod.condition, resolved.variables, f"{where}.modifiers[{j}].condition", warnings):
                include += mod.include
                exclude += mod.exclude
                copy_only += mod.copy_only
                rename.update(mod.rename)
        inc, exc, copy = _spec(tuple(include)), _spec(tuple(exclude)), _spec(tuple(copy_only))
        for path in all_paths:
            if not path.startswith(src_prefix):
                continue
            rel = path[len(src_prefix):]
            if _ALWAYS.match_file(rel) or not inc.match_file(rel) or exc.match_file(rel):
                continue
            if rel.rsplit("/", 1)[-1] in placeholders:
                continue  # a placeholder keeps its folder in the template; files alone are written here
            data = source.files[path]
            if len(data) > options.max_file_size:
                unsafe.append(Problem(f"is {len(data)} bytes, over the {options.max_file_size}-byte limit",
                                      path=path))
                continue
            target = posixpath.normpath(dst_prefix + path_rx(rename.get(rel, rel)))
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
                out = renderer.render(path, rel, data.decode("utf-8")).encode("utf-8")
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
               if _cond(_text_or_none(entry.get("condition")), resolved.variables, f"primaryOutputs[{i}].condition",
                        warnings)]
    post = [dict(entry) for i, entry in enumerate(config.post_actions)
            if _cond(_text_or_none(entry.get("condition")), resolved.variables, f"postActions[{i}].condition",
                     warnings)]
    template: dict[str, Any] = {
        "identity": config.identity, "name": config.name, "shortName": config.short_name,
        "version": config.version, "contentHash": source.content_hash,
    }
    if source.config_root:
        template["configRoot"] = source.config_root
    digests = {p: sha256_hex(d) for p, d in files.items()}
    manifest: dict[str, Any] = {
        "engineVersion": ENGINE_VERSION,
        "template": template,
        "executionId": execution_id,
        "seed": seed,
        "traceId": options.trace_id,
        "now": now.isoformat(),
        "deterministic": options.deterministic,
        "bindings": dict(sorted(options.bindings.items())),
        "inputParameters": {k: jsonable(v) for k, v in sorted(parameters.items())},
        "parameters": resolved.jsonable(),
        "files": [{"path": p, "sha256": digests[p], "size": len(d), "binary": p in binary}
                  for p, d in files.items()],
        "fileCount": len(files),
        "treeHash": tree_hash(files, digests),
        "primaryOutputs": primary,
        "postActions": post,
        "warnings": warnings,
    }
    return RenderResult(files, manifest)


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def options_from_manifest(manifest: Mapping[str, Any], execution_id: str,
                          trace_id: str | None = None) -> RenderOptions:
    """The options that reproduce the render a manifest records (for update and diff)."""
    return RenderOptions(seed=manifest["seed"], execution_id=execution_id,
                         trace_id=trace_id or manifest.get("traceId"),
                         now=datetime.fromisoformat(manifest["now"]),
                         deterministic=bool(manifest.get("deterministic", False)),
                         bindings=dict(manifest.get("bindings") or {}))
