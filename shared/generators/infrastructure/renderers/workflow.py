"""A GitHub Actions workflow that deploys the package.

``target: functions``: the Bicep, then the service's code to the Flex Consumption app
(``Azure/functions-action``). ``target: containers``: the image built from the generated
Dockerfile and pushed, then the Bicep to Azure Container Apps (or the Kubernetes manifests).
Azure sign-in uses OpenID Connect (workload identity federation), so the repository holds no
cloud keys: only the client, tenant and subscription ids as variables.
"""

from __future__ import annotations

from typing import Any

from shared.generators.infrastructure.model import InfrastructureBlueprint
from shared.generators.infrastructure.renderers import Stamp, yaml_text

CHECKOUT = "actions/checkout@v4"
AZURE_LOGIN = "azure/login@v2"
ARM_DEPLOY = "azure/arm-deploy@v2"
K8S_CONTEXT = "azure/aks-set-context@v4"
K8S_DEPLOY = "azure/k8s-deploy@v5"
FUNCTIONS_DEPLOY = "Azure/functions-action@v1"
SETUP_PYTHON = "actions/setup-python@v5"


def _login() -> dict[str, Any]:
    return {
        "name": "Azure login (OIDC)",
        "uses": AZURE_LOGIN,
        "with": {
            "client-id": "${{ vars.AZURE_CLIENT_ID }}",
            "tenant-id": "${{ vars.AZURE_TENANT_ID }}",
            "subscription-id": "${{ vars.AZURE_SUBSCRIPTION_ID }}",
        },
    }


def _deploy_bicep(bp: InfrastructureBlueprint, stamp: Stamp, package_dir: str) -> dict[str, Any]:
    return {
        "name": "Deploy Bicep",
        "id": "bicep",
        "uses": ARM_DEPLOY,
        "with": {
            "scope": "resourcegroup",
            "resourceGroupName": "${{ vars.AZURE_RESOURCE_GROUP }}",
            "subscriptionId": "${{ vars.AZURE_SUBSCRIPTION_ID }}",
            "template": f"{package_dir}/bicep/main.bicep",
            "deploymentName": f"{bp.service}-{stamp.short_hash}",
            "failOnStdErr": False,
        },
    }


def functions_workflow(bp: InfrastructureBlueprint, stamp: Stamp, package_dir: str) -> dict[str, Any]:
    service_dir = f"services/{bp.service}"
    return {
        "name": f"deploy {bp.service} ({bp.environment})",
        "on": {
            "workflow_dispatch": {},
            "push": {"branches": ["main"], "paths": [f"{package_dir}/**", f"{service_dir}/**"]},
        },
        "permissions": {"contents": "read", "id-token": "write"},
        "concurrency": {"group": f"deploy-{bp.service}-{bp.environment}", "cancel-in-progress": False},
        "env": {
            "FACTORY_TRACE_ID": stamp.trace_id,
            "FACTORY_BLUEPRINT_VERSION": stamp.blueprint_version,
            "FACTORY_CONTENT_HASH": stamp.content_hash,
        },
        "jobs": {
            "deploy": {
                "name": "Bicep and code to Azure Functions (Flex Consumption)",
                "runs-on": "ubuntu-latest",
                "environment": bp.environment,
                "timeout-minutes": 30,
                "steps": [
                    {"uses": CHECKOUT},
                    {"uses": SETUP_PYTHON, "with": {"python-version": bp.functions.python_version}},
                    {"name": "Test and lint", "working-directory": service_dir,
                     "run": "pip install -r requirements-dev.txt && pytest && ruff check ."},
                    _login(),
                    _deploy_bicep(bp, stamp, package_dir),
                    {
                        "name": "Deploy the function app",
                        "uses": FUNCTIONS_DEPLOY,
                        "with": {
                            "app-name": "${{ steps.bicep.outputs.functionAppName }}",
                            "package": service_dir,
                            "sku": "flexconsumption",
                            "remote-build": True,
                        },
                    },
                ],
            },
        },
    }


def workflow(bp: InfrastructureBlueprint, stamp: Stamp, package_dir: str) -> dict[str, Any]:
    login = _login()
    common_env = {
        "FACTORY_TRACE_ID": stamp.trace_id,
        "FACTORY_BLUEPRINT_VERSION": stamp.blueprint_version,
        "FACTORY_CONTENT_HASH": stamp.content_hash,
    }
    return {
        "name": f"deploy {bp.service} ({bp.environment})",
        "on": {
            "workflow_dispatch": {
                "inputs": {
                    "target": {
                        "description": "where to deploy",
                        "required": True,
                        "default": "azure",
                        "type": "choice",
                        "options": ["azure", "kubernetes"],
                    }
                }
            },
            "push": {"branches": ["main"], "paths": [f"{package_dir}/**"]},
        },
        "permissions": {"contents": "read", "id-token": "write"},
        "concurrency": {"group": f"deploy-{bp.service}-{bp.environment}", "cancel-in-progress": False},
        "env": common_env,
        "jobs": {
            "deploy-azure": {
                "name": "Bicep to Azure Container Apps",
                "if": "${{ github.event_name == 'push' || inputs.target == 'azure' }}",
                "runs-on": "ubuntu-latest",
                "environment": bp.environment,
                "timeout-minutes": 30,
                "steps": [
                    {"uses": CHECKOUT},
                    login,
                    {"name": "Sign in to the registry",
                     "run": f"az acr login --name {bp.image.registry.split('.')[0]}"},
                    {"name": "Build and push the image from the generated Dockerfile",
                     "run": f"docker build -f {package_dir}/docker/Dockerfile -t {bp.image.reference} "
                            f"services/{bp.service} && docker push {bp.image.reference}"},
                    _deploy_bicep(bp, stamp, package_dir),
                ],
            },
            "deploy-kubernetes": {
                "name": "Manifests to AKS",
                "if": "${{ github.event_name == 'workflow_dispatch' && inputs.target == 'kubernetes' }}",
                "runs-on": "ubuntu-latest",
                "environment": bp.environment,
                "timeout-minutes": 30,
                "steps": [
                    {"uses": CHECKOUT},
                    login,
                    {
                        "name": "Set AKS context",
                        "uses": K8S_CONTEXT,
                        "with": {
                            "resource-group": "${{ vars.AKS_RESOURCE_GROUP }}",
                            "cluster-name": "${{ vars.AKS_CLUSTER_NAME }}",
                        },
                    },
                    {
                        "name": "Apply manifests",
                        "uses": K8S_DEPLOY,
                        "with": {
                            "namespace": f"{bp.service}-{bp.environment}",
                            "manifests": f"{package_dir}/kubernetes",
                            "images": bp.image.reference,
                            "strategy": "basic",
                            "action": "deploy",
                        },
                    },
                ],
            },
        },
    }


def render(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, str]:
    package_dir = f"infra/{bp.service}/{bp.environment}"
    build = functions_workflow if bp.target == "functions" else workflow
    return {"github/deploy.yml": yaml_text([build(bp, stamp, package_dir)], stamp.header())}
