"""A bubblewrap jail for untrusted commands: no network, a fresh root, one writable folder, limits.

What a command started by ``Jail`` sees (both isolations below):

- its own network namespace: only a loopback interface, nothing of the host's network or loopback;
- its own pid namespace with a fresh ``/proc``: only the sandbox's processes, none of the host's
  (so no ``/proc/<pid>/environ`` of the factory); bubblewrap itself starts with a two-variable
  environment, because its pid 1 inside keeps the environment it was started with;
- a new root: ``/usr`` (plus ``/bin``, ``/lib`` links), the interpreter's folders and a synthetic
  ``/etc`` (passwd, group, hosts), all read-only; ``/sandbox`` (the work folder) is the only
  writable host folder; ``/tmp`` and ``/dev/shm`` are small private tmpfs; ``/proc/sys`` read-only;
- a uid that is not root on the host and no capabilities, ``no_new_privs`` and a seccomp filter
  (``seccomp.py``); limits set by util-linux ``prlimit`` inside: processes (``RLIMIT_NPROC``), CPU
  seconds per process, address space, file size, open files, no core files;
- ``--die-with-parent``: when the process that started bubblewrap dies (even by SIGKILL), the
  kernel kills the sandbox's pid 1 and with it every process of the pid namespace. The caller kills
  bubblewrap's process group at the end of every run as well.

Two isolations, chosen by ``Jail.isolation()``:

``userns``  bubblewrap unprivileged, in a user namespace (``--unshare-user --disable-userns``).
            The only choice for a factory that is not root (a developer laptop): the sandbox runs
            as that user's uid on the host, with nothing of the user's files bound in. As root, the
            launcher first drops to a fresh unprivileged uid with ``setpriv``; that needs the
            interpreter at a path that uid can reach.
``rootns``  root only, used when the interpreter is not reachable by an unprivileged uid (pyenv
            under ``/root``, mode 0700, as on the CI machines): bubblewrap runs privileged without a
            user namespace, drops every capability but the three ``setpriv`` needs, and the command
            runs as a fresh uid with no capabilities and ``no_new_privs``; the seccomp filter refuses
            nested user namespaces.

Never ``bwrap --unshare-user`` as root: the namespace's uid maps to host uid 0 (owner access to
root's files, writable global sysctls, no ``RLIMIT_NPROC``). Each run as root gets its own host
uid (``RLIMIT_NPROC`` counts per host uid without a user namespace).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO

from shared.adapters.process import seccomp
from shared.ports.test_runner import TestRunnerError

INSIDE = "/sandbox"  # the work folder's path inside the jail
BIN_DIRS = ("/usr/bin", "/bin", "/usr/local/bin")
#: host uids for runs started by root: a fresh one per run, never a real account
RUN_UID_FIRST = 1_600_000_000
RUN_UID_COUNT = 100_000_000
SANDBOX_UID = 65534  # the uid the command sees inside a user namespace (``nobody``)
BWRAP_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


class Isolation(StrEnum):
    userns = "userns"
    rootns = "rootns"


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run (``prlimit`` inside the jail, tmpfs sizes by bubblewrap)."""

    processes: int = 256  # RLIMIT_NPROC: processes and threads of the sandbox uid
    cpu_seconds: int = 600  # RLIMIT_CPU, per process (the wall-clock timeout bounds the whole run)
    memory_bytes: int = 4 * 1024**3  # RLIMIT_AS, per process
    file_bytes: int = 256 * 1024**2  # RLIMIT_FSIZE
    open_files: int = 1024  # RLIMIT_NOFILE
    tmp_bytes: int = 256 * 1024**2  # size of the private /tmp
    shm_bytes: int = 64 * 1024**2  # size of the private /dev/shm

    def prlimit(self, prlimit: str) -> list[str]:
        return [
            prlimit,
            f"--nproc={self.processes}:{self.processes}",
            f"--cpu={self.cpu_seconds}:{self.cpu_seconds + 1}",
            f"--as={self.memory_bytes}:{self.memory_bytes}",
            f"--fsize={self.file_bytes}:{self.file_bytes}",
            f"--nofile={self.open_files}:{self.open_files}",
            "--core=0:0",
            "--",
        ]


