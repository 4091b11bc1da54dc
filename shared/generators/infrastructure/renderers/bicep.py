"""Bicep for Azure Container Apps: ``bicep/main.bicep`` + ``bicep/modules/container-app.bicep``.

main.bicep holds the identity, monitoring, the Container Apps environment, the data services
(identity-only access: local auth off, data-plane role assignments) and calls the module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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
}
#: built-in role definition ids
ROLE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
ROLE_SERVICEBUS_DATA_SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
COSMOS_DATA_CONTRIBUTOR = "00000000-0000-0000-0000-000000000002"


@dataclass(frozen=True)
class Expr:
    """A raw Bicep expression (not quoted)."""

    code: str


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


def _resource(
    symbol: str, api: str, body: dict[str, Any], *, condition: str | None = None, parent: str | None = None
) -> str:
    if parent:
        body = {"parent": Expr(parent), **body}
    lead = f"resource {symbol} '{api}' = " + (f"if ({condition}) " if condition else "")
    return lead + value(body) + "\n"


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


MODULE = """\
@description('Container app name')
param name string
param location string
param tags object
param environmentId string
param identityId string
param image string
@description('Container environment variables: {name, value} or {name, secretRef}')
param env array
@description('Key Vault secret references: {name, keyVaultUrl, identity}')
param secrets array
param ingressEnabled bool
param external bool
param allowInsecure bool
param targetPort int
param minReplicas int
param maxReplicas int
param scaleRules array
param cpu string
param memory string
param probes array

resource app '{app}' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: ingressEnabled ? {
        allowInsecure: allowInsecure
        external: external
        targetPort: targetPort
        transport: 'auto'
      } : null
      secrets: secrets
    }
    template: {
      containers: [
        {
          env: env
          image: image
          name: name
          probes: probes
          resources: {
            cpu: json(cpu)
            memory: memory
          }
        }
      ]
      scale: {
        maxReplicas: maxReplicas
        minReplicas: minReplicas
        rules: scaleRules
      }
    }
  }
}

