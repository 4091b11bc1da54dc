"""The infrastructure blueprint model: one validated description every renderer reads.

It is derived from one ``Service`` of a ``ServiceBlueprint`` plus the blueprint's
``NonFunctional`` requirements and a target environment (see ``derive.py``), then overlays
are merged onto it (see ``overlays.py``) and the result is validated here. Field names are
camelCase on the wire (overlay files, ``infrastructure-blueprint.json``).

``target`` says what runs the service: ``functions`` (the default: the generated service is an
Azure Functions app, deployed to Flex Consumption) or ``containers`` (a generated Dockerfile,
Azure Container Apps, Kubernetes). ``defaults`` lists every value the intent did not state and
the generator chose, so documents can say which numbers are defaults.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

Environment = Literal["dev", "staging", "prod"]
ENVIRONMENTS: tuple[str, ...] = ("dev", "staging", "prod")
RuntimeProfile = Literal["stateless", "durable-worker", "real-time", "scheduled", "long-running"]
CostProfile = Literal["economy", "standard", "performance"]

_QUANTITY_CPU = r"^\d+(\.\d+)?m?$"
_QUANTITY_MEMORY = r"^\d+(Mi|Gi)$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, alias_generator=to_camel)


class KeyVaultRef(_Model):
    """A secret held in Azure Key Vault. The only form a secret may take in a blueprint."""

    vault: str = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$", description="Key Vault name")
    secret: str = Field(pattern=r"^[0-9a-zA-Z-]{1,127}$", description="secret name in the vault")
    version: str | None = Field(None, pattern=r"^[0-9a-f]{32}$")

    @property
    def uri(self) -> str:
        base = f"https://{self.vault}.vault.azure.net/secrets/{self.secret}"
        return f"{base}/{self.version}" if self.version else base


class Image(_Model):
    registry: str
    repository: str = Field(pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*$")
    tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


class Messaging(_Model):
    broker: Literal["servicebus", "none"] = "servicebus"
    topic: str = "events"
    publishes: list[str] = Field(default_factory=list)
    subscribes_to: list[str] = Field(default_factory=list)
    subscription: str | None = Field(None, description="the service's subscription on the topic, if it consumes")


class StorageResource(_Model):
    kind: Literal["cosmos", "blob", "sql"]
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")
    size_gb: int = Field(ge=1, le=4096)
    redundancy: Literal["LRS", "ZRS", "GRS"] = "LRS"
    containers: list[str] = Field(default_factory=list, description="Cosmos containers / blob containers")
    partition_key: str | None = Field(None, description="Cosmos partition key path")
    unique_keys: dict[str, list[list[str]]] = Field(default_factory=dict,
                                                    description="Cosmos container -> unique key paths")


class Ingress(_Model):
    exposure: Literal["public", "internal", "none"] = "public"
    https_only: bool = True
    target_port: int = Field(8080, ge=1, le=65535)


class Observability(_Model):
    tracing: bool = True
    metrics: bool = True
    sampling_ratio: float = Field(1.0, ge=0.0, le=1.0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    exporter: Literal["azure-monitor", "otlp"] = "azure-monitor"
    otlp_endpoint: str | None = None


class Probe(_Model):
    path: str = Field(pattern=r"^/")
    initial_delay_seconds: int = Field(5, ge=0)
    period_seconds: int = Field(10, ge=1)
    timeout_seconds: int = Field(2, ge=1)
    failure_threshold: int = Field(3, ge=1)


class Probes(_Model):
    liveness: Probe | None = None
    readiness: Probe | None = None
    startup: Probe | None = None


class RetryPolicy(_Model):
    max_attempts: int = Field(3, ge=1, le=20)
    backoff_seconds: float = Field(2.0, ge=0)


class Autoscale(_Model):
    min_replicas: int = Field(ge=0, le=300)
    max_replicas: int = Field(ge=1, le=300)
    target_cpu_percent: int = Field(70, ge=10, le=100)
    target_concurrent_requests: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Autoscale:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"minReplicas ({self.min_replicas}) is greater than maxReplicas "
                f"({self.max_replicas}); lower minReplicas or raise maxReplicas"
            )
        return self


class Resilience(_Model):
    probes: Probes = Field(default_factory=Probes)
    retries: RetryPolicy = Field(default_factory=RetryPolicy)
    autoscale: Autoscale
    termination_grace_period_seconds: int = Field(30, ge=0, le=3600)


class Resources(_Model):
    """Per-replica requests and limits in Kubernetes quantity notation (``250m``, ``512Mi``)."""

    cpu_request: str | None = Field(None, pattern=_QUANTITY_CPU)
    cpu_limit: str | None = Field(None, pattern=_QUANTITY_CPU)
    memory_request: str | None = Field(None, pattern=_QUANTITY_MEMORY)
    memory_limit: str | None = Field(None, pattern=_QUANTITY_MEMORY)


class NetworkPolicy(_Model):
    enabled: bool = True
    allowed_namespaces: list[str] = Field(default_factory=list)


class WorkloadIdentity(_Model):
    enabled: bool = True
    client_id: str | None = Field(None, description="Entra ID client id; the Bicep outputs it")


class Security(_Model):
    network_policy: NetworkPolicy = Field(default_factory=NetworkPolicy)
    workload_identity: WorkloadIdentity = Field(default_factory=WorkloadIdentity)
    allow_access_keys: bool = Field(False, description="shared keys / connection strings for data services")
    pod_security: Literal["restricted", "baseline", "privileged"] = "restricted"


class Cost(_Model):
    profile: CostProfile = "standard"
    monthly_budget_usd: float | None = Field(None, ge=0, description="None: the intent states no budget")


class Tenancy(_Model):
    mode: Literal["single", "multi"] = "single"
    regions: list[str] = Field(default_factory=list, description="empty: the resource group's location")
    data_residency: str | None = None


class FunctionsPlan(_Model):
    """Flex Consumption settings (``target: functions``)."""

    python_version: str = "3.11"
    instance_memory_mb: Literal[512, 2048, 4096] = 2048
    maximum_instance_count: int = Field(100, ge=40, le=1000)
    always_ready: int = Field(0, ge=0, le=100, description="HTTP instances kept warm")


class Authentication(_Model):
    """App Service Authentication (Easy Auth): a multi-tenant service needs the caller's identity."""

    required: bool = False
    provider: Literal["azureActiveDirectory"] = "azureActiveDirectory"
    tenant_claim: str = "http://schemas.microsoft.com/identity/claims/tenantid"


