"""The test runner on Azure: each run in a fresh Azure Container Apps dynamic session.

An Azure Functions app cannot create namespaces, so the release gate sends the generated project
to a session pool made for untrusted code (``infra/modules/testsessions.bicep``): every session is
a Hyper-V sandbox with outbound network disabled, running the factory's test-runner image
(``shared/adapters/process/session_server.py`` describes the HTTP contract it serves).

One run = one session: a random ``identifier`` (the docs ask for a secret-like one), ``PUT
/runs/{id}`` with the project as a gzip'd tar, ``GET /runs/{id}?waitSeconds=`` until it ends (a
long poll: no request is held longer than a proxy would allow), and ``DELETE /runs/{id}``, which
ends the session (the pool's lifecycle is ``OnContainerExit``). Every request carries an Entra token
for ``https://dynamicsessions.io`` from the app's managed identity (the Bicep grants it the
"Azure ContainerApps Session Executor" role on the pool), through azure-core's pipeline (bearer
token policy, retries). Plain ``http://`` is accepted for loopback endpoints only (local stand-ins).
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import stat
import tarfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shared.ports.test_runner import TestReport, TestRunnerError

if TYPE_CHECKING:
    from azure.core import PipelineClient
    from azure.core.credentials import TokenCredential

SCOPE = "https://dynamicsessions.io/.default"
MAX_ARCHIVE_BYTES = 64 * 1024**2
#: time for allocating a session and unpacking, on top of the run's own limit
GRACE_S = 120.0
LOOPBACK = ("localhost", "127.0.0.1", "::1")


def pack_project(project_dir: Path, *, limit: int = MAX_ARCHIVE_BYTES) -> bytes:
    """A gzip'd tar of the project's regular files and folders (links and special files are left out)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as archive:
        for folder, dirs, files in os.walk(project_dir):
            dirs.sort()
            for name in sorted(files):
                path = Path(folder) / name
                info = os.lstat(path)
                if not stat.S_ISREG(info.st_mode):
                    continue
                member = tarfile.TarInfo(path.relative_to(project_dir).as_posix())
                member.size = info.st_size
                member.mode = 0o755 if info.st_mode & 0o111 else 0o644
                with path.open("rb") as handle:
                    archive.addfile(member, handle)
                if buffer.tell() > limit:
                    raise TestRunnerError(f"the project in {project_dir} is larger than {limit} bytes compressed; "
                                          "a generated service should be far smaller: check what was materialized")
    return buffer.getvalue()


@dataclass
class _Session:
    identifier: str
    reached: bool = False  # some request got an HTTP answer: the session exists and must be ended


