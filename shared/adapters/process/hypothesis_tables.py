"""Hypothesis's Unicode tables, built once per test runner instead of once per sandboxed run.

Hypothesis derives which characters are in which Unicode category, and which characters a codec can
encode, from the interpreter's Unicode database, and keeps them under ``.hypothesis/unicode_data/``
in the folder the tests run in. A sandboxed run starts from a fresh copy of the project, so every
release gate of a generated service rebuilt them: about 0.9 s of CPU, half of its pytest run. The
runner now builds them once, with the tests' interpreter and a script of its own, outside any jail
(no generated code takes part, so a run cannot poison another's tables), and copies them into each
run's folder. The tests see exactly the tables hypothesis would have built; a run may change its
own copy and nothing else.

The build starts in the background at a runner's second run (a process that runs one gate, like
``factory run`` of a one-service intent, never pays for it) and no run waits for it: a run that
comes before the tables builds its own, as every run did before; the runs after get the copy. When the
interpreter has no hypothesis (or building fails) nothing is copied and each run builds what it needs.
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
    """Builds the tables once, in the background (under a locked ``factory-sandbox-*`` folder that lives as
    long as the runner, so a killed process leaves nothing a later sweep keeps), and seeds run folders."""

    def __init__(self, python: str, scratch_root: Path, python_path: Sequence[str] = (),
                 timeout_s: float = 120.0) -> None:
        self.python = python
        self.scratch_root = scratch_root
        self.python_path = tuple(python_path)
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._stack = contextlib.ExitStack()
        self._built: Path | None = None
        self._builder: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._closed = False
        self._runs = 0
        #: runs seen before the build starts (one-gate processes never build)
        self.start_at_run = 2

    def start(self) -> None:
        """Start building (once; later calls do nothing)."""
        with self._lock:
            if self._builder is None and not self._closed:
                self._builder = threading.Thread(target=self._build, name="factory-hypothesis-tables", daemon=True)
                self._builder.start()

    def tables(self, *, wait: bool = True) -> Path | None:
        """The built ``unicode_data`` folder; ``None`` before the build started, while it runs (unless ``wait``)
        or when it could not be built."""
        if wait and self._builder is not None:
            self._builder.join()
        with self._lock:
            return self._built

    def seed(self, work: Path) -> bool:
        """Copy the tables into ``work`` (a run's folder) when they are built and ``work`` has none of its own;
        whether it was seeded. Never waits: a run that comes first builds its own."""
        with self._lock:
            self._runs += 1
            runs = self._runs
        if runs >= self.start_at_run:
            self.start()
        tables = self.tables(wait=False)
        target = work / TABLES
        if tables is None or target.exists() or target.is_symlink():
            return False
        try:
            shutil.copytree(tables, target, symlinks=False)
        except OSError as exc:  # the runner closed meanwhile (its tables are gone), or the disk refused
            log.info("hypothesis's unicode tables were not copied (%s); this test run builds its own", exc)
            shutil.rmtree(target, ignore_errors=True)
            return False
        return True

    def _build(self) -> None:
        with self._lock:
            if self._closed:
                return
            folder = self._stack.enter_context(scratch_folder(self.scratch_root))
        store = folder / "store"
        # the interpreter is named by its path; the script needs nothing of this process's environment
        env = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "TMPDIR": str(folder),
               "HYPOTHESIS_STORAGE_DIRECTORY": str(store), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}
        if self.python_path:
            env["PYTHONPATH"] = os.pathsep.join(self.python_path)
        try:
            with self._lock:
                if self._closed:
                    return
                self._process = subprocess.Popen([self.python, "-c", _BUILD], cwd=folder, env=env,
                                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.PIPE)
            _, stderr = self._process.communicate(timeout=self.timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            if self._process is not None:
                self._process.kill()
                self._process.wait()
            log.info("hypothesis's unicode tables were not built (%s); each test run builds its own", exc)
            return
        tables = store / "unicode_data"
        if self._process.returncode != 0 or not tables.is_dir():
            tail = stderr.decode("utf-8", errors="replace").strip().splitlines()[-1:] or [""]
            log.info("hypothesis's unicode tables were not built (exit %s: %s); each test run builds its own",
                     self._process.returncode, tail[0])
            return
        with self._lock:
            if not self._closed:
                self._built = tables

    def close(self) -> None:
        """Stop a build in progress and remove the tables (the runner is done)."""
        with self._lock:
            self._closed = True
            self._built = None
            if self._process is not None and self._process.poll() is None:
                self._process.kill()
        if self._builder is not None:
            self._builder.join()
        with self._lock:
            self._stack.close()
