"""What skills read about their project: the intent, the blueprint, earlier events, stored files.

Every reader raises a permanent :class:`SkillError` naming the missing piece, because a skill
that runs without its inputs would produce wrong artifacts; retrying will not help.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from shared.ports.skills import IncomingEvent, SkillContext, SkillError
from shared.product.blueprint import Service, ServiceBlueprint
from shared.product.intent import Intent, IntentError, intent_from_mapping
from shared.scaffold.output import manifest_files as scaffold_manifest_files


def latest(ctx: SkillContext, event_type: str, *, service: str | None = None) -> Mapping[str, Any]:
    """Data of the most recent ``event_type`` of this project (optionally for one service)."""
    for envelope in reversed(ctx.history(event_type)):
        data = envelope.get("data") or {}
        if service is None or data.get("service") == service:
            return data
    scope = f" for service {service!r}" if service else ""
    raise SkillError(
        f"no {event_type} event{scope} in the history of project {ctx.project_id}; "
        f"this skill runs after it — replay the project from its start",
        permanent=True,
    )


def all_events(ctx: SkillContext) -> list[Mapping[str, Any]]:
    return list(ctx.history())


def project_intent(ctx: SkillContext, event: IncomingEvent | None = None) -> Intent:
    """The intent carried by ``ProjectInitialized`` (the incoming event itself, or the history)."""
    data = (
        event.data
        if event is not None and event.type == "ProjectInitialized"
        else latest(ctx, "ProjectInitialized")
    )
    raw = data.get("intent")
    try:
        return intent_from_mapping(raw, source="ProjectInitialized.data.intent")
    except IntentError as exc:
        raise SkillError(str(exc), permanent=True) from exc


def load_json(ctx: SkillContext, digest: str, what: str) -> Any:
    try:
        return json.loads(ctx.load_artifact(digest))
    except (KeyError, FileNotFoundError) as exc:
        raise SkillError(
            f"{what} {digest} is not in the artifact store; it may still be replicating "
            f"(retry) or was deleted (replay its producer)"
        ) from exc
    except json.JSONDecodeError as exc:
        raise SkillError(f"{what} {digest} is not JSON: {exc}", permanent=True) from exc


def project_blueprint(ctx: SkillContext, event: IncomingEvent | None = None) -> tuple[ServiceBlueprint, str]:
    """The service blueprint (and its digest) from the incoming or the latest ``BlueprintCreated``."""
    data = (
        event.data
        if event is not None and event.type == "BlueprintCreated"
        else latest(ctx, "BlueprintCreated")
    )
    digest = str(data.get("blueprintDigest", ""))
    raw = load_json(ctx, digest, "blueprint")
    try:
        return ServiceBlueprint.model_validate(raw), digest
    except ValidationError as exc:
        raise SkillError(
            f"blueprint {digest} does not match ServiceBlueprint: {exc}", permanent=True
        ) from exc


def find_service(blueprint: ServiceBlueprint, name: str) -> Service:
    for service in blueprint.services:
        if service.name == name:
            return service
    known = ", ".join(s.name for s in blueprint.services)
    raise SkillError(f"service {name!r} is not in the blueprint (services: {known})", permanent=True)


def required(data: Mapping[str, Any], key: str, event_type: str) -> Any:
    if key not in data or data[key] in (None, ""):
        raise SkillError(f"{event_type} has no {key!r}; the producer must send it", permanent=True)
    return data[key]


def manifest_files(manifest: Any) -> dict[str, str]:
    """``{relative path: "sha256:<hex>"}`` from a scaffold manifest; a malformed one is a permanent error."""
    try:
        return scaffold_manifest_files(manifest)
    except ValueError as exc:
        raise SkillError(str(exc), permanent=True) from exc


def service_relative(path: str, service: str) -> str:
    """``services/<service>/x`` -> ``x``; other paths are already relative to the service root."""
    prefix = f"services/{service}/"
    return path[len(prefix) :] if path.startswith(prefix) else path
