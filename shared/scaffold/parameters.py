"""Parameters: JSON Schema derived from the symbols, validation, and symbol resolution.

Validation reports every problem at once. Resolution adds computed and generated symbols;
random (guid, port) and time (now) generators are seeded so the same seed gives the same values.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from jsonschema import Draft202012Validator

from shared.scaffold.casing import form
from shared.scaffold.config import Symbol, TemplateConfig
from shared.scaffold.errors import Problem, UnsupportedTemplateError
from shared.scaffold.expressions import ExpressionError, condition, evaluate, referenced_names
from shared.scaffold.tree import unsafe_reason

_JSON_TYPES = {"bool": "boolean", "integer": "integer", "string": "string", "choice": "string"}


def parameter_schema(config: TemplateConfig) -> dict[str, Any]:
    """A JSON Schema (2020-12) for the parameters of ``config``."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for name, sym in sorted(config.parameters().items()):
        prop: dict[str, Any] = {"type": _JSON_TYPES[sym.datatype]}
        if sym.description:
            prop["description"] = sym.description
        if sym.datatype == "choice":
            prop["enum"] = [c.choice for c in sym.choices]
        if sym.default is not None:
            prop["default"] = sym.default
        if name == "name" and config.source_name:
            prop["minLength"] = 1
        props[name] = prop
        if sym.required and sym.default is None:
            required.append(name)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:factory:template:{config.identity}@{config.version}:parameters",
        "title": f"Parameters of {config.name}",
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


def coerce_cli_parameters(config: TemplateConfig, raw: Mapping[str, str]) -> dict[str, Any]:
    """Turn ``--param k=v`` strings into typed values by each symbol's datatype.

    Values that do not convert are passed through unchanged so validation reports them.
    """
    params = config.parameters()
    out: dict[str, Any] = {}
    for key, value in raw.items():
        sym = params.get(key)
        if sym is None or not isinstance(value, str):
            out[key] = value
        elif sym.datatype == "bool" and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            out[key] = value.lower() in ("true", "yes", "1")
        elif sym.datatype == "integer":
            try:
                out[key] = int(value)
            except ValueError:
                out[key] = value
        else:
            out[key] = value
    return out


def _problem_for(error: Any, config: TemplateConfig) -> list[Problem]:
    params = config.parameters()
    path = [str(p) for p in error.absolute_path]
    name = path[0] if path else None
    sym = params.get(name) if name else None
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(params))
        return [Problem("is not a parameter of this template", parameter=k, allowed=sorted(params))
                for k in extra]
    if error.validator == "required":
        missing = [r for r in error.validator_value if r not in error.instance]
        return [Problem("is required and has no default", parameter=m,
                        allowed=[c.choice for c in params[m].choices] if params[m].choices else None)
                for m in missing]
    if error.validator == "enum" and sym is not None:
        return [Problem(f"{error.instance!r} is not one of the choices", parameter=name,
                        allowed=[c.choice for c in sym.choices])]
    if error.validator == "type" and sym is not None:
        return [Problem(f"{error.instance!r} is not of type {error.validator_value}", parameter=name,
                        allowed=[f"type {error.validator_value}"])]
    return [Problem(error.message, parameter=name)]


def validate_parameters(config: TemplateConfig, parameters: Mapping[str, Any]) -> list[Problem]:
    """Every problem with ``parameters`` (schema and path safety), in a stable order."""
    validator = Draft202012Validator(parameter_schema(config))
    problems: list[Problem] = []
    errors = validator.iter_errors(dict(parameters))
    for error in sorted(errors, key=lambda e: ([str(p) for p in e.absolute_path], e.message)):
        problems.extend(_problem_for(error, config))
    params = config.parameters()
    for name, value in sorted(parameters.items()):
        sym = params.get(name)
        if sym is None or not isinstance(value, str):
            continue
        used_in_paths = bool(sym.file_rename) or (name == "name" and config.source_name)
        if used_in_paths and value:
            reason = unsafe_reason(value)
            if reason is None and "/" in value:
                reason = "contains '/'; a value used in file names must be a single path segment"
            if reason:
                problems.append(Problem(f"{value!r} is used in file names and {reason}", parameter=name))
    return sorted(problems, key=lambda p: (p.parameter or "", p.message))


