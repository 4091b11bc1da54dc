"""Generated files are valid for the tools that consume them (all checks offline)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from pycep import BicepParser

from shared.generators.infrastructure import InfraPackage, generate
from shared.generators.infrastructure.renderers.kubernetes import KUBERNETES_VERSION
from tests.infrablueprint.conftest import FIXTURES, TRACE_ID, load_blueprint

CRD_KINDS = {"SecretProviderClass"}  # not in the built-in Kubernetes schemas


@pytest.fixture(scope="module")
def packages() -> list[InfraPackage]:
    invoicing = load_blueprint("invoicing")
    return [
        generate(load_blueprint("task-tracker"), "tasks", "dev", TRACE_ID),
        generate(load_blueprint("catalogue"), "catalogue", "staging", TRACE_ID),
        generate(invoicing, "invoices", "prod", TRACE_ID, [FIXTURES / "invoicing.prod.overlay.yaml"]),
        generate(invoicing, "invoice-reminders", "prod", TRACE_ID),
        generate(load_blueprint("task-tracker"), "tasks", "dev", TRACE_ID, [FIXTURES / "functions.overlay.yaml"]),
    ]


def _containers(packages: list[InfraPackage]) -> list[InfraPackage]:
    return [p for p in packages if p.blueprint.target == "containers"]


def _functions(packages: list[InfraPackage]) -> list[InfraPackage]:
    return [p for p in packages if p.blueprint.target == "functions"]


def test_kubernetes_manifests_pass_strict_schema_validation(packages: list[InfraPackage]) -> None:
    checked = 0
    for package in packages:
        for path, data in package.files.items():
            if not path.startswith("kubernetes/"):
                continue
            for doc in yaml.safe_load_all(data):
                if doc["kind"] in CRD_KINDS:
                    continue
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
                checked += 1
    assert checked >= 3 * 6


def test_workflows_pass_the_github_workflow_schema(packages: list[InfraPackage], tmp_path: Path) -> None:
    files = []
    for i, package in enumerate(packages):
        path = tmp_path / f"deploy-{i}.yml"
        path.write_bytes(package.files["github/deploy.yml"])
        files.append(str(path))
    exe = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(exe), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_bicep_parses_and_declares_the_container_app(packages: list[InfraPackage]) -> None:
    parser = BicepParser()
    for package in _containers(packages):
        main = parser.parse(text=package.files["bicep/main.bicep"].decode())
        module = parser.parse(text=package.files["bicep/modules/container-app.bicep"].decode())
        assert "identity" in main["resources"]
        assert main["modules"]["app"]["detail"]["path"] == "modules/container-app.bicep"
        assert module["resources"]["app"]["type"] == "Microsoft.App/containerApps"


def test_otel_collector_pipelines_reference_declared_components(packages: list[InfraPackage]) -> None:
    for package in _containers(packages):
        config = yaml.safe_load(package.files["otel/collector.yaml"])
        for pipeline in config["service"]["pipelines"].values():
            assert set(pipeline["receivers"]) <= set(config["receivers"])
            assert set(pipeline["processors"]) <= set(config["processors"])
            assert set(pipeline["exporters"]) <= set(config["exporters"])


def test_every_file_carries_the_trace_stamp(packages: list[InfraPackage]) -> None:
    for package in packages:
        for path, data in package.files.items():
            text = data.decode()
            assert TRACE_ID in text, path
            assert package.content_hash in text, path
            assert package.blueprint_version in text, path


def test_secrets_reach_the_pod_only_as_key_vault_references(packages: list[InfraPackage]) -> None:
    invoices = packages[2]
    bicep = invoices.files["bicep/main.bicep"].decode()
    assert "keyVaultUrl: 'https://kv-invoicing-prod.vault.azure.net/secrets/payment-provider-api-key'" in bicep
    deployment = yaml.safe_load(invoices.files["kubernetes/deployment.yaml"])
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [
        {
            "name": "PAYMENT_PROVIDER_API_KEY",
            "valueFrom": {"secretKeyRef": {"name": "invoices-keyvault", "key": "payment-provider-api-key"}},
        }
    ]


def test_a_functions_app_gets_flex_consumption_with_identity_roles_and_app_insights_and_no_containers(
        packages: list[InfraPackage]) -> None:
    parser = BicepParser()
    senders = 0
    for package in _functions(packages):
        text = package.files["bicep/main.bicep"].decode()
        main = parser.parse(text=text)
        resources = {name: r["type"] for name, r in main["resources"].items()}
        assert resources["plan"] == "Microsoft.Web/serverfarms" and "name: 'FC1'" in text
        assert resources["app"] == "Microsoft.Web/sites" and "functionAppConfig" in text
        assert resources["identity"] == "Microsoft.ManagedIdentity/userAssignedIdentities"
        assert resources["insights"] == "Microsoft.Insights/components"
        if package.blueprint.messaging.broker == "servicebus":
            senders += 1
            assert resources["topicSender"] == "Microsoft.Authorization/roleAssignments"
            assert "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39" in text  # Azure Service Bus Data Sender
            assert "ServiceBusConnection__fullyQualifiedNamespace" in text
        assert "00000000-0000-0000-0000-000000000002" in text  # Cosmos DB Built-in Data Contributor
        assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in text
        assert "'/tenantId'" in text
        assert not any(p.startswith(("kubernetes/", "helm/", "otel/", "docker/")) for p in package.files)
    assert senders >= 1


def test_a_container_target_comes_with_a_dockerfile_that_builds_the_functions_app(packages: list[InfraPackage]) -> None:
    for package in _containers(packages):
        dockerfile = package.files["docker/Dockerfile"].decode()
        lines = [line for line in dockerfile.splitlines() if line and not line.startswith("#")]
        assert lines[0].startswith("FROM mcr.microsoft.com/azure-functions/python:4-python3.11")
        assert "RUN pip install --no-cache-dir -r /home/site/wwwroot/requirements.txt" in lines
        assert f"COPY {package.blueprint.package}/ /home/site/wwwroot/{package.blueprint.package}/" in lines
        assert "COPY host.json function_app.py /home/site/wwwroot/" in lines
