"""Writing the access policy (``x-event.emitters`` / ``x-event.consumers``) into the live schemas.

The lists are derived, not edited: ``shared.mesh.topology.access_lists`` computes them from the
consumer manifests, the flows and ``contracts/entrypoints.yaml``; ``factory generate`` writes
them here and ``factory generate --check`` (a test) fails when a schema is stale. Frozen history
snapshots are never touched (a release freezes the payload, not the access policy).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shared.contracts.registry import Registry


def schema_text(doc: Mapping[str, Any]) -> str:
    """How the contract files are written: two-space JSON, key order kept, a final newline."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_access(registry: Registry, access: Mapping[str, tuple[Sequence[str], Sequence[str]]]
                  ) -> dict[Path, str]:
    """Every live schema file whose access lists differ from ``access`` -> its new text."""
    changed: dict[Path, str] = {}
    for info in registry.all():
        if not info.live:
            continue
        emitters, consumers = access.get(info.name, ((), ()))
        doc = json.loads(info.path.read_text(encoding="utf-8"))
        key = f"x-{info.kind}"
        meta = dict(doc[key])
        meta["emitters"], meta["consumers"] = list(emitters), list(consumers)
        if meta != doc[key]:
            doc[key] = {k: meta[k] for k in [*doc[key], *(k for k in meta if k not in doc[key])]}
            changed[info.path] = schema_text(doc)
    return changed
