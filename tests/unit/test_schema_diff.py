"""Each classification rule of the schema diff, on small synthetic schema pairs."""

from __future__ import annotations

from typing import Any

import pytest

from shared.contracts.errors import ContractError
from shared.contracts.registry import default_registry
from shared.contracts.schema_diff import Change, breaking, diff_refs, diff_schemas, is_compatible, parse_ref


def obj(props: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required or [], **extra}


S = {"type": "string"}
B, OK = "breaking", "compatible"


def kinds(changes: list[Change]) -> set[tuple[str, str, str]]:
    return {(c.path, c.kind, c.compatibility) for c in changes}


def test_identical_schemas_have_no_changes() -> None:
    assert diff_schemas(obj({"a": S}, ["a"]), obj({"a": S}, ["a"])) == []


def test_annotations_do_not_count_as_changes() -> None:
    old = obj({"a": {**S, "description": "old"}}, title="x")
    new = {**obj({"a": {**S, "description": "new", "examples": ["q"]}}, title="y"), "x-event": {}}
    assert diff_schemas(old, new) == []


def test_removed_property_is_breaking() -> None:
    assert kinds(diff_schemas(obj({"a": S, "b": S}), obj({"a": S}))) == {("/b", "property-removed", B)}


def test_type_change_is_breaking() -> None:
    assert kinds(diff_schemas(obj({"a": S}), obj({"a": {"type": "integer"}}))) == {
        ("/a", "type-changed", B)}


def test_type_narrowing_is_breaking_and_widening_compatible() -> None:
    wide, narrow = {"type": ["string", "integer"]}, {"type": "string"}
    assert kinds(diff_schemas(obj({"a": wide}), obj({"a": narrow}))) == {("/a", "type-changed", B)}
    assert kinds(diff_schemas(obj({"a": narrow}), obj({"a": wide}))) == {("/a", "type-widened", OK)}
    assert kinds(diff_schemas({"type": "integer"}, {"type": "number"})) == {("/", "type-widened", OK)}
    assert kinds(diff_schemas({"type": "number"}, {"type": "integer"})) == {("/", "type-changed", B)}


def test_new_required_field_is_breaking() -> None:
    assert kinds(diff_schemas(obj({"a": S}), obj({"a": S, "b": S}, ["b"]))) == {
        ("/b", "required-property-added", B)}


def test_optional_field_becoming_required_is_breaking() -> None:
    assert kinds(diff_schemas(obj({"a": S}), obj({"a": S}, ["a"]))) == {("/a", "became-required", B)}


def test_narrowed_enum_is_breaking() -> None:
    assert kinds(diff_schemas({"enum": ["a", "b"]}, {"enum": ["a"]})) == {("/", "enum-narrowed", B)}


def test_widened_enum_is_compatible() -> None:
    assert kinds(diff_schemas({"enum": ["a"]}, {"enum": ["a", "b"]})) == {("/", "enum-widened", OK)}


def test_introducing_or_lifting_an_enum() -> None:
    assert kinds(diff_schemas(S, {**S, "enum": ["a"]})) == {("/", "enum-added", B)}
    assert kinds(diff_schemas({**S, "enum": ["a"]}, S)) == {("/", "enum-removed", OK)}


def test_new_optional_property_is_compatible() -> None:
    assert kinds(diff_schemas(obj({"a": S}), obj({"a": S, "b": S}))) == {
        ("/b", "optional-property-added", OK)}


def test_removed_required_is_compatible() -> None:
    assert kinds(diff_schemas(obj({"a": S}, ["a"]), obj({"a": S}))) == {("/a", "required-removed", OK)}


@pytest.mark.parametrize("keyword, value", [("maxLength", 10), ("minimum", 0), ("pattern", "^x"),
                                            ("minLength", 1), ("maxItems", 3), ("format", "email")])
