"""App settings on Azure and in local.settings.json.example: what Settings needs, nothing it doesn't know."""

from __future__ import annotations

import json

import pytest
from pydantic import AliasChoices, ValidationError

from shared.settings import ArtifactKind, BusKind, Settings, StateKind
from tests.infra.infra_bicep import ROOT, Tree, app_settings, expression

#: Settings the Functions host / Python worker read themselves; Settings need not know them.
HOST_SETTINGS = {
    "AzureWebJobsStorage",
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "ServiceBusConnection__credential",
    "ServiceBusConnection__clientId",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "FUNCTIONS_WORKER_RUNTIME",
    # read by the Python worker / the azure-monitor distro it configures before the app is imported
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",
    "OTEL_TRACES_SAMPLER",
    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
}

#: What the factory needs on Azure: adapter choices, identity-based endpoints, identity, key, telemetry.
REQUIRED_ON_AZURE = {
    "FACTORY_BUS",
    "FACTORY_STATE",
    "FACTORY_ARTIFACTS",
    "ServiceBusConnection__fullyQualifiedNamespace",
    "CosmosConnection__accountEndpoint",
    "ArtifactStorage__blobServiceUri",
    "AZURE_CLIENT_ID",
    "FACTORY_SIGNING_KEY",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "FACTORY_SCRATCH_DIR",
    "OTEL_TRACES_SAMPLER_ARG",
    "PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME",
}


def settings_names() -> set[str]:
    """Every environment name the Settings class reads (aliases and alias choices)."""
    names: set[str] = set()
    for field in Settings.model_fields.values():
        if field.alias:
            names.add(field.alias)
        if isinstance(field.validation_alias, AliasChoices):
            names.update(str(choice) for choice in field.validation_alias.choices)
        elif isinstance(field.validation_alias, str):
            names.add(field.validation_alias)
    return names


def test_required_settings_are_names_the_settings_class_reads() -> None:
    assert settings_names() >= REQUIRED_ON_AZURE


def test_app_settings_cover_what_the_factory_needs_on_azure(trees: dict[str, Tree]) -> None:
    missing = REQUIRED_ON_AZURE - set(app_settings(trees))
    assert not missing, f"app settings missing on Azure: {sorted(missing)}"


def test_every_app_setting_is_known_to_settings_or_the_host(trees: dict[str, Tree]) -> None:
    unknown = set(app_settings(trees)) - settings_names() - HOST_SETTINGS
    assert not unknown, f"app settings neither Settings nor the Functions host reads: {sorted(unknown)}"


def test_app_settings_pass_settings_validation_and_select_the_azure_adapters(trees: dict[str, Tree]) -> None:
    # pycep gives references as their names; Settings only needs them present and non-default here.
    known = settings_names()
    values = {k: v for k, v in app_settings(trees).items() if k in known}
    values["OTEL_TRACES_SAMPLER_ARG"] = "1.0"  # a parameter reference here (traceSamplingRatio)
    values["FACTORY_MODEL_PROVIDER"] = "none"  # a condition here (tests/ai/test_openai_bicep.py checks both ways)
    settings = Settings(**values)  # type: ignore[arg-type]
    assert settings.factory_bus is BusKind.servicebus
    assert settings.factory_state is StateKind.cosmos
    assert settings.factory_artifacts is ArtifactKind.blob
    assert settings.require_signature is True
    assert settings.topic_name == "topicName" and settings.cosmos_database == "cosmosDatabaseName"


