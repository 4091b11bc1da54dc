"""Every rule has a case that fails and one that passes."""

from __future__ import annotations

from typing import Any

import pytest

from shared.generators.infrastructure import blocking, estimate_monthly_cost, generate
from shared.generators.infrastructure.generator import resolve
from shared.generators.infrastructure.model import InfrastructureBlueprint
from shared.generators.infrastructure.policies import RULES, Finding, evaluate
from shared.product.blueprint import ServiceBlueprint
from tests.infrablueprint.conftest import load_blueprint


def _with(bp: InfrastructureBlueprint, **changes: Any) -> InfrastructureBlueprint:
    """A copy with nested camelCase changes applied, re-validated."""
    doc = bp.document()
    for dotted, value in changes.items():
        node = doc
        *head, last = dotted.split("__")
        for key in head:
            node = node[key]
        node[last] = value
    return InfrastructureBlueprint.model_validate(doc)


@pytest.fixture
def prod_bp() -> InfrastructureBlueprint:
    return resolve(load_blueprint("catalogue"), "catalogue", "prod")


def _rule(rule_id: str, bp: InfrastructureBlueprint) -> list[Finding]:
    return [f for f in RULES[rule_id][1](bp) if f.severity != "info"]


CASES: list[tuple[str, dict[str, Any]]] = [
    ("IB001", {"resilience__autoscale__minReplicas": 1}),
    ("IB002", {"image__tag": "latest"}),
    ("IB003", {"resources__memoryLimit": None}),
    ("IB004", {"env__DB_PASSWORD": "hunter2"}),
    ("IB005", {"resilience__probes__readiness": None}),
    ("IB006", {"ingress__httpsOnly": False}),
    ("IB007", {"security__networkPolicy__enabled": False}),
    ("IB008", {"security__workloadIdentity__enabled": False}),
    ("IB009", {"cost__monthlyBudgetUsd": 10}),
    ("IB010", {"tenancy__dataResidency": "eu", "tenancy__regions": ["westeurope", "eastus"]}),
    ("IB011", {"target": "functions", "functions__alwaysReady": 0}),
    ("IB012", {"tenancy__mode": "multi", "authentication__required": False}),
]


def test_every_rule_has_a_case() -> None:
    assert sorted(RULES) == sorted(rule_id for rule_id, _ in CASES)


@pytest.mark.parametrize(("rule_id", "changes"), CASES, ids=[c[0] for c in CASES])
def test_rule_fails_on_bad_blueprint_and_passes_on_default(
    rule_id: str, changes: dict[str, Any], prod_bp: InfrastructureBlueprint
) -> None:
    assert _rule(rule_id, prod_bp) == []
    findings = _rule(rule_id, _with(prod_bp, **changes))
    assert findings and all(f.rule_id == rule_id for f in findings)
    assert all(f.message for f in findings)


def test_container_rules_say_nothing_about_a_functions_app(prod_bp: InfrastructureBlueprint) -> None:
    functions = _with(prod_bp, target="functions", image__tag="latest", resources__memoryLimit=None,
                      resilience__probes__readiness=None, security__networkPolicy__enabled=False)
    assert [f.rule_id for f in evaluate(functions) if f.severity != "info"] == []


def test_a_budget_the_intent_did_not_state_is_not_invented(prod_bp: InfrastructureBlueprint) -> None:
    (finding,) = RULES["IB009"][1](_with(prod_bp, cost__monthlyBudgetUsd=None))
    assert finding.severity == "info" and "the intent states no budget" in finding.message


def test_prod_replica_rule_does_not_apply_to_dev(prod_bp: InfrastructureBlueprint) -> None:
    dev = _with(prod_bp, environment="dev", resilience__autoscale__minReplicas=1)
    assert _rule("IB001", dev) == []


@pytest.mark.parametrize(
    "value",
    [
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc==",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
        "https://a.blob.core.windows.net/c?sv=2022&sig=abcdef",
    ],
)
def test_secret_looking_values_are_flagged_whatever_the_name(prod_bp: InfrastructureBlueprint, value: str) -> None:
    findings = _rule("IB004", _with(prod_bp, env__STORAGE=value))
    assert [f.resource for f in findings] == ["env/STORAGE"]
    assert findings[0].severity == "critical"


def test_key_vault_reference_in_env_is_not_a_plaintext_secret(prod_bp: InfrastructureBlueprint) -> None:
    ref = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/db-password)"
    assert _rule("IB004", _with(prod_bp, env__DB_PASSWORD=ref)) == []


def test_access_keys_enabled_is_a_workload_identity_finding(prod_bp: InfrastructureBlueprint) -> None:
    findings = _rule("IB008", _with(prod_bp, security__allowAccessKeys=True))
    assert [f.resource for f in findings] == ["storage"]


def test_cost_estimate_follows_the_price_table(prod_bp: InfrastructureBlueprint) -> None:
    # 2 replicas x (0.5 vCPU x 63.07 + 1 GiB x 7.88) + cosmos ZRS (23.36 + 10 x 0.25) x 1.25
    # + blob ZRS (50 x 0.02) x 1.25 + service bus 9.81, one region
    expected = 2 * (0.5 * 63.07 + 7.88) + (23.36 + 2.5) * 1.25 + 1.0 * 1.25 + 9.81
    assert estimate_monthly_cost(prod_bp) == round(expected, 2)
    two_regions = _with(prod_bp, tenancy__regions=["northeurope", "westeurope"])
    assert estimate_monthly_cost(two_regions) == round(2 * expected, 2)


def test_findings_are_ordered_most_severe_first(prod_bp: InfrastructureBlueprint) -> None:
    bad = _with(prod_bp, image__tag="latest", env__API_TOKEN="x", security__networkPolicy__enabled=False)
    severities = [f.severity for f in evaluate(bad)]
    assert severities[:2] == ["critical", "high"]
    assert blocking(evaluate(bad))


def test_payload_finding_has_the_event_shape(invoicing: ServiceBlueprint) -> None:
    package = generate(invoicing, "invoices", "prod", "t")
    payload = [f.to_payload() for f in package.findings]
    over = next(p for p in payload if p["ruleId"] == "IB009")
    assert over == {
        "id": "IB009/cost",
        "severity": "high",
        "ruleId": "IB009",
        "resource": "cost",
        "message": over["message"],
    }
    assert "exceeds the budget of $200.00" in over["message"]
