"""Bicep from Jinja2 templates (``shared/generators/infrastructure/templates/``).

``target: functions`` (the default): ``bicep/main.bicep`` deploys the generated Functions app to
Flex Consumption with its user-assigned identity, Application Insights, the host storage, the
data services (identity-only access: local auth off, data-plane role assignments), the product's
Service Bus topic with a Data Sender role (and the service's subscription with a Data Receiver
role when it follows other services' events) and, for a multi-tenant service, App Service
Authentication. ``target: containers``: ``bicep/main.bicep`` + ``bicep/modules/container-app.bicep``
for Azure Container Apps and ``docker/Dockerfile`` that builds the image the app runs.

This module prepares the values (names, app settings, module parameters); the templates hold the
Bicep. ``value`` renders a Python value as a Bicep literal (the ``bicep`` filter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from shared.generators.infrastructure.derive import slug
from shared.generators.infrastructure.model import InfrastructureBlueprint, Probe, StorageResource
from shared.generators.infrastructure.renderers import Stamp

API = {
    "identity": "Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31",
    "logs": "Microsoft.OperationalInsights/workspaces@2023-09-01",
    "insights": "Microsoft.Insights/components@2020-02-02",
    "environment": "Microsoft.App/managedEnvironments@2024-03-01",
    "app": "Microsoft.App/containerApps@2024-03-01",
    "cosmos": "Microsoft.DocumentDB/databaseAccounts@2024-05-15",
    "cosmosDb": "Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15",
    "cosmosContainer": "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15",
    "cosmosRole": "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15",
    "storage": "Microsoft.Storage/storageAccounts@2023-05-01",
    "blobService": "Microsoft.Storage/storageAccounts/blobServices@2023-05-01",
    "blobContainer": "Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01",
    "roleAssignment": "Microsoft.Authorization/roleAssignments@2022-04-01",
    "sqlServer": "Microsoft.Sql/servers@2023-08-01-preview",
    "sqlDb": "Microsoft.Sql/servers/databases@2023-08-01-preview",
    "serviceBus": "Microsoft.ServiceBus/namespaces@2022-10-01-preview",
    "topic": "Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview",
    "subscription": "Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview",
    "plan": "Microsoft.Web/serverfarms@2024-04-01",
    "site": "Microsoft.Web/sites@2024-04-01",
    "authSettings": "Microsoft.Web/sites/config@2024-04-01",
}
#: built-in role definition ids
ROLE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
ROLE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
ROLE_SERVICEBUS_DATA_SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
ROLE_SERVICEBUS_DATA_RECEIVER = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"
ROLE_MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
COSMOS_DATA_CONTRIBUTOR = "00000000-0000-0000-0000-000000000002"
ROLES = {
    "blob": ROLE_BLOB_DATA_CONTRIBUTOR,
    "blobOwner": ROLE_BLOB_DATA_OWNER,
    "sender": ROLE_SERVICEBUS_DATA_SENDER,
    "receiver": ROLE_SERVICEBUS_DATA_RECEIVER,
    "metrics": ROLE_MONITORING_METRICS_PUBLISHER,
    "cosmos": COSMOS_DATA_CONTRIBUTOR,
}
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


@dataclass(frozen=True)
class Expr:
    """A raw Bicep expression (not quoted)."""

    code: str


SERVICE_BUS_HOST = Expr("'${serviceBusNamespace}.servicebus.windows.net'")
INSIGHTS_AUTH = Expr("'ClientId=${identity.properties.clientId};Authorization=AAD'")


def _string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("${", "\\${") + "'"


def _key(key: str | Expr) -> str:
    if isinstance(key, Expr):
        return key.code
    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else _string(key)


def value(v: Any, indent: int = 0) -> str:
    """Render a Python value as Bicep (objects with sorted keys, one item per line)."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(v, Expr):
        return v.code
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"json('{v:g}')"
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, dict):
        if not v:
            return "{}"
        items = sorted(v.items(), key=lambda kv: kv[0].code if isinstance(kv[0], Expr) else kv[0])
        body = "".join(f"{inner}{_key(k)}: {value(x, indent + 1)}\n" for k, x in items)
        return "{\n" + body + pad + "}"
    if isinstance(v, list | tuple):
        if not v:
            return "[]"
        return "[\n" + "".join(f"{inner}{value(x, indent + 1)}\n" for x in v) + pad + "]"
    raise TypeError(f"cannot render {type(v).__name__} as Bicep")


def _header(stamp: Stamp) -> str:
    return "".join(f"// {line}\n" for line in stamp.header())


def _short(name: str, limit: int) -> str:
    return name[:limit].rstrip("-")


def _alnum(name: str, limit: int) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())[:limit]


