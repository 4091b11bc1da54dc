"""The I/O edge for results: write a render to a folder, keep template snapshots, commit with dulwich."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dulwich import porcelain
from dulwich.repo import Repo

from shared.scaffold.errors import Problem, UnsafePathError, UpdateError
from shared.scaffold.render import MANIFEST_PATH, RenderResult, TemplateSource, manifest_bytes
from shared.scaffold.tree import load_snapshot, snapshot_bytes, unsafe_reason

SNAPSHOT_DIR = ".factory/templates"


def snapshot_path(content_hash: str) -> str:
    """Where a template source snapshot lives inside an output folder (content-addressed)."""
    return f"{SNAPSHOT_DIR}/{content_hash.removeprefix('sha256:')}.json"


def support_files(result: RenderResult, source: TemplateSource | None) -> dict[str, bytes]:
    """The ``.factory/`` files written beside a render: manifest and template snapshot."""
    out = {MANIFEST_PATH: result.manifest_bytes}
    if source is not None:
        out[snapshot_path(source.content_hash)] = snapshot_bytes(source.files)
    return out


def safe_target(root: Path, rel: str) -> Path:
    """``root/rel``, refusing paths that escape ``root`` (also through symlinked folders)."""
    reason = unsafe_reason(rel)
    if reason:
        raise UnsafePathError([Problem(reason, path=rel)], "refusing to write outside the output folder")
    target = root / rel
    resolved_parent = target.parent.resolve()
    if not resolved_parent.is_relative_to(root.resolve()):
        raise UnsafePathError(
            [Problem(f"its folder resolves to {resolved_parent}, outside {root}", path=rel)],
            "refusing to write through a symlink")
    if target.is_symlink():
        raise UnsafePathError([Problem("is a symlink in the output folder", path=rel)],
                              "refusing to overwrite a symlink")
    return target


_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def write_files(root: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` under ``root``, never through a symlink.

    Every folder below ``root`` is opened with ``O_NOFOLLOW`` relative to its parent's descriptor and
    every file is created relative to its folder's descriptor with ``O_NOFOLLOW``, so a symlink planted
    in the output (file or folder) is refused instead of followed; it is also one path lookup per file.
    """
    for rel in files:
        reason = unsafe_reason(rel)
        if reason:
            raise UnsafePathError([Problem(reason, path=rel)], "refusing to write outside the output folder")
    root.mkdir(parents=True, exist_ok=True)
    fds: dict[str, int] = {"": os.open(root, _DIR_FLAGS & ~getattr(os, "O_NOFOLLOW", 0))}

    def folder_fd(folder: str, rel: str) -> int:
        if folder in fds:
            return fds[folder]
        parent, _, name = folder.rpartition("/")
        parent_fd = folder_fd(parent, rel)
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=parent_fd)
        try:
            fds[folder] = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except OSError as exc:
            raise UnsafePathError([Problem(f"folder {folder!r} is a symlink or not a folder ({exc.strerror})",
                                           path=rel)], "refusing to write through a symlink") from exc
        return fds[folder]

    try:
        for rel in sorted(files):
            folder, _, name = rel.rpartition("/")
            try:
                fd = os.open(name, _WRITE_FLAGS, 0o644, dir_fd=folder_fd(folder, rel))
            except OSError as exc:
                if (root / rel).is_symlink():
                    raise UnsafePathError([Problem("is a symlink in the output folder", path=rel)],
                                          "refusing to overwrite a symlink") from exc
                raise
            try:
                data = memoryview(files[rel])
                while data:  # os.write may write less than asked (a signal, a pipe); no file object per file
                    data = data[os.write(fd, data):]
            finally:
                os.close(fd)
    finally:
        for fd in fds.values():
            os.close(fd)


def remove_file(root: Path, rel: str) -> None:
    target = safe_target(root, rel)
    if target.exists():
        target.unlink()
    parent = target.parent
    while parent != root and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def write_result(result: RenderResult, out_dir: Path, source: TemplateSource | None = None) -> Path:
    """Write files, ``.factory/manifest.json`` and (given ``source``) the template snapshot."""
    write_files(out_dir, {**result.files, **support_files(result, source)})
    return out_dir


