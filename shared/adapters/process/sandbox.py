"""Run a generated project's pytest suite in a sandbox (the release gate's ``TestRunner``).

``SandboxedTestRunner`` is the embedded runner. Each run copies the project into a fresh scratch
folder (``scratch.py``: ``factory-sandbox-*``, locked while in use, swept when abandoned) and starts
``python -m pytest`` (and ``ruff check`` when asked) in a bubblewrap jail (``jail.py``: no network,
a fresh ``/proc``, a read-only system, the copy as the only writable folder, a non-root uid,
process/CPU/memory/file limits). The wall-clock limit kills the jail's process group; so does the
end of every run, a runner's ``close()``, and (bubblewrap's ``--die-with-parent``) the death of
the factory itself. Results come from pytest's junit XML, read without following links. Each copy
gets the hypothesis Unicode tables the runner built once (``hypothesis_tables.py``), which every
fuzzing run would otherwise rebuild.

Where bubblewrap cannot run (not installed, namespaces forbidden, interpreter unreachable) the
runner refuses with what failed and how to fix it, unless the settings allow an unsafe sandbox
(``FACTORY_ALLOW_UNSAFE_SANDBOX``): then the tests run as a plain subprocess (scrubbed environment,
rlimits, own process group) and the report says ``UNSANDBOXED``.

By default the factory's own interpreter runs the tests: its venv holds what a generated service
needs (azure-functions, pydantic, pytest). ``fresh_venv=True`` builds a venv from the project's
``requirements*.txt`` first (outside the jail: it needs PyPI; slower; used by a slow test).

In a deployed function app the factory's packages sit in ``.python_packages/lib/site-packages``,
which the Functions worker puts on ``sys.path`` but the bare interpreter does not know:
``package_paths()`` names such folders, and the run binds them read-only and puts them on the
tests' ``PYTHONPATH`` (nothing else of the parent's path, never the factory's code folder).
"""

from __future__ import annotations

import logging
import os
import re
import resource
import shutil
import site
import stat
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from shared.adapters.process.hypothesis_tables import UnicodeTables
from shared.adapters.process.jail import INSIDE, Jail, Limits, Sandboxed, Verdict, start, user_name
from shared.adapters.process.scratch import scratch_folder, sweep
from shared.ports.test_runner import CaseResult, TestReport, TestRunnerError

DEFAULT_ENV_ALLOW: tuple[str, ...] = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TZ")
_NEVER_PASS = re.compile(r"(?i)^(FACTORY_|AZURE|AZUREWEBJOBS|MSI_|IDENTITY_)|(SECRET|TOKEN|PASSWORD|KEY|CONNECTION)")
TRUNCATION_MARK = "\n[... output truncated by the sandbox ...]\n"
JUNIT_NAME = ".factory-junit.xml"
MAX_JUNIT_BYTES = 20 * 1024**2
UNSAFE_SETTING = "FACTORY_ALLOW_UNSAFE_SANDBOX"

log = logging.getLogger(__name__)


class SandboxError(TestRunnerError):
    """The sandbox could not run the tests at all (no project, venv creation failed...)."""


class SandboxUnavailableError(SandboxError):
    """No working isolation on this machine, and the settings do not allow running without one."""


REFUSAL = """refusing to run the generated tests: no working sandbox on this machine.
  check failed: {check}
  detail: {detail}
Generated code is untrusted; without isolation it would run as {user} with this machine's files, network and
processes (and the secrets in their environment) within reach.
Fix one of:
  - install bubblewrap: `apt-get install bubblewrap` (Debian/Ubuntu), `dnf install bubblewrap`, `apk add bubblewrap`
  - allow user namespaces: `sysctl -w user.max_user_namespaces=15000`; Debian kernels before 6.x:
    `sysctl -w kernel.unprivileged_userns_clone=1`; Ubuntu 23.10+: an AppArmor profile for bwrap or
    `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`; in Docker: `--security-opt seccomp=unconfined
    --security-opt apparmor=unconfined` (or `--privileged` for a root factory)
  - as a non-root user, keep the interpreter and its venv where that user can read them
  - on Azure, use the dynamic-sessions runner (FACTORY_TEST_RUNNER=sessions, provisioned by infra/main.bicep)
To run WITHOUT isolation anyway (trusted code only), set {setting}=true."""


