"""api-designer: one OpenAPI 3.1 document per service (paths, paging, problems, events), validated before emitted."""

from __future__ import annotations

import json
from typing import Any

from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from shared.generators.service.fieldtypes import json_schema, relation_schema
from shared.mesh.agents.project import project_blueprint
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillError, SkillResult
from shared.product.blueprint import Entity, Service, ServiceBlueprint

PROBLEM = "application/problem+json"
#: shared components carry a dot, which no entity name can, so they never clash with an entity's schemas
PROBLEM_SCHEMA = "common.Problem"
_ERROR_TEXT = {
    "400": "The body is not JSON (or nested too deeply), or a query parameter is unknown or has a bad value",
    "401": "No authenticated caller (the service keeps each tenant's data apart)",
    "404": "No item has this id (for this tenant)",
    "409": "A forbidden lifecycle transition, a duplicate unique value, or a delete refused while referenced",
    "413": "The body is larger than the service accepts",
    "422": "The body does not match the schema, or a relation names an unknown item; `errors` lists each field",
}
_RANGE = ("lt", "lte", "gt", "gte")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string", "format": "uri-reference"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "message", "type"],
                    "properties": {
                        "field": {"type": "string"},
                        "message": {"type": "string"},
                        "type": {"type": "string"},
                    },
                },
            },
        },
    }


def _entity_schemas(entity: Entity) -> dict[str, dict[str, Any]]:
    props: dict[str, Any] = {f.name: json_schema(f) for f in entity.fields}
    props.update({r.field_name: relation_schema(r) for r in entity.relations})
    required = [f.name for f in entity.fields if f.required] + [r.field_name for r in entity.relations if r.required]
    create: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": props}
    if required:
        create["required"] = required
    if entity.unique:
        create["x-unique"] = entity.unique_fields()
    update = {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "description": "Partial update: only the fields sent change.",
        "properties": props,
    }
    read = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", *required],
        "properties": {"id": {"type": "string", "readOnly": True}, **props},
    }
    page = {
        "type": "object",
        "required": ["items", "count", "continuationToken"],
        "properties": {
            "items": {"type": "array", "items": _ref(entity.name)},
            "count": {"type": "integer", "description": "items on this page"},
            "continuationToken": {"type": ["string", "null"],
                                  "description": "pass it back to get the next page; null on the last page"},
        },
    }
    return {
        f"{entity.name}Create": create,
        f"{entity.name}Update": update,
        entity.name: read,
        f"{entity.name}List": page,
    }


def _list_parameters(entity: Entity) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
         "description": "items per page (default 50, at most 200: the service's defaults)"},
        {"name": "sort", "in": "query", "schema": {"type": "string"},
         "description": "a field to sort by; prefix - for descending"},
        {"name": "continuationToken", "in": "query", "schema": {"type": "string"},
         "description": "from the previous page, with the same filters and sort"},
    ]
    for f in entity.fields:
        value = json_schema(f)
        item = value.get("items", value) if f.type == "list" else value
        what = "contains" if f.type == "list" else "equals"
        params.append({"name": f.name, "in": "query", "schema": {"type": "string"},
                       "description": f"keep items whose {f.name} {what} this value ({item.get('type')})"})
        if f.type in ("string", "email", "integer", "number", "decimal", "money", "date", "datetime"):
            params += [{"name": f"{f.name}.{op}", "in": "query", "schema": {"type": "string"},
                        "description": f"keep items whose {f.name} is {op} this value"} for op in _RANGE]
    for r in entity.relations:
        what = "contains" if r.kind == "many" else "equals"
        params.append({"name": r.field_name, "in": "query", "schema": {"type": "string"},
                       "description": f"keep items whose {r.field_name} {what} this id"})
    return params


def _problems(*codes: str) -> dict[str, Any]:
    return {code: {"$ref": f"#/components/responses/common.Problem{code}"} for code in codes}


def _json_body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


def _ok(code: str, description: str, schema: str) -> dict[str, Any]:
    return {code: {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}}


