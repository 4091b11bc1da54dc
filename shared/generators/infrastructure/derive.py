"""From a ``Service`` of a ``ServiceBlueprint`` to the base infrastructure document.

The base is environment-neutral except for the environment name: environment specifics
(replica floors, cost profile, sampling) come from ``overlays/<env>.yaml``. The result is a
plain camelCase dict so overlays can be merged onto it before model validation.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

from shared.product.blueprint import Service, ServiceBlueprint

#: registry the generated images are pushed to unless an overlay says otherwise
DEFAULT_REGISTRY = "factoryacr.azurecr.io"

#: per runtime profile: autoscale shape, probes and shutdown grace
_PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "stateless": {"minReplicas": 1, "targetConcurrentRequests": 50, "grace": 30, "perReplicaRps": 50},
    "durable-worker": {"minReplicas": 1, "targetConcurrentRequests": None, "grace": 120, "perReplicaRps": 25},
    "real-time": {"minReplicas": 2, "targetConcurrentRequests": 100, "grace": 60, "perReplicaRps": 100},
    "scheduled": {"minReplicas": 1, "targetConcurrentRequests": None, "grace": 300, "perReplicaRps": 1000},
    "long-running": {"minReplicas": 1, "targetConcurrentRequests": None, "grace": 600, "perReplicaRps": 10},
}

#: default replica size per cost profile (Kubernetes quantities); see ``policies.PRICE_TABLE``
PROFILE_SIZES: dict[str, dict[str, str]] = {
    "economy": {"cpuRequest": "250m", "cpuLimit": "250m", "memoryRequest": "512Mi", "memoryLimit": "512Mi"},
    "standard": {"cpuRequest": "500m", "cpuLimit": "500m", "memoryRequest": "1Gi", "memoryLimit": "1Gi"},
    "performance": {"cpuRequest": "1", "cpuLimit": "1", "memoryRequest": "2Gi", "memoryLimit": "2Gi"},
}

#: default storage size in GB per kind
_STORAGE_SIZE_GB: dict[str, int] = {"cosmos": 10, "blob": 50, "sql": 5}


class UnknownServiceError(LookupError):
    """The blueprint has no service of that name."""


def find_service(blueprint: ServiceBlueprint, name: str) -> Service:
    for service in blueprint.services:
        if service.name == name:
            return service
    known = ", ".join(s.name for s in blueprint.services) or "none"
    raise UnknownServiceError(
        f"service {name!r} is not in blueprint {blueprint.product!r} "
        f"(services: {known}); pass one of them with --service"
    )


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "product"


def image_tag(service: Service) -> str:
    """A tag pinned to the service definition: changes when the service changes, never ``latest``."""
    body = json.dumps(service.model_dump(mode="json", by_alias=True), sort_keys=True).encode()
    return "sha-" + hashlib.sha256(body).hexdigest()[:12]


def _probes(profile: str) -> dict[str, Any]:
    slow = profile in ("long-running", "durable-worker")
    return {
        "liveness": {
            "path": "/api/health",
            "initialDelaySeconds": 10,
            "periodSeconds": 15,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "readiness": {
            "path": "/api/health",
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "startup": {
            "path": "/api/health",
            "initialDelaySeconds": 0,
            "periodSeconds": 5,
            "timeoutSeconds": 2,
            "failureThreshold": 60 if slow else 24,
        },
    }


def _storage(blueprint: ServiceBlueprint, service: Service, environment: str) -> list[dict[str, Any]]:
    redundancy = "ZRS" if environment == "prod" else "LRS"
    replicas = sorted(f"{target.plural}-replica" for target, _ in blueprint.remote_targets(service))
    out: list[dict[str, Any]] = []
    for kind in sorted(set(service.storage)):
        item: dict[str, Any] = {
            "kind": kind,
            "name": f"{service.name}-{kind}",
            "sizeGb": _STORAGE_SIZE_GB[kind],
            "redundancy": redundancy,
            "containers": [],
            "partitionKey": None,
            "uniqueKeys": {},
        }
        if kind == "cosmos":
            # every item carries its tenant; one partition per tenant keeps queries and unique keys per tenant
            item["containers"] = sorted([slug(e.plural) for e in service.entities] + replicas)
            item["partitionKey"] = "/tenantId"
            item["uniqueKeys"] = {slug(e.plural): e.unique_fields() for e in service.entities if e.unique}
        elif kind == "blob":
            item["containers"] = ["attachments"]
        out.append(item)
    return out


def _max_replicas(expected_rps: int, per_replica: int, minimum: int) -> int:
    # headroom of 2x the expected load, never fewer than 3 so a rollout can surge
    return max(3, minimum, math.ceil(2 * expected_rps / per_replica))


def events_topic(blueprint: ServiceBlueprint) -> str:
    """The topic every service of the product publishes its domain events to."""
    return f"{slug(blueprint.product)}-events"


def base_document(blueprint: ServiceBlueprint, service_name: str, environment: str) -> dict[str, Any]:
    """The infrastructure document before overlays. Pure."""
    service = find_service(blueprint, service_name)
    nfr = blueprint.non_functional
    defaults = _PROFILE_DEFAULTS[service.profile]
    multi = blueprint.tenancy == "multi"
    stated: list[str] = []
    topic = events_topic(blueprint)
    env = {
        "APP_ENVIRONMENT": environment,
        "LOG_LEVEL": "INFO",
        "OTEL_SERVICE_NAME": service.name,
        "SERVICE_PACKAGE": service.package,
        "TENANCY_MODE": blueprint.tenancy,
    }
    storage = _storage(blueprint, service, environment)
    for item in storage:
        key = item["name"].upper().replace("-", "_")
        if item["kind"] == "cosmos":
            env["COSMOS_DATABASE"] = service.package
        elif item["kind"] == "blob":
            env[f"{key}_ENDPOINT"] = (
                f"https://{re.sub('[^a-z0-9]', '', item['name'])}{environment}.blob.core.windows.net/"
            )
        else:
            env[f"{key}_SERVER"] = f"{slug(item['name'])}-{environment}.database.windows.net"
    if service.publishes or service.consumes:
        env["EVENTS_TOPIC"] = topic
    if service.consumes:
        env["EVENTS_SUBSCRIPTION"] = service.name
    if nfr.expected_rps is None:
        stated.append("resilience.autoscale.maxReplicas: default, the intent states no expected load")
        max_replicas = max(3, defaults["minReplicas"])
    else:
        max_replicas = _max_replicas(nfr.expected_rps, defaults["perReplicaRps"], defaults["minReplicas"])
    if not nfr.regions:
        stated.append("tenancy.regions: none, the deployment uses the resource group's location")
    if nfr.monthly_budget_usd is None:
        stated.append("cost.monthlyBudgetUsd: none, the intent states no budget")
    stated += [
        "functions.maximumInstanceCount: 100, the Flex Consumption default",
        "functions.instanceMemoryMb: 2048, the Flex Consumption default",
    ]
    budget = (round(nfr.monthly_budget_usd / max(1, len(blueprint.services)), 2)
              if nfr.monthly_budget_usd is not None else None)
    return {
        "schemaVersion": "1.0",
        "projectId": blueprint.project_id,
        "product": blueprint.product,
        "service": service.name,
        "package": service.package,
        "environment": environment,
        "edition": None,
        "target": service.target,
        "runtimeProfile": service.profile,
        "image": {
            "registry": DEFAULT_REGISTRY,
            "repository": f"{slug(blueprint.product)}/{service.name}",
            "tag": image_tag(service),
        },
        "env": env,
        "secrets": {},
        "messaging": {
            "broker": "servicebus" if service.publishes or service.consumes else "none",
            "topic": topic,
            "publishes": sorted(e.name for e in service.publishes),
            "subscribesTo": sorted({c.name for c in service.consumes}),
            "subscription": service.name if service.consumes else None,
        },
        "storage": storage,
        # the Functions host in the generated Dockerfile's image listens on 80
        "ingress": {"exposure": service.ingress, "httpsOnly": True,
                    "targetPort": 80 if service.target == "containers" else 443},
        "observability": {
            "tracing": True,
            "metrics": True,
            "samplingRatio": 1.0,
            "logLevel": "info",
            "exporter": "azure-monitor",
            "otlpEndpoint": None,
        },
        "resilience": {
            "probes": _probes(service.profile),
            "retries": {"maxAttempts": 3, "backoffSeconds": 2.0},
            "autoscale": {
                "minReplicas": defaults["minReplicas"],
                "maxReplicas": max_replicas,
                "targetCpuPercent": 70,
                "targetConcurrentRequests": defaults["targetConcurrentRequests"],
            },
            "terminationGracePeriodSeconds": defaults["grace"],
        },
        "security": {
            "networkPolicy": {"enabled": True, "allowedNamespaces": []},
            "workloadIdentity": {"enabled": True, "clientId": None},
            "allowAccessKeys": False,
            "podSecurity": "restricted",
        },
        # the product budget is shared equally by its services
        "cost": {"profile": "standard", "monthlyBudgetUsd": budget},
        "tenancy": {
            "mode": "multi" if multi else "single",
            "regions": list(nfr.regions),
            "dataResidency": nfr.data_residency,
        },
        "functions": {"pythonVersion": "3.11", "instanceMemoryMb": 2048, "maximumInstanceCount": 100,
                      "alwaysReady": 0},
        "authentication": {"required": multi},
        "defaults": stated,
    }