def refusal(verdict: Verdict) -> str:
    return REFUSAL.format(check=verdict.check, detail=verdict.detail, user=user_name(), setting=UNSAFE_SETTING)


def scrubbed_env(
    source: Mapping[str, str], allow: Sequence[str], home: Path | str, *, plugin_autoload: bool = False
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
    """Package folders on this process's import path beyond the interpreter's own site-packages (on
    Azure: the app's ``.python_packages/lib/site-packages``), for the tests' ``PYTHONPATH``."""
    entries = sys.path if path is None else path
    own = {str(Path(p).resolve()) for p in (*site.getsitepackages(), site.getusersitepackages())}
    return tuple(dict.fromkeys(e for e in entries if e and Path(e).name in ("site-packages", "dist-packages")
                               and str(Path(e).resolve()) not in own))


def _rlimits(limits: Limits) -> Callable[[], None]:
    """Limits for the unsandboxed fallback (a root process would ignore RLIMIT_NPROC; not set here)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
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


def parse_junit(xml: bytes, project_dir: Path | str | None = None) -> list[CaseResult]:
    if not xml:
        return []
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return []
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


def read_regular_file(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of ``path`` if it is a regular file; never follows a link the tests planted."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        chunks, size = [], 0
        while size < limit and (chunk := os.read(fd, min(1 << 20, limit - size))):
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _special_files(folder: str, names: list[str]) -> set[str]:
    """Entries a copy must leave out: fifos, sockets, devices (copying a fifo would block)."""
    skipped = set()
    for name in names:
        mode = os.lstat(os.path.join(folder, name)).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            skipped.add(name)
    return skipped


def create_venv(project_dir: Path, target: Path, *, python: str, timeout_s: float, env: Mapping[str, str]) -> str:
    """A virtual environment with the project's requirements; returns its interpreter."""
    try:
        subprocess.run([python, "-m", "venv", str(target)], check=True, capture_output=True, timeout=timeout_s,
                       env=dict(env))
        venv_python = str(target / "bin" / "python")
        reqs: list[str] = []
        for name in ("requirements.txt", "requirements-dev.txt"):
            if (project_dir / name).is_file():
                reqs += ["-r", str(project_dir / name)]
        if reqs:
            subprocess.run([venv_python, "-m", "pip", "install", "--disable-pip-version-check", "-q", *reqs],
                           check=True, capture_output=True, timeout=timeout_s, env=dict(env), cwd=project_dir)
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
    target.chmod(0o755)
    return venv_python


@dataclass
class LiveRuns:
    """The runs in progress, so a runner's ``close()`` can end them all."""

    _runs: set[Sandboxed] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, run: Sandboxed) -> None:
        with self._lock:
            self._runs.add(run)

    def discard(self, run: Sandboxed) -> None:
        with self._lock:
            self._runs.discard(run)

    def kill_all(self) -> int:
        with self._lock:
            runs = list(self._runs)
        for run in runs:
            run.kill()
        return len(runs)

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)


@dataclass
class _Outcome:
    exit_code: int | None
    timed_out: bool
    output: bytes
    overflow: bool


def _execute(spawn: Callable[[], Sandboxed], *, timeout_s: float, max_output_bytes: int,
             live: LiveRuns | None) -> _Outcome:
    """Run to the end or the time limit; everything the run started is killed and gone when this returns."""
    run = spawn()
    proc = run.proc
    if live is not None:
        live.add(run)
    captured, overflow = bytearray(), [False]
    try:
        assert proc.stdout is not None
        reader = threading.Thread(target=_drain, args=(proc.stdout, max_output_bytes, captured, overflow),
                                  daemon=True)
        reader.start()
        timed_out = False
        exit_code: int | None
        try:
            exit_code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out, exit_code = True, None
    finally:
        # the time limit, stray children of a finished run, or an exception in this thread
        if not run.reap():
            log.error("the sandbox of pid %s still had processes 30s after it was killed", proc.pid)
        if live is not None:
            live.discard(run)
    reader.join(timeout=10)
    return _Outcome(exit_code, timed_out, bytes(captured), overflow[0])