def build_openapi(blueprint: ServiceBlueprint, service: Service) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {PROBLEM_SCHEMA: _problem_schema()}
    id_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    auth = ("401",) if blueprint.tenancy == "multi" else ()
    for entity in service.entities:
        schemas.update(_entity_schemas(entity))
        name, plural = entity.name, entity.plural
        op = entity.plural.replace("-", "_")
        paths[f"/api/{plural}"] = {
            "get": {
                "operationId": f"list_{op}",
                "summary": f"List {plural} (filtered, sorted, paged)",
                "tags": [name],
                "parameters": _list_parameters(entity),
                "responses": {**_ok("200", f"A page of {plural}", f"{name}List"), **_problems("400", *auth)},
            },
            "post": {
                "operationId": f"create_{op}",
                "summary": f"Create a {name}",
                "tags": [name],
                "requestBody": _json_body(f"{name}Create"),
                "responses": {**_ok("201", f"The created {name}", name),
                              **_problems("400", *auth, "409", "413", "422")},
            },
        }
        paths[f"/api/{plural}/{{id}}"] = {
            "parameters": [id_param],
            "get": {
                "operationId": f"read_{op}",
                "summary": f"Read a {name}",
                "tags": [name],
                "responses": {**_ok("200", f"The {name}", name), **_problems(*auth, "404")},
            },
            "patch": {
                "operationId": f"update_{op}",
                "summary": f"Change a {name}",
                "tags": [name],
                "requestBody": _json_body(f"{name}Update"),
                "responses": {**_ok("200", f"The changed {name}", name),
                              **_problems("400", *auth, "404", "409", "413", "422")},
            },
            "delete": {
                "operationId": f"delete_{op}",
                "summary": f"Delete a {name}",
                "tags": [name],
                "responses": {"204": {"description": "Deleted (with what cascades)"}, **_problems(*auth, "404", "409")},
            },
        }
    paths["/api/health"] = {
        "get": {
            "operationId": "health",
            "summary": "Liveness",
            "security": [],
            "responses": {"200": {"description": "The service is up"}},
        }
    }
    responses = {
        f"common.Problem{code}": {"description": text, "content": {PROBLEM: {"schema": _ref(PROBLEM_SCHEMA)}}}
        for code, text in _ERROR_TEXT.items()
    }
    tenancy = (" Multi-tenant: the tenant is the authenticated caller's (App Service Authentication, "
               "x-ms-client-principal); other tenants' items do not exist for the caller."
               if blueprint.tenancy == "multi" else "")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": service.name,
            "version": "0.1.0",
            "description": f"HTTP API of {service.name} ({blueprint.product}).{tenancy}",
        },
        "servers": [{"url": "/"}],
        "security": [{"functionKey": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": responses,
            "securitySchemes": {"functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"}},
        },
        "x-events": {
            "publishes": [{"type": e.name, "entity": e.entity, "trigger": e.trigger,
                           **({"field": e.field} if e.field else {})} for e in service.publishes],
            "consumes": [{"type": c.name, "from": c.service} for c in service.consumes],
            "format": "CloudEvents 1.0 JSON batch (application/cloudevents-batch+json) on the EVENTS_TOPIC topic",
        },
    }


def endpoint_count(spec: dict[str, Any]) -> int:
    methods = {"get", "put", "post", "patch", "delete"}
    return sum(1 for item in spec["paths"].values() for key in item if key in methods)


def design_openapi(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    blueprint, _ = project_blueprint(ctx, event)
    result = SkillResult()
    for service in blueprint.services:
        spec = build_openapi(blueprint, service)
        try:
            validate(json.loads(json.dumps(spec)))
        except OpenAPIValidationError as exc:
            raise SkillError(
                f"generated OpenAPI for {service.name} is invalid: {exc.message}; this is a bug in "
                f"shared/skills/api.py",
                permanent=True,
            ) from exc
        doc = Artifact.json(f"api/{service.name}.openapi.json", spec)
        result.artifacts.append(doc)
        result.events.append(
            Emit(
                "ApiContractDefined",
                {
                    "projectId": ctx.project_id,
                    "service": service.name,
                    "artifacts": [doc.ref()],
                    "openapiDigest": doc.digest,
                    "endpointCount": endpoint_count(spec),
                },
            )
        )
    return result