def _memory_gi(quantity: str | None) -> str:
    if quantity is None:
        return "1Gi"
    if quantity.endswith("Mi"):
        return f"{int(quantity[:-2]) / 1024:g}Gi"
    return quantity


def _cpu(quantity: str | None) -> str:
    if quantity is None:
        return "0.5"
    return f"{int(quantity[:-1]) / 1000:g}" if quantity.endswith("m") else quantity


def _probes(bp: InfrastructureBlueprint) -> list[dict[str, Any]]:
    out = []
    probes = bp.resilience.probes
    for kind, probe in (
        ("Liveness", probes.liveness),
        ("Readiness", probes.readiness),
        ("Startup", probes.startup),
    ):
        if isinstance(probe, Probe):
            out.append(
                {
                    "type": kind,
                    "httpGet": {"path": probe.path, "port": bp.ingress.target_port},
                    "initialDelaySeconds": min(probe.initial_delay_seconds, 60),
                    "periodSeconds": min(probe.period_seconds, 240),
                    "timeoutSeconds": min(probe.timeout_seconds, 240),
                    "failureThreshold": min(probe.failure_threshold, 10),
                }
            )
    return out


def _secret_name(env_name: str) -> str:
    return env_name.lower().replace("_", "-")


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["bicep"] = value
    return env


def _render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(api=API, roles=ROLES, **context)


@dataclass(frozen=True)
class _Container:
    name: str
    symbol: str
    unique: list[dict[str, list[str]]]


@dataclass(frozen=True)
class _Storage:
    """One data service as the storage templates need it."""

    kind: str
    symbol: str
    name: str
    database: str
    redundancy: str
    local_auth_off: bool
    partition_key: str
    containers: list[_Container]
    locations: list[dict[str, Any]]
    max_size_bytes: int


def _storage(bp: InfrastructureBlueprint, item: StorageResource) -> _Storage:
    name = f"{slug(item.name)}-{bp.environment}"
    symbol = re.sub(r"[^A-Za-z0-9]", "", item.name.title())
    limit = {"cosmos": 44, "blob": 24, "sql": 63}[item.kind]
    regions = bp.tenancy.regions or ["@location"]
    return _Storage(
        kind=item.kind,
        symbol=symbol,
        name=_alnum(name, limit) if item.kind == "blob" else _short(name, limit),
        database=bp.package,
        redundancy=item.redundancy,
        local_auth_off=not bp.security.allow_access_keys,
        partition_key=item.partition_key or "/id",
        containers=[_Container(c, f"{symbol}{re.sub('[^A-Za-z0-9]', '', c.title())}",
                               [{"paths": [f"/{path}" for path in group]} for group in item.unique_keys.get(c, [])])
                    for c in item.containers],
        locations=[{"failoverPriority": i, "isZoneRedundant": item.redundancy == "ZRS",
                    "locationName": Expr("location") if region == "@location" else region}
                   for i, region in enumerate(regions)],
        max_size_bytes=item.size_gb * 1024**3,
    )


def _location(bp: InfrastructureBlueprint) -> str:
    return value(bp.tenancy.regions[0]) if bp.tenancy.regions else "resourceGroup().location"


def _tags(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, Any]:
    return {
        **stamp.as_dict(),
        "environment": bp.environment,
        "managedBy": "software-factory",
        "product": bp.product,
        "runtimeProfile": bp.runtime_profile,
        "service": bp.service,
        "target": bp.target,
    }


def _service_bus_namespace(bp: InfrastructureBlueprint) -> str:
    return "sb-" + slug(bp.product) + "-" + bp.environment


def _app_settings(bp: InfrastructureBlueprint) -> list[dict[str, Any]]:
    """The function app's settings: identity-based connections, the service's own settings, Key Vault refs."""
    settings: dict[str, Any] = {
        "AzureWebJobsStorage__accountName": Expr("hostStorage.name"),
        "AzureWebJobsStorage__credential": "managedidentity",
        "AzureWebJobsStorage__clientId": Expr("identity.properties.clientId"),
        "AZURE_CLIENT_ID": Expr("identity.properties.clientId"),
        "APPLICATIONINSIGHTS_CONNECTION_STRING": Expr("insights.properties.ConnectionString"),
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": INSIGHTS_AUTH,
        **bp.env,
    }
    for item in bp.storage:
        symbol = re.sub(r"[^A-Za-z0-9]", "", item.name.title())
        if item.kind == "cosmos":
            settings["COSMOS_ENDPOINT"] = Expr(f"{symbol}.properties.documentEndpoint")
    if bp.messaging.broker == "servicebus":
        settings["ServiceBusConnection__fullyQualifiedNamespace"] = SERVICE_BUS_HOST
        settings["ServiceBusConnection__credential"] = "managedidentity"
        settings["ServiceBusConnection__clientId"] = Expr("identity.properties.clientId")
    if bp.authentication.required:
        settings["TENANT_CLAIM"] = bp.authentication.tenant_claim
    for name, ref in bp.secrets.items():
        settings[name] = f"@Microsoft.KeyVault(SecretUri={ref.uri})"
    return [{"name": k, "value": v} for k, v in sorted(settings.items())]


