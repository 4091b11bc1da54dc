"""No key or connection string anywhere in the Bicep; roles go to the managed identity only."""

from __future__ import annotations

import json
import re

import pytest

from tests.infra.infra_bicep import INFRA, Tree, bicep_files, body, expression, resources

FORBIDDEN = [r"listKeys\s*\(", r"listConnectionStrings\s*\(", r"AccountKey=", r"SharedAccessKey",
             r"connectionString", r"primaryKey", r"\.keys\b"]

#: The App Insights connection string is the one exception: it identifies the component and carries
#: an instrumentation key that cannot ingest while DisableLocalAuth is true (Entra token required).
#: Only monitoring.bicep reads it from the component; elsewhere it travels under this one name.
APP_INSIGHTS_NAME = "applicationInsightsConnectionString"
APP_INSIGHTS_SOURCE = {"modules/monitoring.bicep": "appInsights.properties.ConnectionString"}

ROLE_NAMES = {
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "0fb8eba5-a2bb-4abe-b1c1-49dfad359bb0": "Azure ContainerApps Session Executor",
    "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd": "Cognitive Services OpenAI User",
}


def _strip_allowed(rel: str, text: str) -> str:
    text = text.replace(APP_INSIGHTS_NAME, "")
    return text.replace(APP_INSIGHTS_SOURCE[rel], "") if rel in APP_INSIGHTS_SOURCE else text


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_no_bicep_file_reads_or_passes_a_key_or_connection_string(path: object) -> None:
    rel = str(path.relative_to(INFRA))  # type: ignore[attr-defined]
    code = "\n".join(line.split("//")[0] for line in path.read_text(encoding="utf-8").splitlines())  # type: ignore[attr-defined]
    code = re.sub(r"@description\('(?:[^'\\]|\\.)*'\)", "", code)
    found = [p for p in FORBIDDEN if re.search(p, _strip_allowed(rel, code), flags=re.IGNORECASE)]
    assert not found, f"{rel} mentions {found}: use identity-based access instead of keys"


def test_outputs_carry_no_key_and_only_the_app_insights_connection_string(trees: dict[str, Tree]) -> None:
    outputs = {f"{rel}:{name}": out
               for rel, tree in trees.items() for name, out in tree.get("outputs", {}).items()}
    keyish = {
        name for name, out in outputs.items()
        if re.search(r"connectionstring|listkeys|primarykey|accountkey|sharedaccesskey|password",
                     json.dumps(out["value"]) + name, re.IGNORECASE)
    }
    assert keyish == {"modules/monitoring.bicep:applicationInsightsConnectionString"}
    assert outputs["modules/keyvault.bicep:signingKeySecretUri"]["value"] == {
        "operator": {"type": "property_accessor", "operands": {
            "operand_1": "signingKeySecret",
            "operand_2": {"operator": {"type": "property_accessor", "operands": {
                "operand_1": "properties", "operand_2": "secretUri"}}}}}}, "output the URI, never the value"


def _role_ids(tree: Tree, resource: Tree) -> list[str]:
    role_ref = body(resource)["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
    config = resource["config"]
    if "loop_type" in config and role_ref == config["loop_type"]["detail"]["item_name"]:
        return list(tree["variables"][config["loop_type"]["detail"]["array_name"]]["value"])
    return [tree["variables"][role_ref]["value"]]


#: the one grant to someone else: the user running azd may read the signing-key secret, so that the next
#: `azd up` passes the same key again (main.parameters.json: secretOrRandomPassword) instead of a new one
DEPLOYER_GRANT = ("modules/keyvault.bicep", "deployerReadsSigningKey")


def test_the_deployer_may_only_read_the_signing_key_secret(trees: dict[str, Tree]) -> None:
    rel, name = DEPLOYER_GRANT
    tree = trees[rel]
    resource = resources(tree, "Microsoft.Authorization/roleAssignments")[name]
    props = body(resource)["properties"]
    assert props["principalId"] == "deployerPrincipalId" and props["principalType"] == "User"
    assert body(resource)["scope"] == "signingKeySecret"  # the secret, not the vault
    assert _role_ids(tree, resource) == ["4633458b-17de-408a-b874-0445c86b69e6"]  # Key Vault Secrets User
    assert tree["parameters"]["deployerPrincipalId"]["default"] == ""  # no grant unless azd passes one


def test_role_assignments_grant_exactly_the_listed_roles_to_the_identity(trees: dict[str, Tree]) -> None:
    granted: list[str] = []
    for rel, tree in trees.items():
        for name, resource in resources(tree, "Microsoft.Authorization/roleAssignments").items():
            if (rel, name) == DEPLOYER_GRANT:
                continue
            props = body(resource)["properties"]
            assert props["principalId"] == "principalId", f"{rel}:{name} grants to someone else"
            assert props["principalType"] == "ServicePrincipal"
            assert "principalId" in tree["parameters"], f"{rel}: principalId must be a parameter"
            granted += _role_ids(tree, resource)
    assert sorted(ROLE_NAMES[r] for r in granted) == sorted(ROLE_NAMES.values())


def test_every_module_given_a_principal_gets_the_managed_identity(trees: dict[str, Tree]) -> None:
    main = trees["main.bicep"]
    assert not resources(main, "Microsoft.Authorization/roleAssignments"), "main.bicep assigns roles itself"
    identity_module = main["modules"]["identity"]
    identity_tree = trees[identity_module["detail"]["path"]]
    assert resources(identity_tree, "Microsoft.ManagedIdentity/userAssignedIdentities")
    given = {name: expression(m["config"]["params"]["principalId"])
             for name, m in main["modules"].items() if "principalId" in m["config"]["params"]}
    assert given and set(given.values()) == {"identity.outputs.principalId"}
    with_param = {name for name, m in main["modules"].items()
                  if "principalId" in trees[m["detail"]["path"]]["parameters"]}
    assert with_param == set(given), "a module that takes a principal must be given the managed identity"


def test_cosmos_data_role_goes_to_the_identity(trees: dict[str, Tree]) -> None:
    tree = trees["modules/cosmos.bicep"]
    assignments = resources(tree, "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments")
    assert assignments
    for resource in assignments.values():
        assert body(resource)["properties"]["principalId"] == "principalId"


def test_no_resource_uses_a_system_assigned_identity(trees: dict[str, Tree]) -> None:
    identities = [(f"{rel}:{name}", body(res)["identity"]) for rel, tree in trees.items()
                  for name, res in tree.get("resources", {}).items() if "identity" in body(res)]
    assert identities, "the function app must declare its identity"
    for where, identity in identities:
        assert identity["type"] == "UserAssigned", f"{where}: identity must be user-assigned only"
