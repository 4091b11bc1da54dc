"""Hypothesis's Unicode tables, built once per test runner instead of once per sandboxed run.

Hypothesis derives which characters are in which Unicode category, and which characters a codec can
encode, from the interpreter's Unicode database, and keeps them under ``.hypothesis/unicode_data/``
in the folder the tests run in. A sandboxed run starts from a fresh copy of the project, so every
release gate of a generated service rebuilt them: about 0.9 s of CPU, half of its pytest run. The
runner now builds them once, with the tests' interpreter and a script of its own, outside any jail
(no generated code takes part, so a run cannot poison another's tables), and copies them into each
run's folder. The tests see exactly the tables hypothesis would have built; a run may change its
own copy and nothing else.

When the interpreter has no hypothesis (or building fails) nothing is copied and each run builds
what it needs, as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from shared.adapters.process.scratch import scratch_folder

log = logging.getLogger(__name__)

#: where hypothesis keeps them, relative to the folder the tests run in
TABLES = Path(".hypothesis") / "unicode_data"

#: draws from the strategies whose tables are cached (``text``: the category table; ``characters`` with
#: a codec: that codec's table), once, with no example database
_BUILD = """\
from hypothesis import given, settings, strategies as st

@settings(max_examples=1, database=None, derandomize=True)
@given(st.text(), st.characters(codec="utf-8"))
def build(text, char):
    pass

build()
"""


class UnicodeTables:
    """Builds the tables on first use (under a locked ``factory-sandbox-*`` folder that lives as long as
    the runner, so a killed process leaves nothing a later sweep keeps) and seeds run folders with them."""

    def __init__(self, python: str, scratch_root: Path, python_path: Sequence[str] = (),
                 timeout_s: float = 120.0) -> None:
        self.python = python
        self.scratch_root = scratch_root
        self.python_path = tuple(python_path)
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._stack = contextlib.ExitStack()
        self._built: Path | None = None
        self._tried = False

    def tables(self) -> Path | None:
        """The built ``unicode_data`` folder, building it the first time; ``None`` when it cannot be built."""
        with self._lock:
            if not self._tried:
                self._tried = True
                self._built = self._build()
            return self._built

    def seed(self, work: Path) -> bool:
        """Copy the tables into ``work`` (a run's folder) unless it has its own; whether it was seeded."""
        tables = self.tables()
        target = work / TABLES
        if tables is None or target.exists() or target.is_symlink():
            return False
        shutil.copytree(tables, target, symlinks=False)
        return True

    def _build(self) -> Path | None:
        folder = self._stack.enter_context(scratch_folder(self.scratch_root))
        store = folder / "store"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder), "TMPDIR": str(folder),
               "HYPOTHESIS_STORAGE_DIRECTORY": str(store), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}
        if self.python_path:
            env["PYTHONPATH"] = os.pathsep.join(self.python_path)
        try:
            done = subprocess.run([self.python, "-c", _BUILD], cwd=folder, env=env, stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=self.timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.info("hypothesis's unicode tables were not built (%s); each test run builds its own", exc)
            return None
        tables = store / "unicode_data"
        if done.returncode != 0 or not tables.is_dir():
            tail = done.stderr.decode("utf-8", errors="replace").strip().splitlines()[-1:] or [""]
            log.info("hypothesis's unicode tables were not built (exit %s: %s); each test run builds its own",
                     done.returncode, tail[0])
            return None
        return tables

    def close(self) -> None:
        """Remove the built tables (the runner is done)."""
        with self._lock:
            self._stack.close()
            self._built = None
