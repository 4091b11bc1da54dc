"""Run ``factory`` with its code folder read-only even for root (test harness, not product code).

Usage: ``python read_only_launcher.py <code folder> <factory arguments...>``

The test makes the folder's files read-only (``chmod a-w``), which the kernel enforces for any user but
root. Root ignores file modes, so this launcher also installs an audit hook (PEP 578) that refuses, in
this process, every open for writing, file creation, removal, rename, chmod and SQLite database under the
folder with ``EROFS``, as a read-only mount would (Python then skips writing bytecode caches there,
silently, as it does on Azure).
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Any

CODE = Path(sys.argv[1]).resolve()
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
PATH_EVENTS = {"os.mkdir": 0, "os.remove": 0, "os.rmdir": 0, "os.rename": 0, "os.chmod": 0, "os.truncate": 0,
               "os.symlink": 1, "os.link": 1, "os.utime": 0, "shutil.rmtree": 0, "shutil.copyfile": 1,
               "shutil.move": 1}


def _inside(path: Any) -> bool:
    if isinstance(path, int) or path is None:
        return False
    try:
        resolved = Path(os.fsdecode(path)).resolve()
    except (TypeError, ValueError):
        return False
    return resolved == CODE or CODE in resolved.parents


def _refuse(path: Any) -> None:
    raise OSError(errno.EROFS, "Read-only file system (the deployed package)", os.fsdecode(path))


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            mode is None and isinstance(flags, int) and flags & WRITE_FLAGS)
        if writing and _inside(path):
            _refuse(path)
    elif event in PATH_EVENTS and args and _inside(args[PATH_EVENTS[event]]):
        _refuse(args[PATH_EVENTS[event]])
    elif event == "sqlite3.connect" and args and _inside(args[0]):
        _refuse(args[0])


if __name__ == "__main__":
    sys.addaudithook(_hook)
    sys.argv = ["factory", *sys.argv[2:]]
    from shared.cli.main import main

    main()
