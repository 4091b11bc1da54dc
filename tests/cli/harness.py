"""Running ``factory`` the two ways a person does: in-process through Click's runner (stdout is not a
terminal, like a pipe), and as a real subprocess with stdout on a pipe at ``COLUMNS=80``.

Every invocation is checked for the things that must never happen: a Python traceback, an
"unexpected error", Rich markup tags leaking into text, and an error that is not in the one style.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from shared.bootstrap import Runtime
from shared.cli import common
from shared.cli.main import app
from shared.runtime import set_runtime

ROOT = Path(__file__).resolve().parents[2]
FACTORY = str(Path(sys.executable).with_name("factory"))
EXAMPLES = ROOT / "examples"


@dataclass
class Ran:
    args: list[str]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return (f"factory {' '.join(self.args)} -> {self.exit_code}\n--- stdout\n{self.stdout}\n"
                f"--- stderr\n{self.stderr}")


def check_clean(ran: Ran) -> Ran:
    """Nothing a user should never see: tracebacks, unexpected errors, stray markup, a second error style."""
    assert "Traceback (most recent call last)" not in ran.output, ran
    assert "unexpected error" not in ran.stderr, ran
    if not any("[" in a for a in ran.args):  # else the user's own text is shown back, literally
        assert "[/]" not in ran.output and "[bold" not in ran.output and "[red]" not in ran.output, ran
    if ran.exit_code not in (0, 130) and ran.stderr.strip():
        first = ran.stderr.lstrip().splitlines()[0]
        assert first.startswith(("error:", "warning:")), ran
        if first.startswith("error:"):
            assert "\n  why: " in ran.stderr, ran
    return ran


def cli(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Ran:
    """``factory ARGS`` in-process (stdout is not a terminal) on the current FACTORY_HOME."""
    try:
        result = CliRunner().invoke(app, list(args), input=input, env=env)
    finally:
        set_runtime(None)
    return check_clean(Ran(list(args), result.exit_code, result.stdout, result.stderr))


def run_factory(args: Sequence[str], home: Path, *, cwd: Path = ROOT, timeout: float = 300,
                extra_env: dict[str, str] | None = None) -> Ran:
    """``factory ARGS`` as a subprocess, stdout and stderr on pipes, at ``COLUMNS=80``."""
    done = subprocess.run([FACTORY, *args], cwd=cwd, env=factory_env(home, extra_env), capture_output=True,
                          text=True, timeout=timeout)
    return check_clean(Ran(list(args), done.returncode, done.stdout, done.stderr))


def factory_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_") and k not in ("COLUMNS", "LINES")}
    env.update(FACTORY_HOME=str(home), COLUMNS="80", PATH=f"{Path(FACTORY).parent}{os.pathsep}{env.get('PATH', '')}",
               **(extra or {}))
    return env


@contextmanager
def runtime_factory(factory: Callable[[], Runtime]) -> Iterator[None]:
    """Commands build their runtime with ``factory`` (to inject a fake test runner) for the duration."""
    previous = common.runtime_factory
    common.runtime_factory = factory
    try:
        yield
    finally:
        common.runtime_factory = previous


def events_in(home: Path) -> list[dict[str, Any]]:
    """Every event recorded in a home (empty when nothing was ever written)."""
    import sqlite3

    db = home / "state.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "events" not in tables:
            return []
        return [{"type": r[0]} for r in conn.execute("SELECT type FROM events")]
