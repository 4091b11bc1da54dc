"""Condition expressions of computed symbols, ``#if`` blocks and source modifiers.

Grammar (C-like, as ``dotnet new`` conditions)::

    expr    := or
    or      := and ("||" and)*
    and     := unary ("&&" unary)*
    unary   := "!" unary | compare
    compare := primary (("==" | "!=") primary)?
    primary := "(" expr ")" | STRING | NUMBER | "true" | "false" | SYMBOL

Strings are quoted with ``"`` or ``'``. A bare name is a symbol reference; an unknown symbol is
an error, never silently false.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op>==|!=|&&|\|\||!|\(|\))
      | "(?P<dq>[^"]*)"
      | '(?P<sq>[^']*)'
      | (?P<num>-?\d+(?:\.\d+)?)(?![\w.])
      | (?P<name>[A-Za-z_][\w.\-]*)
    )""",
    re.VERBOSE,
)


class ExpressionError(ValueError):
    """A condition could not be parsed or refers to an unknown symbol."""


@dataclass(frozen=True)
class _Tok:
    kind: str  # op | str | num | name | end
    value: Any


def _tokenize(text: str) -> list[_Tok]:
    pos = 0
    out: list[_Tok] = []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"cannot parse condition {text!r} at position {pos}: {text[pos:]!r}")
        pos = m.end()
        if m.group("op"):
            out.append(_Tok("op", m.group("op")))
        elif m.group("dq") is not None:
            out.append(_Tok("str", m.group("dq")))
        elif m.group("sq") is not None:
            out.append(_Tok("str", m.group("sq")))
        elif m.group("num") is not None:
            num = m.group("num")
            out.append(_Tok("num", float(num) if "." in num else int(num)))
        else:
            out.append(_Tok("name", m.group("name")))
    out.append(_Tok("end", None))
    return out


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b)
    return bool(a == b)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() not in ("", "false", "0")
    return bool(value)


class _Parser:
    def __init__(self, text: str, symbols: Mapping[str, Any]) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.symbols = symbols

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Any:
        value = self.or_()
        if self.peek().kind != "end":
            raise ExpressionError(f"unexpected {self.peek().value!r} in condition {self.text!r}")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == _Tok("op", "||"):
            self.take()
            right = self.and_()
            value = _truthy(value) or _truthy(right)
        return value

    def and_(self) -> Any:
        value = self.unary()
        while self.peek() == _Tok("op", "&&"):
            self.take()
            right = self.unary()
            value = _truthy(value) and _truthy(right)
        return value

    def unary(self) -> Any:
        if self.peek() == _Tok("op", "!"):
            self.take()
            return not _truthy(self.unary())
        return self.compare()

    def compare(self) -> Any:
        left = self.primary()
        tok = self.peek()
        if tok.kind == "op" and tok.value in ("==", "!="):
            self.take()
            right = self.primary()
            return _equal(left, right) if tok.value == "==" else not _equal(left, right)
        return left

    def primary(self) -> Any:
        tok = self.take()
        if tok == _Tok("op", "("):
            value = self.or_()
            if self.take() != _Tok("op", ")"):
                raise ExpressionError(f"missing ')' in condition {self.text!r}")
            return value
        if tok.kind in ("str", "num"):
            return tok.value
        if tok.kind == "name":
            if tok.value.lower() in ("true", "false"):
                return tok.value.lower() == "true"
            if tok.value not in self.symbols:
                known = ", ".join(sorted(self.symbols)) or "none"
                raise ExpressionError(
                    f"condition {self.text!r} refers to unknown symbol {tok.value!r} (known: {known})")
            return self.symbols[tok.value]
        raise ExpressionError(f"unexpected {tok.value!r} in condition {self.text!r}")


def evaluate(text: str, symbols: Mapping[str, Any]) -> Any:
    """Evaluate ``text`` over ``symbols``; returns the value (bool for comparisons)."""
    if not text.strip():
        raise ExpressionError("empty condition")
    return _Parser(text, symbols).parse()


def condition(text: str, symbols: Mapping[str, Any]) -> bool:
    """Evaluate ``text`` as a boolean condition."""
    return _truthy(evaluate(text, symbols))


def referenced_names(text: str) -> set[str]:
    """Symbol names a condition refers to (for dependency ordering of computed symbols)."""
    return {t.value for t in _tokenize(text)
            if t.kind == "name" and t.value.lower() not in ("true", "false")}