class DynamicSessionsTestRunner:
    """``TestRunner`` that runs each project's tests in its own Azure Container Apps dynamic session."""

    def __init__(self, endpoint: str | None, *, credential_factory: Callable[[], TokenCredential],
                 wait_s: float = 20.0, clock: Callable[[], float] = time.monotonic,
                 transport: Any = None) -> None:
        self.endpoint = (endpoint or "").rstrip("/")
        self._credential_factory = credential_factory
        self.wait_s = wait_s
        self._clock = clock
        self._transport = transport
        self._client: PipelineClient[Any, Any] | None = None
        url = urlsplit(self.endpoint)
        self._plain_http_ok = url.scheme == "http" and url.hostname in LOOPBACK

    def run(self, project_dir: Path, *, timeout_s: float, lint: bool = False) -> TestReport:
        if not self.endpoint:
            raise TestRunnerError(
                "FACTORY_TEST_RUNNER=sessions but FACTORY_TEST_SESSIONS_ENDPOINT is empty: deploy the test session "
                "pool (set testRunnerImage in infra/main.parameters.json, see docs/deploy.md) or use "
                "FACTORY_TEST_RUNNER=sandbox on a machine with bubblewrap")
        if not self.endpoint.startswith("https://") and not self._plain_http_ok:
            raise TestRunnerError(f"the test session pool endpoint {self.endpoint!r} must be https:// (the app's "
                                  "token is never sent in the clear; http:// is accepted for loopback stand-ins only)")
        archive = pack_project(Path(project_dir))
        session = _Session(identifier=secrets.token_hex(24))  # 48 characters of the allowed alphabet, unguessable
        run_id = str(uuid.uuid4())
        deadline = self._clock() + timeout_s + GRACE_S
        try:
            state = self._call(session, "PUT", run_id, params={"timeoutSeconds": f"{timeout_s:g}",
                                                               "lint": str(lint).lower()},
                               content=archive, headers={"Content-Type": "application/gzip"}, expect=(200, 202))
            while state.get("status") == "running":
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return _no_answer(timeout_s)
                wait = min(self.wait_s, remaining)
                state = self._call(session, "GET", run_id, params={"waitSeconds": f"{wait:g}"},
                                   read_timeout=wait + 60)
            if state.get("status") == "succeeded":
                return TestReport.from_wire(state.get("report"))
            raise TestRunnerError(f"the test session could not run the tests: {state.get('error') or state}")
        finally:
            if session.reached:  # a request to an unknown identifier would allocate a new session
                self._end(session, run_id)

    # ------------------------------------------------------------------ HTTP

    def _pipeline(self) -> PipelineClient[Any, Any]:
        if self._client is None:
            from azure.core import PipelineClient
            from azure.core.pipeline.policies import (
                BearerTokenCredentialPolicy,
                HeadersPolicy,
                RetryPolicy,
                UserAgentPolicy,
            )

            policies = [HeadersPolicy(), UserAgentPolicy(sdk_moniker="software-factory-tests"),
                        RetryPolicy(retry_total=3),
                        BearerTokenCredentialPolicy(self._credential_factory(), SCOPE)]
            options: dict[str, Any] = {"policies": policies}
            if self._transport is not None:
                options["transport"] = self._transport
            self._client = PipelineClient(self.endpoint, **options)
        return self._client

    def _call(self, session: _Session, method: str, run_id: str, *, params: Mapping[str, str] | None = None,
              content: bytes | None = None, headers: Mapping[str, str] | None = None,
              expect: tuple[int, ...] = (200,), read_timeout: float = 120) -> dict[str, Any]:
        from azure.core.exceptions import AzureError
        from azure.core.rest import HttpRequest

        request = HttpRequest(method, f"{self.endpoint}/runs/{run_id}",
                              params={"identifier": session.identifier, **(params or {})},
                              content=content, headers=dict(headers or {}))
        try:
            response = self._pipeline().send_request(request, enforce_https=not self._plain_http_ok,
                                                     connection_timeout=30, read_timeout=read_timeout)
            response.read()
            session.reached = True
        except AzureError as exc:
            raise TestRunnerError(f"the test session pool at {self.endpoint} could not be reached "
                                  f"({method} /runs): {exc}") from exc
        if response.status_code not in expect:
            raise TestRunnerError(_explain(method, self.endpoint, response.status_code, response.text()))
        try:
            body = response.json()
        except ValueError as exc:
            raise TestRunnerError(f"the test session answered {method} /runs with no JSON: "
                                  f"{response.text()[:300]!r}") from exc
        if not isinstance(body, dict):
            raise TestRunnerError(f"the test session answered {method} /runs with {body!r}")
        return body

    def _end(self, session: _Session, run_id: str) -> None:
        """End the session (best effort: an unreachable pool ends it itself after its maximum lifetime)."""
        with contextlib.suppress(TestRunnerError):
            self._call(session, "DELETE", run_id, expect=(202, 404), read_timeout=60)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _no_answer(timeout_s: float) -> TestReport:
    return TestReport(passed=0, failed=0, errors=0, skipped=0, exit_code=None, timed_out=True,
                      output=f"the test session did not finish within {timeout_s:g}s (+{GRACE_S:g}s to start)",
                      output_truncated=False, duration_ms=0.0, isolation="Azure Container Apps dynamic session")


def _explain(method: str, endpoint: str, status: int, text: str) -> str:
    hint = {
        401: "the token was refused: the app's identity needs a token for https://dynamicsessions.io",
        403: "the app's identity lacks the 'Azure ContainerApps Session Executor' role on the session pool "
             "(infra/modules/testsessions.bicep grants it)",
        404: "no session could be allocated (the pool is at its maximum of concurrent sessions) or the "
             "endpoint is not a session pool; retry later or raise maxConcurrentSessions",
        409: "the session already holds another run (identifiers must be unique per run)",
        413: "the project archive is too large for the session",
    }.get(status, "see the session pool's console logs (Log Analytics table AppEnvSessionConsoleLogs_CL)")
    return f"the test session pool at {endpoint} answered {method} /runs with HTTP {status}: {text[:300]!r}; {hint}"
