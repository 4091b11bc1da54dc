"""Policy over the parsed Bicep: what gets deployed, with which SKUs and security flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from pycep import BicepParser

from shared.contracts.manifests import all_subscriptions, load_consumers
from shared.generators import messaging as render
from shared.ports.layout import COSMOS_CONTAINERS, COSMOS_DEFAULT_TTL, DEFAULT_DATABASE, DEFAULT_TOPIC
from shared.settings import Settings
from tests.infra.infra_bicep import (
    INFRA,
    Tree,
    bicep_files,
    body,
    expression,
    literal,
    one,
    resources,
    unescape,
)

SUBSCRIPTION = "Microsoft.ServiceBus/namespaces/topics/subscriptions"
RULE = "Microsoft.ServiceBus/namespaces/topics/subscriptions/rules"


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(parser: BicepParser, path: Path) -> None:
    tree = parser.parse(file_path=path)
    assert tree.get("resources") or tree.get("modules"), f"{path} declares no resource and no module"


def test_main_uses_only_local_modules_that_exist(trees: dict[str, Tree]) -> None:
    modules = trees["main.bicep"]["modules"]
    assert modules, "main.bicep deploys no module"
    for name, module in modules.items():
        path = module["detail"]["path"]
        assert module["type"] == "local", f"module {name}: registry modules can't be checked offline"
        assert (INFRA / path).is_file(), f"module {name}: {path} missing"


def test_each_consumer_and_lane_has_a_subscription_with_its_manifest_filter(trees: dict[str, Tree]) -> None:
    tree = trees["generated/messaging.bicep"]
    subs = {name: body(res) for name, res in resources(tree, SUBSCRIPTION).items()}
    rules = {body(res)["parent"]: body(res) for res in resources(tree, RULE).values()}
    by_subscription = {sub["name"]: (symbol, sub) for symbol, sub in subs.items()}
    subscriptions = all_subscriptions(load_consumers())
    assert sorted(by_subscription) == sorted(s.name for s in subscriptions)
    for s in subscriptions:
        symbol, sub = by_subscription[s.name]
        rule = rules[symbol]
        assert rule["name"] == "$Default", "the rule must replace the catch-all $Default rule"
        assert rule["properties"]["filterType"] == "SqlFilter"
        assert unescape(rule["properties"]["sqlFilter"]["sqlExpression"]) == s.sql_filter
        props = sub["properties"]
        assert props["maxDeliveryCount"] == 10
        assert props["lockDuration"] == "PT1M"
        assert props["deadLetteringOnMessageExpiration"] is True


def test_main_deploys_the_generated_subscriptions_on_the_factory_topic(trees: dict[str, Tree]) -> None:
    module = trees["main.bicep"]["modules"]["messaging"]
    assert module["detail"]["path"] == "generated/messaging.bicep"
    params = module["config"]["params"]
    assert expression(params["namespaceName"]) == "serviceBus.outputs.namespaceName"
    assert expression(params["topicName"]) == "serviceBus.outputs.topicName"
    assert trees["main.bicep"]["variables"]["topicName"]["value"] == DEFAULT_TOPIC


def test_entity_settings_match_the_settings_defaults() -> None:
    fields = Settings.model_fields
    assert fields["max_delivery_count"].default == render.MAX_DELIVERY_COUNT
    assert f"PT{int(fields['lock_duration_seconds'].default // 60)}M" == render.LOCK_DURATION
    window_minutes = int(fields["duplicate_detection_window_seconds"].default // 60)
    assert f"PT{window_minutes}M" == render.DUPLICATE_DETECTION_WINDOW
    assert f"P{int(fields['message_ttl_seconds'].default // 86400)}D" == render.MESSAGE_TTL


def test_service_bus_is_standard_or_higher_keyless_with_duplicate_detection(trees: dict[str, Tree]) -> None:
    tree = trees["modules/servicebus.bicep"]
    sku_param = tree["parameters"]["sku"]
    allowed = next(d["argument"] for d in sku_param["decorators"] if d["type"] == "allowed")
    assert set(allowed) <= {"Standard", "Premium"}
    assert trees["main.bicep"]["parameters"]["serviceBusSku"]["default"] in {"Standard", "Premium"}
    namespace = one(tree, "Microsoft.ServiceBus/namespaces")
    assert namespace["properties"]["disableLocalAuth"] is True
    topic = one(tree, "Microsoft.ServiceBus/namespaces/topics")
    assert topic["properties"]["requiresDuplicateDetection"] is True
    assert tree["parameters"]["duplicateDetectionWindow"]["default"] == "PT10M"
    assert topic["properties"]["duplicateDetectionHistoryTimeWindow"] == "duplicateDetectionWindow"


def test_cosmos_containers_and_partition_keys_match_storage_layout(trees: dict[str, Tree]) -> None:
    tree = trees["modules/cosmos.bicep"]
    declared = {c["name"]: c for c in tree["variables"]["containers"]["value"]}
    assert {name: c["partitionKey"] for name, c in declared.items()} == COSMOS_CONTAINERS
    assert {name: literal(c.get("defaultTtl")) for name, c in declared.items()} == COSMOS_DEFAULT_TTL
    container = one(tree, "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers")
    resource = container["properties"]["resource"]
    assert [expression(p) for p in resource["partitionKey"]["paths"]] == ["c.partitionKey"]
    assert expression(resource["defaultTtl"]) == "c.defaultTtl"
    params = trees["main.bicep"]["modules"]["cosmos"]["config"]["params"]
    assert params["databaseName"] == DEFAULT_DATABASE


def test_cosmos_is_serverless_keyless_and_grants_data_contributor(trees: dict[str, Tree]) -> None:
    tree = trees["modules/cosmos.bicep"]
    account = one(tree, "Microsoft.DocumentDB/databaseAccounts")["properties"]
    assert {"name": "EnableServerless"} in account["capabilities"]
    assert account["disableLocalAuth"] is True
    assignment = one(tree, "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments")["properties"]
    assert tree["variables"]["dataContributorRoleId"]["value"] == "00000000-0000-0000-0000-000000000002"
    assert assignment["roleDefinitionId"].endswith("/sqlRoleDefinitions/${dataContributorRoleId}")


def test_storage_account_is_tls12_private_and_keyless(trees: dict[str, Tree]) -> None:
    tree = trees["modules/storage.bicep"]
    props = one(tree, "Microsoft.Storage/storageAccounts")["properties"]
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["allowBlobPublicAccess"] is False
    assert props["allowSharedKeyAccess"] is False
    params = trees["main.bicep"]["modules"]["storage"]["config"]["params"]
    assert params["artifactsContainerName"] == Settings.model_fields["artifacts_container"].default


def test_application_insights_has_local_auth_disabled(trees: dict[str, Tree]) -> None:
    tree = trees["modules/monitoring.bicep"]
    component = one(tree, "Microsoft.Insights/components")["properties"]
    assert component["DisableLocalAuth"] is True
    assert expression(component["WorkspaceResourceId"]) == "workspace.id"


def test_key_vault_uses_rbac_and_holds_the_signing_key(trees: dict[str, Tree]) -> None:
    tree = trees["modules/keyvault.bicep"]
    vault = one(tree, "Microsoft.KeyVault/vaults")["properties"]
    assert vault["enableRbacAuthorization"] is True
    secret = one(tree, "Microsoft.KeyVault/vaults/secrets")
    assert secret["properties"]["value"] == "signingKey"
    assert any(d["type"] == "secure" for d in tree["parameters"]["signingKey"]["decorators"])
    main_key = trees["main.bicep"]["parameters"]["eventSigningKey"]
    assert any(d["type"] == "secure" for d in main_key["decorators"])


def test_function_app_runs_python_311_on_flex_consumption(trees: dict[str, Tree]) -> None:
    tree = trees["modules/functionapp.bicep"]
    plan = one(tree, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = one(tree, "Microsoft.Web/sites")
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"]["name"] == "python"
    assert tree["parameters"]["pythonVersion"]["default"] == "3.11"
    assert config["runtime"]["version"] == "pythonVersion"
    assert config["scaleAndConcurrency"] == {
        "instanceMemoryMB": "instanceMemoryMB",
        "maximumInstanceCount": "maximumInstanceCount",
    }
    main_params = trees["main.bicep"]["modules"]["functionApp"]["config"]["params"]
    assert main_params["instanceMemoryMB"] == "instanceMemoryMB"
    assert main_params["maximumInstanceCount"] == "maximumInstanceCount"
    assert {"instanceMemoryMB", "maximumInstanceCount"} <= set(trees["main.bicep"]["parameters"])
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }
    assert site["identity"]["type"] == "UserAssigned"
    assert site["properties"]["keyVaultReferenceIdentity"] == "identityId"
    assert site["properties"]["httpsOnly"] is True
    assert "linuxFxVersion" not in site["properties"]["siteConfig"], "Flex Consumption ignores linuxFxVersion"
    assert site["tags"]["function"]["type"] == "union"
