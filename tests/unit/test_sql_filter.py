"""The Service Bus SQL filter dialect as the embedded bus evaluates it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from shared.adapters.sqlite.sql_filter import compile_filter, system_properties
from shared.contracts.manifests import all_subscriptions, load_consumers
from shared.ports import PropertyValue

SYS = system_properties(
    message_id="m-1", subject="hello", correlation_id="c-9", content_type="application/json"
)


def matches(
    expr: str, props: Mapping[str, PropertyValue] | None = None, sys: Mapping[str, Any] = SYS
) -> bool:
    return compile_filter(expr)(props or {}, sys)


@pytest.mark.parametrize("expr", ["1=1", "TRUE", "true", "1 = 1 AND 2 <> 3", "NOT 1 = 2"])
def test_match_all_forms_match_any_message(expr: str) -> None:
    assert matches(expr, {})


@pytest.mark.parametrize(
    ("expr", "props", "expected"),
    [
        ("type = 'A'", {"type": "A"}, True),
        ("type = 'A'", {"type": "a"}, False),
        ("type <> 'A'", {"type": "B"}, True),
        ("type != 'A'", {"type": "A"}, False),
        ("n > 2", {"n": 3}, True),
        ("n >= 3.0", {"n": 3}, True),
        ("n < 2", {"n": 3}, False),
        ("n <= -1", {"n": -1}, True),
        ("n + 1 = 4", {"n": 3}, True),
        ("n * 2 - 1 = 5 AND n % 2 = 1", {"n": 3}, True),
        ("(n + 1) * 2 = 8", {"n": 3}, True),
        ("flag = TRUE", {"flag": True}, True),
        ("flag = FALSE", {"flag": True}, False),
        ("flag", {"flag": True}, True),
        ("n = 1", {"n": True}, False),
        ("n = '3'", {"n": 3}, False),
        ("name = 'it''s'", {"name": "it's"}, True),
    ],
)
def test_comparisons_follow_service_bus_typing(
    expr: str, props: dict[str, PropertyValue], expected: bool
) -> None:
    assert matches(expr, props) is expected


@pytest.mark.parametrize(
    ("expr", "props", "expected"),
    [
        ("type IN ('A', 'B')", {"type": "B"}, True),
        ("type IN ('A', 'B')", {"type": "C"}, False),
        ("type NOT IN ('A', 'B')", {"type": "C"}, True),
        ("type NOT IN ('A', 'B')", {"type": "A"}, False),
        ("n IN (1, 2, 3)", {"n": 2}, True),
        ("type IN ('A')", {}, False),
        ("type NOT IN ('A')", {}, False),
    ],
)
def test_in_and_not_in(expr: str, props: dict[str, PropertyValue], expected: bool) -> None:
    assert matches(expr, props) is expected


@pytest.mark.parametrize(
    ("expr", "value", "expected"),
    [
        ("v LIKE 'ab%'", "abcdef", True),
        ("v LIKE 'ab%'", "xabc", False),
        ("v LIKE '%cd%'", "abcdef", True),
        ("v LIKE 'a_c'", "abc", True),
        ("v LIKE 'a_c'", "abbc", False),
        ("v NOT LIKE 'a%'", "bcd", True),
        ("v LIKE 'a.c'", "abc", False),
        ("v LIKE '100!%' ESCAPE '!'", "100%", True),
        ("v LIKE '100!%' ESCAPE '!'", "1000", False),
    ],
)
def test_like_patterns_use_percent_and_underscore(expr: str, value: str, expected: bool) -> None:
    assert matches(expr, {"v": value}) is expected


def test_is_null_and_exists_distinguish_missing_properties() -> None:
    assert matches("tenantId IS NULL", {})
    assert matches("tenantId IS NULL", {"tenantId": None})
    assert not matches("tenantId IS NOT NULL", {})
    assert matches("tenantId IS NOT NULL", {"tenantId": "t1"})
    assert matches("EXISTS(tenantId)", {"tenantId": "t1"})
    assert matches("NOT EXISTS(tenantId)", {"other": 1})


def test_missing_property_is_unknown_so_negation_does_not_match() -> None:
    assert not matches("type = 'A'", {})
    assert not matches("NOT type = 'A'", {})
    assert not matches("type <> 'A'", {})
    assert matches("type = 'A' OR 1 = 1", {})
    assert not matches("type = 'A' AND 1 = 1", {})


def test_and_binds_tighter_than_or_and_parentheses_override() -> None:
    props = {"a": 1, "b": 2, "c": 3}
    assert matches("a = 9 AND b = 9 OR c = 3", props)
    assert not matches("a = 9 AND (b = 9 OR c = 3)", props)
    assert matches("((a = 1))", props)
    assert matches("NOT (a = 9 OR b = 9)", props)


def test_keywords_are_case_insensitive() -> None:
    assert matches("type in ('A') and not (x is not null) or FALSE", {"type": "A"})


def test_system_properties_are_read_through_the_sys_scope() -> None:
    assert matches("sys.MessageId = 'm-1'")
    assert matches("sys.Label = 'hello' AND sys.Subject = 'hello'")
    assert matches("sys.CorrelationId LIKE 'c-%'")
    assert matches("sys.ContentType = 'application/json'")
    assert not matches("sys.MessageId = 'other'")
    assert matches("user.type = 'A'", {"type": "A"})


def test_delimited_property_names_allow_spaces_and_dots() -> None:
    assert matches("[odd name] = 'x' AND [a.b] = 1", {"odd name": "x", "a.b": 1})


def test_manifest_generated_filter_routes_retries_by_target_agent() -> None:
    expr = "(type IN ('A', 'B') OR (type = 'AgentRetryRequested' AND targetAgent = 'x')) AND tenantId = 't1'"
    assert matches(expr, {"type": "A", "tenantId": "t1"})
    assert matches(expr, {"type": "AgentRetryRequested", "targetAgent": "x", "tenantId": "t1"})
    assert not matches(expr, {"type": "AgentRetryRequested", "targetAgent": "y", "tenantId": "t1"})
    assert not matches(expr, {"type": "A", "tenantId": "t2"})
    assert not matches(expr, {"type": "C", "tenantId": "t1"})


def test_a_flow_timeout_reaches_only_the_subscription_of_its_flow() -> None:
    coordinators = [c for c in load_consumers() if c.kind == "coordinator" and "FlowTimeout" in c.subscribes_to]
    assert len(coordinators) > 1
    for target in coordinators:
        props: dict[str, PropertyValue] = {"type": "FlowTimeout", "targetFlow": target.name}
        reached = [c.name for c in load_consumers() if compile_filter(c.sql_filter)(props, SYS)]
        assert reached == [target.name]
    others = {"type": "ProjectInitialized"}
    assert any(compile_filter(c.sql_filter)(others, SYS) for c in coordinators)  # domain events still fan out


def test_every_manifest_filter_compiles() -> None:
    subscriptions = all_subscriptions(load_consumers())
    assert subscriptions, "expected consumers in contracts/"
    for s in subscriptions:
        predicate = compile_filter(s.sql_filter)
        props: dict[str, PropertyValue] = {"type": s.event_types[0]}
        if s.consumer.tenant_scope:
            props["tenantId"] = s.consumer.tenant_scope
        assert predicate(props, SYS), s.name


@pytest.mark.parametrize(
    ("expr", "position", "token"),
    [
        ("type = ", 7, "<end of expression>"),
        ("type = 'A' AND", 14, "<end of expression>"),
        ("type IN 'A'", 8, "'A'"),
        ("type IN ('A' 'B')", 13, "'B'"),
        ("type 'A'", 5, "'A'"),
        ("type = 'A' 'B'", 11, "'B'"),
        ("(type = 'A'", 11, "<end of expression>"),
        ("type LIKE 5", 10, "5"),
        ("EXISTS type", 7, "type"),
        ("type NOT = 'A'", 9, "="),
        ("type IS 'A'", 8, "'A'"),
        ("= 'A'", 0, "="),
    ],
)
def test_invalid_expression_error_names_position_and_token(expr: str, position: int, token: str) -> None:
    with pytest.raises(ValueError) as info:
        compile_filter(expr)
    message = str(info.value)
    assert f"position {position}" in message
    assert repr(token) in message


def test_unknown_character_is_reported_with_its_position() -> None:
    with pytest.raises(ValueError, match=r"unexpected character '\$' at position 7"):
        compile_filter("type = $x")


def test_unterminated_string_is_rejected() -> None:
    with pytest.raises(ValueError, match="position 7"):
        compile_filter("type = 'A")


def test_empty_expression_is_rejected_with_the_match_all_hint() -> None:
    with pytest.raises(ValueError, match="1=1"):
        compile_filter("   ")


def test_escape_must_be_a_single_character() -> None:
    with pytest.raises(ValueError, match="exactly one character"):
        compile_filter("v LIKE 'a' ESCAPE 'ab'")
