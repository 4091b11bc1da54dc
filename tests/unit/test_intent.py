"""Intents are validated completely: every problem with its path and allowed values, or a typed Intent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from shared.product.intent import IntentError, intent_from_mapping, intent_schema, load_intent

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_intent_schema_is_a_valid_2020_12_schema() -> None:
    Draft202012Validator.check_schema(intent_schema())


@pytest.mark.parametrize("name", ["task-tracker", "catalogue", "invoicing"])
def test_examples_load_as_typed_intents(name: str) -> None:
    intent = load_intent(EXAMPLES / f"{name}.yaml")

    assert intent.product.name == name
    assert intent.entities and intent.features


def test_invoicing_example_is_multi_tenant_with_money_dates_enums_and_residency() -> None:
    intent = load_intent(EXAMPLES / "invoicing.yaml")
    types = {f.type for e in intent.entities for f in e.fields}

    assert intent.tenant.mode == "multi"
    assert {"money", "date", "enum"} <= types
    assert intent.non_functional.data_residency == "eu"


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
