"""The optional Azure OpenAI account in the Bicep: keyless, one deployment, the OpenAI User role for the app's
identity, off by default; and the app settings it gives the factory resolve to valid Settings either way."""

from __future__ import annotations

from typing import Any

import pytest
from pycep import BicepParser

from shared.settings import ModelProvider, Settings
from tests.infra.infra_bicep import INFRA, Tree, app_settings, body, expression, resources

OPENAI_USER = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"  # Cognitive Services OpenAI User (inference only)


@pytest.fixture(scope="module")
def trees() -> dict[str, Tree]:
    parser = BicepParser()
    return {rel: parser.parse(file_path=INFRA / rel)
            for rel in ("main.bicep", "modules/openai.bicep", "modules/functionapp.bicep")}


def test_the_account_is_keyless_with_a_subdomain_and_deploys_only_when_asked(trees: dict[str, Tree]) -> None:
    tree = trees["modules/openai.bicep"]
    [account] = resources(tree, "Microsoft.CognitiveServices/accounts").values()
    [deployment] = resources(tree, "Microsoft.CognitiveServices/accounts/deployments").values()
    [grant] = resources(tree, "Microsoft.Authorization/roleAssignments").values()

    props = body(account)["properties"]
    assert body(account)["kind"] == "OpenAI"
    assert props["disableLocalAuth"] is True  # no key can call it
    assert props["customSubDomainName"] == "name"  # Entra ID tokens need the custom subdomain
    assert body(deployment)["properties"]["model"] == {"format": "OpenAI", "name": "modelName",
                                                       "version": "modelVersion"}
    assert all(r["config"]["condition"] == "deploy" for r in (account, deployment, grant))
    assert tree["parameters"]["deploy"]["default"] is False


def test_only_the_apps_identity_may_call_it_as_openai_user(trees: dict[str, Tree]) -> None:
    tree = trees["modules/openai.bicep"]
    [grant] = resources(tree, "Microsoft.Authorization/roleAssignments").values()
    props = body(grant)["properties"]
    role = props["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
    assert tree["variables"][role]["value"] == OPENAI_USER
    assert (props["principalId"], props["principalType"], body(grant)["scope"]) == (
        "principalId", "ServicePrincipal", "account")
    module = trees["main.bicep"]["modules"]["openAI"]["config"]["params"]
    assert expression(module["principalId"]) == "identity.outputs.principalId"
    assert module["deploy"] == "deployOpenAI" and trees["main.bicep"]["parameters"]["deployOpenAI"]["default"] is False


def test_the_app_gets_the_endpoint_and_deployment_of_the_module(trees: dict[str, Tree]) -> None:
    params = trees["main.bicep"]["modules"]["functionApp"]["config"]["params"]
    assert expression(params["modelEndpoint"]) == "openAI.outputs.endpoint"
    assert expression(params["modelDeployment"]) == "openAI.outputs.deploymentName"
    values = app_settings(trees)
    assert (values["FACTORY_MODEL_ENDPOINT"], values["FACTORY_MODEL_DEPLOYMENT"]) == ("modelEndpoint",
                                                                                      "modelDeployment")
    assert "FACTORY_MODEL_API_KEY" not in values


def _resolve(node: Any, endpoint: str) -> Any:
    """The provider setting's value for a given endpoint (the Bicep's ``empty(modelEndpoint) ? ... : ...``)."""
    operands = node["operator"]["operands"]
    assert operands["condition"] == {"function": {"type": "empty", "parameters": {"item_to_test": "modelEndpoint"}}}
    return operands["true_value"] if not endpoint else operands["false_value"]


@pytest.mark.parametrize(("endpoint", "deployment", "provider"), [
    ("", "", ModelProvider.none),
    ("https://oai-factory-x.openai.azure.com/", "gpt-4o-mini", ModelProvider.azure_openai),
])
def test_the_model_settings_resolve_to_valid_settings_with_or_without_the_account(
        trees: dict[str, Tree], endpoint: str, deployment: str, provider: ModelProvider) -> None:
    values = app_settings(trees)
    settings = Settings(FACTORY_MODEL_PROVIDER=_resolve(values["FACTORY_MODEL_PROVIDER"], endpoint),
                        FACTORY_MODEL_ENDPOINT=endpoint, FACTORY_MODEL_DEPLOYMENT=deployment,
                        FACTORY_MODEL_API_VERSION=trees["modules/functionapp.bicep"]["parameters"][
                            "modelApiVersion"]["default"])
    assert settings.model_provider is provider
    assert settings.configured_model == (deployment or None)
