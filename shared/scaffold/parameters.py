"""Parameters: JSON Schema derived from the symbols, CLI coercion and validation.

``parameters[k] = None`` means the option was given without a value (``--param k``); the
template's ``defaultIfOptionWithoutValue`` (or ``true`` for a bool) is then used. A multi-choice
parameter takes a list or ``a|b`` / ``a,b`` text. Validation reports every problem at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.scaffold.config import NAME, Symbol, TemplateConfig
from shared.scaffold.errors import ParameterError, Problem, ScaffoldError
from shared.scaffold.expressions import referenced_names
from shared.scaffold.symbols import resolve
from shared.scaffold.values import JSON_TYPES, convert, parse_bool

_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def name_used(config: TemplateConfig) -> bool:
    """Whether ``name`` changes the output: sourceName is set, or a symbol reads ``name``."""
    if config.source_name:
        return True
    names = (*config.symbols, NAME)
    for sym in config.symbols.values():
        p = sym.generator_params
        refs = {sym.value_source, p.get("source"), p.get("sourcevariablename"), p.get("fallbackvariablename")}
        refs |= {item.get("value") for item in p.get("symbols") or [] if isinstance(item, Mapping)
                 and str(item.get("type", "")).lower() == "ref"}
        exprs = [sym.value or "", str(p.get("action") or "")]
        exprs += [str(c.get("condition") or "") for c in p.get("cases") or [] if isinstance(c, Mapping)]
        if NAME in refs or any(NAME in referenced_names(e, names) for e in exprs if e):
            return True
    return False


def typed_default(sym: Symbol) -> Any:
    """The default value converted by datatype (a list for a multi-choice), or None."""
    value, problem = convert(sym.datatype, sym.default, multiple=sym.multiple)
    return None if problem else (list(value) if isinstance(value, tuple) else value)


def parameter_schema(config: TemplateConfig) -> dict[str, Any]:
    """A JSON Schema (2020-12) for the parameters of ``config`` (API form: typed JSON values)."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for name, sym in sorted(config.parameters().items()):
        base: dict[str, Any] = {"type": JSON_TYPES[sym.datatype]}
        if sym.datatype == "choice":
            base["enum"] = [c.choice for c in sym.choices]
        if sym.datatype == "choice" and sym.multiple:
            prop: dict[str, Any] = {"anyOf": [{"type": "array", "items": base}, {"type": "string"}]}
        else:
            prop = base
        if sym.datatype == "bool" or sym.default_if_no_value is not None:
            prop = {"anyOf": [prop, {"type": "null"}]}  # null: the option given without a value
        if sym.description:
            prop["description"] = sym.description
        default = typed_default(sym)
        if default is not None:
            prop["default"] = default
        props[name] = prop
        if sym.required is True and sym.default is None:
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


def coerce_cli_parameters(config: TemplateConfig, raw: Mapping[str, Any]) -> dict[str, Any]:
    """``--param k=v`` values: text is kept (conversion happens at render by datatype), a bool given as
    ``yes``/``no``/``1``/``0`` becomes a bool, ``None`` stays (option without value), a repeated
    multi-choice option (a list) is kept as the list."""
    params = config.parameters()
    out: dict[str, Any] = {}
    for key, value in raw.items():
        sym = params.get(key)
        if sym is not None and sym.datatype == "bool" and isinstance(value, str):
            parsed = parse_bool(value)
            if parsed is None and value.strip().lower() in ("yes", "no", "1", "0"):
                parsed = value.strip().lower() in ("yes", "1")
            out[key] = parsed if parsed is not None else value
        else:
            out[key] = value
    return out


def validate_parameters(config: TemplateConfig, parameters: Mapping[str, Any]) -> list[Problem]:
    """Every problem with ``parameters`` (names, types, choices, required), in a stable order.

    Conditional ``isRequired`` / ``isEnabled`` are checked when the symbols are resolved.
    """
    from_problems: list[Problem] = []
    params = config.parameters()
    for key in sorted(set(parameters) - set(params)):
        from_problems.append(Problem("is not a parameter of this template", parameter=key, allowed=sorted(params)))
    for name, sym in sorted(params.items()):
        if name not in parameters:
            if sym.required is True and sym.default is None:
                from_problems.append(Problem("is required and has no default", parameter=name,
                                             allowed=[c.choice for c in sym.choices] or None))
            continue
        value = parameters[name]
        if value is None:
            if sym.datatype != "bool" and sym.default_if_no_value is None:
                from_problems.append(Problem("was given without a value, and the template has no "
                                             "defaultIfOptionWithoutValue for it; give a value", parameter=name))
            continue
        typed, problem = convert(sym.datatype, value, multiple=sym.multiple)
        if problem:
            from_problems.append(Problem(problem, parameter=name, allowed=[f"type {JSON_TYPES[sym.datatype]}"]))
            continue
        if sym.datatype == "choice":
            allowed = {c.choice.lower() for c in sym.choices}
            chosen = list(typed) if sym.multiple else [typed]
            if not sym.multiple and isinstance(value, list | tuple):
                from_problems.append(Problem("takes one value (the choice does not allow multiple values)",
                                             parameter=name, allowed=[c.choice for c in sym.choices]))
                continue
            for item in chosen:
                if str(item).lower() not in allowed:
                    from_problems.append(Problem(f"{item!r} is not one of the choices", parameter=name,
                                                 allowed=[c.choice for c in sym.choices]))
    if not from_problems and any(isinstance(sym.required, str) or sym.enabled for sym in params.values()):
        try:  # conditional isRequired / isEnabled need the other parameters' values
            resolve(config, parameters, seed="validation", now=_EPOCH)
        except ParameterError as exc:
            from_problems.extend(exc.problems)
        except ScaffoldError:
            pass  # a template problem, reported when rendering
    return sorted(from_problems, key=lambda p: (p.parameter or "", p.message))
