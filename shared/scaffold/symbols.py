"""Symbol values: parameters (with ``defaultIfOptionWithoutValue``, ``isEnabled``, ``isRequired``),
bind symbols, then computed, derived and generated symbols in dependency order -- the way
``dotnet new`` evaluates them (``RunnableProjectGenerator``, ``MacroProcessor``, ``Macros/*``).

A symbol without a value is ``None``: its ``replaces`` does nothing and conditions do not see it.
Random and time values come from the seed (or, in deterministic mode, upstream's fixed values:
GUID ``12345678-1234-1234-1234-1234567890AB``, time 1900-01-01, random and port = ``low``).
"""

from __future__ import annotations

import hashlib
import itertools
import random
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.scaffold.config import NAME, Symbol, TemplateConfig
from shared.scaffold.dotnet_datetime import DateFormatError, format_datetime
from shared.scaffold.dotnet_regex import compile_pattern, replacement_template
from shared.scaffold.errors import ParameterError, Problem, UnsupportedTemplateError
from shared.scaffold.expressions import evaluate_faulted, referenced_names
from shared.scaffold.forms import FormError, FormRegistry
from shared.scaffold.values import JSON_TYPES, MultiValue, convert, jsonable, text

DETERMINISTIC_GUID = uuid.UUID("12345678-1234-1234-1234-1234567890AB")
DETERMINISTIC_NOW = datetime(1900, 1, 1)
#: ports browsers refuse (upstream GeneratePortNumberConfig.UnsafePorts)
UNSAFE_PORTS = frozenset({1719, 1720, 1723, 2049, 3659, 4045, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669,
                          6697, 10080, 4190, 6679})


@dataclass
class Resolved:
    """Every symbol's value (None = no value) and where each parameter's value came from."""

    values: dict[str, Any]
    sources: dict[str, str]  # user | defaultIfNoValue | default | none | disabled
    variables: dict[str, Any]  # what conditions see: set values, quoteless literals, guid forms
    warnings: list[str] = field(default_factory=list)

    def jsonable(self) -> dict[str, Any]:
        return {k: jsonable(v) for k, v in sorted(self.values.items())}


def _digest(seed: str, name: str) -> bytes:
    return hashlib.sha256(f"{seed}\0{name}".encode()).digest()


def seeded_guid(seed: str, name: str) -> uuid.UUID:
    return uuid.UUID(bytes=_digest(seed, name)[:16], version=4)


def format_guid(value: uuid.UUID, fmt: str) -> str:
    """.NET ``Guid.ToString(fmt)``; the letter's case gives the output's case (n d b p x)."""
    low = fmt.lower()
    if low == "n":
        out = value.hex
    elif low == "b":
        out = "{" + str(value) + "}"
    elif low == "p":
        out = "(" + str(value) + ")"
    elif low == "x":
        h = value.hex
        tail = ",".join(f"0x{h[i:i + 2]}" for i in range(16, 32, 2))
        out = f"{{0x{h[:8]},0x{h[8:12]},0x{h[12:16]},{{{tail}}}}}"
    else:
        out = str(value)
    return out.upper() if fmt.isupper() else out


def default_now(seed: str) -> datetime:
    """The ``now`` used when the caller gives none: derived from the seed, never the wall clock."""
    offset = int.from_bytes(_digest(seed, "now")[:8], "big") % (10 * 365 * 86400)
    return datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=offset)


def dependencies(sym: Symbol, names: Iterable[str]) -> set[str]:
    """The symbols ``sym`` reads (upstream ``MacroConfigDependencyResolver``)."""
    universe = tuple(names)
    p = sym.generator_params
    texts: list[tuple[str, str]] = []
    if sym.type == "computed" and sym.value:
        texts.append((sym.value, sym.evaluator))
    elif sym.type == "derived" and sym.value_source:
        texts.append((sym.value_source, "C++2"))
    elif sym.type == "generated":
        if sym.generator == "coalesce":
            texts += [(str(p.get("sourcevariablename") or ""), "C++2"), (str(p.get("fallbackvariablename") or ""),
                                                                          "C++2")]
        elif sym.generator in ("casing", "regex", "regexmatch"):
            texts.append((str(p.get("source") or ""), "C++2"))
        elif sym.generator == "join":
            for item in p.get("symbols") or []:
                if isinstance(item, Mapping) and str(item.get("type", "")).lower() == "ref":
                    texts.append((str(item.get("value") or ""), "C++2"))
        elif sym.generator == "switch":
            for case in p.get("cases") or []:
                if isinstance(case, Mapping) and case.get("condition"):
                    texts.append((str(case["condition"]), "C++2"))
        elif sym.generator == "evaluate":
            texts.append((str(p.get("action") or ""), "C++2"))
    out: set[str] = set()
    for expr, evaluator in texts:
        out |= referenced_names(expr, universe, evaluator if evaluator != "C++" else "C++2")
    out.discard(sym.name)
    return out