@dataclass(frozen=True)
class Verdict:
    """Whether the jail can run ``python`` here; when not, which check failed and why."""

    usable: bool
    isolation: Isolation | None
    check: str = ""
    detail: str = ""
    seccomp: bool = False

    def describe(self) -> str:
        if not self.usable:
            return f"no sandbox ({self.check}: {self.detail})"
        kind = "user namespace" if self.isolation is Isolation.userns else "root-launched namespaces, uid dropped"
        filt = "seccomp filter" if self.seccomp else "no seccomp filter on this architecture"
        return (f"bubblewrap sandbox ({self.isolation}: {kind}; no network, private /proc and /tmp, "
                f"read-only system, one writable folder, {filt})")


def find_tool(name: str, *, search: Sequence[str] = BIN_DIRS) -> str | None:
    """An executable named ``name`` in the usual system folders (never from the caller's PATH)."""
    for folder in search:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _world_reachable(path: Path, *, enter_only: bool = False) -> bool:
    """True when any uid may traverse to ``path`` and read it (every parent o+x, the path o+r;
    with ``enter_only``, o+x on the path itself is enough)."""
    try:
        resolved = path.resolve(strict=True)
        for parent in reversed(resolved.parents):
            if not parent.stat().st_mode & 0o001:
                return False
        return bool(resolved.stat().st_mode & (0o001 if enter_only else 0o004))
    except OSError:
        return False


def python_roots(python: str) -> list[str]:
    """Host folders the interpreter needs read-only: its venv and the venv's base installation.

    Only the venv folder is bound, never what an editable install's ``.pth`` points to (the
    factory's own source and home stay outside). Paths under ``/usr`` are bound anyway.
    """
    exe = Path(python).absolute()
    roots: list[Path] = []
    venv = exe.parent.parent
    config = venv / "pyvenv.cfg"
    if config.is_file():
        roots.append(venv.resolve())
        for line in config.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                roots.append(Path(value.strip()).resolve().parent)
    real = exe.resolve()
    roots.append(real.parent.parent)
    out: list[str] = []
    for root in roots:
        text = str(root)
        if text == "/usr" or text.startswith("/usr/") or any(text == r or text.startswith(r + "/") for r in out):
            continue
        out = [r for r in out if not r.startswith(text + "/")] + [text]
    return out


def _etc_files(folder: Path, uid: int) -> dict[str, Path]:
    """A synthetic /etc: passwd and group naming only root and the sandbox user, localhost only."""
    texts = {
        "passwd": f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
                  f"sandbox:x:{uid}:{uid}:sandbox:/tmp:/usr/sbin/nologin\n",
        "group": f"root:x:0:\nsandbox:x:{uid}:\n",
        "hosts": "127.0.0.1 localhost\n::1 localhost\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    }
    folder.mkdir(mode=0o755, exist_ok=True)
    folder.chmod(0o755)
    out = {}
    for name, text in texts.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o644)
        out[name] = path
    return out


@dataclass(frozen=True)
class Launch:
    """A prepared jailed command: its argv, the host uid it runs as, and the seccomp fd to pass."""

    argv: list[str]
    uid: int
    seccomp_fd: int | None
    bwrap_at: int = 0  # index of bubblewrap in argv (after setpriv, when root drops to the run's uid)

    def close(self) -> None:
        if self.seccomp_fd is not None:
            os.close(self.seccomp_fd)


