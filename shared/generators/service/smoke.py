"""The smoke test of a hosted service: health, then create, read and list an item of each entity.

Entities are created in the order their required relations need (a Book after its Author); an
entity that requires an entity of another service is skipped (its ids only arrive through that
service's events). A multi-tenant service is called as a caller of the intent's tenant, with the
``x-ms-client-principal`` header App Service Authentication would set.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from shared.generators.service.fieldtypes import sample_value
from shared.ports.service_host import SmokeCheck
from shared.product.blueprint import Entity, Service, ServiceBlueprint

TENANT_CLAIM = "http://schemas.microsoft.com/identity/claims/tenantid"


def principal_header(tenant: str) -> dict[str, str]:
    principal = {"auth_typ": "aad", "claims": [{"typ": TENANT_CLAIM, "val": tenant}]}
    return {"x-ms-client-principal": base64.b64encode(json.dumps(principal).encode()).decode()}


def creation_order(blueprint: ServiceBlueprint, service: Service) -> list[Entity]:
    """Entities whose required relations are local, each after the entities it requires."""
    local = {e.name: e for e in service.entities}
    order: list[Entity] = []
    blocked: set[str] = set()

    def visit(entity: Entity, path: tuple[str, ...]) -> bool:
        if entity.name in (e.name for e in order):
            return True
        if entity.name in blocked or entity.name in path:
            return False
        for relation in entity.relations:
            if not relation.required:
                continue
            target = local.get(relation.target)
            if target is None or not visit(target, (*path, entity.name)):
                blocked.add(entity.name)
                return False
        order.append(entity)
        return True

    for entity in service.entities:
        visit(entity, ())
    return order


def sample_body(entity: Entity, placeholder: str = "{%s}") -> dict[str, Any]:
    """A valid body; required relations point at ``placeholder % target`` (filled with a real id later)."""
    body: dict[str, Any] = {f.name: sample_value(f) for f in entity.fields}
    for relation in entity.relations:
        if relation.required:
            ref = placeholder % relation.target
            body[relation.field_name] = [ref] if relation.kind == "many" else ref
    return body


def smoke_checks(blueprint: ServiceBlueprint, service: Service) -> list[SmokeCheck]:
    headers = principal_header(blueprint.tenant_id) if blueprint.tenancy == "multi" else {}
    checks = [SmokeCheck("health", "GET", "/api/health")]
    for entity in creation_order(blueprint, service):
        base = f"/api/{entity.plural}"
        checks += [
            SmokeCheck(f"create {entity.name}", "POST", base, 201, sample_body(entity), headers, save_as=entity.name),
            SmokeCheck(f"read {entity.name}", "GET", f"{base}/{{{entity.name}}}", 200, headers=headers),
            SmokeCheck(f"list {entity.plural}", "GET", f"{base}?limit=1", 200, headers=headers),
        ]
    return checks
