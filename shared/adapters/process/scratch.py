"""Scratch folders of sandboxed runs: ``factory-sandbox-*``, each locked by its owner while in use.

A run creates its folder, takes an exclusive ``flock`` on ``.owner.lock`` inside it and removes the
folder when it ends. A host killed mid-run cannot remove it, but the kernel releases its lock, so
``sweep`` (run before a runner's first run) can tell an abandoned folder (lock free) from one in use
(lock held) without trusting process ids, which are reused. Folders without a lock file (an older
runner's, or one being created this instant) are removed only when older than ``STALE_AFTER_S``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from shared.adapters.process.jail import remove_tree

PREFIX = "factory-sandbox-"
LOCK_NAME = ".owner.lock"
STALE_AFTER_S = 600.0


@contextlib.contextmanager
def scratch_folder(root: Path) -> Iterator[Path]:
    """A fresh ``factory-sandbox-*`` folder under ``root``, locked while the block runs, then removed."""
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))
    # locked before it gets its name: a sweeper never sees the lock file free while we are alive
    fd = os.open(path / (LOCK_NAME + ".new"), os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(path / (LOCK_NAME + ".new"), path / LOCK_NAME)
        yield path
    finally:
        remove_tree(path)
        os.close(fd)


def sweep(root: Path, *, now: float | None = None) -> list[Path]:
    """Remove the ``factory-sandbox-*`` folders under ``root`` whose owner is gone; return them."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        path = Path(entry.path)
        if _abandoned(path, entry, now):
            remove_tree(path)
            if not path.exists():
                removed.append(path)
    return removed


def _abandoned(path: Path, entry: os.DirEntry[str], now: float) -> bool:
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        try:
            return now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S
        except OSError:
            return False
    except OSError:  # someone else's folder, or a lock that is not a plain file: leave it
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: a live run
    finally:
        os.close(fd)
    return True
