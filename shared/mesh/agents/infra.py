"""infrastructure-engineer: an infrastructure request and the infrastructure package per service.

The request (``infra/<service>/infrastructure-request.json``) states what the service needs:
target, runtime profile, storage, messaging, ingress, load and budget, from the blueprint, and
lists what the intent did not state instead of inventing it. The package comes from
``shared.generators.infrastructure.generate``: its files, content hash, version and findings go
into the event. A container target also gets ``services/<service>/Dockerfile``, which builds the
image the package deploys.
"""

from __future__ import annotations

from typing import Any

from shared.generators.infrastructure import generate
from shared.mesh.agents.project import project_blueprint
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillError, SkillResult
from shared.product.blueprint import Service, ServiceBlueprint

ENVIRONMENT = "dev"


def infrastructure_request(blueprint: ServiceBlueprint, service: Service, environment: str) -> dict[str, Any]:
    """What the service needs, as the intent and the blueprint say it; what they do not say is ``null``."""
    nf = blueprint.non_functional
    return {
        "service": service.name,
        "environment": environment,
        "target": service.target,
        "runtime": {"kind": service.runtime, "profile": service.profile, "python": "3.11"},
        "storage": [
            {"kind": kind, "containers": [e.plural for e in service.entities], "partitionKey": "/tenantId"}
            if kind == "cosmos"
            else {"kind": kind}
            for kind in service.storage
        ],
        "messaging": {"publishes": [e.name for e in service.publishes],
                      "consumes": [{"event": c.name, "from": c.service} for c in service.consumes]},
        "ingress": service.ingress,
        "tenancy": blueprint.tenancy,
        "load": {"expectedRps": nf.expected_rps, "availability": nf.availability},
        "budget": {"monthlyUsd": nf.monthly_budget_usd},
        "regions": list(nf.regions),
        "dataResidency": nf.data_residency,
        "notStatedInTheIntent": [name for name, value in (
            ("expectedRps", nf.expected_rps), ("availability", nf.availability),
            ("monthlyBudgetUsd", nf.monthly_budget_usd), ("regions", nf.regions),
            ("dataResidency", nf.data_residency)) if not value],
    }


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
        try:
            package = generate(blueprint, service.name, ENVIRONMENT, ctx.trace_id)
        except ValueError as exc:
            raise SkillError(f"infrastructure for {service.name} ({ENVIRONMENT}) failed: {exc}",
                             permanent=True) from exc
        produced = [request] + [
            Artifact(f"infra/{service.name}/{ENVIRONMENT}/{path}", body, _media_type(path))
            for path, body in sorted(package.files.items())
        ]
        # a container target builds the service's image from its own folder
        produced += [Artifact(f"services/{service.name}/{path.removeprefix('docker/')}", body, "text/plain")
                     for path, body in sorted(package.files.items()) if path.startswith("docker/")]
        result.artifacts.extend(produced)
        result.events.append(
            Emit(
                "InfrastructureBlueprintCreated",
                {
                    "projectId": ctx.project_id,
                    "service": service.name,
                    "blueprintVersion": str(package.blueprint_version),
                    "contentHash": package.content_hash,
                    "environment": ENVIRONMENT,
                    "artifacts": [a.ref() for a in produced],
                    "findings": [f.to_payload() for f in package.findings],
                },
            )
        )
    return result