output fqdn string = ingressEnabled ? app.properties.configuration.ingress.fqdn : ''
output name string = app.name
"""


def _storage_block(bp: InfrastructureBlueprint, item: StorageResource, tags: Expr) -> tuple[str, dict[str, Any]]:
    """Resources for one data service and the env vars the app needs to reach it."""
    env_key = item.name.upper().replace("-", "_")
    local_auth_off = not bp.security.allow_access_keys
    name = f"{slug(item.name)}-{bp.environment}"
    symbol = re.sub(r"[^A-Za-z0-9]", "", item.name.title())
    if item.kind == "cosmos":
        account = _resource(
            symbol,
            API["cosmos"],
            {
                "name": _short(name, 44),
                "location": Expr("location"),
                "tags": tags,
                "kind": "GlobalDocumentDB",
                "properties": {
                    "databaseAccountOfferType": "Standard",
                    "disableLocalAuth": local_auth_off,
                    "minimalTlsVersion": "Tls12",
                    "publicNetworkAccess": "Enabled",
                    "consistencyPolicy": {"defaultConsistencyLevel": "Session"},
                    "locations": [
                        {
                            "locationName": region,
                            "failoverPriority": i,
                            "isZoneRedundant": item.redundancy == "ZRS",
                        }
                        for i, region in enumerate(bp.tenancy.regions)
                    ],
                },
            },
        )
        db = _resource(
            f"{symbol}Db",
            API["cosmosDb"],
            {
                "name": bp.package,
                "properties": {"resource": {"id": bp.package}, "options": {"throughput": 400}},
            },
            parent=symbol,
        )
        containers = "".join(
            _resource(
                f"{symbol}{re.sub('[^A-Za-z0-9]', '', c.title())}",
                API["cosmosContainer"],
                {
                    "name": c,
                    "properties": {
                        "resource": {
                            "id": c,
                            "partitionKey": {"paths": [item.partition_key or "/id"], "kind": "Hash"},
                        }
                    },
                },
                parent=f"{symbol}Db",
            )
            + "\n"
            for c in item.containers
        )
        role = _resource(
            f"{symbol}DataRole",
            API["cosmosRole"],
            {
                "name": Expr(f"guid({symbol}.id, identity.id, '{COSMOS_DATA_CONTRIBUTOR}')"),
                "properties": {
                    "principalId": Expr("identity.properties.principalId"),
                    "scope": Expr(f"{symbol}.id"),
                    "roleDefinitionId": Expr(f"'${{{symbol}.id}}/sqlRoleDefinitions/{COSMOS_DATA_CONTRIBUTOR}'"),
                },
            },
            parent=symbol,
        )
        return "\n".join([account, db, containers + role]), {
            f"{env_key}_ENDPOINT": Expr(f"{symbol}.properties.documentEndpoint")
        }
    if item.kind == "blob":
        account = _resource(
            symbol,
            API["storage"],
            {
                "name": _alnum(name, 24),
                "location": Expr("location"),
                "tags": tags,
                "kind": "StorageV2",
                "sku": {"name": f"Standard_{item.redundancy}"},
                "properties": {
                    "allowBlobPublicAccess": False,
                    "allowSharedKeyAccess": not local_auth_off,
                    "minimumTlsVersion": "TLS1_2",
                    "supportsHttpsTrafficOnly": True,
                },
            },
        )
        service = _resource(f"{symbol}Blobs", API["blobService"], {"name": "default"}, parent=symbol)
        containers = "".join(
            "\n"
            + _resource(
                f"{symbol}{re.sub('[^A-Za-z0-9]', '', c.title())}",
                API["blobContainer"],
                {"name": c, "properties": {"publicAccess": "None"}},
                parent=f"{symbol}Blobs",
            )
            for c in item.containers
        )
        role = _resource(
            f"{symbol}DataRole",
            API["roleAssignment"],
            {
                "name": Expr(f"guid({symbol}.id, identity.id, '{ROLE_BLOB_DATA_CONTRIBUTOR}')"),
                "scope": Expr(symbol),
                "properties": {
                    "principalId": Expr("identity.properties.principalId"),
                    "principalType": "ServicePrincipal",
                    "roleDefinitionId": Expr(
                        "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
                        f"'{ROLE_BLOB_DATA_CONTRIBUTOR}')"
                    ),
                },
            },
        )
        return "\n".join([account, service + containers, role]), {
            f"{env_key}_ENDPOINT": Expr(f"{symbol}.properties.primaryEndpoints.blob")
        }
    server = _resource(
        symbol,
        API["sqlServer"],
        {
            "name": _short(name, 63),
            "location": Expr("location"),
            "tags": tags,
            "properties": {
                "minimalTlsVersion": "1.2",
                "publicNetworkAccess": "Enabled",
                "administrators": {
                    "administratorType": "ActiveDirectory",
                    "azureADOnlyAuthentication": local_auth_off,
                    "login": Expr("identity.name"),
                    "principalType": "Application",
                    "sid": Expr("identity.properties.principalId"),
                    "tenantId": Expr("subscription().tenantId"),
                },
            },
        },
    )
    database = _resource(
        f"{symbol}Db",
        API["sqlDb"],
        {
            "name": bp.package,
            "location": Expr("location"),
            "tags": tags,
            "sku": {"name": "GP_S_Gen5_1", "tier": "GeneralPurpose"},
            "properties": {"maxSizeBytes": item.size_gb * 1024**3, "zoneRedundant": item.redundancy == "ZRS"},
        },
        parent=symbol,
    )
    return "\n".join([server, database]), {f"{env_key}_SERVER": Expr(f"{symbol}.properties.fullyQualifiedDomainName")}


def main_bicep(bp: InfrastructureBlueprint, stamp: Stamp) -> str:
    base = f"{bp.service}-{bp.environment}"
    tags_value = {
        **stamp.as_dict(),
        "environment": bp.environment,
        "managedBy": "software-factory",
        "product": bp.product,
        "runtimeProfile": bp.runtime_profile,
        "service": bp.service,
    }
    tags = Expr("tags")
    blocks: list[str] = []
    endpoint_env: dict[str, Any] = {}
    for item in bp.storage:
        text, env = _storage_block(bp, item, tags)
        blocks.append(text)
        endpoint_env.update(env)

    plain_env: dict[str, Any] = {**bp.env, **endpoint_env}
    plain_env["APPLICATIONINSIGHTS_CONNECTION_STRING"] = Expr("insights.properties.ConnectionString")
    if bp.security.workload_identity.enabled:
        plain_env["AZURE_CLIENT_ID"] = Expr("identity.properties.clientId")
    env_list: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(plain_env.items())]
    env_list += [{"name": k, "secretRef": _secret_name(k)} for k in sorted(bp.secrets)]
    secrets = [
        {"name": _secret_name(k), "keyVaultUrl": ref.uri, "identity": Expr("identity.id")}
        for k, ref in sorted(bp.secrets.items())
    ]
    scale = bp.resilience.autoscale
    rules: list[dict[str, Any]] = [
        {
            "name": "cpu",
            "custom": {
                "type": "cpu",
                "metadata": {"type": "Utilization", "value": str(scale.target_cpu_percent)},
            },
        }
    ]
    if scale.target_concurrent_requests and bp.ingress.exposure != "none":
        rules.insert(
            0,
            {
                "name": "http",
                "http": {"metadata": {"concurrentRequests": str(scale.target_concurrent_requests)}},
            },
        )

    servicebus = ""
    if bp.messaging.broker == "servicebus":
        servicebus = (
            _resource("bus", API["serviceBus"], {"name": Expr("serviceBusNamespace")}).replace(
                " = {", " existing = {", 1
            )
            + "\n"
            + _resource(
                "busSender",
                API["roleAssignment"],
                {
                    "name": Expr(f"guid(bus.id, identity.id, '{ROLE_SERVICEBUS_DATA_SENDER}')"),
                    "scope": Expr("bus"),
                    "properties": {
                        "principalId": Expr("identity.properties.principalId"),
                        "principalType": "ServicePrincipal",
                        "roleDefinitionId": Expr(
                            "subscriptionResourceId('Microsoft.Authorization/"
                            f"roleDefinitions', '{ROLE_SERVICEBUS_DATA_SENDER}')"
                        ),
                    },
                },
            )
        )
        plain_env.setdefault("SERVICEBUS_NAMESPACE", Expr("'${serviceBusNamespace}.servicebus.windows.net'"))
        env_list = [e for e in env_list if e["name"] != "SERVICEBUS_NAMESPACE"]
        env_list.append({"name": "SERVICEBUS_NAMESPACE", "value": plain_env["SERVICEBUS_NAMESPACE"]})
        env_list.sort(key=lambda e: e["name"])

    params = [
        "@description('Azure region; the first region of the blueprint by default')",
        f"param location string = {_string(bp.tenancy.regions[0])}",
        "@description('Container image to run')",
        f"param image string = {_string(bp.image.reference)}",
    ]
    if bp.messaging.broker == "servicebus":
        params += [
            "@description('Existing Service Bus namespace that holds the topic')",
            f"param serviceBusNamespace string = {_string('sb-' + slug(bp.product) + '-' + bp.environment)}",
        ]
    module_params = {
        "name": _short(f"ca-{base}", 32),
        "location": Expr("location"),
        "tags": tags,
        "environmentId": Expr("appEnvironment.id"),
        "identityId": Expr("identity.id"),
        "image": Expr("image"),
        "env": env_list,
        "secrets": secrets,
        "ingressEnabled": bp.ingress.exposure != "none",
        "external": bp.ingress.exposure == "public",
        "allowInsecure": not bp.ingress.https_only,
        "targetPort": bp.ingress.target_port,
        "minReplicas": scale.min_replicas,
        "maxReplicas": scale.max_replicas,
        "scaleRules": rules,
        "cpu": _cpu(bp.resources.cpu_limit or bp.resources.cpu_request),
        "memory": _memory_gi(bp.resources.memory_limit or bp.resources.memory_request),
        "probes": _probes(bp),
    }
    parts = [
        _header(stamp) + "targetScope = 'resourceGroup'\n",
        "\n".join(params) + "\n",
        f"var tags = {value(tags_value)}\n",
        _resource("identity", API["identity"], {"name": f"id-{base}", "location": Expr("location"), "tags": tags}),
        _resource(
            "logs",
            API["logs"],
            {
                "name": f"log-{base}",
                "location": Expr("location"),
                "tags": tags,
                "properties": {
                    "retentionInDays": 90 if bp.environment == "prod" else 30,
                    "sku": {"name": "PerGB2018"},
                },
            },
        ),
        _resource(
            "insights",
            API["insights"],
            {
                "name": f"appi-{base}",
                "location": Expr("location"),
                "tags": tags,
                "kind": "web",
                "properties": {
                    "Application_Type": "web",
                    "DisableLocalAuth": False,
                    "WorkspaceResourceId": Expr("logs.id"),
                },
            },
        ),
        _resource(
            "appEnvironment",
            API["environment"],
            {
                "name": f"cae-{base}",
                "location": Expr("location"),
                "tags": tags,
                "properties": {
                    "appLogsConfiguration": {"destination": "azure-monitor"},
                    "zoneRedundant": bp.environment == "prod",
                },
            },
        ),
        *blocks,
        *([servicebus] if servicebus else []),
        "module app 'modules/container-app.bicep' = " + value({"name": f"app-{base}", "params": module_params}) + "\n",
        "output identityClientId string = identity.properties.clientId\noutput appFqdn string = app.outputs.fqdn\n",
    ]
    return "\n".join(parts)


def render(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, str]:
    return {
        "bicep/main.bicep": main_bicep(bp, stamp),
        "bicep/modules/container-app.bicep": _header(stamp) + MODULE.replace("{app}", API["app"]),
    }
