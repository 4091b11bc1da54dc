"""Run a generated project's pytest suite in a subprocess sandbox (the release gate).

``run_tests`` starts ``python -m pytest`` in its own process group with a temporary directory
as working directory and ``HOME``, a scrubbed environment (only allow-listed variables, never
``FACTORY_*``/Azure settings or anything that looks like a secret), CPU/memory/file limits via
``resource.setrlimit``, a wall-clock limit (the whole group is killed, ``timed_out`` is set) and
a cap on captured output. Results come from pytest's junit XML.

By default the interpreter given (the factory's own) runs the tests with the factory's packages:
``requirements.txt`` holds what a generated service needs (azure-functions, pydantic, pytest), so the
gate also runs in a deployed function app. There the packages sit in the app's
``.python_packages/lib/site-packages``, which the Functions worker puts on ``sys.path`` (not the
interpreter's own site): ``package_paths()`` hands those directories to the child as ``PYTHONPATH``,
and nothing else of the parent's path (not the factory's code folder). ``fresh_venv=True`` builds a
virtual environment from the project's ``requirements*.txt`` first (needs PyPI; slower; used by the
end-to-end tests).

This runs generated code, not untrusted code: the isolation is a process, limits and a scrubbed
environment. A runner for untrusted code belongs behind the same port (``shared/ports/test_runner.py``).
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from shared.ports.test_runner import CaseResult, TestReport, TestRunnerError

DEFAULT_ENV_ALLOW: tuple[str, ...] = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TZ")
_NEVER_PASS = re.compile(r"(?i)^(FACTORY_|AZURE|AZUREWEBJOBS|MSI_|IDENTITY_)|(SECRET|TOKEN|PASSWORD|KEY|CONNECTION)")
TRUNCATION_MARK = "\n[... output truncated by the sandbox ...]\n"
GIB = 1024**3


class SandboxError(TestRunnerError):
    """The sandbox could not run the tests at all (no project, venv creation failed...)."""


def scrubbed_env(
    source: Mapping[str, str], allow: Sequence[str], home: Path, *, plugin_autoload: bool = False
) -> dict[str, str]:
    env = {name: source[name] for name in allow if name in source and not _NEVER_PASS.search(name)}
    if not plugin_autoload:
        # the factory's venv carries pytest plugins (hypothesis, timeout...) a generated service does not use;
        # loading them costs seconds per run
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env.update(
        {
            "HOME": str(home),
            "TMPDIR": str(home),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            "PYTHONNOUSERSITE": "1",
            "PYTHONUTF8": "1",
        }
    )
    return env


def package_paths(path: Sequence[str] | None = None) -> tuple[str, ...]:
    """The package directories on this process's import path (``site-packages``/``dist-packages``)."""
    entries = sys.path if path is None else path
    return tuple(dict.fromkeys(e for e in entries if e and Path(e).name in ("site-packages", "dist-packages")))


def _limits(cpu_seconds: int, memory_bytes: int, file_bytes: int) -> Any:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _drain(stream: IO[bytes], limit: int, sink: bytearray, overflow: list[bool]) -> None:
    """Keep the first ``limit`` bytes, read and drop the rest so the child never blocks on a full pipe."""
    while chunk := stream.read(65536):
        room = limit - len(sink)
        if room > 0:
            sink.extend(chunk[:room])
        if len(chunk) > max(room, 0):
            overflow[0] = True
    stream.close()


def parse_junit(xml: bytes, project_dir: Path | None = None) -> list[CaseResult]:
    if not xml:
        return []
    root = ET.fromstring(xml)
    cases: list[CaseResult] = []
    for case in root.iter("testcase"):
        outcome, message = "passed", ""
        for tag, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            child = case.find(tag)
            if child is not None:
                outcome, message = name, (child.get("message") or "")[:2000]
                break
        if project_dir is not None:
            message = message.replace(str(project_dir), "<project>")
        cases.append(CaseResult(case.get("name", ""), case.get("classname", ""), outcome, message))
    return cases


