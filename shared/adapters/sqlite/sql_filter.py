"""Service Bus SQL filter expressions, compiled to Python predicates.

The embedded bus evaluates subscription rules the way Service Bus does: a subset of SQL-92 over
a message's application (``user.``) properties and its system (``sys.``) properties. Supported:

* comparison ``=``, ``<>``, ``!=``, ``<``, ``<=``, ``>``, ``>=``; arithmetic ``+ - * / %``
* ``[NOT] IN (...)``, ``[NOT] LIKE 'pattern' [ESCAPE 'c']`` with ``%`` and ``_``
* ``IS [NOT] NULL``, ``EXISTS(prop)``, ``AND``, ``OR``, ``NOT``, parentheses
* string (``'it''s'``), integer, decimal and boolean (``TRUE``/``FALSE``) literals, ``NULL``
* properties as ``name``, ``user.name``, ``sys.Label`` or delimited ``[odd name]``

A missing property is *unknown*, as in Service Bus: comparisons with it are unknown, ``NOT``
of unknown stays unknown, and the message matches only when the whole expression is TRUE.
Keywords are case-insensitive; property names and string values are case-sensitive.

Hand-written because no maintained library parses this dialect: a ``re`` tokenizer and a
recursive-descent parser that builds closures once, so evaluating a filter is just calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.ports import PropertyValue

Filter = Callable[[Mapping[str, PropertyValue], Mapping[str, Any]], bool]
_Expr = Callable[[Mapping[str, PropertyValue], Mapping[str, Any]], Any]

_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ESCAPE", "EXISTS", "TRUE", "FALSE"})
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^']|'')*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?|\[[^\]]+\])
  | (?P<op><>|!=|<=|>=|=|<|>|\(|\)|,|\+|-|\*|/|%)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # number | string | name | keyword | op | end
    text: str
    pos: int


def _tokenize(expr: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise ValueError(
                f"invalid SQL filter {expr!r}: unexpected character {expr[pos]!r} at position {pos}. "
                "Use quoted strings ('...'), numbers, property names, and the operators of the "
                "Service Bus SQL filter syntax."
            )
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "name" and text.upper() in _KEYWORDS:
            kind, text = "keyword", text.upper()
        if kind != "ws":
            tokens.append(_Token(kind, text, pos))
        pos = m.end()
    tokens.append(_Token("end", "<end of expression>", len(expr)))
    return tokens


# --------------------------------------------------------------------------- three-valued logic
# Predicates return True, False or None (unknown).


def _and(a: _Expr, b: _Expr) -> _Expr:
    def run(user: Mapping[str, PropertyValue], sys: Mapping[str, Any]) -> bool | None:
        left = a(user, sys)
        if left is False:
            return False
        right = b(user, sys)
        if right is False:
            return False
        return None if left is None or right is None else True

    return run


def _or(a: _Expr, b: _Expr) -> _Expr:
    def run(user: Mapping[str, PropertyValue], sys: Mapping[str, Any]) -> bool | None:
        left = a(user, sys)
        if left is True:
            return True
        right = b(user, sys)
        if right is True:
            return True
        return None if left is None or right is None else False

    return run


def _not(a: _Expr) -> _Expr:
    def run(user: Mapping[str, PropertyValue], sys: Mapping[str, Any]) -> bool | None:
        value = a(user, sys)
        return None if value is None else not value

    return run


_KIND: dict[type, str] = {str: "s", int: "n", float: "n", bool: "b"}


def _kind(value: Any) -> str | None:
    kind = _KIND.get(type(value))
    if kind is None and value is not None:  # subclasses of str/int/float
        kind = "b" if isinstance(value, bool) else "n" if isinstance(value, int | float) else (
            "s" if isinstance(value, str) else None
        )
    return kind


def _comparable(a: Any, b: Any) -> bool:
    """Numbers compare with numbers, strings with strings, booleans with booleans."""
    kind = _kind(a)
    return kind is not None and kind == _kind(b)


class _Const:
    """A literal: callable like any expression, and foldable (IN lists become set lookups)."""

    __slots__ = ("value",)

    def __init__(self, value: PropertyValue) -> None:
        self.value = value

    def __call__(self, user: Mapping[str, PropertyValue], sys: Mapping[str, Any]) -> PropertyValue:
        return self.value


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda x, y: x == y,
    "<>": lambda x, y: x != y,
    "!=": lambda x, y: x != y,
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
}


def _compare(op: str, a: _Expr, b: _Expr) -> _Expr:
    fn = _COMPARE[op]
    if op == "=" and isinstance(b, _Const) and b.value is not None:
        const, const_kind = b.value, _kind(b.value)

        def equals_const(user: Mapping[str, PropertyValue], sys: Mapping[str, Any]) -> bool | None:
            left = a(user, sys)
            return None if left is None or _kind(left) != const_kind else left == const

        return equals_const

    def run(user: Mapping[str, PropertyValue], sys: Mapping[str, Any]) -> bool | None:
        left, right = a(user, sys), b(user, sys)
        if left is None or right is None or not _comparable(left, right):
            return None
        return fn(left, right)

    return run


def _arith(op: str, a: _Expr, b: _Expr) -> _Expr:
    def run(user: Mapping[str, PropertyValue], sys: Mapping[str, Any]) -> Any:
        left, right = a(user, sys), b(user, sys)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
        if op == "+" and isinstance(left, str) and isinstance(right, str):
            return left + right
        if not numbers:
            return None
        if op in "/%" and right == 0:
            return None
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        if op == "/":
            return left // right if isinstance(left, int) and isinstance(right, int) else left / right
        return left % right

    return run


def _like_regex(pattern: str, escape: str | None) -> re.Pattern[str]:
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if escape is not None and ch == escape:
            out.append(re.escape(next(chars, "")))
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _property(name: str) -> _Expr:
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    scope, _, prop = name.partition(".") if "." in name else ("user", "", name)
    if scope.lower() == "sys":
        key = prop.lower()
        return lambda user, sys: sys.get(key)
    if scope.lower() == "user":
        return lambda user, sys: user.get(prop)
    # a dotted name with an unknown scope is a plain user property name
    return lambda user, sys: user.get(name)


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.tokens = _tokenize(expr)
        self.i = 0

    # -- helpers
    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def error(self, expected: str) -> ValueError:
        t = self.tok
        return ValueError(
            f"invalid SQL filter {self.expr!r}: expected {expected} at position {t.pos}, "
            f"found {t.text!r}. Fix the subscription filter (for example \"type IN ('A', 'B')\")."
        )

    def accept(self, kind: str, text: str | None = None) -> _Token | None:
        t = self.tok
        if t.kind == kind and (text is None or t.text == text):
            self.i += 1
            return t
        return None

    def expect(self, kind: str, text: str | None = None, what: str | None = None) -> _Token:
        t = self.accept(kind, text)
        if t is None:
            raise self.error(what or repr(text or kind))
        return t

    # -- grammar
    def parse(self) -> _Expr:
        node = self.or_()
        if self.tok.kind != "end":
            raise self.error("AND, OR or the end of the expression")
        return node

    def or_(self) -> _Expr:
        node = self.and_()
        while self.accept("keyword", "OR"):
            node = _or(node, self.and_())
        return node

    def and_(self) -> _Expr:
        node = self.not_()
        while self.accept("keyword", "AND"):
            node = _and(node, self.not_())
        return node

    def not_(self) -> _Expr:
        if self.accept("keyword", "NOT"):
            return _not(self.not_())
        return self.predicate()

    def predicate(self) -> _Expr:
        if self.accept("keyword", "EXISTS"):
            self.expect("op", "(", "'(' after EXISTS")
            name = self.expect("name", what="a property name inside EXISTS(...)")
            self.expect("op", ")", "')' closing EXISTS(")
            prop = _property(name.text)
            return lambda user, sys: prop(user, sys) is not None
        if self.tok.text == "(":
            return self.parenthesised()
        return self.comparison()

    def parenthesised(self) -> _Expr:
        """'(' opens a nested predicate or a parenthesised operand such as ``(n + 1) * 2 = 8``."""
        start = self.i
        self.i += 1
        first_error: ValueError | None = None
        try:
            inner = self.or_()
            self.expect("op", ")", "')'")
            if not self._at_operator():
                return inner
        except ValueError as exc:
            first_error = exc
        self.i = start
        try:
            return self.comparison()
        except ValueError:
            if first_error is not None:
                raise first_error from None
            raise

    def comparison(self) -> _Expr:
        left = self.additive()
        t = self.tok
        if t.kind == "op" and t.text in _COMPARE:
            self.i += 1
            return _compare(t.text, left, self.additive())
        if self.accept("keyword", "IS"):
            negate = self.accept("keyword", "NOT") is not None
            self.expect("keyword", "NULL", "NULL after IS [NOT]")
            return (lambda u, s: left(u, s) is not None) if negate else (lambda u, s: left(u, s) is None)
        negate = self.accept("keyword", "NOT") is not None
        if self.accept("keyword", "IN"):
            return self.in_list(left, negate)
        if self.accept("keyword", "LIKE"):
            return self.like(left, negate)
        if negate:
            raise self.error("IN or LIKE after NOT")
        if t.kind == "end" or (t.kind == "keyword" and t.text in {"AND", "OR"}) or t.text == ")":
            return self._bare_value(left)
        raise self.error("a comparison operator, IN, LIKE or IS")

    def _at_operator(self) -> bool:
        t = self.tok
        if t.kind == "op":
            return t.text in {*_COMPARE, "+", "-", "*", "/", "%"}
        if t.kind != "keyword":
            return False
        return t.text in {"IN", "LIKE", "IS"} or (
            t.text == "NOT" and self.tokens[self.i + 1].text in {"IN", "LIKE"}
        )

    @staticmethod
    def _bare_value(value: _Expr) -> _Expr:
        """A bare TRUE/FALSE literal or boolean property used as a predicate."""

        def run(user: Mapping[str, PropertyValue], sys: Mapping[str, Any]) -> bool | None:
            v = value(user, sys)
            return v if isinstance(v, bool) else None

        return run

    def in_list(self, left: _Expr, negate: bool) -> _Expr:
        self.expect("op", "(", "'(' after IN")
        items = [self.additive()]
        while self.accept("op", ","):
            items.append(self.additive())
        self.expect("op", ")", "',' or ')' in the IN list")
        if all(isinstance(item, _Const) for item in items):
            return self._in_set(left, negate, [item.value for item in items])  # type: ignore[attr-defined]

        def run(user: Mapping[str, PropertyValue], sys: Mapping[str, Any]) -> bool | None:
            value = left(user, sys)
            if value is None:
                return None
            found = any(
                (v := item(user, sys)) is not None and _comparable(value, v) and value == v for item in items
            )
            return not found if negate else found

        return run

    @staticmethod
    def _in_set(left: _Expr, negate: bool, values: list[PropertyValue]) -> _Expr:
        """``x IN ('A', 'B', ...)`` with literals only: one set lookup per evaluation."""
        members = frozenset((_kind(v), v) for v in values if v is not None)

        def run(user: Mapping[str, PropertyValue], sys: Mapping[str, Any]) -> bool | None:
            value = left(user, sys)
            if value is None:
                return None
            found = (_kind(value), value) in members
            return not found if negate else found

        return run

    def like(self, left: _Expr, negate: bool) -> _Expr:
        pattern = self.expect("string", what="a quoted pattern after LIKE")
        escape: str | None = None
        if self.accept("keyword", "ESCAPE"):
            esc = self.expect("string", what="a quoted escape character after ESCAPE")
            escape = _unquote(esc.text)
            if len(escape) != 1:
                raise ValueError(
                    f"invalid SQL filter {self.expr!r}: ESCAPE at position {esc.pos} must be exactly one "
                    f"character, found {esc.text!r}"
                )
        regex = _like_regex(_unquote(pattern.text), escape)

        def run(user: Mapping[str, PropertyValue], sys: Mapping[str, Any]) -> bool | None:
            value = left(user, sys)
            if not isinstance(value, str):
                return None
            matched = regex.fullmatch(value) is not None
            return not matched if negate else matched

        return run

    def additive(self) -> _Expr:
        node = self.multiplicative()
        while (t := self.tok).kind == "op" and t.text in {"+", "-"}:
            self.i += 1
            node = _arith(t.text, node, self.multiplicative())
        return node

    def multiplicative(self) -> _Expr:
        node = self.unary()
        while (t := self.tok).kind == "op" and t.text in {"*", "/", "%"}:
            self.i += 1
            node = _arith(t.text, node, self.unary())
        return node

    def unary(self) -> _Expr:
        if self.accept("op", "-"):
            inner = self.unary()
            if isinstance(inner, _Const) and _kind(inner.value) == "n":
                return _Const(-inner.value)  # type: ignore[operator]
            zero: _Expr = lambda u, s: 0  # noqa: E731
            return _arith("-", zero, inner)
        if self.accept("op", "+"):
            return self.unary()
        return self.primary()

    def primary(self) -> _Expr:
        t = self.tok
        self.i += 1
        if t.kind == "number":
            return _Const(int(t.text) if t.text.isdigit() else float(t.text))
        if t.kind == "string":
            return _Const(_unquote(t.text))
        if t.kind == "keyword" and t.text in {"TRUE", "FALSE"}:
            return _Const(t.text == "TRUE")
        if t.kind == "keyword" and t.text == "NULL":
            return _Const(None)
        if t.kind == "name":
            return _property(t.text)
        if t.kind == "op" and t.text == "(":
            node = self.additive()
            self.expect("op", ")", "')'")
            return node
        self.i -= 1
        raise self.error("a property, a literal or '('")


def _unquote(literal: str) -> str:
    return literal[1:-1].replace("''", "'")


def compile_filter(expr: str) -> Filter:
    """Compile a Service Bus SQL filter into ``predicate(application_properties, system_properties)``.

    System properties are looked up case-insensitively by name (``sys.Label`` reads
    ``system_properties["label"]``); pass them with lower-case keys, see ``system_properties``.
    Raises ``ValueError`` naming the position and the offending token if ``expr`` is invalid.
    """
    if not expr or not expr.strip():
        raise ValueError("invalid SQL filter: the expression is empty. Use '1=1' to match every message.")
    node = _Parser(expr).parse()

    def matches(user: Mapping[str, PropertyValue], sys: Mapping[str, Any]) -> bool:
        return node(user, sys) is True

    return matches


def system_properties(
    *, message_id: str, subject: str | None = None, correlation_id: str | None = None,
    content_type: str | None = None, **extra: Any,
) -> dict[str, Any]:
    """The ``sys.`` scope of a message, keyed the way ``compile_filter`` looks it up."""
    props: dict[str, Any] = {
        "messageid": message_id,
        "label": subject,
        "subject": subject,
        "correlationid": correlation_id,
        "contenttype": content_type,
    }
    props.update({k.lower(): v for k, v in extra.items()})
    return props