def functions_main(bp: InfrastructureBlueprint, stamp: Stamp) -> str:
    base = f"{bp.service}-{bp.environment}"
    return _render(
        "functions.main.bicep.j2",
        bp=bp,
        header=_header(stamp).rstrip("\n"),
        base=base,
        location=_location(bp),
        tags=_tags(bp, stamp),
        storage=[_storage(bp, item) for item in bp.storage],
        service_bus_namespace=_service_bus_namespace(bp),
        host_storage=_alnum(f"st{bp.service}{bp.environment}", 24),
        app_name=_short(f"func-{base}", 60),
        app_settings=_app_settings(bp),
    )


def _scale_rules(bp: InfrastructureBlueprint) -> list[dict[str, Any]]:
    scale = bp.resilience.autoscale
    rules: list[dict[str, Any]] = [
        {"name": "cpu", "custom": {"type": "cpu", "metadata": {"type": "Utilization",
                                                               "value": str(scale.target_cpu_percent)}}}
    ]
    if scale.target_concurrent_requests and bp.ingress.exposure != "none":
        rules.insert(0, {"name": "http", "http": {"metadata": {
            "concurrentRequests": str(scale.target_concurrent_requests)}}})
    return rules


def containers_main(bp: InfrastructureBlueprint, stamp: Stamp) -> str:
    base = f"{bp.service}-{bp.environment}"
    storage = [_storage(bp, item) for item in bp.storage]
    plain_env: dict[str, Any] = dict(bp.env)
    for s, item in zip(storage, bp.storage, strict=True):
        if item.kind == "cosmos":
            plain_env["COSMOS_ENDPOINT"] = Expr(f"{s.symbol}.properties.documentEndpoint")
    plain_env["APPLICATIONINSIGHTS_CONNECTION_STRING"] = Expr("insights.properties.ConnectionString")
    if bp.security.workload_identity.enabled:
        plain_env["AZURE_CLIENT_ID"] = Expr("identity.properties.clientId")
        plain_env["AzureWebJobsStorage__credential"] = "managedidentity"
    if bp.messaging.broker == "servicebus":
        plain_env["ServiceBusConnection__fullyQualifiedNamespace"] = SERVICE_BUS_HOST
        plain_env["ServiceBusConnection__credential"] = "managedidentity"
    env_list: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(plain_env.items())]
    env_list += [{"name": k, "secretRef": _secret_name(k)} for k in sorted(bp.secrets)]
    scale = bp.resilience.autoscale
    module_params = {
        "name": _short(f"ca-{base}", 32),
        "location": Expr("location"),
        "tags": Expr("tags"),
        "environmentId": Expr("appEnvironment.id"),
        "identityId": Expr("identity.id"),
        "image": Expr("image"),
        "env": env_list,
        "secrets": [{"name": _secret_name(k), "keyVaultUrl": ref.uri, "identity": Expr("identity.id")}
                    for k, ref in sorted(bp.secrets.items())],
        "ingressEnabled": bp.ingress.exposure != "none",
        "external": bp.ingress.exposure == "public",
        "allowInsecure": not bp.ingress.https_only,
        "targetPort": bp.ingress.target_port,
        "minReplicas": scale.min_replicas,
        "maxReplicas": scale.max_replicas,
        "scaleRules": _scale_rules(bp),
        "cpu": _cpu(bp.resources.cpu_limit or bp.resources.cpu_request),
        "memory": _memory_gi(bp.resources.memory_limit or bp.resources.memory_request),
        "probes": _probes(bp),
    }
    return _render(
        "containers.main.bicep.j2",
        bp=bp,
        header=_header(stamp).rstrip("\n"),
        base=base,
        location=_location(bp),
        tags=_tags(bp, stamp),
        storage=storage,
        service_bus_namespace=_service_bus_namespace(bp),
        module_params=module_params,
    )


def _hash_header(stamp: Stamp) -> str:
    return "".join(f"# {line}\n" for line in stamp.header()).rstrip("\n")


def render(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, str]:
    if bp.target == "functions":
        return {"bicep/main.bicep": functions_main(bp, stamp)}
    return {
        "bicep/main.bicep": containers_main(bp, stamp),
        "bicep/modules/container-app.bicep": _render("container-app.bicep.j2", header=_header(stamp).rstrip("\n")),
        "docker/Dockerfile": _render("Dockerfile.j2", bp=bp, header=_hash_header(stamp)),
        "docker/.dockerignore": _render("dockerignore.j2", header=_hash_header(stamp)),
    }
