"""What each parameter of a template drives (for ``factory templates show``).

A parameter drives: its own ``replaces`` / ``fileRename``; ``sourceName`` (for ``name``); every
condition that reads it (``#if`` blocks and MSBuild ``Condition`` attributes in files, source and
modifier conditions, primary outputs, post actions, other parameters' ``isEnabled`` /
``isRequired``); and, through them, every derived, computed or generated symbol computed from it.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.scaffold.conditionals import directive_conditions
from shared.scaffold.config import NAME, Symbol, TemplateConfig
from shared.scaffold.expressions import SYNTAX, referenced_names
from shared.scaffold.operations import OperationsResolver
from shared.scaffold.symbols import dependencies
from shared.scaffold.tree import is_binary


def _own(sym: Symbol, config: TemplateConfig) -> list[str]:
    out: list[str] = []
    forms = "" if sym.forms == ("identity",) else f" (forms: {', '.join(sym.forms)})"
    if sym.name == NAME and config.source_name:
        out.append(f"replaces sourceName '{config.source_name}' in file names, and in content in the forms "
                   "identity, safe_name, lower_safe_name, safe_namespace, lower_safe_namespace")
    if sym.replaces:
        only = "" if not sym.only_if else " where " + " or ".join(
            f"preceded by {a!r} and followed by {b!r}" for a, b in sym.only_if)
        out.append(f"replaces '{sym.replaces}' in content{forms}{only}")
    if sym.file_rename:
        out.append(f"renames '{sym.file_rename}' in file and folder names{forms}")
    return out


def _mentions(expr: str, name: str, names: tuple[str, ...], evaluator: str = "C++2") -> bool:
    return name in referenced_names(expr, names, evaluator if evaluator in SYNTAX else "C++2")


def drives(config: TemplateConfig, files: Mapping[str, bytes]) -> dict[str, list[str]]:
    """``{parameter: [what it drives]}`` for every parameter (an empty list: it drives nothing)."""
    names = tuple(dict.fromkeys([*config.symbols, NAME]))
    symbols = dict(config.symbols)
    symbols.setdefault(NAME, config.name_symbol)
    readers: dict[str, list[Symbol]] = {n: [] for n in names}
    for sym in config.symbols.values():
        if sym.type in ("computed", "derived", "generated"):
            for dep in dependencies(sym, names):
                readers.setdefault(dep, []).append(sym)
    conditions: list[tuple[str, str, str]] = []  # (where, evaluator, expression)
    for i, spec in enumerate(config.sources):
        if spec.condition:
            conditions.append((f"whether sources[{i}] ({spec.source}) is rendered", "C++2", spec.condition))
        for j, mod in enumerate(spec.modifiers):
            if mod.condition:
                what = ", ".join(filter(None, [
                    f"includes {', '.join(mod.include)}" if mod.include else "",
                    f"excludes {', '.join(mod.exclude)}" if mod.exclude else "",
                    f"copies as-is {', '.join(mod.copy_only)}" if mod.copy_only else "",
                    "renames " + ", ".join(f"{a} -> {b}" for a, b in dict(mod.rename).items()) if mod.rename else ""]))
                conditions.append((f"sources[{i}].modifiers[{j}]: {what}", "C++2", mod.condition))
    for key, entries in (("primaryOutputs", config.primary_outputs), ("postActions", config.post_actions)):
        for i, entry in enumerate(entries):
            if entry.get("condition"):
                conditions.append((f"{key}[{i}]", "C++2", str(entry["condition"])))
    for sym in config.symbols.values():
        for attr in ("required", "enabled"):
            value = getattr(sym, attr)
            if isinstance(value, str) and value not in ("true", "false"):
                conditions.append((f"whether {sym.name} is {attr}", "C++2", value))
    resolver = OperationsResolver(config, {})
    for path in sorted(files):
        if "/.template.config/" in f"/{path}" or is_binary(path, files[path]):
            continue
        text = files[path].decode("utf-8", "replace")
        for line, evaluator, expr in directive_conditions(text, resolver.ops_for(path)):
            conditions.append((f"conditional content in {path} (line {line})", evaluator, expr))

    def effects(name: str, seen: set[str]) -> list[str]:
        out: list[str] = []
        for where, evaluator, expr in conditions:
            if _mentions(expr, name, names, evaluator) or (evaluator == "MSBUILD" and f"$({name})" in expr):
                out.append(where)
        for reader in readers.get(name, []):
            if reader.name in seen:
                continue
            seen.add(reader.name)
            sub = _own(reader, config) + effects(reader.name, seen)
            label = f"{reader.type} symbol '{reader.name}'"
            out.append(f"{label}: {'; '.join(sub)}" if sub else f"{label} (which drives nothing)")
        return out

    result: dict[str, list[str]] = {}
    for name, sym in sorted(config.parameters().items()):
        result[name] = _own(symbols.get(name, sym), config) + effects(name, {name})
    return result
