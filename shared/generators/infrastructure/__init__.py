"""Infrastructure blueprints for generated services (issue 7).

``generate`` turns one service of a ``ServiceBlueprint`` into a deterministic, content-hashed
package (Bicep, Kubernetes, Helm values, GitHub workflow, OpenTelemetry collector config) with
policy findings; ``DirectoryVersionStore`` keeps immutable versions, diffs and rollbacks.
"""

from __future__ import annotations

from shared.generators.infrastructure.generator import GENERATOR_VERSION, InfraPackage, content_hash, generate, resolve
from shared.generators.infrastructure.model import InfrastructureBlueprint, KeyVaultRef
from shared.generators.infrastructure.overlays import OverlayConflictError, OverlayError, OverlayValidationError
from shared.generators.infrastructure.policies import Finding, blocking, estimate_monthly_cost
from shared.generators.infrastructure.versions import (
    DirectoryVersionStore,
    ResourceChange,
    StoredVersion,
    VersionInfo,
    VersionStore,
    diff_versions,
)

__all__ = [
    "GENERATOR_VERSION",
    "DirectoryVersionStore",
    "Finding",
    "InfraPackage",
    "InfrastructureBlueprint",
    "KeyVaultRef",
    "OverlayConflictError",
    "OverlayError",
    "OverlayValidationError",
    "ResourceChange",
    "StoredVersion",
    "VersionInfo",
    "VersionStore",
    "blocking",
    "content_hash",
    "diff_versions",
    "estimate_monthly_cost",
    "generate",
    "resolve",
]
