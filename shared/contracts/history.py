"""Releasing contract versions: frozen, self-contained snapshots and the compatibility check.

Editing a live schema and bumping ``x-event.version``, then ``python -m shared.contracts.lint freeze``
writes the missing snapshots under ``contracts/history/<Name>/<semver>.json``;
``python -m shared.contracts.lint check`` (also a unit test) proves every live schema is compatible
with every snapshot of its major (``shared.contracts.schema_diff``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.contracts import schema_diff
from shared.contracts.registry import Registry, history_uri, read_json, semver_of


def _comparable(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a bundled schema a release freezes: everything but $id and the x- block."""
    return {k: v for k, v in schema.items() if k != "$id" and not k.startswith("x-")}


def snapshot(registry: Registry, type: str, version: str) -> dict[str, Any]:
    """The frozen, self-contained document stored as ``history/<type>/<version>.json``."""
    bundled = registry.resolved_schema(type, version)
    return {"$schema": bundled.pop("$schema", "https://json-schema.org/draft/2020-12/schema"),
            "$id": history_uri(type, version), **{k: v for k, v in bundled.items() if k != "$id"}}


def freeze_history(registry: Registry) -> list[Path]:
    """Write the snapshot of every live version that has none yet. Never overwrites a snapshot."""
    written: list[Path] = []
    for info in registry.all():
        target = registry.contracts_dir / "history" / info.name / f"{info.version}.json"
        if info.live and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(snapshot(registry, info.name, info.version), indent=2) + "\n",
                              encoding="utf-8")
            written.append(target)
    return written


def check_history(registry: Registry) -> list[str]:
    """Problems between live schemas and released snapshots (empty when releasable).

    * every live version has a snapshot (else: run ``python -m shared.contracts.lint freeze``);
    * a live file still equals the snapshot of its own version (a released version is immutable);
    * a live file is the newest version of its major;
    * a live file is compatible with every snapshot of its major (``shared.contracts.schema_diff``).
    """
    problems: list[str] = []
    history = registry.contracts_dir / "history"
    for t in registry.types():
        for info in [i for i in (registry.get(t, v) for v in registry.versions(t)) if i.live]:
            current = registry.resolved_schema(info.name, info.version)
            own = history / info.name / f"{info.version}.json"
            if not own.exists():
                problems.append(f"{info.ref}: no snapshot {own.relative_to(registry.contracts_dir)}; "
                                f"release it with `python -m shared.contracts.lint freeze`")
            elif _comparable(read_json(own)) != _comparable(current):
                problems.append(
                    f"{info.ref}: {info.path.name} differs from the released snapshot of the same version; "
                    f"a released version is immutable: bump x-{info.kind}.version (minor for a compatible "
                    f"change, a new .v{info.major + 1}.json file for a breaking one) and freeze"
                )
            for path in sorted(history.glob(f"{info.name}/{info.major}.*.json")):
                old = read_json(path)
                old_version = path.stem
                if semver_of(old_version) > semver_of(info.version):
                    problems.append(f"{info.ref}: live file is older than the released {old_version}; "
                                    f"the live file must carry the newest version of major {info.major}")
                    continue
                for change in schema_diff.breaking(schema_diff.diff_schemas(old, current)):
                    problems.append(f"{info.ref} breaks {info.name}@{old_version} at {change.path}: "
                                    f"{change.reason} ({change.kind}); make a breaking change in a new "
                                    f"file {info.name}.v{info.major + 1}.json and add an upcaster")
    return problems
