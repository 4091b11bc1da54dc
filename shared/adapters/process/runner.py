"""The embedded ``TestRunner``: pytest and ruff in the sandbox, the smoke test on a local host."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from shared.adapters.process.sandbox import package_paths, run_tests
from shared.adapters.process.service_host import smoke_test
from shared.ports.test_runner import SmokeCheck, SmokeReport, TestReport


class SubprocessTestRunner:
    """``run_tests`` and ``smoke_test`` with this runner's interpreter and limits."""

    def __init__(self, *, python: str | None = None, base_env: Mapping[str, str] | None = None,
                 fresh_venv: bool = False, python_path: Sequence[str] | None = None) -> None:
        self.python = python or sys.executable
        self.base_env = base_env
        self.fresh_venv = fresh_venv
        self.python_path = package_paths() if python_path is None else tuple(python_path)

    def run(self, project_dir: Path, *, timeout_s: float, lint: bool = False) -> TestReport:
        return run_tests(project_dir, python=self.python, timeout_s=timeout_s, lint=lint,
                         base_env=self.base_env, fresh_venv=self.fresh_venv, python_path=self.python_path)

    def smoke(self, project_dir: Path, checks: Sequence[SmokeCheck], *, timeout_s: float) -> SmokeReport:
        return smoke_test(project_dir, checks, python=self.python, timeout_s=timeout_s, base_env=self.base_env,
                          python_path=self.python_path)
