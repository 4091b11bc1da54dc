"""The service blueprint: what the solution-architect designs and what later agents build from.

It is the shared model between the architecture skill (producer), the API designer, the
backend developer, the QA engineer and the infrastructure blueprint generator (consumers).
Entities, fields and relations are the intent's own model (``shared/product/entities.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.product.entities import Entity, EntityField, FieldType, Lifecycle, Relation

__all__ = [
    "ConsumedEvent",
    "Endpoint",
    "Entity",
    "EntityField",
    "EventSpec",
    "FieldType",
    "Lifecycle",
    "NonFunctional",
    "Reference",
    "Relation",
    "Service",
    "ServiceBlueprint",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Endpoint(_Model):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    entity: str
    operation: Literal["list", "create", "read", "update", "delete"]
    auth_level: Literal["anonymous", "function", "admin"] = Field("function", alias="authLevel")


class EventSpec(_Model):
    """A domain event the service publishes through its Service Bus output binding."""

    name: str
    entity: str
    trigger: Literal["created", "updated", "deleted", "transition"]
    field: str | None = Field(None, description="the enum field whose change a transition event announces")


class ConsumedEvent(_Model):
    """An event of another service this service subscribes to (to check and follow its relations)."""

    name: str
    entity: str
    service: str = Field(description="the service that publishes it")


Storage = Literal["cosmos", "blob", "sql"]
Target = Literal["functions", "containers"]


def _default_storage() -> list[Storage]:
    return ["cosmos"]


class Service(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    package: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    context: str | None = Field(None, description="the bounded context of the intent this service implements")
    runtime: Literal["python-functions"] = "python-functions"
    profile: Literal["stateless", "durable-worker", "real-time", "scheduled", "long-running"] = "stateless"
    target: Target = Field("functions", description="functions (Flex Consumption) or containers (with a Dockerfile)")
    entities: list[Entity]
    endpoints: list[Endpoint]
    publishes: list[EventSpec] = Field(default_factory=list)
    consumes: list[ConsumedEvent] = Field(default_factory=list)
    storage: list[Storage] = Field(default_factory=_default_storage)
    ingress: Literal["public", "internal", "none"] = "public"

    def entity(self, name: str) -> Entity | None:
        return next((e for e in self.entities if e.name == name), None)


class NonFunctional(_Model):
    """The intent's non-functional wishes; ``None`` means the intent did not say (nothing is invented)."""

    availability: str | None = None
    expected_rps: int | None = Field(None, alias="expectedRps")
    monthly_budget_usd: float | None = Field(None, alias="monthlyBudgetUsd")
    regions: list[str] = Field(default_factory=list)
    data_residency: str | None = Field(None, alias="dataResidency")


@dataclass(frozen=True)
class Reference:
    """A relation seen from the service that holds it: where its target lives."""

    entity: Entity
    relation: Relation
    target: Entity
    owner: str  # the service that owns the target

    @property
    def remote(self) -> bool:
        return self.owner != ""


class ServiceBlueprint(_Model):
    """``blueprint.json`` as emitted (by digest) in ``BlueprintCreated``."""

    schema_version: Literal["1.0"] = Field("1.0", alias="schemaVersion")
    product: str
    project_id: str = Field(alias="projectId")
    tenancy: Literal["single", "multi"] = "single"
    tenant_id: str = Field("default", alias="tenantId", description="the tenant of a single-tenant product")
    services: list[Service]
    non_functional: NonFunctional = Field(default_factory=NonFunctional, alias="nonFunctional")

    def owner_of(self, entity_name: str) -> Service | None:
        return next((s for s in self.services if s.entity(entity_name) is not None), None)

    def entity(self, name: str) -> Entity | None:
        owner = self.owner_of(name)
        return owner.entity(name) if owner else None

    def references(self, service: Service) -> list[Reference]:
        """Every relation of the service's entities with its target (``owner`` is '' for local targets)."""
        out: list[Reference] = []
        for entity in service.entities:
            for relation in entity.relations:
                target_service = self.owner_of(relation.target)
                target = target_service.entity(relation.target) if target_service else None
                if target_service is None or target is None:
                    continue
                owner = "" if target_service.name == service.name else target_service.name
                out.append(Reference(entity, relation, target, owner))
        return out

    def remote_targets(self, service: Service) -> list[tuple[Entity, str]]:
        """Entities of other services this service refers to, with their owner, in first-seen order."""
        seen: dict[str, tuple[Entity, str]] = {}
        for ref in self.references(service):
            if ref.remote:
                seen.setdefault(ref.target.name, (ref.target, ref.owner))
        return list(seen.values())