def test_added_constraint_is_breaking(keyword: str, value: Any) -> None:
    changes = diff_schemas(obj({"a": S}), obj({"a": {**S, keyword: value}}))
    assert kinds(changes) == {("/a", "constraint-tightened", B)}
    assert keyword in changes[0].reason


def test_constraint_moves_are_classified_by_direction() -> None:
    assert kinds(diff_schemas({"maxLength": 10}, {"maxLength": 5})) == {("/", "constraint-tightened", B)}
    assert kinds(diff_schemas({"maxLength": 5}, {"maxLength": 10})) == {("/", "constraint-relaxed", OK)}
    assert kinds(diff_schemas({"minimum": 0}, {"minimum": 1})) == {("/", "constraint-tightened", B)}
    assert kinds(diff_schemas({"minimum": 1}, {})) == {("/", "constraint-relaxed", OK)}
    assert kinds(diff_schemas({"pattern": "^a"}, {"pattern": "^b"})) == {("/", "constraint-tightened", B)}
    assert kinds(diff_schemas({"pattern": "^a"}, {})) == {("/", "constraint-relaxed", OK)}


def test_closing_additional_properties_is_breaking() -> None:
    assert kinds(diff_schemas(obj({"a": S}), obj({"a": S}, additionalProperties=False))) == {
        ("/", "additional-properties-closed", B)}
    assert kinds(diff_schemas(obj({"a": S}, additionalProperties=True),
                              obj({"a": S}, additionalProperties=False))) == {
        ("/", "additional-properties-closed", B)}


def test_opening_additional_properties_is_compatible() -> None:
    assert kinds(diff_schemas(obj({"a": S}, additionalProperties=False), obj({"a": S}))) == {
        ("/", "additional-properties-opened", OK)}


def test_changes_inside_array_items_carry_the_item_path() -> None:
    old = obj({"xs": {"type": "array", "items": obj({"sev": {"enum": ["low", "high"]}})}})
    new = obj({"xs": {"type": "array", "items": obj({"sev": {"enum": ["low"]}})}})
    assert kinds(diff_schemas(old, new)) == {("/xs/*/sev", "enum-narrowed", B)}


def test_unclassified_keyword_change_is_treated_as_breaking() -> None:
    changes = diff_schemas({"anyOf": [S]}, {"anyOf": [S, {"type": "null"}]})
    assert kinds(changes) == {("/", "keyword-changed", B)}
    assert "compare by hand" in changes[0].reason


def test_changed_ref_is_breaking_until_dereferenced() -> None:
    assert kinds(diff_schemas({"$ref": "#/a"}, {"$ref": "#/b"})) == {("/", "ref-changed", B)}


def test_boolean_schemas() -> None:
    assert breaking(diff_schemas(True, False))
    assert is_compatible(False, True)  # type: ignore[arg-type]


def test_parse_ref_reads_name_and_version() -> None:
    assert parse_ref("ProjectInitialized@1.1.0") == ("ProjectInitialized", "1.1.0")
    assert parse_ref("AgentFailed") == ("AgentFailed", None)
    with pytest.raises(ContractError, match="Name@version"):
        parse_ref("AgentFailed@")


def test_diff_refs_compares_released_versions_through_the_registry() -> None:
    registry = default_registry()
    assert kinds(diff_refs(registry, "ProjectInitialized@1.0.0", "ProjectInitialized@1.1.0")) == {
        ("/ownerEmail", "optional-property-added", OK)}
    major_change = diff_refs(registry, "AgentFailed@1.0.0", "AgentFailed@2")
    assert {(c.path, c.compatibility) for c in breaking(major_change)} == {
        ("/attempt", B), ("/permanent", B)}


def test_diff_refs_names_available_versions_for_an_unknown_one() -> None:
    with pytest.raises(ContractError, match=r"available versions: 1\.0\.0, 1\.1\.0"):
        diff_refs(default_registry(), "ProjectInitialized@1.0.0", "ProjectInitialized@1.3.0")