def _secret_value_error(name: str, value: Any) -> str:
    kind = type(value).__name__
    return (
        f"secret {name!r} is a plain {kind}, not a Key Vault reference; write it as "
        f"{{vault: <key-vault-name>, secret: <secret-name>}} and store the value in Key Vault"
    )


class InfrastructureBlueprint(_Model):
    """Everything needed to run one generated service in one environment."""

    schema_version: Literal["1.0"] = "1.0"
    project_id: str
    product: str
    service: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    package: str
    environment: Environment
    edition: str | None = None
    target: Literal["functions", "containers"] = "functions"
    runtime_profile: RuntimeProfile
    image: Image
    env: dict[str, str] = Field(default_factory=dict, description="plain (non-secret) settings")
    secrets: dict[str, KeyVaultRef] = Field(default_factory=dict, description="env var -> Key Vault ref")
    messaging: Messaging = Field(default_factory=Messaging)
    storage: list[StorageResource] = Field(default_factory=list)
    ingress: Ingress = Field(default_factory=Ingress)
    observability: Observability = Field(default_factory=Observability)
    resilience: Resilience
    resources: Resources = Field(default_factory=Resources)
    security: Security = Field(default_factory=Security)
    cost: Cost
    tenancy: Tenancy
    functions: FunctionsPlan = Field(default_factory=FunctionsPlan)
    authentication: Authentication = Field(default_factory=Authentication)
    defaults: list[str] = Field(default_factory=list, description="values the intent did not state")

    @field_validator("secrets", mode="before")
    @classmethod
    def _secrets_are_key_vault_refs(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for name, ref in value.items():
                if not isinstance(ref, dict | KeyVaultRef):
                    raise ValueError(_secret_value_error(name, ref))
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
                raise ValueError(f"env name {name!r} must be UPPER_SNAKE_CASE")
        return value

    @model_validator(mode="after")
    def _names_unique(self) -> InfrastructureBlueprint:
        clash = sorted(set(self.env) & set(self.secrets))
        if clash:
            raise ValueError(f"{', '.join(clash)} set both as env and as secret; keep only the secret")
        names = [s.name for s in self.storage]
        if len(names) != len(set(names)):
            raise ValueError(f"storage names must be unique, got {names}")
        return self

    def document(self) -> dict[str, Any]:
        """The camelCase JSON document (what overlays address and what is written to disk)."""
        return self.model_dump(mode="json", by_alias=True)