def _order(config: TemplateConfig, pending: list[Symbol]) -> list[Symbol]:
    """Topological order of the macros by their dependencies, declaration order otherwise."""
    names = [*config.symbols, NAME] if NAME not in config.symbols else list(config.symbols)
    by_name = {s.name: s for s in pending}
    deps = {s.name: dependencies(s, names) & set(by_name) for s in pending}
    done: list[Symbol] = []
    placed: set[str] = set()
    while len(done) < len(pending):
        ready = [s for s in pending if s.name not in placed and deps[s.name] <= placed]
        if not ready:
            cycle = sorted(n for n in by_name if n not in placed)
            raise UnsupportedTemplateError(
                [Problem(f"symbols depend on each other in a cycle: {', '.join(cycle)}", path=f"symbols.{cycle[0]}")],
                "cyclic symbols")
        done.append(ready[0])
        placed.add(ready[0].name)
    return done


def _default_value(sym: Symbol, raw: Any, where: str, problems: list[Problem]) -> Any:
    value, problem = convert(sym.datatype, raw, multiple=sym.multiple)
    if problem:
        problems.append(Problem(f"{where} {problem}", path=f"symbols.{sym.name}"))
        return None
    return value


def _choice(sym: Symbol, value: Any) -> Any:
    """A choice value in the casing the template declares (choices match case-insensitively)."""
    if sym.datatype != "choice" or not sym.choices:
        return value
    declared = {c.choice.lower(): c.choice for c in sym.choices}
    if isinstance(value, MultiValue):
        return MultiValue(tuple(declared.get(v.lower(), v) for v in value))
    return declared.get(str(value).lower(), value)


