"""Condition expressions, evaluated the way ``dotnet new``'s evaluators do
(``src/Microsoft.TemplateEngine.Core/Expressions``).

Four evaluators, chosen by name (``evaluator`` of a computed symbol or switch case; the file type
for ``#if`` blocks):

``C++``   the default of ``#if`` blocks and of ``switch``: C operators ``== != < > <= >= && || ^ !
          & | << >> ( )``. Literals are typed: ``'quoted'`` strings, ``true``/``false``, ``null``,
          integers, hex (``0x1F``), decimals; any other bare word is ``null``. ``==`` compares
          strings case-insensitively and other values by type *and* value, so a bool never equals
          the string ``"true"``. An unparenthesised condition ends at the first operand
          (``#if A && B`` tests only ``A``), as upstream.
``C++2``  the default of computed symbols: the same operators plus ``+ - * /``; bare words are
          strings and values are compared by number, then bool, then version, then text
          (case-insensitive), so ``A == "true"`` is true for a bool ``A``.
``VB``    ``And AndAlso Or OrElse Xor Not = <> < > <= >=`` and ``"strings"``.
``MSBUILD`` ``AND OR ! == != &lt; &gt; &lt;= &gt;=``; symbols are written ``$(name)`` (also inside
          ``'quoted'`` text).

A symbol is known by its exact name (matched like upstream's token trie: the longest name that
starts at a position wins). A name that is not a set symbol is not a reference. Multi-choice
values compare with ``==`` as *contains* and ``!=`` as *does not contain*. A malformed condition
raises ``ExpressionError`` for ``C++``; the other evaluators give ``False`` with a fault message,
as upstream does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shared.scaffold.values import MultiValue, parse_bool, parse_number, parse_version, text

EVALUATORS = ("C++", "C++2", "MSBUILD", "VB")


class ExpressionError(ValueError):
    """A condition could not be evaluated; the message names the condition and the reason."""


@dataclass(frozen=True)
class _Syntax:
    ops: Mapping[str, str]  # token text -> operator name
    quotes: tuple[str, ...]
    variable_format: str = "{0}"
    bad: tuple[str, ...] = ()
    deref_in_literals: bool = False
    null_token: str = "null"


_CPP_OPS = {"&&": "and", "||": "or", "^": "xor", "!": "not", ">": "gt", ">=": "ge", "<": "lt", "<=": "le",
            "==": "eq", "=": "eq", "!=": "ne", "&": "band", "|": "bor", "<<": "shl", ">>": "shr",
            "(": "(", ")": ")"}
_CPP2_OPS = {"&&": "and", "||": "or", "!": "not", ">": "gt", ">=": "ge", "<": "lt", "<=": "le", "==": "eq",
             "!=": "ne", "(": "(", ")": ")", "<<": "shl", ">>": "shr", "+": "add", "-": "sub", "*": "mul",
             "/": "div", "&": "band", "|": "bor"}
_VB_OPS = {"And": "and", "AndAlso": "and", "Or": "or", "OrElse": "or", "Not": "not", "Xor": "xor", ">": "gt",
           ">=": "ge", "<": "lt", "<=": "le", "=": "eq", "<>": "ne", "(": "(", ")": ")", "<<": "shl",
           ">>": "shr", "+": "add", "-": "sub", "*": "mul", "/": "div", "^": "pow"}
_MSBUILD_OPS = {"AND": "and", "OR": "or", "!": "not", "&gt;": "gt", "&gt;=": "ge", "&lt;": "lt", "&lt;=": "le",
                "==": "eq", "!=": "ne", "(": "(", ")": ")"}
SYNTAX: dict[str, _Syntax] = {
    "C++": _Syntax(_CPP_OPS, ('"', "'")),
    "C++2": _Syntax(_CPP2_OPS, ('"', "'")),
    "VB": _Syntax(_VB_OPS, ('"',), null_token="Nothing"),
    "MSBUILD": _Syntax(_MSBUILD_OPS, ("'",), variable_format="$({0})", bad=("$(",), deref_in_literals=True),
}
_WS = (" ", "\t")


def _decode(value: str, evaluator: str) -> str:
    if evaluator == "MSBUILD":
        return (value.replace("&quot;", '"').replace("&apos;", "'").replace("&lt;", "<").replace("&gt;", ">")
                .replace("&amp;", "&"))
    return value.replace('\\"', '"').replace("\\'", "'")


@lru_cache(maxsize=512)
def _scanner(evaluator: str, names: tuple[str, ...]) -> re.Pattern[str]:
    syntax = SYNTAX[evaluator]
    tokens = [*syntax.ops, *syntax.quotes, *syntax.bad, " ", "\t", "\r\n", "\n", "\r"]
    refs = [syntax.variable_format.format(n) for n in names]
    alternatives = sorted({*tokens, *refs}, key=lambda t: (-len(t), t))
    return re.compile("|".join(re.escape(t) for t in alternatives))


@dataclass
class _Tok:
    kind: str  # op | ref | chars | quote | ws | eol | bad | lit | value
    value: Any = None
    raw: str = ""


def _scan_all(text_: str, evaluator: str, variables: Mapping[str, Any]) -> list[_Tok]:
    """Token stream of ``text_`` (upstream's trie: at each position the longest known token)."""
    syntax = SYNTAX[evaluator]
    names = tuple(sorted(variables))
    fmt = syntax.variable_format
    ref_of = {fmt.format(n): n for n in names}
    rx = _scanner(evaluator, names)
    out: list[_Tok] = []
    pos = 0
    literal: list[str] = []
    while pos < len(text_):
        m = rx.match(text_, pos)
        if not m:
            literal.append(text_[pos])
            pos += 1
            continue
        if literal:
            chars = "".join(literal)
            out.append(_Tok("chars", chars, chars))
            literal = []
        tok = m.group(0)
        pos = m.end()
        if tok in ref_of:
            out.append(_Tok("ref", ref_of[tok], tok))
        elif tok in syntax.quotes:
            out.append(_Tok("quote", tok, tok))
        elif tok in syntax.bad:
            out.append(_Tok("bad", tok, tok))
        elif tok in _WS:
            out.append(_Tok("ws", tok, tok))
        elif tok in ("\r\n", "\n", "\r"):
            out.append(_Tok("eol", tok, tok))
            break
        else:
            out.append(_Tok("op", syntax.ops[tok], tok))
    if literal:
        chars = "".join(literal)
        out.append(_Tok("chars", chars, chars))
    return out


# ----------------------------------------------------------------------------------- C++ (legacy)

def _infer_literal(raw: str) -> Any:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in ('"', "'"):
        return raw[1:-1]
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    if "." in raw:
        try:
            return float(raw)
        except ValueError:
            pass
    try:
        return int(raw)
    except ValueError:
        pass
    if low.startswith("0x"):
        try:
            return int(raw[2:], 16)
        except ValueError:
            pass
    return None


def _legacy_tokens(condition: str, variables: Mapping[str, Any]) -> list[_Tok]:
    """The tokens upstream's C++ evaluator reads: all of a parenthesised condition, else the first operand."""
    stream = _scan_all(condition, "C++", variables)
    tokens: list[_Tok] = []
    depth = 0
    quote: str | None = None
    pending: list[str] = []
    last_kind = "start"

    def flush() -> None:
        nonlocal pending
        if pending:
            tokens.append(_Tok("lit", "".join(pending)))
            pending = []

    for index, tok in enumerate(stream):
        if tok.kind == "chars":
            if quote is not None or depth > 0 or index == 0:
                pending.append(tok.value)
                last_kind = "lit"
                continue
            break  # a literal at the top level after the first operand ends the condition
        if tok.kind == "eol":
            break
        if depth == 0 and index > 0 and quote is None and last_kind not in ("ws", "close"):
            break
        if tok.kind == "quote":
            if quote is None:
                flush()
                pending.append(tok.value)
                quote = tok.value
            elif tok.value == quote:
                pending.append(tok.value)
                flush()
                quote = None
                last_kind = "lit"
            else:
                pending.append(tok.value)
            continue
        if quote is not None:
            pending.append(tok.raw)
            continue
        flush()
        if tok.kind == "ws":
            tokens.append(tok)
            last_kind = "ws"
        elif tok.kind == "ref":
            tokens.append(tok)
            last_kind = "ref"
        else:
            if tok.value == "(":
                depth += 1
            elif tok.value == ")":
                depth -= 1
            tokens.append(tok)
            last_kind = "close" if tok.value == ")" else "op"
    flush()
    # combine literals separated only by whitespace; drop whitespace
    out: list[_Tok] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind == "lit":
            value, gap, j = tok.value, "", i + 1
            reach = i
            while j < len(tokens) and tokens[j].kind in ("lit", "ws"):
                if tokens[j].kind == "ws":
                    gap += tokens[j].value
                else:
                    value += gap + tokens[j].value
                    gap = ""
                    reach = j
                j += 1
            out.append(_Tok("lit", value))
            i = reach + 1
            continue
        if tok.kind != "ws":
            out.append(tok)
        i += 1
    return out


def _legacy_equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if isinstance(a, MultiValue) and isinstance(b, str):
        return any(v.lower() == b.lower() for v in a)
    if isinstance(b, MultiValue) and isinstance(a, str):
        return any(v.lower() == a.lower() for v in b)
    if type(a) is not type(b):
        return a is None and b is None
    return bool(a == b)


def _to_bool_strict(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ExpressionError(f"{what}: {text(value)!r} is not a bool")


def _convert_bool(value: Any, what: str) -> bool:
    """``Convert.ToBoolean``: bools, ``true``/``false`` text, numbers (non-zero is true)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    parsed = parse_bool(value)
    if parsed is None:
        raise ExpressionError(f"{what}: {text(value)!r} is not a bool")
    return parsed


def _to_double(value: Any, what: str) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    number = parse_number(value) if value is not None else 0.0
    if number is None:
        raise ExpressionError(f"{what}: {text(value)!r} is not a number")
    return number


def _to_long(value: Any, what: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    number = parse_number(value)
    if number is None or not float(number).is_integer():
        raise ExpressionError(f"{what}: {text(value)!r} is not an integer")
    return int(number)


# ----------------------------------------------------------------------------------- shared compare

def _shared_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return parse_bool(value) if isinstance(value, str) else None


def _shared_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    return parse_number(value)


def shared_compare(left: Any, right: Any, null_token: str = "null") -> int:
    """Upstream ``SharedEvaluatorDefinition.Compare``: number, bool, version, multi-value, text, else equal."""
    if left == null_token and isinstance(left, str):
        left = None
    if right == null_token and isinstance(right, str):
        right = None
    ln, rn = _shared_number(left), _shared_number(right)
    if ln is not None and rn is not None:
        return (ln > rn) - (ln < rn)
    lb, rb = _shared_bool(left), _shared_bool(right)
    if lb is not None and rb is not None:
        return (lb > rb) - (lb < rb)
    lv, rv = parse_version(left), parse_version(right)
    if lv is not None and rv is not None:
        return (lv > rv) - (lv < rv)
    for mv, other in ((left, right), (right, left)):
        if isinstance(mv, MultiValue) and isinstance(other, str):
            return 0 if any(v.lower() == other.lower() for v in mv) else -1
    if isinstance(left, str) and isinstance(right, str):
        a, b = left.lower(), right.lower()
        return (a > b) - (a < b)
    if left is not None and right is not None and type(left) is type(right):
        try:
            return int(left > right) - int(left < right)
        except TypeError:
            return 0
    return 0


# ----------------------------------------------------------------------------------- parser

_BINARY_LEVELS: tuple[tuple[str, ...], ...] = (
    ("or",), ("and",), ("bor",), ("xor",), ("band",), ("eq", "ne"), ("gt", "ge", "lt", "le"),
    ("shl", "shr"), ("add", "sub"), ("mul", "div"), ("pow",),
)


@dataclass(frozen=True)
class _Node:
    op: str  # value | not | <binary op>
    value: Any = None
    left: _Node | None = None
    right: _Node | None = None


class _Parser:
    def __init__(self, tokens: list[_Tok], source: str) -> None:
        self.toks = tokens
        self.i = 0
        self.source = source

    def fail(self, why: str) -> ExpressionError:
        return ExpressionError(f"cannot read condition {self.source!r}: {why}")

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> _Node | None:
        if not self.toks:
            return None
        node = self.binary(0)
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.describe(self.peek())}")
        return node

    @staticmethod
    def describe(tok: _Tok | None) -> str:
        if tok is None:
            return "end of condition"
        return repr(tok.raw) if tok.raw else f"{tok.kind} {tok.value!r}"

    def binary(self, level: int) -> _Node:
        if level == len(_BINARY_LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while True:
            tok = self.peek()
            if tok is None or tok.kind != "op" or tok.value not in _BINARY_LEVELS[level]:
                return node
            self.i += 1
            right = self.binary(level + 1)
            node = _Node(tok.value, left=node, right=right)

    def unary(self) -> _Node:
        tok = self.peek()
        if tok is not None and tok.kind == "op" and tok.value == "not":
            self.i += 1
            return _Node("not", left=self.unary())
        if tok is not None and tok.kind == "op" and tok.value == "sub":
            self.i += 1
            return _Node("neg", left=self.unary())
        return self.primary()

    def primary(self) -> _Node:
        tok = self.peek()
        if tok is None:
            raise self.fail("an operand is missing")
        self.i += 1
        if tok.kind == "op" and tok.value == "(":
            node = self.binary(0)
            close = self.peek()
            if close is None or close.kind != "op" or close.value != ")":
                raise self.fail("missing ')'")
            self.i += 1
            return node
        if tok.kind in ("value", "lit", "ref"):
            return _Node("value", tok.value)
        if tok.kind == "op":
            raise self.fail(f"an operand is missing before {tok.raw or tok.value!r}")
        raise self.fail(f"unexpected {self.describe(tok)}")


def _legacy_eval(node: _Node, where: str) -> Any:
    if node.op == "value":
        return node.value
    assert node.left is not None
    if node.op == "not":
        return not _convert_bool(_legacy_eval(node.left, where), where)
    if node.op == "neg":
        return -_to_double(_legacy_eval(node.left, where), where)
    assert node.right is not None
    a, b = _legacy_eval(node.left, where), _legacy_eval(node.right, where)
    op = node.op
    if op == "and":
        return _to_bool_strict(a, where) and _to_bool_strict(b, where)
    if op == "or":
        return _to_bool_strict(a, where) or _to_bool_strict(b, where)
    if op == "xor":
        return _to_bool_strict(a, where) ^ _to_bool_strict(b, where)
    if op == "eq":
        return _legacy_equal(a, b)
    if op == "ne":
        return not _legacy_equal(a, b)
    if op in ("gt", "ge", "lt", "le"):
        x, y = _to_double(a, where), _to_double(b, where)
        return {"gt": x > y, "ge": x >= y, "lt": x < y, "le": x <= y}[op]
    if op in ("shl", "shr"):
        x, n = _to_long(a, where), _to_long(b, where)
        return x << n if op == "shl" else x >> n
    if op in ("band", "bor"):
        x, y = _to_long(a, where), _to_long(b, where)
        return x & y if op == "band" else x | y
    raise ExpressionError(f"{where}: operator {op!r} is not supported by the C++ evaluator")


def _shared_eval(node: _Node, where: str, null_token: str) -> Any:
    if node.op == "value":
        return node.value
    assert node.left is not None
    if node.op == "not":
        value = _shared_bool(_shared_eval(node.left, where, null_token))
        if value is None:
            raise ExpressionError(f"{where}: '!' needs a bool")
        return not value
    if node.op == "neg":
        number = _shared_number(_shared_eval(node.left, where, null_token))
        if number is None:
            raise ExpressionError(f"{where}: '-' needs a number")
        return -number
    assert node.right is not None
    a = _shared_eval(node.left, where, null_token)
    b = _shared_eval(node.right, where, null_token)
    op = node.op
    if op in ("and", "or", "xor"):
        ba, bb = _shared_bool(a), _shared_bool(b)
        if ba is None or bb is None:
            raise ExpressionError(f"{where}: {op} needs two bools, got {text(a)!r} and {text(b)!r}")
        return ba and bb if op == "and" else (ba or bb) if op == "or" else ba ^ bb
    if op in ("eq", "ne", "gt", "ge", "lt", "le"):
        c = shared_compare(a, b, null_token)
        return {"eq": c == 0, "ne": c != 0, "gt": c > 0, "ge": c >= 0, "lt": c < 0, "le": c <= 0}[op]
    x_num, y_num = _shared_number(a), _shared_number(b)
    if x_num is None or y_num is None:
        raise ExpressionError(f"{where}: {op} needs numbers, got {text(a)!r} and {text(b)!r}")
    if op in ("shl", "shr", "band", "bor"):
        x, y = int(x_num), int(y_num)
        return {"shl": x << y, "shr": x >> y, "band": x & y, "bor": x | y}[op]
    if op == "div" and y_num == 0:
        raise ExpressionError(f"{where}: division by zero")
    return {"add": x_num + y_num, "sub": x_num - y_num, "mul": x_num * y_num,
            "div": x_num / y_num if op == "div" else 0, "pow": x_num ** y_num}[op]


def _shared_tokens(condition: str, evaluator: str, variables: Mapping[str, Any]) -> list[_Tok]:
    syntax = SYNTAX[evaluator]
    stream = _scan_all(condition, evaluator, variables)
    out: list[_Tok] = []
    quote: str | None = None
    parts: list[str] = []
    for tok in stream:
        if tok.kind == "bad":
            raise ExpressionError(f"condition {condition!r} uses {tok.value!r} with no known symbol after it")
        if tok.kind == "eol":
            break
        if tok.kind == "quote":
            if quote is None:
                if parts:
                    out.append(_Tok("lit", _decode("".join(parts), evaluator)))
                    parts = []
                quote = tok.value
            elif tok.value == quote:
                out.append(_Tok("value", _decode("".join(parts), evaluator)))
                parts = []
                quote = None
            else:
                parts.append(tok.value)
            continue
        if quote is not None:
            if tok.kind == "ref" and syntax.deref_in_literals:
                value = variables[tok.value]
                parts.append(text(value) if value is not None else "null")
            else:
                parts.append(tok.raw)
            continue
        if tok.kind == "chars":
            parts.append(tok.value)
            continue
        if parts:
            out.append(_Tok("lit", _decode("".join(parts), evaluator)))
            parts = []
        if tok.kind == "ws":
            continue
        if tok.kind == "ref":
            out.append(_Tok("value", variables[tok.value]))
        else:
            out.append(tok)
    if quote is not None:
        raise ExpressionError(f"condition {condition!r} has an unclosed {quote} quote")
    if parts:
        out.append(_Tok("lit", _decode("".join(parts), evaluator)))
    return out


def evaluate(condition: str, variables: Mapping[str, Any], evaluator: str = "C++2") -> Any:
    """The value of ``condition`` (not converted to bool). Raises ``ExpressionError``."""
    evaluator = evaluator.upper() if evaluator.upper() != "C++2" else "C++2"
    if evaluator not in SYNTAX:
        raise ExpressionError(f"unknown evaluator {evaluator!r}; known: {', '.join(EVALUATORS)}")
    if evaluator == "C++":
        tokens = _legacy_tokens(condition, variables)
        for tok in tokens:
            if tok.kind == "lit":
                tok.kind, tok.value = "value", _infer_literal(tok.value)
            elif tok.kind == "ref":
                tok.kind, tok.value = "value", variables[tok.value]
        node = _Parser(tokens, condition).parse()
        return False if node is None else _legacy_eval(node, f"condition {condition!r}")
    tokens = _shared_tokens(condition, evaluator, variables)
    node = _Parser(tokens, condition).parse()
    if node is None:
        raise ExpressionError(f"condition {condition!r} is empty")
    return _shared_eval(node, f"condition {condition!r}", SYNTAX[evaluator].null_token)


def condition(expr: str, variables: Mapping[str, Any], evaluator: str = "C++2") -> bool:
    """``expr`` as a bool, like upstream: C++ raises ``ExpressionError`` on a bad condition, the
    other evaluators return False (use ``evaluate_faulted`` to also get the fault)."""
    value, fault = evaluate_faulted(expr, variables, evaluator)
    if fault is not None and evaluator.upper() == "C++":
        raise ExpressionError(fault)
    return value


def evaluate_faulted(expr: str, variables: Mapping[str, Any], evaluator: str = "C++2") -> tuple[bool, str | None]:
    """(result, fault message or None): the final ``Convert.ChangeType(value, bool)`` included."""
    try:
        value = evaluate(expr, variables, evaluator)
        if evaluator.upper() == "C++":
            return _convert_bool(value if value is not None else False, f"condition {expr!r}"), None
        result = _shared_bool(value)
        if result is None:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value != 0, None
            return False, f"condition {expr!r} gives {text(value)!r}, not a bool"
        return result, None
    except ExpressionError as exc:
        return False, str(exc)


def referenced_names(expr: str, names: Mapping[str, Any] | set[str] | tuple[str, ...],
                     evaluator: str = "C++2") -> set[str]:
    """The symbol names ``expr`` refers to (for dependency ordering), matched like upstream."""
    universe = {n: None for n in names}
    return {t.value for t in _scan_all(expr, evaluator if evaluator in SYNTAX else "C++2", universe)
            if t.kind == "ref"}


EvaluatorFn = Callable[[str, Mapping[str, Any]], bool]