def _digest(seed: str, name: str) -> bytes:
    return hashlib.sha256(f"{seed}\0{name}".encode()).digest()


def seeded_guid(seed: str, name: str) -> uuid.UUID:
    return uuid.UUID(bytes=_digest(seed, name)[:16], version=4)


def format_guid(value: uuid.UUID, fmt: str) -> str:
    text = {"n": value.hex, "d": str(value), "b": "{" + str(value) + "}", "p": "(" + str(value) + ")"}.get(
        fmt.lower(), str(value))
    return text.upper() if fmt.isupper() else text


def default_now(seed: str) -> datetime:
    """The ``now`` used when the caller gives none: derived from the seed, never the wall clock."""
    offset = int.from_bytes(_digest(seed, "now")[:8], "big") % (10 * 365 * 86400)
    return datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=offset)


def _default(sym: Symbol) -> Any:
    if sym.default is not None:
        return sym.default
    if sym.datatype == "bool":
        return False
    if sym.datatype == "integer":
        return 0
    if sym.datatype == "choice" and sym.choices:
        return sym.choices[0].choice
    return ""


def _generate(sym: Symbol, values: Mapping[str, Any], seed: str, now: datetime) -> Any:
    p = sym.generator_params
    where = f"symbols.{sym.name}.parameters"
    if sym.generator == "constant":
        return p.get("value", "")
    if sym.generator == "guid":
        return format_guid(seeded_guid(seed, sym.name), str(p.get("defaultformat", p.get("format", "d"))))
    if sym.generator == "port":
        low, high = int(p.get("low", 1024)), int(p.get("high", 65535))
        return random.Random(_digest(seed, sym.name)).randint(low, high)
    if sym.generator == "now":
        moment = now if p.get("utc", True) in (True, "true") else now.replace(tzinfo=None)
        fmt = p.get("format")
        return moment.strftime(fmt) if fmt else moment.isoformat()
    if sym.generator == "coalesce":
        src, fallback = str(p.get("sourcevariablename")), str(p.get("fallbackvariablename"))
        for ref in (src, fallback):
            if ref not in values:
                raise UnsupportedTemplateError([Problem(f"refers to unknown symbol {ref!r}", path=where)])
        return values[src] if values[src] not in (None, "") else values[fallback]
    if sym.generator == "casing":
        src = str(p.get("source"))
        if src not in values:
            raise UnsupportedTemplateError([Problem(f"refers to unknown symbol {src!r}", path=where)])
        lower = p.get("tolower", True) in (True, "true")
        return form(str(values[src]), "lower" if lower else "upper")
    raise UnsupportedTemplateError([Problem(f"unsupported generator {sym.generator!r}", path=where)])


def resolve_symbols(config: TemplateConfig, parameters: Mapping[str, Any], seed: str,
                    now: datetime) -> dict[str, Any]:
    """All symbol values: parameters (with defaults), then generated and computed in dependency order."""
    values: dict[str, Any] = {}
    for name, sym in config.parameters().items():
        values[name] = parameters[name] if name in parameters else _default(sym)
    pending = {n: s for n, s in config.symbols.items() if s.type in ("computed", "generated")}
    while pending:
        progressed = False
        for name in sorted(pending):
            sym = pending[name]
            if sym.type == "computed":
                deps = referenced_names(sym.value or "")
            else:
                deps = {str(v) for k, v in sym.generator_params.items()
                        if k in ("sourcevariablename", "fallbackvariablename", "source")}
            if deps & set(pending):
                continue
            try:
                if sym.type == "generated":
                    values[name] = _generate(sym, values, seed, now)
                else:
                    expr = sym.value or ""
                    is_bool = sym.datatype == "bool"
                    values[name] = condition(expr, values) if is_bool else evaluate(expr, values)
            except ExpressionError as exc:
                raise UnsupportedTemplateError([Problem(str(exc), path=f"symbols.{name}.value")]) from exc
            del pending[name]
            progressed = True
        if not progressed:
            raise UnsupportedTemplateError([
                Problem("computed/generated symbols depend on each other in a cycle", path=f"symbols.{n}")
                for n in sorted(pending)])
    return values