def run_tests(
    project_dir: Path,
    *,
    python: str | None = None,
    timeout_s: float = 120,
    max_output_bytes: int = 1_000_000,
    env_allow: Sequence[str] = DEFAULT_ENV_ALLOW,
    limits: Limits | None = None,
    fresh_venv: bool = False,
    venv_timeout_s: float = 600,
    pytest_args: Sequence[str] = (),
    base_env: Mapping[str, str] | None = None,
    plugin_autoload: bool = False,
    lint: bool = False,
    jail: Jail | None = None,
    scratch_root: Path | None = None,
    live: LiveRuns | None = None,
    isolation: str = "",
    python_path: Sequence[str] = (),
    unicode_tables: UnicodeTables | None = None,
) -> TestReport:
    """Run ``pytest`` for a copy of ``project_dir`` in ``jail`` (``None``: a plain subprocess) and report.

    ``base_env`` is where allow-listed variables are copied from (the composition root passes the
    process environment from settings; only the names in ``env_allow`` are ever passed on, never a
    ``FACTORY_*``/Azure name or anything that looks like a secret). Installed pytest plugins are not
    auto-loaded unless ``plugin_autoload`` is set. ``lint`` also runs ``ruff check`` with the same
    interpreter in the same way (the interpreter's environment must provide ruff).
    ``python_path``: package folders the interpreter needs beyond its own (``package_paths()``).
    ``unicode_tables``: hypothesis's tables, built once for ``python`` and copied into the run's folder
    (not with ``fresh_venv``, whose interpreter is new each run).
    """
    project_dir = Path(project_dir).resolve()
    if not project_dir.is_dir():
        raise SandboxError(f"{project_dir} is not a directory; materialize the project first")
    interpreter = python or sys.executable
    limits = limits or (jail.limits if jail is not None else Limits())
    source_env = base_env or {}
    root = scratch_root or Path(tempfile.gettempdir())
    with scratch_folder(root) as scratch:
        work = scratch / "work"
        shutil.copytree(project_dir, work, symlinks=True, ignore=_special_files)
        if unicode_tables is not None and not fresh_venv:
            unicode_tables.seed(work)
        home = scratch / "home"
        home.mkdir()
        if fresh_venv:
            net_env = {**scrubbed_env(source_env, env_allow, home, plugin_autoload=plugin_autoload),
                       **{k: v for k, v in source_env.items() if k.upper().startswith("PIP_")}}
            interpreter = create_venv(project_dir, scratch / "venv", python=interpreter, timeout_s=venv_timeout_s,
                                      env=net_env)
        folder = INSIDE if jail is not None else str(work)
        pytest = [interpreter, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={folder}/{JUNIT_NAME}",
                  f"--rootdir={folder}", *pytest_args, folder]
        ruff = [interpreter, "-m", "ruff", "check", "--no-cache", "."]
        if jail is not None:
            env = scrubbed_env(source_env, [n for n in env_allow if n != "PATH"], "/tmp",
                               plugin_autoload=plugin_autoload)
            env["PATH"] = f"{Path(interpreter).absolute().parent}:/usr/bin:/bin"
            env.setdefault("LANG", "C.UTF-8")
            if python_path and not fresh_venv:
                env["PYTHONPATH"] = os.pathsep.join(python_path)

            def spawner(command: list[str]) -> Callable[[], Sandboxed]:
                def spawn() -> Sandboxed:
                    assert jail is not None
                    launch = jail.prepare(scratch, work, command, python=interpreter, env=env,
                                          ro_paths=[] if fresh_venv else list(python_path))
                    try:
                        return start(launch)
                    finally:
                        launch.close()
                return spawn
        else:
            env = scrubbed_env(source_env, env_allow, home, plugin_autoload=plugin_autoload)
            if python_path and not fresh_venv:
                env["PYTHONPATH"] = os.pathsep.join(python_path)

            def spawner(command: list[str]) -> Callable[[], Sandboxed]:
                def spawn() -> Sandboxed:
                    return Sandboxed(subprocess.Popen(command, cwd=work, env=env, stdin=subprocess.DEVNULL,
                                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                      start_new_session=True, preexec_fn=_rlimits(limits)))
                return spawn

        started = time.monotonic()
        tests = _execute(spawner(pytest), timeout_s=timeout_s, max_output_bytes=max_output_bytes, live=live)
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        xml = read_regular_file(work / JUNIT_NAME, MAX_JUNIT_BYTES)
        lint_exit: int | None = None
        lint_output = ""
        if lint and not tests.timed_out:
            checked = _execute(spawner(ruff), timeout_s=timeout_s, max_output_bytes=max_output_bytes, live=live)
            lint_exit = -1 if checked.timed_out else checked.exit_code
            lint_output = (f"ruff check took longer than {timeout_s:g}s" if checked.timed_out
                           else checked.output.decode("utf-8", errors="replace"))
    output = tests.output.decode("utf-8", errors="replace") + (TRUNCATION_MARK if tests.overflow else "")
    cases = parse_junit(xml, folder) if xml else []
    count = {o: sum(1 for c in cases if c.outcome == o) for o in ("passed", "failed", "error", "skipped")}
    return TestReport(
        passed=count["passed"],
        failed=count["failed"],
        errors=count["error"],
        skipped=count["skipped"],
        exit_code=tests.exit_code,
        timed_out=tests.timed_out,
        output=output,
        output_truncated=tests.overflow,
        duration_ms=duration_ms,
        cases=cases,
        junit_xml=xml,
        lint_exit_code=lint_exit,
        lint_output=lint_output,
        isolation=isolation,
    )


