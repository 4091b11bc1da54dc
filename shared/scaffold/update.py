"""Update a rendered folder to a new template version or new parameters, with a 3-way merge.

base   = the previous render, rebuilt from the manifest and the template snapshot kept in
         ``.factory/templates/<hash>.json`` (same template bytes, parameters, seed and ``now``)
ours   = the files on disk
theirs = the new render (same seed, so generated GUIDs/ports stay stable)

Per file: unchanged by the user -> take theirs; unchanged upstream -> keep ours; both changed ->
``merge3`` with inline markers (``<<<<<<< ours`` / ``=======`` / ``>>>>>>> theirs``). Binary files
changed on both sides keep the user's file; the new one is written beside it as
``<stem>.theirs<suffix>`` (``logo.png`` -> ``logo.theirs.png``). Files the user deleted stay
deleted. Files removed from the template are removed when the user did not change them, kept
(and reported) when they did.
"""

from __future__ import annotations

import difflib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from merge3 import Merge3

from shared.scaffold.catalog import TemplateCatalog
from shared.scaffold.errors import Problem, UpdateError
from shared.scaffold.output import (
    load_snapshot_source,
    read_manifest,
    remove_file,
    snapshot_path,
    support_files,
    write_files,
)
from shared.scaffold.render import (
    EXECUTION_NAMESPACE,
    RenderOptions,
    RenderResult,
    TemplateSource,
    options_from_manifest,
    render,
)
from shared.scaffold.tree import is_binary, sha256_hex


@dataclass(frozen=True)
class Conflict:
    path: str
    hunks: int
    kind: str  # "text" (inline markers) | "binary" (theirs written beside) | "added-both"
    theirs_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "hunks": self.hunks, "kind": self.kind, "theirsPath": self.theirs_path}


@dataclass
class MergePlan:
    """What to do on disk. Pure data; ``apply_plan`` performs it."""

    write: dict[str, bytes] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    kept_deleted: list[str] = field(default_factory=list)
    kept_modified: list[str] = field(default_factory=list)  # removed upstream, changed by the user


@dataclass
class UpdateResult:
    from_version: str
    to_version: str
    plan: MergePlan
    manifest: dict[str, Any]

    @property
    def conflicts(self) -> list[Conflict]:
        return self.plan.conflicts

    def report(self) -> dict[str, Any]:
        return {"from": self.from_version, "to": self.to_version,
                "written": sorted(self.plan.write), "removed": sorted(self.plan.remove),
                "conflicts": [c.to_dict() for c in self.plan.conflicts],
                "keptDeleted": self.plan.kept_deleted, "keptModified": self.plan.kept_modified,
                "treeHash": self.manifest["treeHash"]}


def theirs_name(path: str) -> str:
    p = PurePosixPath(path)
    return str(p.with_name(f"{p.stem}.theirs{p.suffix}"))


def merge_text(base: bytes, ours: bytes, theirs: bytes) -> tuple[bytes, int]:
    """3-way merge of UTF-8 text; returns the merged bytes and the number of conflict hunks."""
    m = Merge3(_lines(base), _lines(ours), _lines(theirs))
    hunks = sum(1 for region in m.merge_regions() if region[0] == "conflict")
    return "".join(m.merge_lines(name_a="ours", name_b="theirs")).encode("utf-8"), hunks


def _lines(data: bytes) -> list[str]:
    """Lines with their endings; a missing final newline is added so markers start on their own line."""
    text = data.decode("utf-8")
    if text and not text.endswith("\n"):
        text += "\n"
    return text.splitlines(keepends=True)


def merge_trees(base: Mapping[str, bytes], ours: Mapping[str, bytes | None],
                theirs: Mapping[str, bytes]) -> MergePlan:
    """Plan a 3-way merge. ``ours[path]`` is None when the file is missing on disk."""
    plan = MergePlan()
    for path in sorted(set(base) | set(theirs)):
        b, t, o = base.get(path), theirs.get(path), ours.get(path)
        if b is not None and o is None:
            plan.kept_deleted.append(path)
            continue
        if o is None:  # new upstream file
            assert t is not None
            plan.write[path] = t
            continue
        if t is None:  # removed upstream
            if o == b:
                plan.remove.append(path)
            else:
                plan.kept_modified.append(path)
            continue
        if o == t or t == b:
            continue
        if o == b:
            plan.write[path] = t
            continue
        binary = is_binary(path, o) or is_binary(path, t) or (b is not None and is_binary(path, b))
        if binary:
            plan.write[theirs_name(path)] = t
            plan.conflicts.append(Conflict(path, 1, "binary", theirs_name(path)))
            continue
        merged, hunks = merge_text(b if b is not None else b"", o, t)
        if merged != o:
            plan.write[path] = merged
        if hunks:
            plan.conflicts.append(Conflict(path, hunks, "text" if b is not None else "added-both"))
    return plan


def _rebuild(out_dir: Path, manifest: Mapping[str, Any]) -> tuple[TemplateSource, RenderResult]:
    tpl = manifest["template"]
    label = f"snapshot of {tpl['identity']}@{tpl['version']}"
    source = load_snapshot_source(out_dir, tpl["contentHash"], label, str(tpl.get("configRoot") or ""))
    base = render(source, manifest["inputParameters"], _options(manifest, manifest["executionId"]))
    if base.tree_hash != manifest["treeHash"]:
        raise UpdateError([Problem(f"rebuilding the recorded render gave {base.tree_hash}, the manifest says "
                                   f"{manifest['treeHash']} (engine {manifest.get('engineVersion')} vs now)",
                                   path=str(out_dir))], "cannot rebuild the previous render exactly")
    return source, base