def _variables(config: TemplateConfig, values: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for sym in config.symbols.values():
        if sym.type == "parameter" and sym.quoteless:
            for choice in sym.choices:
                out.setdefault(choice.choice, choice.choice)
    out.update(extra)
    out.update({k: v for k, v in values.items() if v is not None})
    return out


def resolve(config: TemplateConfig, parameters: Mapping[str, Any], *, seed: str, now: datetime,
            deterministic: bool = False, bindings: Mapping[str, str] | None = None) -> Resolved:
    """Every symbol's value. ``parameters[name] = None`` means the option was given without a value.

    Raises ``ParameterError`` (every problem at once) and ``UnsupportedTemplateError``.
    """
    params = config.parameters()
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    warnings: list[str] = []
    problems: list[Problem] = []
    for name, sym in params.items():
        if name in parameters:
            raw = parameters[name]
            if raw is None:
                if sym.default_if_no_value is not None:
                    values[name] = _default_value(sym, sym.default_if_no_value, "defaultIfOptionWithoutValue",
                                                  problems)
                elif sym.datatype == "bool":
                    values[name] = True
                else:
                    problems.append(Problem("was given without a value, and the template has no "
                                            "defaultIfOptionWithoutValue for it; give a value", parameter=name))
                    continue
                sources[name] = "defaultIfNoValue"
                continue
            value, problem = convert(sym.datatype, raw, multiple=sym.multiple)
            if problem:
                problems.append(Problem(problem, parameter=name, allowed=[f"type {JSON_TYPES[sym.datatype]}"]))
                continue
            values[name] = _choice(sym, value)
            sources[name] = "user"
        elif sym.default is not None:
            values[name] = _default_value(sym, sym.default, "defaultValue", problems)
            sources[name] = "default"
        else:
            values[name] = None
            sources[name] = "none"
    if problems:
        raise ParameterError(problems, f"invalid parameters for template {config.identity}@{config.version}")
    extra: dict[str, Any] = {}
    for name, sym in params.items():
        if sym.enabled is None:
            continue
        enabled, fault = evaluate_faulted(sym.enabled, _variables(config, values, extra), "C++2")
        if fault:
            warnings.append(f"symbols.{name}.isEnabled: {fault} (treated as false)")
        if not enabled:
            if sources.get(name) in ("user", "defaultIfNoValue"):
                problems.append(Problem(f"is disabled by its isEnabled condition {sym.enabled!r}; do not set it",
                                        parameter=name))
            values[name] = None
            sources[name] = "disabled"
    for name, sym in params.items():
        required = sym.required
        if isinstance(required, str):
            required, fault = evaluate_faulted(required, _variables(config, values, extra), "C++2")
            if fault:
                warnings.append(f"symbols.{name}.isRequired: {fault} (treated as false)")
        if required and values.get(name) is None and sources.get(name) != "disabled":
            problems.append(Problem("is required and has no default", parameter=name,
                                    allowed=[c.choice for c in sym.choices] or None))
    if problems:
        raise ParameterError(problems, f"invalid parameters for template {config.identity}@{config.version}")

    for sym in config.symbols.values():
        if sym.type == "bind":
            values[sym.name] = _bind(sym, bindings or {}, warnings)
    forms = FormRegistry(config.forms)
    pending = [s for s in config.symbols.values() if s.type in ("computed", "derived", "generated")]
    for sym in _order(config, pending):
        variables = _variables(config, values, extra)
        try:
            values[sym.name] = _macro(sym, values, variables, forms, seed=seed, now=now,
                                      deterministic=deterministic, sources=sources, extra=extra, warn=warnings.append)
        except FormError as exc:
            raise UnsupportedTemplateError([Problem(str(exc), path=f"symbols.{sym.name}")],
                                           "bad value form") from exc
        except DateFormatError as exc:
            raise UnsupportedTemplateError([Problem(str(exc), path=f"symbols.{sym.name}.parameters.format")],
                                           "bad date format") from exc
    return Resolved(values, sources, _variables(config, values, extra), warnings)


def _bind(sym: Symbol, bindings: Mapping[str, str], warnings: list[str]) -> Any:
    binding = str(sym.binding or "").strip()
    if ":" in binding:
        found = [bindings[binding]] if binding in bindings else []
    else:
        found = [bindings[k] for k in (f"host:{binding}", f"env:{binding}", binding) if k in bindings]
        if len(set(found)) > 1:
            warnings.append(f"symbols.{sym.name}: binding {binding!r} has different values in several sources; "
                            "the symbol is skipped (as dotnet new does)")
            found = []
    if found:
        value, problem = convert(sym.datatype, found[0])
        if problem is None:
            return value
        warnings.append(f"symbols.{sym.name}: bound value {found[0]!r}: {problem}")
    if sym.default is not None:
        value, problem = convert(sym.datatype, sym.default)
        return value if problem is None else text(sym.default)
    warnings.append(f"symbols.{sym.name}: nothing bound to {binding!r} (pass it with --bind {binding}=VALUE); the "
                    "symbol has no value")
    return None


def _rng(seed: str, name: str) -> random.Random:
    return random.Random(_digest(seed, name))


def _int(params: Mapping[str, Any], key: str, default: int, where: str) -> int:
    raw = params.get(key, default)
    try:
        return int(str(raw).strip()) if raw is not None else default
    except ValueError as exc:
        raise UnsupportedTemplateError([Problem(f"{key} must be an integer, got {raw!r}", path=where)]) from exc


def _macro(sym: Symbol, values: dict[str, Any], variables: Mapping[str, Any], forms: FormRegistry, *, seed: str,
           now: datetime, deterministic: bool, sources: Mapping[str, str], extra: dict[str, Any],
           warn: Callable[[str], None]) -> Any:
    where = f"symbols.{sym.name}"
    if sym.type == "computed":
        value, fault = evaluate_faulted(sym.value or "", variables, sym.evaluator)
        if fault:
            warn(f"{where}.value: {fault} (false, as dotnet new does)")
        return value
    if sym.type == "derived":
        source = values.get(str(sym.value_source))
        return forms.apply(str(sym.value_transform), text(source) if source is not None else "")
    p = sym.generator_params
    gen = sym.generator
    pwhere = f"{where}.parameters"
    if gen == "constant":
        return text(p.get("value")) if p.get("value") is not None else None
    if gen == "guid":
        fmt = str(p.get("defaultformat") or p.get("format") or "D")
        if fmt.lower() not in ("n", "d", "b", "p", "x"):
            raise UnsupportedTemplateError([Problem(f"defaultFormat {fmt!r} is not one of n d b p x (upper case "
                                                    "for upper-case output)", path=f"{pwhere}.defaultFormat")])
        guid = DETERMINISTIC_GUID if deterministic else seeded_guid(seed, sym.name)
        for letter in "ndbpxNDBPX":  # upstream names: <name>-<f> and <name>-uc-<f> / <name>-lc-<f>
            extra[f"{sym.name}-{letter}"] = format_guid(guid, letter)
            extra[f"{sym.name}{'-uc-' if letter.isupper() else '-lc-'}{letter}"] = format_guid(guid, letter)
        return format_guid(guid, fmt[0])
    if gen in ("port", "random"):
        low = _int(p, "low", 1024 if gen == "port" else 0, f"{pwhere}.low")
        high = _int(p, "high", 65535 if gen == "port" else 2**31 - 1, f"{pwhere}.high")
        if deterministic:
            return low
        if high < low:
            if gen == "port" and p.get("fallback") is not None:
                return _int(p, "fallback", 0, f"{pwhere}.fallback")
            raise UnsupportedTemplateError([Problem(f"low ({low}) is above high ({high})", path=pwhere)])
        start = _rng(seed, sym.name).randint(low, max(low, high - 1))
        if gen == "random":
            return start
        # upstream scans from a random start for a port it can bind; rendering stays pure, so the first
        # port that is not on the browsers' unsafe list is taken (nothing is bound)
        for port in itertools.chain(range(start, high + 1), range(low, start)):
            if port not in UNSAFE_PORTS:
                return port
        return _int(p, "fallback", low, f"{pwhere}.fallback")
    if gen == "now":
        moment = DETERMINISTIC_NOW if deterministic else now
        return format_datetime(moment, p.get("format"))
    if gen == "coalesce":
        src, fallback = str(p.get("sourcevariablename") or ""), str(p.get("fallbackvariablename") or "")
        for ref in (src, fallback):
            if ref not in values and ref not in extra:
                warn(f"{pwhere}: refers to {ref!r}, which is not a symbol")
        current = values.get(src, extra.get(src))
        default = p.get("defaultvalue")
        if current is not None and not (default is not None and text(current) == text(default)) \
                and sources.get(src, "user") in ("user", "defaultIfNoValue") \
                and not (isinstance(current, str) and current == ""):
            return current
        fall = values.get(fallback, extra.get(fallback))
        return fall
    if gen == "casing":
        cased = values.get(str(p.get("source") or ""))
        if cased is None:
            if str(p.get("source") or "") not in values:
                warn(f"{pwhere}.source: {p.get('source')!r} is not a symbol")
            return None
        raw_lower = p.get("tolower", True)
        to_lower = raw_lower if isinstance(raw_lower, bool) else str(raw_lower).strip().lower() != "false"
        return text(cased).lower() if to_lower else text(cased).upper()
    if gen == "join":
        parts: list[str] = []
        for i, item in enumerate(p.get("symbols") or []):
            if not isinstance(item, Mapping):
                raise UnsupportedTemplateError([Problem("must be {type: const|ref, value}",
                                                        path=f"{pwhere}.symbols[{i}]")])
            kind = str(item.get("type", "const")).lower()
            item_value = item.get("value")
            if kind == "ref":
                ref_value = values.get(str(item_value), extra.get(str(item_value)))
                if ref_value is None:
                    parts.append("")
                elif isinstance(ref_value, MultiValue):
                    parts.extend(ref_value)
                else:
                    parts.append(text(ref_value))
            else:
                parts.append("" if item_value is None else text(item_value))
        separator = "" if p.get("separator") is None else str(p.get("separator"))
        raw_remove = p.get("removeemptyvalues", False)
        remove = raw_remove if isinstance(raw_remove, bool) else str(raw_remove).lower() == "true"
        return separator.join(v for v in parts if not (remove and v == ""))
    if gen == "regex":
        regex_source = values.get(str(p.get("source") or ""))
        if regex_source is None:
            return None
        result = text(regex_source)
        for i, step in enumerate(p.get("steps") or []):
            if not isinstance(step, Mapping) or not isinstance(step.get("regex"), str):
                raise UnsupportedTemplateError([Problem("each step needs 'regex' and 'replacement'",
                                                        path=f"{pwhere}.steps[{i}]")])
            pattern = compile_pattern(step["regex"], f"{pwhere}.steps[{i}].regex")
            result = pattern.sub(replacement_template(str(step.get("replacement") or "")), result)
        return result
    if gen == "regexmatch":
        match_source = values.get(str(p.get("source") or ""))
        pattern = compile_pattern(str(p.get("pattern") or ""), f"{pwhere}.pattern")
        return bool(pattern.search(text(match_source))) if match_source is not None else False
    if gen == "switch":
        evaluator = str(p.get("evaluator") or "C++")
        for i, case in enumerate(p.get("cases") or []):
            if not isinstance(case, Mapping):
                raise UnsupportedTemplateError([Problem("must be {condition, value}", path=f"{pwhere}.cases[{i}]")])
            cond = case.get("condition")
            if not cond:
                return text(case.get("value"))
            hit, fault = evaluate_faulted(str(cond), variables, evaluator)
            if fault:
                warn(f"{pwhere}.cases[{i}].condition: {fault} (false)")
            if hit:
                return text(case.get("value"))
        return ""
    if gen == "evaluate":
        value, fault = evaluate_faulted(str(p.get("action") or ""), variables, str(p.get("evaluator") or "C++2"))
        if fault:
            warn(f"{pwhere}.action: {fault} (false)")
        return value
    raise UnsupportedTemplateError([Problem(f"unknown generator {gen!r}", path=f"{where}.generator")])
