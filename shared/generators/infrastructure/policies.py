"""Policy rules over an ``InfrastructureBlueprint``: ids, severities, findings, cost estimate.

Each rule is a pure function ``(blueprint) -> list[Finding]`` registered in ``RULES``.
``critical`` (error) and ``high`` findings block (``blocking(findings)``; the CLI exits 1).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from shared.generators.infrastructure.derive import PROFILE_SIZES
from shared.generators.infrastructure.model import InfrastructureBlueprint

#: the contract's severities (contracts/common.v1.json#/$defs/Severity); ``critical`` is the error level
Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITY_ORDER: dict[str, int] = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
BLOCKING: frozenset[str] = frozenset({"critical", "high"})


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: Severity
    message: str
    resource: str | None = None

    @property
    def id(self) -> str:
        return f"{self.rule_id}/{self.resource or '-'}"

    def to_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "severity": self.severity,
            "message": self.message,
            "ruleId": self.rule_id,
        }
        if self.resource is not None:
            out["resource"] = self.resource
        return out


def blocking(findings: list[Finding]) -> bool:
    return any(f.severity in BLOCKING for f in findings)


# --------------------------------------------------------------------------- cost

#: Monthly list prices in USD (730 h), rounded; documented in docs/infrastructure-blueprints.md.
#: Replica prices follow Azure Container Apps consumption (per vCPU-second / GiB-second).
PRICE_TABLE: dict[str, Any] = {
    "replica": {"vcpuMonth": 63.07, "gibMonth": 7.88},
    "storage": {
        "cosmos": {"baseMonth": 23.36, "gbMonth": 0.25},  # 400 RU/s provisioned + storage
        "blob": {"baseMonth": 0.0, "gbMonth": 0.02},
        "sql": {"baseMonth": 14.72, "gbMonth": 0.12},  # General Purpose serverless minimum
    },
    "redundancy": {"LRS": 1.0, "ZRS": 1.25, "GRS": 2.0},
    "servicebus": {"baseMonth": 9.81},  # Standard tier
    # Flex Consumption: an always-ready instance is billed per GB-second of its memory (baseline only;
    # executions on top depend on the load)
    "functions": {"alwaysReadyGbMonth": 10.51},
}


def cpu_cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def memory_gib(quantity: str) -> float:
    return float(quantity[:-2]) / 1024 if quantity.endswith("Mi") else float(quantity[:-2])


def replica_month_usd(bp: InfrastructureBlueprint) -> float:
    size = PROFILE_SIZES[bp.cost.profile]
    cpu = bp.resources.cpu_limit or bp.resources.cpu_request or size["cpuLimit"]
    mem = bp.resources.memory_limit or bp.resources.memory_request or size["memoryLimit"]
    price = PRICE_TABLE["replica"]
    return float(cpu_cores(cpu) * price["vcpuMonth"] + memory_gib(mem) * price["gibMonth"])


def estimate_monthly_cost(bp: InfrastructureBlueprint) -> float:
    """Baseline monthly cost: minimum replicas (at least one) or always-ready Flex instances + storage +
    messaging, per region (one region when the intent names none)."""
    if bp.target == "functions":
        memory_gb = bp.functions.instance_memory_mb / 1024
        replicas = float(bp.functions.always_ready * memory_gb * PRICE_TABLE["functions"]["alwaysReadyGbMonth"])
    else:
        replicas = max(1, bp.resilience.autoscale.min_replicas) * replica_month_usd(bp)
    storage = 0.0
    for item in bp.storage:
        price = PRICE_TABLE["storage"][item.kind]
        storage += (price["baseMonth"] + price["gbMonth"] * item.size_gb) * PRICE_TABLE["redundancy"][item.redundancy]
    messaging = PRICE_TABLE["servicebus"]["baseMonth"] if bp.messaging.broker == "servicebus" else 0.0
    return round((replicas + storage + messaging) * max(1, len(bp.tenancy.regions)), 2)


# --------------------------------------------------------------------------- rules

Rule = Callable[[InfrastructureBlueprint], list[Finding]]
RULES: dict[str, tuple[str, Rule]] = {}


def rule(rule_id: str, title: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES[rule_id] = (title, fn)
        return fn

    return register


def _deployment(bp: InfrastructureBlueprint) -> str:
    return f"Deployment/{bp.service}"


def containers_only(fn: Rule) -> Rule:
    """A rule about containers (replicas, images, pods) says nothing about a Functions target."""

    def check(bp: InfrastructureBlueprint) -> list[Finding]:
        return fn(bp) if bp.target == "containers" else []

    check.__doc__ = fn.__doc__
    return check


@rule("IB001", "production runs at least two replicas")
@containers_only
def prod_min_replicas(bp: InfrastructureBlueprint) -> list[Finding]:
    n = bp.resilience.autoscale.min_replicas
    if bp.environment == "prod" and n < 2:
        return [
            Finding(
                "IB001",
                "high",
                f"prod runs {n} replica(s) at minimum; one node loss is an outage. "
                "Set resilience.autoscale.minReplicas to 2 or more",
                _deployment(bp),
            )
        ]
    return []


@rule("IB002", "image tag is pinned, never latest")
@containers_only
def image_tag_pinned(bp: InfrastructureBlueprint) -> list[Finding]:
    if bp.image.tag.lower() == "latest":
        return [
            Finding(
                "IB002",
                "high",
                f"image {bp.image.reference} uses the mutable tag 'latest'; pin a version or digest tag in image.tag",
                _deployment(bp),
            )
        ]
    return []


@rule("IB003", "resource requests and limits are set")
@containers_only
def resources_set(bp: InfrastructureBlueprint) -> list[Finding]:
    missing = [name for name, value in bp.resources.model_dump(by_alias=True).items() if value is None]
    if missing:
        return [
            Finding(
                "IB003",
                "medium",
                f"resources {', '.join(missing)} not set; the scheduler cannot "
                "place or cap the pod. Set them under resources",
                _deployment(bp),
            )
        ]
    return []


_SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|"
    r"CONNECTION_?STRING|CREDENTIAL|SAS"
)
_SECRET_VALUE = re.compile(
    r"AccountKey=|SharedAccessKey=|Password=|pwd=|-----BEGIN|^eyJ[\w-]+\.|"
    r"[?&]sig=|^[A-Za-z0-9+/]{40,}={0,2}$",
    re.IGNORECASE,
)
_KEY_VAULT_REF = re.compile(r"^@Microsoft\.KeyVault\(.+\)$")


@rule("IB004", "no plain-text secrets")
def no_plaintext_secrets(bp: InfrastructureBlueprint) -> list[Finding]:
    out = []
    for name, value in sorted(bp.env.items()):
        if not value or _KEY_VAULT_REF.match(value):
            continue
        if _SECRET_NAME.search(name) or _SECRET_VALUE.search(value):
            out.append(
                Finding(
                    "IB004",
                    "critical",
                    f"env {name} looks like a secret in plain text; move it to "
                    "secrets as {vault, secret} (a Key Vault reference) and rotate the value",
                    f"env/{name}",
                )
            )
    return out


@rule("IB005", "liveness and readiness probes are present")
@containers_only
def probes_present(bp: InfrastructureBlueprint) -> list[Finding]:
    probes = bp.resilience.probes
    missing = [n for n, p in (("liveness", probes.liveness), ("readiness", probes.readiness)) if p is None]
    if missing:
        return [
            Finding(
                "IB005",
                "high",
                f"{' and '.join(missing)} probe missing; broken replicas keep "
                "receiving traffic. Set resilience.probes." + missing[0],
                _deployment(bp),
            )
        ]
    return []


@rule("IB006", "ingress is HTTPS-only")
def https_only(bp: InfrastructureBlueprint) -> list[Finding]:
    if bp.ingress.exposure != "none" and not bp.ingress.https_only:
        return [
            Finding(
                "IB006",
                "high",
                f"{bp.ingress.exposure} ingress accepts plain HTTP; set ingress.httpsOnly to true",
                f"Ingress/{bp.service}",
            )
        ]
    return []


@rule("IB007", "a network policy is present")
@containers_only
def network_policy(bp: InfrastructureBlueprint) -> list[Finding]:
    if not bp.security.network_policy.enabled:
        severity: Severity = "high" if bp.environment == "prod" else "medium"
        return [
            Finding(
                "IB007",
                severity,
                "no network policy: every pod in the cluster can reach this "
                "service. Set security.networkPolicy.enabled to true",
                f"NetworkPolicy/{bp.service}",
            )
        ]
    return []


@rule("IB008", "workload identity instead of keys")
def workload_identity(bp: InfrastructureBlueprint) -> list[Finding]:
    out = []
    if not bp.security.workload_identity.enabled:
        out.append(
            Finding(
                "IB008",
                "high",
                "workload identity is off, so the service needs keys to reach "
                "Azure; set security.workloadIdentity.enabled to true",
                f"ServiceAccount/{bp.service}",
            )
        )
    if bp.security.allow_access_keys:
        out.append(
            Finding(
                "IB008",
                "high",
                "shared access keys are enabled on the data services; set "
                "security.allowAccessKeys to false and grant the identity a data-plane role",
                "storage",
            )
        )
    return out


@rule("IB009", "estimated monthly cost within budget")
def within_budget(bp: InfrastructureBlueprint) -> list[Finding]:
    estimate = estimate_monthly_cost(bp)
    budget = bp.cost.monthly_budget_usd
    if budget is None:
        return [Finding("IB009", "info", f"estimated ${estimate:.2f}/month; the intent states no budget", "cost")]
    if estimate > budget:
        return [
            Finding(
                "IB009",
                "high",
                f"estimated ${estimate:.2f}/month exceeds the budget of ${budget:.2f}; "
                "lower minReplicas, pick a cheaper cost.profile or raise cost.monthlyBudgetUsd",
                "cost",
            )
        ]
    return [Finding("IB009", "info", f"estimated ${estimate:.2f}/month of a ${budget:.2f} budget", "cost")]


#: data residency -> Azure regions inside it
RESIDENCY_REGIONS: dict[str, frozenset[str]] = {
    "eu": frozenset(
        {
            "westeurope",
            "northeurope",
            "francecentral",
            "germanywestcentral",
            "swedencentral",
            "italynorth",
            "polandcentral",
            "spaincentral",
        }
    ),
    "uk": frozenset({"uksouth", "ukwest"}),
    "us": frozenset({"eastus", "eastus2", "westus", "westus2", "westus3", "centralus", "southcentralus"}),
    "ch": frozenset({"switzerlandnorth", "switzerlandwest"}),
}


@rule("IB010", "regions honour data residency")
def data_residency(bp: InfrastructureBlueprint) -> list[Finding]:
    residency = bp.tenancy.data_residency
    if residency is None:
        return []
    allowed = RESIDENCY_REGIONS.get(residency.lower())
    if allowed is None:
        return [
            Finding(
                "IB010",
                "critical",
                f"unknown data residency {residency!r}; use one of {', '.join(sorted(RESIDENCY_REGIONS))}",
                "tenancy",
            )
        ]
    outside = [r for r in bp.tenancy.regions if r not in allowed]
    if outside:
        return [
            Finding(
                "IB010",
                "critical",
                f"regions {', '.join(outside)} are outside data residency "
                f"{residency!r}; use {', '.join(sorted(allowed))}",
                "tenancy",
            )
        ]
    return []


@rule("IB011", "production keeps a Functions instance warm")
def prod_always_ready(bp: InfrastructureBlueprint) -> list[Finding]:
    if bp.target == "functions" and bp.environment == "prod" and bp.functions.always_ready < 1:
        return [Finding("IB011", "medium", "prod keeps no Flex Consumption instance always ready, so the first "
                        "request after idle waits for a cold start; set functions.alwaysReady to 1 or more",
                        f"FunctionApp/{bp.service}")]
    return []


@rule("IB012", "a multi-tenant service authenticates its callers")
def multi_tenant_authentication(bp: InfrastructureBlueprint) -> list[Finding]:
    if bp.tenancy.mode == "multi" and not bp.authentication.required:
        return [Finding("IB012", "critical", "a multi-tenant service takes the tenant from the authenticated "
                        "caller; without App Service Authentication anyone can claim any tenant. Set "
                        "authentication.required to true", f"Authentication/{bp.service}")]
    return []


def evaluate(bp: InfrastructureBlueprint) -> list[Finding]:
    """All findings, most severe first, then by rule id and resource (stable)."""
    findings = [f for _, fn in RULES.values() for f in fn(bp)]
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.rule_id, f.resource or "", f.message))