def _options(manifest: Mapping[str, Any], execution_id: str, trace_id: str | None = None) -> RenderOptions:
    return options_from_manifest(manifest, execution_id, trace_id)


def _target(manifest: Mapping[str, Any], old: TemplateSource, catalog: TemplateCatalog | None,
            to_version: str | None) -> TemplateSource:
    identity = manifest["template"]["identity"]
    if catalog is not None and catalog.versions(identity):
        return catalog.get(identity, to_version).source
    if to_version in (None, manifest["template"]["version"]):
        return old
    raise UpdateError([Problem(f"version {to_version} of {identity} is not in the catalog", path=identity)],
                      "target version not found")


def _read_ours(out_dir: Path, paths: set[str]) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for rel in sorted(paths):
        full = out_dir / rel
        out[rel] = full.read_bytes() if full.is_file() else None
    return out


def plan_update(out_dir: Path, to_version: str | None = None, params: Mapping[str, Any] | None = None, *,
                catalog: TemplateCatalog | None = None,
                trace_id: str | None = None) -> tuple[UpdateResult, TemplateSource, RenderResult]:
    """Everything ``update`` would do, without touching the folder."""
    manifest = read_manifest(out_dir)
    old_source, base = _rebuild(out_dir, manifest)
    new_source = _target(manifest, old_source, catalog, to_version)
    new_params = {**manifest["inputParameters"], **dict(params or {})}
    key = json.dumps({"from": manifest["executionId"], "template": new_source.content_hash,
                      "parameters": new_params}, sort_keys=True, default=str)
    execution_id = str(uuid.uuid5(EXECUTION_NAMESPACE, key))
    theirs = render(new_source, new_params, _options(manifest, execution_id, trace_id))
    ours = _read_ours(out_dir, set(base.files) | set(theirs.files))
    plan = merge_trees(base.files, ours, theirs.files)
    result = UpdateResult(manifest["template"]["version"], theirs.manifest["template"]["version"], plan,
                          theirs.manifest)
    return result, new_source, theirs


def update(out_dir: Path, to_version: str | None = None, params: Mapping[str, Any] | None = None, *,
           catalog: TemplateCatalog | None = None, trace_id: str | None = None) -> UpdateResult:
    """Update ``out_dir`` in place; returns what was written, removed and what conflicts."""
    old_manifest = read_manifest(out_dir)
    result, new_source, theirs = plan_update(out_dir, to_version, params, catalog=catalog, trace_id=trace_id)
    write_files(out_dir, result.plan.write)
    for rel in result.plan.remove:
        remove_file(out_dir, rel)
    old_snapshot = snapshot_path(old_manifest["template"]["contentHash"])
    write_files(out_dir, support_files(theirs, new_source))
    if old_snapshot != snapshot_path(new_source.content_hash):
        remove_file(out_dir, old_snapshot)
    return result


@dataclass
class DiffReport:
    user_changes: dict[str, str]  # path -> modified | deleted
    upstream_changes: dict[str, str]  # path -> added | modified | removed
    user_patch: str
    upstream_patch: str
    from_version: str
    to_version: str

    def to_dict(self) -> dict[str, Any]:
        return {"userChanges": self.user_changes, "upstreamChanges": self.upstream_changes,
                "from": self.from_version, "to": self.to_version}


def _patch(path: str, a: bytes | None, b: bytes | None, left: str, right: str) -> str:
    if (a is not None and is_binary(path, a)) or (b is not None and is_binary(path, b)):
        return f"Binary file {path} differs\n"
    return "".join(difflib.unified_diff((a or b"").decode().splitlines(keepends=True),
                                        (b or b"").decode().splitlines(keepends=True),
                                        f"{left}/{path}", f"{right}/{path}"))


def diff(out_dir: Path, to_version: str | None = None, params: Mapping[str, Any] | None = None, *,
         catalog: TemplateCatalog | None = None) -> DiffReport:
    """What the user changed since the recorded render, and what a re-render would change."""
    manifest = read_manifest(out_dir)
    old_source, base = _rebuild(out_dir, manifest)
    new_source = _target(manifest, old_source, catalog, to_version)
    new_params = {**manifest["inputParameters"], **dict(params or {})}
    theirs = render(new_source, new_params, _options(manifest, manifest["executionId"]))
    ours = _read_ours(out_dir, set(base.files))
    user: dict[str, str] = {}
    user_patch = []
    for path, data in ours.items():
        if data is None:
            user[path] = "deleted"
        elif sha256_hex(data) != sha256_hex(base.files[path]):
            user[path] = "modified"
        else:
            continue
        user_patch.append(_patch(path, base.files[path], data, "rendered", "disk"))
    upstream: dict[str, str] = {}
    up_patch = []
    for path in sorted(set(base.files) | set(theirs.files)):
        a, b = base.files.get(path), theirs.files.get(path)
        if a == b:
            continue
        upstream[path] = "added" if a is None else "removed" if b is None else "modified"
        up_patch.append(_patch(path, a, b, "rendered", "new"))
    return DiffReport(user, upstream, "".join(user_patch), "".join(up_patch),
                      manifest["template"]["version"], theirs.manifest["template"]["version"])
