"""The service blueprint: what the solution-architect designs and what later agents build from.

It is the shared model between the architecture skill (producer), the API designer, the
backend developer, and the infrastructure blueprint generator (consumers).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FieldType = Literal["string", "text", "integer", "number", "boolean", "date", "datetime", "uuid",
                    "email", "enum", "money"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class EntityField(_Model):
    name: str = Field(pattern=r"^[a-z][a-zA-Z0-9]*$")
    type: FieldType
    required: bool = True
    description: str = ""
    values: list[str] = Field(default_factory=list, description="allowed values when type is enum")
    max_length: int | None = Field(None, alias="maxLength")
    minimum: float | None = None


class Relation(_Model):
    name: str
    target: str
    kind: Literal["one", "many"] = "one"


class Entity(_Model):
    name: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$")
    plural: str
    fields: list[EntityField]
    relations: list[Relation] = Field(default_factory=list)


class Endpoint(_Model):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    entity: str
    operation: Literal["list", "create", "read", "update", "delete"]
    auth_level: Literal["anonymous", "function", "admin"] = Field("function", alias="authLevel")


class EventSpec(_Model):
    name: str
    entity: str
    trigger: Literal["created", "updated", "deleted"]


Storage = Literal["cosmos", "blob", "sql"]


def _default_storage() -> list[Storage]:
    return ["cosmos"]


class Service(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    package: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    runtime: Literal["python-functions"] = "python-functions"
    profile: Literal["stateless", "durable-worker", "real-time", "scheduled", "long-running"] = "stateless"
    entities: list[Entity]
    endpoints: list[Endpoint]
    publishes: list[EventSpec] = Field(default_factory=list)
    storage: list[Storage] = Field(default_factory=_default_storage)
    ingress: Literal["public", "internal", "none"] = "public"


class NonFunctional(_Model):
    availability: str = "99.9"
    expected_rps: int = Field(50, alias="expectedRps")
    monthly_budget_usd: float = Field(200.0, alias="monthlyBudgetUsd")
    regions: list[str] = Field(default_factory=lambda: ["westeurope"])
    data_residency: str | None = Field(None, alias="dataResidency")


class ServiceBlueprint(_Model):
    """``blueprint.json`` as emitted (by digest) in ``BlueprintCreated``."""

    schema_version: Literal["1.0"] = Field("1.0", alias="schemaVersion")
    product: str
    project_id: str = Field(alias="projectId")
    tenancy: Literal["single", "multi"] = "single"
    services: list[Service]
    non_functional: NonFunctional = Field(default_factory=NonFunctional, alias="nonFunctional")