class Jail:
    """Builds and starts bubblewrap command lines; ``verdict(python)`` says whether it works here."""

    def __init__(self, *, limits: Limits | None = None, bwrap: str | None = None,
                 setpriv: str | None = None, prlimit: str | None = None,
                 isolation: Isolation | None = None, use_seccomp: bool = True) -> None:
        self.limits = limits or Limits()
        self.bwrap = bwrap if bwrap is not None else find_tool("bwrap")
        self.setpriv = setpriv if setpriv is not None else find_tool("setpriv")
        self.prlimit = prlimit if prlimit is not None else find_tool("prlimit")
        self._forced = isolation
        self._seccomp = seccomp.program() if use_seccomp else None
        self._verdicts: dict[str, Verdict] = {}

    # ------------------------------------------------------------------ choice and probe

    def isolation(self, python: str) -> Isolation:
        """``userns`` unless we are root and the interpreter is out of an unprivileged uid's reach."""
        if self._forced is not None:
            return self._forced
        if os.geteuid() != 0:
            return Isolation.userns
        reachable = all(_world_reachable(Path(root)) for root in python_roots(python))
        return Isolation.userns if reachable and _world_reachable(Path(python)) else Isolation.rootns

    def verdict(self, python: str, *, imports: str = "pytest", timeout_s: float = 30,
                python_path: Sequence[str] = ()) -> Verdict:
        """Probe once per interpreter: start ``python -c 'import pytest'`` exactly as a run would
        (with the same extra package folders, ``python_path``, bound and on ``PYTHONPATH``)."""
        key = f"{python}\0{imports}\0{os.pathsep.join(python_path)}"
        if key not in self._verdicts:
            self._verdicts[key] = self._probe(python, imports, timeout_s, tuple(python_path))
        return self._verdicts[key]

    def _probe(self, python: str, imports: str, timeout_s: float, python_path: tuple[str, ...] = ()) -> Verdict:
        isolation = self.isolation(python)
        if self.bwrap is None or not os.access(self.bwrap, os.X_OK):
            return Verdict(False, isolation, "bubblewrap present",
                           f"`bwrap` is not installed ({self.bwrap or 'looked in ' + ', '.join(BIN_DIRS)})")
        if self.prlimit is None:
            return Verdict(False, isolation, "prlimit present", "util-linux `prlimit` is not installed")
        if os.geteuid() == 0 and self.setpriv is None:
            return Verdict(False, isolation, "setpriv present", "util-linux `setpriv` is not installed")
        if isolation is Isolation.rootns and os.geteuid() != 0:
            return Verdict(False, isolation, "rootns isolation", "the rootns isolation needs root")
        if not Path(python).is_file():
            return Verdict(False, isolation, "interpreter", f"{python} does not exist")
        with tempfile.TemporaryDirectory(prefix="factory-sandbox-probe-") as tmp:
            work = Path(tmp) / "work"
            work.mkdir()
            env = {"PYTHONPATH": os.pathsep.join(python_path)} if python_path else None
            launch = self.prepare(Path(tmp), work, [python, "-c", f"import {imports}"], python=python, env=env,
                                  ro_paths=list(python_path))
            try:
                done = subprocess.run(launch.argv, env=dict(BWRAP_ENV), stdin=subprocess.DEVNULL,
                                      capture_output=True, timeout=timeout_s, check=False, close_fds=True,
                                      pass_fds=_fds(launch), start_new_session=True)
            except subprocess.TimeoutExpired:
                return Verdict(False, isolation, "bubblewrap probe", f"no answer within {timeout_s:g}s")
            except OSError as exc:
                return Verdict(False, isolation, "bubblewrap probe", str(exc))
            finally:
                launch.close()
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).decode("utf-8", errors="replace").strip()[-600:]
            if b"Can't find source path" in done.stderr:
                check = "interpreter reachable by the sandbox's uid"
            elif b"bwrap:" in done.stderr:
                check = "bubblewrap namespaces"
            else:
                check = "interpreter inside the sandbox"
            return Verdict(False, isolation, check, detail or f"exit code {done.returncode}")
        return Verdict(True, isolation, seccomp=self._seccomp is not None)

    # ------------------------------------------------------------------ command lines

    def prepare(self, scratch: Path, work: Path, command: Sequence[str], *, python: str,
                env: Mapping[str, str] | None = None, ro_paths: Sequence[str] = ()) -> Launch:
        """The command line that runs ``command`` in the jail with ``work`` as its writable ``/sandbox``.

        ``scratch`` receives the synthetic /etc; ``work`` (and everything in it) is handed to the
        run's uid. ``env`` is the command's whole environment. Call ``close()`` on the result.
        """
        isolation = self.isolation(python)
        root = os.geteuid() == 0
        uid = RUN_UID_FIRST + secrets.randbelow(RUN_UID_COUNT) if root else os.getuid()
        inner_uid = SANDBOX_UID if isolation is Isolation.userns else uid
        if root:
            scratch.chmod(0o711)  # the run's uid passes through to its folders, lists nothing
            _hand_over(work, uid)
            if isolation is Isolation.userns and not _world_reachable(scratch, enter_only=True):
                raise TestRunnerError(f"{scratch} is inside a folder other users cannot enter, so the sandbox's uid "
                                      "cannot reach it; use a scratch root such as /tmp")
        etc = _etc_files(scratch / "etc", inner_uid)
        argv: list[str] = []
        if isolation is Isolation.userns:
            if root:
                assert self.setpriv is not None
                argv += [self.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
            argv += [str(self.bwrap), "--unshare-all", "--unshare-user", "--disable-userns",
                     "--uid", str(inner_uid), "--gid", str(inner_uid)]
        else:
            argv += [str(self.bwrap), "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                     "--unshare-cgroup-try", "--cap-drop", "ALL", "--cap-add", "CAP_SETUID",
                     "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
        argv += ["--die-with-parent", "--new-session", "--hostname", "sandbox"]
        fd = None
        if self._seccomp is not None:
            fd = _memfd(self._seccomp)
            argv += ["--seccomp", str(fd)]
        argv += self._filesystem(work, etc, [*python_roots(python), *ro_paths])
        argv += ["--clearenv"]
        for name, value in (env or {}).items():
            argv += ["--setenv", name, value]
        assert self.prlimit is not None
        argv += ["--", *self.limits.prlimit(self.prlimit)]
        if isolation is Isolation.rootns:
            assert self.setpriv is not None
            argv += [self.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                     "--bounding-set=-all", "--no-new-privs", "--"]
        argv += list(command)
        return Launch(argv, uid, fd, argv.index(str(self.bwrap)))

    def _filesystem(self, work: Path, etc: Mapping[str, Path], ro_roots: Sequence[str]) -> list[str]:
        limits = self.limits
        fs = [
            # bubblewrap creates missing parents of a mount point with mode 0700 (owned by its uid):
            # unreadable for the dropped uid in rootns, so every parent is made 0755 first
            "--perms", "0755", "--dir", "/etc",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
            "--ro-bind-try", "/etc/localtime", "/etc/localtime",
        ]  # fmt: skip
        for name, path in etc.items():
            fs += ["--ro-bind", str(path), f"/etc/{name}"]
        fs += [
            "--proc", "/proc",
            # bubblewrap leaves /proc/sys writable when the folder is 0555 (it always is): global
            # sysctls must never be writable from the sandbox
            "--ro-bind", "/proc/sys", "/proc/sys",
            "--dev", "/dev",
            "--perms", "1777", "--size", str(limits.shm_bytes), "--tmpfs", "/dev/shm",
            "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
        ]  # fmt: skip
        made = {"/", "/etc", "/usr", "/tmp", "/dev", "/proc"}
        for root in ro_roots:  # after --tmpfs /tmp: a bind under /tmp placed earlier would be hidden
            for parent in reversed(Path(root).parents):
                if str(parent) not in made:
                    made.add(str(parent))
                    fs += ["--perms", "0755", "--dir", str(parent)]
            made.add(root)
            fs += ["--ro-bind", root, root]
        fs += ["--bind", str(work), INSIDE, "--chdir", INSIDE, "--remount-ro", "/"]
        return fs


def _fds(launch: Launch) -> tuple[int, ...]:
    return () if launch.seccomp_fd is None else (launch.seccomp_fd,)


def _memfd(data: bytes) -> int:
    """An anonymous file holding ``data``, positioned at its start (bubblewrap reads it once)."""
    fd = os.memfd_create("factory-seccomp", 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _hand_over(work: Path, uid: int) -> None:
    """Give the work folder to the run's uid (never following a symlink)."""
    os.lchown(work, uid, uid)
    for folder, dirs, files in os.walk(work):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(folder, name), uid, uid)


class Sandboxed:
    """A started command: its process (own process group) and, for a jail, a pidfd of the jail's pid 1.

    bubblewrap's outer process reports the command's exit as soon as it happens, while the jail's pid 1
    is still tearing the pid namespace down; ``reap`` waits on that pid 1 (its pidfd turns readable only
    once every process of the namespace is gone), so nothing of a run outlives ``reap``.
    """

    def __init__(self, proc: subprocess.Popen[bytes], init_pidfd: int | None = None) -> None:
        self.proc = proc
        self._init = init_pidfd
        self._lock = threading.Lock()

    def kill(self) -> None:
        """SIGKILL the process group and the jail's pid 1 (the kernel then kills its whole namespace)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with self._lock:
            if self._init is not None:
                with contextlib.suppress(OSError):
                    signal.pidfd_send_signal(self._init, signal.SIGKILL)

    def reap(self, timeout_s: float = 30) -> bool:
        """Kill everything that is left and wait until it is gone; ``False`` if the namespace outlived the wait."""
        self.kill()
        with contextlib.suppress(ChildProcessError):
            self.proc.wait()
        with self._lock:
            if self._init is None:
                return True
            gone, _, _ = select.select([self._init], [], [], timeout_s)
            os.close(self._init)
            self._init = None
        return bool(gone)


def start(launch: Launch, *, stdout: int | IO[bytes] = subprocess.PIPE) -> Sandboxed:
    """Start a prepared launch in its own process group, with bubblewrap's minimal environment."""
    info_read, info_write = os.pipe()
    argv = [*launch.argv[:launch.bwrap_at + 1], "--info-fd", str(info_write), *launch.argv[launch.bwrap_at + 1:]]
    try:
        proc = subprocess.Popen(argv, env=dict(BWRAP_ENV), cwd="/", stdin=subprocess.DEVNULL, stdout=stdout,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                pass_fds=(*_fds(launch), info_write))
    finally:
        os.close(info_write)
    try:
        return Sandboxed(proc, _init_pidfd(info_read))
    finally:
        os.close(info_read)


def _init_pidfd(info: int, timeout_s: float = 30) -> int | None:
    """A pidfd of the jail's pid 1, from bubblewrap's ``--info-fd`` JSON (None if bubblewrap failed first)."""
    text = b""
    while b"}" not in text:
        ready, _, _ = select.select([info], [], [], timeout_s)
        chunk = os.read(info, 4096) if ready else b""
        if not chunk:
            return None
        text += chunk
    try:
        return os.pidfd_open(int(json.loads(text)["child-pid"]))
    except (ValueError, KeyError, ProcessLookupError):
        return None


def user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def remove_tree(path: Path) -> None:
    """Remove a folder the sandbox wrote into, even where it took away its own permissions."""

    def fix(function: object, failed: str, exc: BaseException) -> None:
        try:
            os.chmod(os.path.dirname(failed), 0o700)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, 0o700)
                shutil.rmtree(failed, ignore_errors=True)
            else:
                os.unlink(failed)
        except OSError:
            pass

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=fix)
    else:
        shutil.rmtree(path, onerror=lambda function, failed, info: fix(function, failed, info[1]))
