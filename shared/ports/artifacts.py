"""The artifact port: content-addressed blobs (the address is the SHA-256 of the bytes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ArtifactRef:
    digest: str  # "sha256:<hex>"
    size: int
    media_type: str = "application/octet-stream"


class ArtifactNotFoundError(KeyError):
    """No artifact has this digest."""


class ArtifactCorruptedError(ArtifactNotFoundError):
    """The stored bytes no longer hash to their address: treat as missing and produce them again."""


class ArtifactStore(Protocol):
    """Content-addressed blobs: the address is the SHA-256 of the bytes."""

    def put(self, data: bytes, media_type: str = "application/octet-stream") -> ArtifactRef: ...

    def get(self, digest: str) -> bytes: ...

    def exists(self, digest: str) -> bool: ...