def test_connections_are_identity_based_with_the_managed_identity(trees: dict[str, Tree]) -> None:
    values = app_settings(trees)
    for connection in ("AzureWebJobsStorage", "ServiceBusConnection"):
        assert values[f"{connection}__credential"] == "managedidentity"
        assert values[f"{connection}__clientId"] == "identityClientId"
    assert values["AZURE_CLIENT_ID"] == "identityClientId"
    auth = values["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
    assert auth == "ClientId=${identityClientId};Authorization=AAD"
    for plain in ("ServiceBusConnection", "CosmosConnection", "ArtifactStorage", "AzureWebJobsStorage"):
        assert plain not in values, f"{plain} would be a connection string; use the identity-based form"
    main = trees["main.bicep"]["modules"]["functionApp"]["config"]["params"]
    assert expression(main["identityClientId"]) == "identity.outputs.clientId"
    assert expression(main["identityId"]) == "identity.outputs.id"


def test_signing_key_is_a_key_vault_reference(trees: dict[str, Tree]) -> None:
    values = app_settings(trees)
    assert values["FACTORY_SIGNING_KEY"] == "@Microsoft.KeyVault(SecretUri=${signingKeySecretUri})"
    main = trees["main.bicep"]["modules"]["functionApp"]["config"]["params"]
    assert expression(main["signingKeySecretUri"]) == "keyVault.outputs.signingKeySecretUri"


def test_flex_consumption_app_sets_no_legacy_runtime_settings(trees: dict[str, Tree]) -> None:
    legacy = {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE",
              "WEBSITE_CONTENTSHARE", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
              "SCM_DO_BUILD_DURING_DEPLOYMENT"}
    assert not legacy & set(app_settings(trees))


def test_local_settings_example_keys_are_known_to_settings_or_the_host() -> None:
    doc = json.loads((ROOT / "local.settings.json.example").read_text(encoding="utf-8"))
    values = doc["Values"]
    unknown = set(values) - settings_names() - HOST_SETTINGS
    assert not unknown, f"local.settings.json.example has settings nobody reads: {sorted(unknown)}"
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert "UseDevelopmentEmulator=true" in values["ServiceBusConnection"]
    assert values["CosmosConnection"].startswith("AccountEndpoint=https://localhost:8081/;AccountKey=")
    assert values["FACTORY_SIGNING_KEY"].startswith("replace-me")  # refused at start until replaced
    with pytest.raises(ValidationError, match=r"placeholder from local\.settings\.json\.example"):
        Settings(**{k: v for k, v in values.items() if k in settings_names()})  # type: ignore[arg-type]
    values["FACTORY_SIGNING_KEY"] = "a-real-secret"
    settings = Settings(**{k: v for k, v in values.items() if k in settings_names()})  # type: ignore[arg-type]
    assert (settings.factory_bus, settings.factory_state, settings.factory_artifacts) == (
        BusKind.servicebus, StateKind.cosmos, ArtifactKind.blob)
    assert settings.servicebus_connection is not None and settings.cosmos_connection is not None
    assert settings.blob_connection is not None


def test_telemetry_is_configured_by_the_worker_from_the_documented_settings(trees: dict[str, Tree]) -> None:
    """The Python worker configures the azure-monitor distro before it imports the app; its options come from
    these settings only: an explicit sampler (the default keeps ~5 spans/s), the 'factory' logger (never
    the root logger), and no azure-core spans (the Service Bus SDK's would write their own traceparent)."""
    values = app_settings(trees)
    assert values["PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"] == "true"
    assert values["PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME"] == "factory"
    assert values["OTEL_TRACES_SAMPLER"] == "microsoft.fixed_percentage"
    assert values["OTEL_TRACES_SAMPLER_ARG"] == "traceSamplingRatio"
    assert "azure_sdk" in str(values["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"]).split(",")
    declared = trees["main.bicep"]["parameters"]["traceSamplingRatio"]
    assert declared["default"] == "1.0"
    assert "PYTHON_ENABLE_OPENTELEMETRY" not in values  # alone it leaves the worker without a propagator


def test_scratch_is_a_temp_folder_not_the_read_only_package(trees: dict[str, Tree]) -> None:
    scratch = str(app_settings(trees)["FACTORY_SCRATCH_DIR"])
    assert scratch.startswith("/tmp/") and not scratch.startswith("/home/site")
