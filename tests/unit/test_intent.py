"""Intents are validated completely: every problem with its path and allowed values, or a typed Intent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from shared.product.intent import IntentError, intent_from_mapping, intent_schema, load_intent

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_intent_schema_is_a_valid_2020_12_schema() -> None:
    Draft202012Validator.check_schema(intent_schema())


@pytest.mark.parametrize("name", ["task-tracker", "catalogue", "invoicing", "library"])
def test_examples_load_as_typed_intents(name: str) -> None:
    intent = load_intent(EXAMPLES / f"{name}.yaml")

    assert intent.product.name == name
    assert intent.entities and intent.features


def test_invoicing_example_is_multi_tenant_with_money_dates_enums_and_residency() -> None:
    intent = load_intent(EXAMPLES / "invoicing.yaml")
    types = {f.type for e in intent.entities for f in e.fields}

    assert intent.tenant.mode == "multi"
    assert {"money", "decimal", "date", "enum", "list"} <= types
    assert intent.non_functional.data_residency == "eu"
    invoice = intent.entities[1]
    status = invoice.field("status")
    assert status is not None and status.lifecycle is not None
    assert status.lifecycle.allows("sent", "paid") and not status.lifecycle.allows("draft", "paid")
    assert invoice.unique == [["number"]]
    assert [(r.field_name, r.required, r.delete_rule) for r in invoice.relations] == [
        ("customerId", True, "restrict"), ("lineIds", False, "cascade")]


def test_bad_intent_reports_every_problem_with_its_path() -> None:
    with pytest.raises(IntentError) as caught:
        load_intent(EXAMPLES / "bad-intent.yaml")

    paths = {p.path for p in caught.value.problems}
    assert {
        "",  # unknown top-level field
        "product.name",
        "product.displayName",
        "purpose",
        "tenant.mode",
        "entities[1].fields[0].type",
        "entities[1].fields[1].values",
        "entities[1].fields[2].name",
        "entities[1].fields[3].maxLength",
        "entities[1].relations[0].target",
        "features",
    } <= paths


def test_bad_intent_problems_name_the_allowed_values() -> None:
    with pytest.raises(IntentError) as caught:
        load_intent(EXAMPLES / "bad-intent.yaml")
    by_path = {p.path: p for p in caught.value.problems}

    assert "money" in by_path["entities[1].fields[0].type"].allowed
    assert "strng" in by_path["entities[1].fields[0].type"].message
    assert by_path["tenant.mode"].allowed == ("single", "multi")
    assert by_path["entities[1].relations[0].target"].allowed == ("Item", "Order")
    assert "colour" in by_path[""].message


def test_intent_error_message_lists_each_problem_and_what_to_do() -> None:
    with pytest.raises(IntentError) as caught:
        load_intent(EXAMPLES / "bad-intent.yaml")
    text = str(caught.value)

    assert "entities[1].fields[0].type" in text
    assert "allowed: string, text" in text
    assert "examples/*.yaml" in text
    assert text.count("\n  - ") == len(caught.value.problems)


def test_json_text_is_accepted_like_yaml() -> None:
    data = load_intent(EXAMPLES / "task-tracker.yaml").to_payload()

    intent = load_intent(json.dumps(data, indent=1))

    assert intent.to_payload() == data


def test_payload_round_trips_through_the_schema_with_defaults_filled() -> None:
    intent = load_intent(EXAMPLES / "catalogue.yaml")

    again = intent_from_mapping(intent.to_payload())

    assert again == intent
    assert [e.plural for e in again.entities] == ["categories", "suppliers", "products"]


def test_plural_is_derived_as_kebab_case_when_absent() -> None:
    intent = load_intent(EXAMPLES / "invoicing.yaml")

    assert [e.plural for e in intent.entities] == ["customers", "invoices", "invoice-lines"]


def test_duplicate_names_and_clashing_relation_fields_are_rejected() -> None:
    data = load_intent(EXAMPLES / "task-tracker.yaml").to_payload()
    task = data["entities"][0]
    data["entities"].append(dict(task))
    task["fields"].append({"name": "ownerId", "type": "string"})
    task["relations"] = [{"name": "owner", "target": "Task"}]

    with pytest.raises(IntentError) as caught:
        intent_from_mapping(data)

    messages = {p.path: p.message for p in caught.value.problems}
    assert "duplicate entity name" in messages["entities[1].name"]
    assert "ownerId" in messages["entities[0].relations[0].name"]


def test_yaml_syntax_error_is_one_problem_not_a_crash() -> None:
    with pytest.raises(IntentError) as caught:
        load_intent("product: [unclosed\npurpose: x\n")

    assert "not valid YAML" in caught.value.problems[0].message


def test_a_non_mapping_document_is_rejected() -> None:
    with pytest.raises(IntentError, match="must be a mapping"):
        load_intent("- just\n- a list\n")


def _intent(entities: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"product": {"name": "edge", "displayName": "Édge — ünïcode ✓"},
            "purpose": "Names that meet generated code.",
            "tenant": {"tenantId": "t1", "mode": "single"}, "features": [{"name": "f", "description": "d"}],
            "entities": entities, **extra}


def _problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(IntentError) as caught:
        intent_from_mapping(data)
    return {p.path: p.message for p in caught.value.problems}


def test_names_that_only_collide_with_imports_are_safe_by_construction() -> None:
    intent = intent_from_mapping(_intent([
        {"name": "Field", "fields": [{"name": "from", "type": "string"}, {"name": "json", "type": "integer"}]},
        {"name": "BaseModel", "fields": [{"name": "schema", "type": "boolean"}]},
    ]))

    assert [e.name for e in intent.entities] == ["Field", "BaseModel"]


@pytest.mark.parametrize(("entities", "path", "words"), [
    ([{"name": "Health", "plural": "health", "fields": [{"name": "ok", "type": "boolean"}]}],
     "entities[0].plural", "entity 'Health' clashes with the generated route /api/health"),
    ([{"name": "Exception", "fields": [{"name": "a", "type": "string"}]}],
     "entities[0].name", "entity 'Exception' would shadow the Python name"),
    ([{"name": "Task", "fields": [{"name": "a", "type": "string"}]},
      {"name": "TaskCreate", "fields": [{"name": "a", "type": "string"}]}],
     "entities[1].name", "entity 'TaskCreate' clashes with the generated class 'TaskCreate' of entity 'Task'"),
    ([{"name": "Task", "fields": [{"name": "limit", "type": "integer"}]}],
     "entities[0].fields[0].name", "field Task.limit clashes with the list query parameter 'limit'"),
    ([{"name": "Abtest", "fields": [{"name": "a", "type": "string"}]},
      {"name": "ABtest", "plural": "ab-tests", "fields": [{"name": "a", "type": "string"}]}],
     "entities[1].name", "both become 'abtest' in generated code"),
    ([{"name": "Task", "fields": [{"name": "tenantId", "type": "string"}]}],
     "entities[0].fields[0].name", "reserved"),
])
def test_names_that_would_clash_with_generated_code_are_refused_naming_entity_and_clash(
        entities: list[dict[str, Any]], path: str, words: str) -> None:
    assert words in _problems(_intent(entities))[path]


def test_required_relations_in_a_cycle_are_refused() -> None:
    problems = _problems(_intent([
        {"name": "Egg", "fields": [{"name": "a", "type": "string"}], "relations": [
            {"name": "hen", "target": "Hen", "required": True}]},
        {"name": "Hen", "fields": [{"name": "a", "type": "string"}], "relations": [
            {"name": "egg", "target": "Egg", "required": True}]},
    ]))

    assert "required relations form a cycle Egg -> Hen -> Egg" in problems["entities[0].relations"]


def test_limits_lifecycles_and_uniqueness_must_fit_their_fields() -> None:
    problems = _problems(_intent([{"name": "Order", "fields": [
        {"name": "total", "type": "decimal", "precision": 4, "scale": 6},
        {"name": "count", "type": "integer", "min": 5, "max": 1},
        {"name": "tags", "type": "list", "items": "string", "precision": 2},
        {"name": "state", "type": "enum", "values": ["new", "done"],
         "lifecycle": {"initial": ["old"], "transitions": {"new": ["gone"]}}},
        {"name": "note", "type": "string", "lifecycle": {"transitions": {}}},
    ], "unique": ["nothing", "tags"]}]))

    assert "scale (6) is larger than precision (4)" in problems["entities[0].fields[0].scale"]
    assert "max (1) is below min (5)" in problems["entities[0].fields[1].max"]
    assert "precision applies to decimal fields only" in problems["entities[0].fields[2].precision"]
    assert "'old' is not one of the field's values" in problems["entities[0].fields[3].lifecycle.initial[0]"]
    assert "'gone' is not one of" in problems["entities[0].fields[3].lifecycle.transitions.new[0]"]
    assert "a lifecycle applies to enum fields only" in problems["entities[0].fields[4].lifecycle"]
    assert "'nothing' is not a field or relation of entity 'Order'" in problems["entities[0].unique[0]"]
    assert "is a list field" in problems["entities[0].unique[1]"]


def test_bounded_contexts_cover_every_entity_once_and_cannot_restrict_across() -> None:
    entities = [
        {"name": "Book", "fields": [{"name": "title", "type": "string"}]},
        {"name": "Loan", "fields": [{"name": "dueOn", "type": "date"}],
         "relations": [{"name": "book", "target": "Book", "onDelete": "restrict"}]},
        {"name": "Stray", "fields": [{"name": "a", "type": "string"}]},
    ]
    problems = _problems(_intent(entities, contexts=[{"name": "catalog", "entities": ["Book"]},
                                                     {"name": "lending", "entities": ["Loan", "Book"]}]))

    assert "already in context 'catalog'" in problems["contexts[1].entities[1]"]
    assert "entity 'Stray' is in no context" in problems["entities[2].name"]
    assert "use cascade" in problems["entities[1].relations[0].onDelete"]


def test_the_library_example_has_two_bounded_contexts() -> None:
    intent = load_intent(EXAMPLES / "library.yaml")

    assert [(name, [e.name for e in entities]) for name, entities in intent.bounded_contexts()] == [
        ("library-catalog", ["Author", "Book"]), ("library-lending", ["Member", "Loan"])]
    assert intent.non_functional.availability is None  # not stated: nothing is invented
