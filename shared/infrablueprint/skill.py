"""The infrastructure-engineer agent's skill: ``BlueprintCreated`` -> ``InfrastructureBlueprintCreated``.

Pure: it reads the service blueprint through the context and returns the package files as
artifacts and one event per service. Versions are recorded by whoever holds the store
(``versions.record``), not here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from shared.blueprint import ServiceBlueprint
from shared.infrablueprint.derive import UnknownServiceError
from shared.infrablueprint.generator import InfraPackage, generate
from shared.infrablueprint.model import ENVIRONMENTS
from shared.infrablueprint.overlays import OverlayError
from shared.skill_port import Artifact, Emit, IncomingEvent, SkillContext, SkillError, SkillResult

CREATED_EVENT = "InfrastructureBlueprintCreated"
SKILL_ID = "infra.design_infrastructure"

_MEDIA_TYPES = {
    ".bicep": "text/plain; charset=utf-8",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".json": "application/json",
}


def _media_type(path: str) -> str:
    return next((m for ext, m in _MEDIA_TYPES.items() if path.endswith(ext)), "text/plain; charset=utf-8")


def _load_blueprint(data: Mapping[str, Any], context: SkillContext) -> ServiceBlueprint:
    ref = data.get("blueprint")
    raw: Any = None
    if isinstance(ref, Mapping) and "services" in ref:
        raw = ref
    elif isinstance(ref, Mapping) and "digest" in ref:
        raw = json.loads(context.load_artifact(str(ref["digest"])))
    else:
        for artifact in data.get("artifacts", []) or []:
            if str(artifact.get("path", "")).endswith("blueprint.json"):
                raw = json.loads(context.load_artifact(str(artifact["digest"])))
                break
    if raw is None:
        raise SkillError(
            "BlueprintCreated carries no blueprint: expected data.blueprint (inline or "
            "{digest}) or an artifact whose path ends in blueprint.json",
            permanent=True,
        )
    try:
        return ServiceBlueprint.model_validate(raw)
    except ValidationError as exc:
        raise SkillError(f"blueprint.json is not a valid ServiceBlueprint: {exc}", permanent=True) from exc


def package_artifacts(package: InfraPackage) -> list[Artifact]:
    prefix = f"infra/{package.service}/{package.environment}/"
    return [Artifact(prefix + path, data, _media_type(path)) for path, data in sorted(package.files.items())]


def created_event(project_id: str, package: InfraPackage, artifacts: list[Artifact]) -> Emit:
    return Emit(
        type=CREATED_EVENT,
        data={
            "projectId": project_id,
            "service": package.service,
            "blueprintVersion": package.blueprint_version,
            "contentHash": package.content_hash,
            "environment": package.environment,
            "artifacts": [a.ref() for a in artifacts],
            "findings": [f.to_payload() for f in package.findings],
        },
    )


def design_infrastructure(event: IncomingEvent, context: SkillContext) -> SkillResult:
    data = event.data
    environment = str(data.get("environment", "dev"))
    if environment not in ENVIRONMENTS:
        raise SkillError(f"unknown environment {environment!r}; use one of {', '.join(ENVIRONMENTS)}", permanent=True)
    blueprint = _load_blueprint(data, context)
    events: list[Emit] = []
    artifacts: list[Artifact] = []
    for service in blueprint.services:
        try:
            package = generate(blueprint, service.name, environment, context.trace_id)
        except (OverlayError, UnknownServiceError, ValueError) as exc:
            raise SkillError(
                f"infrastructure for {service.name} ({environment}) failed: {exc}", permanent=True
            ) from exc
        files = package_artifacts(package)
        artifacts += files
        events.append(created_event(blueprint.project_id, package, files))
    return SkillResult(events=events, artifacts=artifacts)


SKILLS = {SKILL_ID: design_infrastructure}