def read_manifest(out_dir: Path) -> dict[str, Any]:
    path = out_dir / MANIFEST_PATH
    if not path.is_file():
        raise UpdateError([Problem(f"no {MANIFEST_PATH} in {out_dir}", path=str(out_dir))],
                          "not a rendered folder")
    result: dict[str, Any] = json.loads(path.read_bytes())
    return result


def load_snapshot_source(out_dir: Path, content_hash: str, origin: str, config_root: str = "") -> TemplateSource:
    path = out_dir / snapshot_path(content_hash)
    if not path.is_file():
        raise UpdateError([Problem(f"template snapshot {content_hash} is missing; it was written beside "
                                   "the manifest at render time", path=snapshot_path(content_hash))],
                          "cannot rebuild the previous render")
    return TemplateSource(load_snapshot(path.read_bytes()), origin, config_root)


def commit_message(message: str, manifest: Mapping[str, Any]) -> str:
    """``message`` plus the provenance trailer (manifest digest, template, trace, execution)."""
    digest = "sha256:" + hashlib.sha256(manifest_bytes(manifest)).hexdigest()
    template = manifest.get("template", {})
    trailer = [f"Factory-Manifest: {digest}",
               f"Factory-Template: {template.get('identity')}@{template.get('version')}",
               f"Factory-Tree: {manifest.get('treeHash')}",
               f"Factory-Execution: {manifest.get('executionId')}"]
    if manifest.get("traceId"):
        trailer.append(f"Factory-Trace: {manifest['traceId']}")
    return message.rstrip() + "\n\n" + "\n".join(trailer) + "\n"


def commit_tree(directory: Path, message: str, author: str = "Software Factory <factory@localhost>",
                *, timestamp: int | None = None) -> str:
    """Commit every file in ``directory`` to the git repository there (created if absent).

    When ``.factory/manifest.json`` exists its digest and key fields are added as a trailer.
    ``timestamp`` (seconds since epoch) makes the commit id reproducible. Returns the commit id.
    """
    directory = directory.resolve()
    repo = Repo(str(directory)) if (directory / ".git").exists() else Repo.init(str(directory))
    try:
        manifest_file = directory / MANIFEST_PATH
        if manifest_file.is_file():
            message = commit_message(message, json.loads(manifest_file.read_bytes()))
        paths: list[str] = []
        for dirpath, dirnames, filenames in os.walk(directory):
            dirnames[:] = sorted(d for d in dirnames if d != ".git")
            paths.extend(os.path.join(dirpath, f) for f in sorted(filenames))
        index = repo.open_index()
        gone = [key for key in index if not (directory / key.decode("utf-8")).exists()]
        for key in gone:
            del index[key]
        if gone:
            index.write()
        porcelain.add(repo, paths=paths)
        when = int(time.time()) if timestamp is None else timestamp
        commit_id = porcelain.commit(repo, message=message.encode("utf-8"), author=author.encode("utf-8"),
                                     committer=author.encode("utf-8"), author_timestamp=when,
                                     commit_timestamp=when, author_timezone=0, commit_timezone=0)
        return commit_id.decode("ascii") if isinstance(commit_id, bytes) else str(commit_id)
    finally:
        repo.close()


def manifest_files(manifest: Any) -> dict[str, str]:
    """``{relative path: "sha256:<hex>"}`` from a scaffold manifest.

    Accepts ``{"files": {path: {"sha256": hex}}}``, ``{"files": [{"path": p, "sha256": hex}]}``
    and entries carrying ``digest`` (``sha256:<hex>``) instead of ``sha256``.
    """
    files = manifest.get("files") if isinstance(manifest, Mapping) else None
    entries: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(files, Mapping):
        entries = [(str(path), entry) for path, entry in files.items() if isinstance(entry, Mapping)]
    elif isinstance(files, list):
        entries = [(str(e.get("path")), e) for e in files if isinstance(e, Mapping) and e.get("path")]
    else:
        raise ValueError("scaffold manifest has no 'files' mapping or list; the scaffold engine must write one")
    out: dict[str, str] = {}
    for path, entry in entries:
        digest = entry.get("digest") or entry.get("sha256")
        if not isinstance(digest, str) or not digest:
            raise ValueError(f"scaffold manifest entry {path!r} has no sha256/digest")
        out[path] = digest if digest.startswith("sha256:") else "sha256:" + digest
    return dict(sorted(out.items()))