class SandboxedTestRunner:
    """The embedded ``TestRunner``: every run in a bubblewrap jail, or a refusal saying why not.

    ``allow_unsafe`` (from ``FACTORY_ALLOW_UNSAFE_SANDBOX``) runs the tests as a plain subprocess
    where the jail cannot work, and says so in the report and the log. The first run sweeps the
    ``factory-sandbox-*`` folders that killed runs left under ``scratch_root``.
    """

    def __init__(self, *, python: str | None = None, base_env: Mapping[str, str] | None = None,
                 fresh_venv: bool = False, allow_unsafe: bool = False, jail: Jail | None = None,
                 scratch_root: Path | None = None, python_path: Sequence[str] | None = None) -> None:
        self.python = python or sys.executable
        self.python_path = package_paths() if python_path is None else tuple(python_path)
        self.base_env = base_env
        self.fresh_venv = fresh_venv
        self.allow_unsafe = allow_unsafe
        self.jail = jail or Jail()
        self.scratch_root = scratch_root or Path(tempfile.gettempdir())
        self.live = LiveRuns()
        self.unicode_tables = UnicodeTables(self.python, self.scratch_root, self.python_path)
        self._swept = False
        self._closed = False
        self._lock = threading.Lock()

    def verdict(self) -> Verdict:
        with self._lock:
            return self.jail.verdict(self.python, python_path=self.python_path)

    def sweep(self) -> list[Path]:
        """Remove the scratch folders abandoned by killed runs (their lock is free)."""
        return sweep(self.scratch_root)

    def run(self, project_dir: Path, *, timeout_s: float, lint: bool = False) -> TestReport:
        with self._lock:
            if not self._swept:
                self._swept = True
                for path in self.sweep():
                    log.info("removed the abandoned sandbox folder %s", path)
        verdict = self.verdict()
        if verdict.usable:
            return self._run(project_dir, timeout_s, lint, self.jail, verdict.describe())
        if not self.allow_unsafe:
            raise SandboxUnavailableError(refusal(verdict), permanent=True)
        note = (f"UNSANDBOXED ({UNSAFE_SETTING}=true): the tests ran as {user_name()} with no isolation "
                f"because {verdict.check} failed: {verdict.detail}")
        log.warning("%s", note)
        return self._run(project_dir, timeout_s, lint, None, note)

    def _run(self, project_dir: Path, timeout_s: float, lint: bool, jail: Jail | None, note: str) -> TestReport:
        if self._closed:
            raise SandboxError("the test runner is closed (the host is shutting down); the handling will be retried")
        report = run_tests(project_dir, python=self.python, timeout_s=timeout_s, lint=lint, base_env=self.base_env,
                           fresh_venv=self.fresh_venv, scratch_root=self.scratch_root, live=self.live, jail=jail,
                           limits=self.jail.limits, isolation=note, python_path=self.python_path,
                           unicode_tables=self.unicode_tables)
        if self._closed and not report.ok:  # killed by close(): no verdict on the tests themselves
            raise SandboxError("the test run was stopped because the host is shutting down; the handling will be "
                               "retried")
        return report

    def close(self) -> None:
        """Kill the process group of every run still in progress (a host shutting down); later runs refuse."""
        self._closed = True
        self.live.kill_all()
        self.unicode_tables.close()
