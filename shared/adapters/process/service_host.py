"""Smoke-test a generated service hosted on a local port: the embedded stand-in for a deployment.

``smoke_test`` starts ``function_host.py`` (werkzeug serving the service's ``function_app``) in a
sandboxed subprocess (own session, scrubbed environment, resource limits, temporary HOME), waits
for its ``LISTENING <url>`` line, runs the checks over HTTP through a real socket, reads how many
messages the output bindings sent, and stops the host. Nothing is left running.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shared.adapters.process.sandbox import DEFAULT_ENV_ALLOW, GIB, SandboxError, _kill_group, _limits, scrubbed_env
from shared.ports.test_runner import SmokeCheck, SmokeReport, SmokeResult

HOST_SCRIPT = Path(__file__).with_name("function_host.py")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _fill(value: Any, saved: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: saved.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_fill(v, saved) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, saved) for k, v in value.items()}
    return value


def _wait_for_url(proc: subprocess.Popen[bytes], timeout_s: float) -> tuple[str, bytes]:
    """The URL the host prints first, reading its output without blocking past the deadline."""
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(timeout=left):
                continue
            chunk = proc.stdout.read1(65536) if hasattr(proc.stdout, "read1") else proc.stdout.read(1)
            if not chunk:
                break
            seen += chunk
            match = re.search(rb"LISTENING (http://127\.0\.0\.1:\d+)", seen)
            if match:
                return match.group(1).decode(), seen
    raise SandboxError(f"the service host did not start within {timeout_s:g}s: "
                       f"{seen.decode(errors='replace')[-2000:] or 'no output'}")


def _call(url: str, check: SmokeCheck, saved: dict[str, str], timeout_s: float) -> SmokeResult:
    path = _fill(check.path, saved)
    body = None if check.body is None else json.dumps(_fill(check.body, saved)).encode()
    headers = {"Content-Type": "application/json", **check.headers}
    request = urllib.request.Request(url + path, data=body, method=check.method, headers=headers)
    status: int | None
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read()
    except OSError as exc:
        return SmokeResult(check.name, check.method, path, check.expect, None, False, f"no response: {exc}")
    detail = ""
    if check.save_as and status == check.expect:
        try:
            saved[check.save_as] = str(json.loads(text)["id"])
        except (ValueError, KeyError, TypeError):
            detail = "the response has no id"
    if status != check.expect:
        detail = text.decode(errors="replace")[:300]
    return SmokeResult(check.name, check.method, path, check.expect, status, status == check.expect and not detail,
                       detail)


def smoke_test(project_dir: Path, checks: Sequence[SmokeCheck], *, python: str, timeout_s: float = 60,
               base_env: Mapping[str, str] | None = None, env_allow: Sequence[str] = DEFAULT_ENV_ALLOW,
               memory_bytes: int = 4 * GIB, python_path: Sequence[str] = ()) -> SmokeReport:
    """Host ``project_dir`` and run ``checks``; ``python_path``: package folders the interpreter needs
    beyond its own (werkzeug and azure-functions when the app runs from a read-only package)."""
    project_dir = Path(project_dir).resolve()
    if not (project_dir / "function_app.py").is_file():
        raise SandboxError(f"{project_dir} has no function_app.py; materialize the service first")
    with tempfile.TemporaryDirectory(prefix="factory-host-") as tmp:
        env = scrubbed_env(base_env or {}, env_allow, Path(tmp))
        if python_path:
            env["PYTHONPATH"] = os.pathsep.join(python_path)
        proc = subprocess.Popen(
            [python, str(HOST_SCRIPT), str(project_dir)],
            cwd=tmp, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_limits(int(timeout_s) + 5, memory_bytes, 64 * 1024**2),
        )
        output = b""
        try:
            url, output = _wait_for_url(proc, timeout_s)
            saved: dict[str, str] = {}
            results = [_call(url, check, saved, timeout_s) for check in checks]
            with urllib.request.urlopen(url + "/.factory/published", timeout=timeout_s) as response:
                published = len(json.loads(response.read()))
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            _kill_group(proc)
            if proc.stdout is not None:
                output += proc.stdout.read()
    return SmokeReport(url, results, published, output.decode(errors="replace")[-4000:])
