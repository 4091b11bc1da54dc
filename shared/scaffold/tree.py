"""File trees as ``{posix relative path: bytes}``: reading (the I/O edge), hashing, snapshots."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import posixpath
from collections.abc import Mapping
from pathlib import Path

from shared.scaffold.errors import Problem, UnsafePathError

DEFAULT_MAX_FILE_SIZE = 5 * 1024 * 1024
#: folders never read into a tree (tool caches and VCS data, not template content)
SKIPPED_DIRS = frozenset({".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".venv"})
BINARY_EXTENSIONS = frozenset({
    ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".ico", ".webp", ".tif", ".tiff", ".pdf", ".zip", ".gz",
    ".tgz", ".bz2", ".xz", ".7z", ".tar", ".jar", ".whl", ".exe", ".dll", ".so", ".dylib", ".pyc",
    ".woff", ".woff2", ".ttf", ".otf", ".eot", ".mp3", ".mp4", ".wav", ".ogg", ".bin", ".snk", ".pfx",
    ".sqlite", ".db",
})


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_binary(path: str, data: bytes) -> bool:
    """Binary by extension, by a NUL byte in the first 8 KiB, or by not being UTF-8."""
    name = path.rpartition("/")[2]
    dot = name.rfind(".")
    if (dot > 0 and name[dot:].lower() in BINARY_EXTENSIONS) or b"\0" in data[:8192]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def tree_hash(files: Mapping[str, bytes], digests: Mapping[str, str] | None = None) -> str:
    """``sha256:`` over the sorted lines ``<sha256 of file>  <path>\\n`` (sha256sum format); ``digests``
    may give the files' hashes already computed."""
    lines = "".join(f"{digests[p] if digests else sha256_hex(files[p])}  {p}\n" for p in sorted(files))
    return "sha256:" + sha256_hex(lines.encode("utf-8"))


def unsafe_reason(path: str) -> str | None:
    """Why ``path`` is not a safe relative posix path inside a folder, or None if it is."""
    if not path:
        return "is empty"
    if "\0" in path:
        return "contains a NUL character"
    if "\\" in path:
        return "contains a backslash; use '/' as separator"
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return "is absolute; only paths relative to the output folder are allowed"
    parts = path.split("/")
    if ".." in parts:
        return "contains '..' and would escape the folder"
    if posixpath.normpath(path).startswith(".."):
        return "would escape the folder"
    return None


def read_tree(root: Path, max_file_size: int = DEFAULT_MAX_FILE_SIZE) -> dict[str, bytes]:
    """Read every file under ``root`` (sorted). Symlinks must stay inside ``root`` (a symlinked file
    is read through the link; a symlinked folder is not descended).

    Raises ``UnsafePathError`` listing every symlink escaping ``root`` and every file larger
    than ``max_file_size``.
    """
    root = root.resolve()
    real_root = str(root)
    files: dict[str, bytes] = {}
    problems: list[Problem] = []

    def inside(target: str) -> bool:
        return target == real_root or target.startswith(real_root + os.sep)

    dir_flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
    file_flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)

    def walk(folder_fd: int, prefix: str) -> None:
        # descriptors relative to the parent folder: one path lookup per file
        with os.scandir(folder_fd) as entries:
            listing = sorted(entries, key=lambda e: e.name)
        for entry in listing:
            rel = prefix + entry.name
            if entry.is_symlink():
                target = os.path.realpath(os.path.join(real_root, rel))
                if not inside(target):
                    problems.append(Problem(f"is a symlink to {target}, outside {root}", path=rel))
                    continue
                if os.path.isdir(target):
                    continue
                with open(target, "rb") as handle:
                    data = handle.read(max_file_size + 1)
            elif entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIPPED_DIRS:
                    child = os.open(entry.name, dir_flags, dir_fd=folder_fd)
                    try:
                        walk(child, rel + "/")
                    finally:
                        os.close(child)
                continue
            elif not entry.is_file(follow_symlinks=False):
                continue
            else:
                fd = os.open(entry.name, file_flags, dir_fd=folder_fd)
                with os.fdopen(fd, "rb") as handle:
                    data = handle.read(max_file_size + 1)
            if len(data) > max_file_size:
                problems.append(Problem(f"is over the {max_file_size}-byte limit", path=rel))
                continue
            files[rel] = data

    root_fd = os.open(real_root, dir_flags & ~getattr(os, "O_NOFOLLOW", 0))
    try:
        walk(root_fd, "")
    finally:
        os.close(root_fd)
    if problems:
        raise UnsafePathError(problems, f"cannot read {root}")
    return dict(sorted(files.items()))


def snapshot_bytes(files: Mapping[str, bytes]) -> bytes:
    """A deterministic, self-contained serialisation of a tree (JSON; text kept readable)."""
    body: dict[str, dict[str, str]] = {}
    for path in sorted(files):
        data = files[path]
        try:
            body[path] = {"text": data.decode("utf-8")}
        except UnicodeDecodeError:
            body[path] = {"base64": base64.b64encode(data).decode("ascii")}
    return (json.dumps({"format": "factory-tree-snapshot/1", "files": body}, indent=1, sort_keys=True,
                       ensure_ascii=False) + "\n").encode("utf-8")


def load_snapshot(data: bytes) -> dict[str, bytes]:
    raw = json.loads(data)
    out: dict[str, bytes] = {}
    for path, entry in raw["files"].items():
        out[path] = entry["text"].encode("utf-8") if "text" in entry else base64.b64decode(entry["base64"])
    return out
