"""``generate``: service blueprint + environment + overlays -> a stamped, hashed infrastructure package."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shared.generators.infrastructure import overlays as ov
from shared.generators.infrastructure.derive import PROFILE_SIZES, base_document
from shared.generators.infrastructure.model import ENVIRONMENTS, InfrastructureBlueprint
from shared.generators.infrastructure.policies import Finding, estimate_monthly_cost, evaluate
from shared.generators.infrastructure.renderers import (
    PLACEHOLDER_STAMP,
    Stamp,
    bicep,
    helm,
    kubernetes,
    otel,
    stamp_text,
    workflow,
)
from shared.product.blueprint import ServiceBlueprint

#: the generator's own version: part of every blueprint version so a generator change is visible
GENERATOR_VERSION = "1.0.0"
MODEL_FILE = "infrastructure-blueprint.json"

RENDERERS = (bicep.render, kubernetes.render, helm.render, workflow.render, otel.render)


@dataclass(frozen=True)
class InfraPackage:
    """The generated files (stamped), their content hash and the policy findings."""

    service: str
    environment: str
    files: dict[str, bytes]
    content_hash: str
    blueprint_version: str
    findings: list[Finding]
    blueprint: InfrastructureBlueprint
    trace_id: str
    estimated_monthly_cost_usd: float = field(default=0.0)

    @property
    def stamp(self) -> Stamp:
        return make_stamp(self.trace_id, self.content_hash)


def make_stamp(trace_id: str, content_hash: str) -> Stamp:
    short = content_hash.removeprefix("sha256:")[:12]
    return Stamp(
        trace_id=trace_id,
        blueprint_version=f"{GENERATOR_VERSION}+{short}",
        content_hash=content_hash,
        short_hash=short,
    )


def content_hash(files: dict[str, str]) -> str:
    """SHA-256 over (path, content) pairs in path order: the identity of a package's content."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + files[path].encode() + b"\0")
    return "sha256:" + digest.hexdigest()


def resolve(
    blueprint: ServiceBlueprint,
    service: str,
    environment: str,
    overlays: Sequence[Path] = (),
    edition: str | None = None,
) -> InfrastructureBlueprint:
    """Derive the base, merge env/edition/user overlays, validate. Raises ``OverlayError`` subclasses."""
    if environment not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {environment!r}; use one of {', '.join(ENVIRONMENTS)}")
    layers = [ov.environment_layer(environment)]
    if edition:
        layers.append(ov.edition_layer(edition))
    layers += [ov.load_overlay(Path(p)) for p in overlays]
    merged = ov.merge(base_document(blueprint, service, environment), layers)
    document = merged.document
    if "resources" not in document:  # sized by the cost profile unless an overlay set them
        profile = (document.get("cost") or {}).get("profile", "standard")
        document["resources"] = dict(PROFILE_SIZES.get(profile, PROFILE_SIZES["standard"]))
    try:
        return InfrastructureBlueprint.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        source = merged.source_of(loc)
        problems = "; ".join(f"{ov.dotted(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ov.OverlayValidationError(
            f"the merged blueprint is invalid at {ov.dotted(loc)} (set by {source}): {problems}. "
            f"Fix that key in {source}",
            source=source,
            key_path=ov.dotted(loc),
        ) from exc


def render_files(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, str]:
    files: dict[str, str] = {}
    for render in RENDERERS:
        files.update(render(bp, stamp))
    model: dict[str, Any] = {"blueprint": bp.document(), "trace": stamp.as_dict()}
    files[MODEL_FILE] = json.dumps(model, indent=2, sort_keys=True) + "\n"
    return files


def generate(
    blueprint: ServiceBlueprint,
    service: str,
    environment: str,
    trace_id: str,
    overlays: Sequence[Path] = (),
    edition: str | None = None,
) -> InfraPackage:
    """Build the infrastructure package of one service for one environment. Pure except reading overlays."""
    bp = resolve(blueprint, service, environment, overlays, edition)
    canonical = render_files(bp, PLACEHOLDER_STAMP)
    digest = content_hash(canonical)
    stamp = make_stamp(trace_id, digest)
    files = {path: stamp_text(text, stamp).encode("utf-8") for path, text in sorted(canonical.items())}
    return InfraPackage(
        service=bp.service,
        environment=environment,
        files=files,
        content_hash=digest,
        blueprint_version=stamp.blueprint_version,
        findings=evaluate(bp),
        blueprint=bp,
        trace_id=trace_id,
        estimated_monthly_cost_usd=estimate_monthly_cost(bp),
    )
