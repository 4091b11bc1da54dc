"""Batch / composition: several templates rendered into one output tree.

A batch manifest (dict, e.g. loaded from JSON)::

    {
      "templates": [
        {"as": "api", "template": "python-library", "version": "1.1.0",
         "parameters": {"name": "orders"}, "target": "services/orders"},
        {"as": "docs", "template": "static-docs", "parameters": {}}
      ],
      "merge": {                               # only needed where two templates write one path
        "README.md": "concat",                 # bytes of each, in batch order, joined by a newline
        "config.json": "json-merge",           # deep merge in batch order (later wins)
        ".gitignore": {"prefer": "docs"}       # take the file of the named template
      }
    }

``as`` (default: the template id) names a member in errors and in ``prefer``. Two members
writing the same path without a strategy is a ``CompositionError`` naming both and the path.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import json5

from shared.scaffold.catalog import TemplateCatalog
from shared.scaffold.errors import CompositionError, Problem, ScaffoldError
from shared.scaffold.overlays import deep_merge
from shared.scaffold.render import ENGINE_VERSION, RenderOptions, RenderResult, render
from shared.scaffold.tree import sha256_hex, tree_hash, unsafe_reason

STRATEGIES = ("concat", "json-merge", "prefer")


def _strategy(value: Any) -> tuple[str, str | None]:
    if isinstance(value, str) and value in ("concat", "json-merge"):
        return value, None
    if isinstance(value, Mapping) and set(value) == {"prefer"}:
        return "prefer", str(value["prefer"])
    raise CompositionError([Problem(f"unknown merge strategy {value!r}", allowed=list(STRATEGIES))])


def compose(batch: Mapping[str, Any], catalog: TemplateCatalog,
            options: RenderOptions | None = None) -> RenderResult:
    """Render every member of ``batch`` and combine them; the manifest lists each member's manifest."""
    options = options or RenderOptions()
    members = list(batch.get("templates", []))
    strategies = {path: _strategy(v) for path, v in dict(batch.get("merge", {})).items()}
    problems: list[Problem] = []
    written: dict[str, list[tuple[str, bytes]]] = {}
    manifests: list[dict[str, Any]] = []
    names: list[str] = []
    for index, member in enumerate(members):
        alias = str(member.get("as") or member.get("template"))
        if alias in names:
            problems.append(Problem(f"member name {alias!r} is used twice; set a distinct 'as'",
                                    path=f"templates[{index}]"))
        names.append(alias)
        target = str(member.get("target", "")).strip("/")
        if target and unsafe_reason(target):
            problems.append(Problem(f"target {target!r} {unsafe_reason(target)}", path=f"templates[{index}]"))
            continue
        try:
            entry = catalog.get(str(member["template"]), member.get("version"))
            seed = f"{options.seed or 'batch'}:{alias}"
            member_options = dataclasses.replace(options, seed=seed)
            result = render(entry.source, member.get("parameters", {}), member_options)
        except ScaffoldError as exc:
            problems.extend(Problem(f"[{alias}] {p.message}", parameter=p.parameter, path=p.path,
                                    allowed=p.allowed) for p in exc.problems)
            continue
        manifests.append({"as": alias, **result.manifest})
        for path, data in result.files.items():
            written.setdefault(f"{target}/{path}" if target else path, []).append((alias, data))
    files: dict[str, bytes] = {}
    for path in sorted(written):
        writers = written[path]
        if len(writers) == 1:
            files[path] = writers[0][1]
            continue
        if path not in strategies:
            who = " and ".join(a for a, _ in writers)
            problems.append(Problem(f"written by {who}; declare a merge strategy for it", path=path,
                                    allowed=list(STRATEGIES)))
            continue
        kind, preferred = strategies[path]
        if kind == "concat":
            files[path] = b"\n".join(d.rstrip(b"\n") for _, d in writers) + b"\n"
        elif kind == "json-merge":
            merged: Any = {}
            for alias, data in writers:
                try:
                    merged = deep_merge(merged, json5.loads(data.decode("utf-8")))
                except ValueError as exc:
                    problems.append(Problem(f"{alias}'s file is not JSON: {exc}", path=path))
            files[path] = (json.dumps(merged, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        else:
            chosen = [d for a, d in writers if a == preferred]
            if not chosen:
                problems.append(Problem(f"prefer names {preferred!r}, which does not write this path",
                                        path=path, allowed=[a for a, _ in writers]))
                continue
            files[path] = chosen[0]
    if problems:
        raise CompositionError(problems, "cannot compose the batch")
    manifest = {
        "engineVersion": ENGINE_VERSION, "kind": "composition", "executionId": options.execution_id,
        "seed": options.seed, "traceId": options.trace_id, "members": manifests,
        "merge": {p: (k if v is None else {k: v}) for p, (k, v) in sorted(strategies.items())},
        "files": [{"path": p, "sha256": sha256_hex(d), "size": len(d)} for p, d in files.items()],
        "fileCount": len(files), "treeHash": tree_hash(files),
    }
    return RenderResult(files, manifest)
