"""Host a generated service in the test sandbox's jail and smoke-test it over HTTP: the local deployment.

``JailedServiceHost.smoke`` copies the service into a fresh scratch folder, starts
``function_host.py`` (werkzeug serving the service's ``function_app``) in the same bubblewrap jail
the release gate's tests run in (``jail.py``: no network, read-only system, the copy as the only
writable folder, limits), on a Unix socket inside that folder. The jail has no network, so the
factory forwards a free loopback port to the socket: the checks are real HTTP requests to
``http://127.0.0.1:<port>`` through real sockets. Then it reads how many messages the output
bindings sent and kills the jail: nothing is left running.

Where the jail cannot run, the host refuses with what failed, unless the settings allow an unsafe
sandbox (``FACTORY_ALLOW_UNSAFE_SANDBOX``): then the service runs as a plain subprocess (scrubbed
environment, rlimits, own process group) and the report says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shared.adapters.process.jail import INSIDE, Jail, Sandboxed, start
from shared.adapters.process.sandbox import (
    DEFAULT_ENV_ALLOW,
    UNSAFE_SETTING,
    _rlimits,
    _special_files,
    package_paths,
    refusal,
    scrubbed_env,
)
from shared.adapters.process.scratch import scratch_folder
from shared.ports.service_host import ServiceHostError, SmokeCheck, SmokeReport, SmokeResult

HOST_SCRIPT = Path(__file__).with_name("function_host.py")
HOST_NAME = ".factory-host.py"
SOCKET_NAME = ".factory-host.sock"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _fill(value: Any, saved: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: saved.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_fill(v, saved) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, saved) for k, v in value.items()}
    return value


def _wait_until_listening(run: Sandboxed, timeout_s: float) -> bytes:
    """The host's output up to its ``LISTENING`` line, read without blocking past the deadline."""
    stdout = run.proc.stdout
    assert stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(timeout=left):
                continue
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                break
            seen += chunk
            if b"LISTENING" in seen:
                return seen
    raise ServiceHostError(f"the service host did not start within {timeout_s:g}s: "
                           f"{seen.decode(errors='replace')[-2000:] or 'no output'}")


class _Forwarder:
    """A loopback TCP port whose connections are piped to a Unix socket (the jail has no network)."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="service-host-forwarder", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(str(self.socket_path))
            except OSError:
                client.close()
                upstream.close()
                continue
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        self.listener.close()


def _call(url: str, check: SmokeCheck, saved: dict[str, str], timeout_s: float) -> SmokeResult:
    path = _fill(check.path, saved)
    body = None if check.body is None else json.dumps(_fill(check.body, saved)).encode()
    request = urllib.request.Request(url + path, data=body, method=check.method,
                                     headers={"Content-Type": "application/json", **check.headers})
    status: int | None
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read()
    except OSError as exc:
        return SmokeResult(check.name, check.method, path, check.expect, None, False, f"no response: {exc}")
    detail = "" if status == check.expect else text.decode(errors="replace")[:300]
    if check.save_as and status == check.expect:
        try:
            saved[check.save_as] = str(json.loads(text)["id"])
        except (ValueError, KeyError, TypeError):
            detail = "the response has no id"
    return SmokeResult(check.name, check.method, path, check.expect, status, status == check.expect and not detail,
                       detail)


class JailedServiceHost:
    """The embedded ``ServiceHost``: the service in the bubblewrap jail, reached through a forwarded port."""

    def __init__(self, *, python: str | None = None, base_env: Mapping[str, str] | None = None,
                 allow_unsafe: bool = False, jail: Jail | None = None, scratch_root: Path | None = None,
                 python_path: Sequence[str] | None = None, env_allow: Sequence[str] = DEFAULT_ENV_ALLOW) -> None:
        self.python = python or sys.executable
        self.python_path = package_paths() if python_path is None else tuple(python_path)
        self.base_env = base_env or {}
        self.allow_unsafe = allow_unsafe
        self.jail = jail or Jail()
        self.scratch_root = scratch_root or Path(tempfile.gettempdir())
        self.env_allow = env_allow

    def smoke(self, project_dir: Path, checks: Sequence[SmokeCheck], *, timeout_s: float) -> SmokeReport:
        project_dir = Path(project_dir).resolve()
        if not (project_dir / "function_app.py").is_file():
            raise ServiceHostError(f"{project_dir} has no function_app.py; materialize the service first",
                                   permanent=True)
        verdict = self.jail.verdict(self.python, imports="werkzeug, azure.functions", python_path=self.python_path)
        jail: Jail | None = self.jail
        isolation = verdict.describe()
        if not verdict.usable:
            if not self.allow_unsafe:
                raise ServiceHostError(refusal(verdict), permanent=True)
            jail, isolation = None, f"UNSANDBOXED ({UNSAFE_SETTING}=true): {verdict.check} failed: {verdict.detail}"
        with scratch_folder(self.scratch_root) as scratch:
            work = scratch / "work"
            shutil.copytree(project_dir, work, symlinks=True, ignore=_special_files)
            shutil.copyfile(HOST_SCRIPT, work / HOST_NAME)
            home = scratch / "home"
            home.mkdir()
            run = self._start(jail, scratch, work, home)
            output = b""
            forwarder: _Forwarder | None = None
            try:
                output = _wait_until_listening(run, timeout_s)
                forwarder = _Forwarder(work / SOCKET_NAME)
                url = f"http://127.0.0.1:{forwarder.port}"
                saved: dict[str, str] = {}
                results = [_call(url, check, saved, timeout_s) for check in checks]
                with urllib.request.urlopen(url + "/.factory/published", timeout=timeout_s) as response:
                    published = len(json.loads(response.read()))
            finally:
                if forwarder is not None:
                    forwarder.close()
                run.reap()
        return SmokeReport(url, results, published, output.decode(errors="replace")[-4000:], isolation)

    def _start(self, jail: Jail | None, scratch: Path, work: Path, home: Path) -> Sandboxed:
        folder = INSIDE if jail is not None else str(work)
        command = [self.python, f"{folder}/{HOST_NAME}", folder, f"{folder}/{SOCKET_NAME}"]
        if jail is None:
            env = scrubbed_env(self.base_env, self.env_allow, home)
            if self.python_path:
                env["PYTHONPATH"] = os.pathsep.join(self.python_path)
            return Sandboxed(subprocess.Popen(command, cwd=work, env=env, stdin=subprocess.DEVNULL,
                                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                              start_new_session=True, preexec_fn=_rlimits(self.jail.limits)))
        env = scrubbed_env(self.base_env, [n for n in self.env_allow if n != "PATH"], "/tmp")
        env["PATH"] = f"{Path(self.python).absolute().parent}:/usr/bin:/bin"
        env.setdefault("LANG", "C.UTF-8")
        if self.python_path:
            env["PYTHONPATH"] = os.pathsep.join(self.python_path)
        launch = jail.prepare(scratch, work, command, python=self.python, env=env, ro_paths=list(self.python_path))
        try:
            return start(launch)
        finally:
            launch.close()

