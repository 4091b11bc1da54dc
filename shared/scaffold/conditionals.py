"""Conditional content: ``#if / #elif / #else / #endif`` blocks inside template files.

A directive is a whole line in one of four comment styles (leading whitespace allowed)::

    // #if (useCosmos)          C-like line comment
    # #if (useCosmos)           hash comment (Python, YAML, TOML, shell)
    <!-- #if (useCosmos) -->    markup comment (HTML, XML, Markdown)
    /* #if (useCosmos) */       block comment (CSS, JS)
    #if (useCosmos)             bare hash form: ``#if``/``#elif`` need a parenthesised
                                condition, ``#else``/``#endif`` stand alone on the line

Blocks nest. Directive lines never reach the output. The condition grammar is the one in
``expressions``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.scaffold.expressions import ExpressionError, condition

_KW = r"#(?P<kw>if|elif|else|endif)\b(?P<expr>.*?)"
_DIRECTIVE = re.compile(
    r"^[ \t]*(?:"
    rf"//[ \t]*{_KW}"
    rf"|#[ \t]*{_KW.replace('kw', 'kw2').replace('expr', 'expr2')}"
    rf"|<!--[ \t]*{_KW.replace('kw', 'kw3').replace('expr', 'expr3')}[ \t]*-->"
    rf"|/\*[ \t]*{_KW.replace('kw', 'kw4').replace('expr', 'expr4')}[ \t]*\*/"
    r"|#(?P<kw5>if|elif)[ \t]*(?P<expr5>\(.*\))"
    r"|#(?P<kw6>else|endif)(?P<expr6>)"
    r")[ \t]*\r?\n?$"
)
_QUICK = re.compile(r"#(?:if|elif|else|endif)\b")


class ConditionalError(ValueError):
    """Unbalanced or malformed ``#if`` blocks, or a bad condition; names file and line."""


@dataclass
class _Frame:
    parent_active: bool
    taken: bool
    active: bool
    seen_else: bool
    line: int


def _directive(line: str) -> tuple[str, str] | None:
    m = _DIRECTIVE.match(line)
    if not m:
        return None
    for suffix in ("", "2", "3", "4", "5", "6"):
        kw = m.group("kw" + suffix)
        if kw:
            return kw, (m.group("expr" + suffix) or "").strip()
    return None


def process(text: str, symbols: Mapping[str, Any], path: str = "<text>") -> str:
    """Return ``text`` with conditional blocks resolved against ``symbols``."""
    if not _QUICK.search(text):
        return text
    out: list[str] = []
    stack: list[_Frame] = []
    active = True
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        found = _directive(line)
        if found is None:
            if active:
                out.append(line)
            continue
        kw, expr = found
        try:
            if kw == "if":
                value = active and condition(expr, symbols)
                stack.append(_Frame(active, value, value, False, number))
            elif kw in ("elif", "else"):
                if not stack:
                    raise ConditionalError(f"{path}:{number}: #{kw} without #if")
                frame = stack[-1]
                if frame.seen_else:
                    raise ConditionalError(f"{path}:{number}: #{kw} after #else (block opened at line "
                                           f"{frame.line})")
                if kw == "else":
                    frame.seen_else = True
                    frame.active = frame.parent_active and not frame.taken
                else:
                    frame.active = (frame.parent_active and not frame.taken
                                    and condition(expr, symbols))
                frame.taken = frame.taken or frame.active
            else:
                if not stack:
                    raise ConditionalError(f"{path}:{number}: #endif without #if")
                stack.pop()
        except ExpressionError as exc:
            raise ConditionalError(f"{path}:{number}: {exc}") from exc
        active = stack[-1].active if stack else True
    if stack:
        raise ConditionalError(f"{path}:{stack[-1].line}: #if is never closed with #endif")
    return "".join(out)
