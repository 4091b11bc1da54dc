"""Which operations a file gets: upstream's defaults by file name, or the template's
``customOperations`` / ``specialCustomOperations`` (``conditional`` and ``replacement`` types)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import pathspec

from shared.scaffold.conditionals import (
    DEFAULT_OPS,
    FileOps,
    Replacement,
    Style,
    block_style,
    default_glob_style,
    default_ops,
    line_style,
)
from shared.scaffold.config import CustomOperation, CustomOperations, TemplateConfig
from shared.scaffold.errors import Problem, UnsupportedTemplateError
from shared.scaffold.expressions import EVALUATORS, evaluate_faulted


def _list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _evaluator(cfg: Mapping[str, Any], where: str) -> str:
    raw = str(cfg.get("evaluator") or "C++")
    if raw.upper() not in EVALUATORS:
        raise UnsupportedTemplateError([Problem(f"unknown evaluator {raw!r}", path=f"{where}.evaluator",
                                                allowed=list(EVALUATORS))])
    return "C++2" if raw.upper() == "C++2" else raw.upper()


def _keywords(cfg: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for key, kind in (("ifkeyword", "if"), ("elseifkeyword", "elseif"), ("elsekeyword", "else"),
                      ("endifkeyword", "endif")):
        if cfg.get(key):
            out[kind] = _list(cfg[key])
    return out


def conditional_style(op: CustomOperation, where: str) -> Style:
    cfg = op.configuration
    style = str(cfg.get("style") or "custom").lower()
    evaluator = _evaluator(cfg, where)
    prefix = str(cfg["keywordprefix"]) if cfg.get("keywordprefix") is not None else "#"
    if style == "line":
        token = cfg.get("token")
        if not isinstance(token, str) or not token.strip():
            raise UnsupportedTemplateError([Problem("a 'line' conditional needs a 'token'", path=where)])
        return line_style(token, prefix, evaluator, _keywords(cfg))
    if style == "block":
        start, end = cfg.get("starttoken"), cfg.get("endtoken")
        if not isinstance(start, str) or not isinstance(end, str) or not start or not end:
            raise UnsupportedTemplateError([Problem("a 'block' conditional needs 'startToken' and 'endToken'",
                                                    path=where)])
        pseudo = cfg.get("pseudoendtoken")
        return block_style(start, end, str(pseudo) if pseudo else None, prefix, evaluator, _keywords(cfg))
    if style != "custom":
        raise UnsupportedTemplateError([Problem(f"unknown conditional style {style!r}", path=f"{where}.style",
                                                allowed=["line", "block", "custom"])])
    if cfg.get("actions"):
        raise UnsupportedTemplateError([Problem("'actions' of a custom conditional (operation ids) is not supported",
                                                path=f"{where}.actions")])
    return Style(if_=_list(cfg.get("if")), elseif=_list(cfg.get("elseif")), else_=_list(cfg.get("else")),
                 endif=_list(cfg.get("endif")), a_if=_list(cfg.get("actionableif")),
                 a_elseif=_list(cfg.get("actionableelseif")), a_else=_list(cfg.get("actionableelse")),
                 evaluator=evaluator)


def _replacement(op: CustomOperation, where: str) -> Replacement:
    cfg = op.configuration
    original = cfg.get("original")
    if not isinstance(original, str) or not original:
        raise UnsupportedTemplateError([Problem("a replacement needs a non-empty 'original'", path=where)])
    only_if = []
    for entry in cfg.get("onlyif") or []:
        if isinstance(entry, Mapping):
            low = {str(k).lower(): v for k, v in entry.items()}
            only_if.append((str(low.get("after") or ""), str(low.get("before") or "")))
    return Replacement(original, str(cfg.get("replacement") or ""), tuple(only_if))


def custom_ops(custom: CustomOperations, base: FileOps, variables: Mapping[str, Any], where: str) -> FileOps:
    """``base`` with the custom operations whose condition holds (custom conditionals replace the base's)."""
    styles: list[Style] = []
    replacements: list[Replacement] = []
    for i, op in enumerate(custom.operations):
        owhere = f"{where}.operations[{i}]"
        if op.condition is not None and not evaluate_faulted(op.condition, variables, "C++2")[0]:
            continue
        if op.type == "conditional":
            styles.append(conditional_style(op, f"{owhere}.configuration"))
        else:
            replacements.append(_replacement(op, f"{owhere}.configuration"))
    prefix = custom.flag_prefix if custom.flag_prefix is not None else base.flag_prefix
    return FileOps(tuple(styles) if styles else base.styles, prefix, base.msbuild and not styles,
                   base.replacements + tuple(replacements))


@lru_cache(maxsize=256)
def _spec(glob: str) -> pathspec.PathSpec[Any]:
    return pathspec.PathSpec.from_lines("gitignore", [glob])


class OperationsResolver:
    """``ops_for(path)``: the operations of a file, computed once per template render."""

    def __init__(self, config: TemplateConfig, variables: Mapping[str, Any]) -> None:
        self.config = config
        self.variables = variables
        self._special: list[tuple[str, FileOps | None]] = []
        for glob, custom in config.special_operations:
            where = f"specialCustomOperations.{glob}"
            if custom.condition is not None and not evaluate_faulted(custom.condition, variables, "C++2")[0]:
                self._special.append((glob, None))
                continue
            found = default_glob_style(glob)
            base = found[1] if found else FileOps((), "")
            self._special.append((glob, custom_ops(custom, base, variables, where)))
        self._global = (custom_ops(config.custom_operations, DEFAULT_OPS, variables, "customOperations")
                        if config.custom_operations.operations or config.custom_operations.flag_prefix is not None
                        else None)
        self._cache: dict[str, FileOps] = {}

    def ops_for(self, path: str) -> FileOps:
        name = path.rsplit("/", 1)[-1]
        for glob, ops in self._special:
            if _spec(glob).match_file(path):
                return ops if ops is not None else FileOps((), "")
        ops = default_ops(name)
        if ops is DEFAULT_OPS and self._global is not None:
            return self._global
        return ops
