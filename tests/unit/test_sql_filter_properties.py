"""Random filter expressions: the compiled filter agrees with a reference three-valued evaluator."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.sqlite.sql_filter import compile_filter, system_properties
from shared.ports import PropertyValue

NAMES = ("type", "tenantId", "n")
VALUES = ("A", "B", "it's")


@dataclass(frozen=True)
class Eq:
    name: str
    value: str
    negate: bool = False


@dataclass(frozen=True)
class In:
    name: str
    values: tuple[str, ...]
    negate: bool = False


@dataclass(frozen=True)
class Null:
    name: str
    negate: bool = False


@dataclass(frozen=True)
class Not:
    inner: Node


@dataclass(frozen=True)
class Bin:
    op: str
    left: Node
    right: Node


Node = Eq | In | Null | Not | Bin


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def render(node: Node) -> str:
    if isinstance(node, Eq):
        return f"{node.name} {'<>' if node.negate else '='} {quote(node.value)}"
    if isinstance(node, In):
        return f"{node.name} {'NOT IN' if node.negate else 'IN'} ({', '.join(map(quote, node.values))})"
    if isinstance(node, Null):
        return f"{node.name} IS {'NOT NULL' if node.negate else 'NULL'}"
    if isinstance(node, Not):
        return f"NOT ({render(node.inner)})"
    return f"({render(node.left)}) {node.op} ({render(node.right)})"


def reference(node: Node, props: dict[str, PropertyValue]) -> bool | None:
    if isinstance(node, Null):
        return (props.get(node.name) is not None) if node.negate else (props.get(node.name) is None)
    if isinstance(node, Eq | In):
        value = props.get(node.name)
        if value is None:
            return None
        hit = value == node.value if isinstance(node, Eq) else value in node.values
        return not hit if node.negate else hit
    if isinstance(node, Not):
        inner = reference(node.inner, props)
        return None if inner is None else not inner
    left, right = reference(node.left, props), reference(node.right, props)
    if node.op == "AND":
        if left is False or right is False:
            return False
        return None if None in (left, right) else True
    if left is True or right is True:
        return True
    return None if None in (left, right) else False


names = st.sampled_from(NAMES)
values = st.sampled_from(VALUES)
leaves = st.one_of(
    st.builds(Eq, names, values, st.booleans()),
    st.builds(In, names, st.lists(values, min_size=1, max_size=3).map(tuple), st.booleans()),
    st.builds(Null, names, st.booleans()),
)
trees = st.recursive(
    leaves,
    lambda kids: st.one_of(st.builds(Not, kids), st.builds(Bin, st.sampled_from(["AND", "OR"]), kids, kids)),
    max_leaves=8,
)
property_sets = st.dictionaries(names, st.one_of(values, st.none()), max_size=3)


@settings(max_examples=300, deadline=None)
@given(tree=trees, props=property_sets)
def test_compiled_filter_matches_reference_semantics(tree: Node, props: dict[str, PropertyValue]) -> None:
    expr = render(tree)
    assert compile_filter(expr)(props, system_properties(message_id="m")) is (reference(tree, props) is True)


@settings(max_examples=200, deadline=None)
@given(tree=trees, props=property_sets)
def test_unparenthesised_and_binds_tighter_than_or(tree: Node, props: dict[str, PropertyValue]) -> None:
    a, b, c = render(tree), "type = 'A'", "tenantId = 'B'"
    flat = compile_filter(f"({a}) OR {b} AND {c}")(props, {})
    grouped = compile_filter(f"({a}) OR ({b} AND {c})")(props, {})
    assert flat is grouped
