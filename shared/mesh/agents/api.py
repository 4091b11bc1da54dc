"""api-designer: one OpenAPI 3.1 document per service, validated before it is emitted."""

from __future__ import annotations

import json
from typing import Any

from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from shared.generators.service.fieldtypes import json_schema, relation_fields
from shared.mesh.agents.project import project_blueprint
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillError, SkillResult
from shared.product.blueprint import Entity, Service, ServiceBlueprint

PROBLEM = "application/problem+json"
_ERROR_TEXT = {
    "400": "The body is not valid JSON",
    "404": "No item has this id",
    "422": "The body does not match the schema; `errors` lists each field",
}


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
    for name, many in relation_fields(entity):
        props[name] = {"type": "array", "items": {"type": "string"}} if many else {"type": "string"}
    required = [f.name for f in entity.fields if f.required]
    create: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": props}
    if required:
        create["required"] = required
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
        "required": ["items", "count"],
        "properties": {"items": {"type": "array", "items": _ref(entity.name)}, "count": {"type": "integer"}},
    }
    return {
        f"{entity.name}Create": create,
        f"{entity.name}Update": update,
        entity.name: read,
        f"{entity.name}List": page,
    }


def _problems(*codes: str) -> dict[str, Any]:
    return {code: {"$ref": f"#/components/responses/Problem{code}"} for code in codes}


def _json_body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


def _ok(code: str, description: str, schema: str) -> dict[str, Any]:
    return {code: {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}}


def build_openapi(blueprint: ServiceBlueprint, service: Service) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Problem": _problem_schema()}
    id_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    for entity in service.entities:
        schemas.update(_entity_schemas(entity))
        name, plural = entity.name, entity.plural
        op = entity.plural.replace("-", "_")
        paths[f"/api/{plural}"] = {
            "get": {
                "operationId": f"list_{op}",
                "summary": f"List {plural}",
                "tags": [name],
                "responses": _ok("200", f"Every {name}", f"{name}List"),
            },
            "post": {
                "operationId": f"create_{op}",
                "summary": f"Create a {name}",
                "tags": [name],
                "requestBody": _json_body(f"{name}Create"),
                "responses": {**_ok("201", f"The created {name}", name), **_problems("400", "422")},
            },
        }
        paths[f"/api/{plural}/{{id}}"] = {
            "parameters": [id_param],
            "get": {
                "operationId": f"read_{op}",
                "summary": f"Read a {name}",
                "tags": [name],
                "responses": {**_ok("200", f"The {name}", name), **_problems("404")},
            },
            "patch": {
                "operationId": f"update_{op}",
                "summary": f"Change a {name}",
                "tags": [name],
                "requestBody": _json_body(f"{name}Update"),
                "responses": {**_ok("200", f"The changed {name}", name), **_problems("400", "404", "422")},
            },
            "delete": {
                "operationId": f"delete_{op}",
                "summary": f"Delete a {name}",
                "tags": [name],
                "responses": {"204": {"description": "Deleted"}, **_problems("404")},
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
        f"Problem{code}": {"description": text, "content": {PROBLEM: {"schema": _ref("Problem")}}}
        for code, text in _ERROR_TEXT.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": service.name,
            "version": "0.1.0",
            "description": f"HTTP API of {service.name} ({blueprint.product}).",
        },
        "servers": [{"url": "/"}],
        "security": [{"functionKey": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": responses,
            "securitySchemes": {"functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"}},
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
