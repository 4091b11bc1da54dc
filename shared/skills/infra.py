"""infrastructure-engineer: an infrastructure request per service, plus the full package when available.

The request (``infra/<service>/infrastructure-request.json``) states what the service needs:
runtime profile, storage, ingress, load and budget, from the blueprint. The real generator
(``shared.infrablueprint.generate``) is used through :func:`infrastructure_package`, the one
seam: when it is importable its files, content hash and findings go into the event; otherwise
the event carries the request alone and its digest as ``contentHash``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.blueprint import Service, ServiceBlueprint
from shared.skill_port import Artifact, Emit, IncomingEvent, SkillContext, SkillError, SkillResult
from shared.skills.project import project_blueprint

ENVIRONMENT = "dev"
REQUEST_VERSION = "request-1.0"


@dataclass(frozen=True)
class InfraPackage:
    files: dict[str, bytes]
    content_hash: str
    version: str
    findings: list[dict[str, Any]]


def infrastructure_request(blueprint: ServiceBlueprint, service: Service, environment: str) -> dict[str, Any]:
    nf = blueprint.non_functional
    return {
        "service": service.name,
        "environment": environment,
        "runtime": {"kind": service.runtime, "profile": service.profile, "python": "3.11"},
        "storage": [
            {"kind": kind, "containers": [e.plural for e in service.entities]}
            if kind == "cosmos"
            else {"kind": kind}
            for kind in service.storage
        ],
        "ingress": service.ingress,
        "tenancy": blueprint.tenancy,
        "load": {"expectedRps": nf.expected_rps, "availability": nf.availability},
        "budget": {"monthlyUsd": nf.monthly_budget_usd},
        "regions": list(nf.regions),
        "dataResidency": nf.data_residency,
        "secrets": {"COSMOS_CONNECTION": "key-vault-reference"} if "cosmos" in service.storage else {},
    }


def infrastructure_package(
    blueprint: ServiceBlueprint, service: str, environment: str, trace_id: str
) -> InfraPackage | None:
    """The full infrastructure package from ``shared.infrablueprint``, or None when it is not installed."""
    try:
        from shared.infrablueprint import generate
    except ImportError:
        return None
    try:
        package = generate(blueprint, service, environment, trace_id)
    except ValueError as exc:
        raise SkillError(
            f"infrastructure for {service} ({environment}) failed: {exc}", permanent=True
        ) from exc
    return InfraPackage(
        files=dict(package.files),
        content_hash=package.content_hash,
        version=str(package.blueprint_version),
        findings=[f.to_payload() for f in package.findings],
    )


def _media_type(path: str) -> str:
    if path.endswith(".json"):
        return "application/json"
    if path.endswith((".yaml", ".yml")):
        return "application/yaml"
    return "text/plain; charset=utf-8"


def design_infrastructure(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    blueprint, _ = project_blueprint(ctx, event)
    result = SkillResult()
    for service in blueprint.services:
        request = Artifact.json(
            f"infra/{service.name}/infrastructure-request.json",
            infrastructure_request(blueprint, service, ENVIRONMENT),
        )
        produced = [request]
        package = infrastructure_package(blueprint, service.name, ENVIRONMENT, ctx.trace_id)
        if package is not None:
            produced += [
                Artifact(f"infra/{service.name}/{ENVIRONMENT}/{path}", body, _media_type(path))
                for path, body in sorted(package.files.items())
            ]
        result.artifacts.extend(produced)
        result.events.append(
            Emit(
                "InfrastructureBlueprintCreated",
                {
                    "projectId": ctx.project_id,
                    "service": service.name,
                    "blueprintVersion": package.version if package else REQUEST_VERSION,
                    "contentHash": package.content_hash if package else request.digest,
                    "environment": ENVIRONMENT,
                    "artifacts": [a.ref() for a in produced],
                    "findings": package.findings if package else [],
                },
            )
        )
    return result