def create_venv(project_dir: Path, target: Path, *, python: str, timeout_s: float, env: Mapping[str, str]) -> str:
    """A virtual environment with the project's requirements; returns its interpreter."""
    try:
        subprocess.run(
            [python, "-m", "venv", str(target)],
            check=True,
            capture_output=True,
            timeout=timeout_s,
            env=dict(env),
        )
        venv_python = str(target / "bin" / "python")
        reqs: list[str] = []
        for name in ("requirements.txt", "requirements-dev.txt"):
            if (project_dir / name).is_file():
                reqs += ["-r", str(project_dir / name)]
        if reqs:
            subprocess.run(
                [venv_python, "-m", "pip", "install", "--disable-pip-version-check", "-q", *reqs],
                check=True,
                capture_output=True,
                timeout=timeout_s,
                env=dict(env),
                cwd=project_dir,
            )
    except subprocess.CalledProcessError as exc:
        raise SandboxError(
            f"creating the test venv failed: {exc.stderr.decode(errors='replace')[-2000:]}; "
            "check the project's requirements files and access to PyPI"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(
            f"creating the test venv took longer than {timeout_s:g}s; raise the timeout "
            "or use the factory's interpreter (fresh_venv=False)"
        ) from exc
    return venv_python


def run_tests(
    project_dir: Path,
    *,
    python: str | None = None,
    timeout_s: float = 120,
    max_output_bytes: int = 1_000_000,
    env_allow: Sequence[str] = DEFAULT_ENV_ALLOW,
    memory_bytes: int = 4 * GIB,
    max_file_bytes: int = 256 * 1024**2,
    fresh_venv: bool = False,
    venv_timeout_s: float = 600,
    pytest_args: Sequence[str] = (),
    base_env: Mapping[str, str] | None = None,
    plugin_autoload: bool = False,
    lint: bool = False,
    python_path: Sequence[str] = (),
) -> TestReport:
    """Run ``pytest`` for ``project_dir`` in a sandboxed subprocess and report the outcome.

    ``base_env`` is where allow-listed variables are copied from (the composition root passes the
    process environment from settings; only the names in ``env_allow`` are ever passed on). Installed pytest plugins are
    not auto-loaded unless ``plugin_autoload`` is set. ``lint`` also runs ``ruff check`` with the
    same interpreter (the project's venv must provide ruff, as ``requirements-dev.txt`` does).
    ``python_path``: package directories the interpreter needs beyond its own (``package_paths()``).
    """
    project_dir = Path(project_dir).resolve()
    if not project_dir.is_dir():
        raise SandboxError(f"{project_dir} is not a directory; materialize the project first")
    interpreter = python or sys.executable
    source_env = base_env or {}
    with tempfile.TemporaryDirectory(prefix="factory-sandbox-") as tmp:
        home = Path(tmp)
        env = scrubbed_env(source_env, env_allow, home, plugin_autoload=plugin_autoload)
        if python_path and not fresh_venv:
            env["PYTHONPATH"] = os.pathsep.join(python_path)
        if fresh_venv:
            net_env = {**env, **{k: v for k, v in source_env.items() if k.upper().startswith("PIP_")}}
            interpreter = create_venv(
                project_dir, home / "venv", python=interpreter, timeout_s=venv_timeout_s, env=net_env
            )
        junit = home / "junit.xml"
        command = [
            interpreter,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
            f"--rootdir={project_dir}",
            *pytest_args,
            str(project_dir),
        ]
        started = time.monotonic()
        proc = subprocess.Popen(
            command,
            cwd=home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_limits(int(timeout_s) + 1, memory_bytes, max_file_bytes),
        )
        captured, overflow = bytearray(), [False]
        assert proc.stdout is not None
        reader = threading.Thread(target=_drain, args=(proc.stdout, max_output_bytes, captured, overflow), daemon=True)
        reader.start()
        timed_out = False
        try:
            exit_code: int | None = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            exit_code = None
        _kill_group(proc)  # stray grandchildren of a finished run
        reader.join(timeout=10)
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        xml = junit.read_bytes() if junit.is_file() else b""
        lint_exit: int | None = None
        lint_output = ""
        if lint and not timed_out:
            try:
                done = subprocess.run(
                    [interpreter, "-m", "ruff", "check", "--no-cache", "."],
                    cwd=project_dir,
                    env=env,
                    capture_output=True,
                    timeout=timeout_s,
                    check=False,
                    preexec_fn=_limits(int(timeout_s) + 1, memory_bytes, max_file_bytes),
                )
                lint_exit, lint_output = (
                    done.returncode,
                    (done.stdout + done.stderr)[:max_output_bytes].decode("utf-8", errors="replace"),
                )
            except subprocess.TimeoutExpired:
                lint_exit, lint_output = -1, f"ruff check took longer than {timeout_s:g}s"
    output = captured.decode("utf-8", errors="replace") + (TRUNCATION_MARK if overflow[0] else "")
    cases = parse_junit(xml, project_dir) if xml else []
    count = {o: sum(1 for c in cases if c.outcome == o) for o in ("passed", "failed", "error", "skipped")}
    return TestReport(
        passed=count["passed"],
        failed=count["failed"],
        errors=count["error"],
        skipped=count["skipped"],
        exit_code=exit_code,
        timed_out=timed_out,
        output=output,
        output_truncated=overflow[0],
        duration_ms=duration_ms,
        cases=cases,
        junit_xml=xml,
        lint_exit_code=lint_exit,
        lint_output=lint_output,
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
