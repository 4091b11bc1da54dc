"""Record helpers every adapter shares, whatever its technology: ETags, sortable times, envelope
checks for the event log, and SHA-256 artifact addresses.

Adapters import ``shared.ports`` and this module, never another adapter.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.ports import ArtifactCorruptedError


def new_etag() -> str:
    return uuid.uuid4().hex


def sortable_time(value: Any) -> str:
    """Normalise an envelope ``time`` to a UTC ISO string that sorts chronologically.

    Values that are not ISO 8601 timestamps are kept as they are (they still sort, as text).
    """
    text = str(value)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    if parsed.tzinfo is None:
        return parsed.isoformat(timespec="microseconds")
    return parsed.astimezone(UTC).isoformat(timespec="microseconds")


def validate_envelope(event: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the missing keys when an envelope cannot go into the event log."""
    missing = [key for key in ("id", "type", "traceId", "time") if not event.get(key)]
    if missing:
        raise ValueError(
            f"cannot append event {event.get('id')!r} to the event log: missing {', '.join(missing)}. "
            "Append validated envelopes (see contracts/envelope.v1.json)."
        )


_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")


def sha256_digest(data: bytes) -> str:
    """The address of ``data``: ``sha256:<lowercase hex>``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_hex(digest: str) -> str:
    """The hex part of a ``sha256:<hex>`` digest; ``ValueError`` explains the expected form."""
    match = _DIGEST.match(digest)
    if match is None:
        raise ValueError(
            f"{digest!r} is not an artifact digest: expected 'sha256:' followed by 64 lowercase hex digits "
            "(use the digest of the ArtifactRef that put() returned)"
        )
    return match.group(1)


def verified(digest: str, data: bytes, where: str) -> bytes:
    """Return ``data`` if it hashes to ``digest``; raise ``ArtifactCorruptedError`` otherwise."""
    actual = sha256_digest(data)
    if actual != digest:
        raise ArtifactCorruptedError(
            f"artifact {digest} at {where} is corrupt: its {len(data)} bytes hash to {actual}. "
            "Delete it and re-run the step that produced it (put() of the original bytes also repairs it)."
        )
    return data
