"""The Azure runner (dynamic sessions) through its HTTP contract, against a local stand-in of the pool.

The client is the real adapter (azure-core pipeline with the bearer-token policy, over a real
socket); the pool front is ``tests/sessions_standin.py``; each session's container is the real
``SessionServer`` running the real sandboxed runner, so a report travels the whole way.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from shared.adapters.azure.sessions_runner import SCOPE, DynamicSessionsTestRunner, pack_project
from shared.adapters.process.jail import Jail
from shared.adapters.process.sandbox import SandboxedTestRunner
from shared.adapters.process.session_server import ArchiveError, SessionServer, unpack_project
from shared.ports.test_runner import CaseResult, TestReport, TestRunnerError
from tests.sessions_standin import PoolStandIn, WSGIApp, serving

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
TOKEN = "token-for-dynamicsessions"


class StaticCredential:
    """A TokenCredential that hands out one token and records the scopes asked for."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


def _project(root: Path, tests: str) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_sample.py").write_text(textwrap.dedent(tests))
    return root


def session_factory(work_root: Path, jail: Jail | None = None) -> Callable[[str, Callable[[], None]], WSGIApp]:
    def make(identifier: str, on_exit: Callable[[], None]) -> WSGIApp:
        runner = SandboxedTestRunner(base_env=ENV, jail=jail, scratch_root=work_root / "scratch")
        return SessionServer(runner, work_root / identifier, isolation="stand-in dynamic session",
                             on_exit=on_exit, close_runner=runner.close)
    return make


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[tuple[PoolStandIn, str]]:
    stand_in = PoolStandIn(session_factory(tmp_path / "sessions"), token=TOKEN)
    with serving(stand_in) as url:
        yield stand_in, url


def test_a_project_runs_in_a_fresh_session_called_with_the_apps_token(
        tmp_path: Path, pool: tuple[PoolStandIn, str]) -> None:
    stand_in, url = pool
    credential = StaticCredential()
    runner = DynamicSessionsTestRunner(url, credential_factory=lambda: credential, wait_s=0.5)
    project = _project(tmp_path / "p", """
        def test_one():
            assert 1 + 1 == 2

        def test_two():
            assert "a" * 2 == "aa"
    """)

    report = runner.run(project, timeout_s=60)

    assert report.ok and (report.passed, report.failed) == (2, 0)
    assert report.isolation.startswith("stand-in dynamic session; inside: bubblewrap sandbox")
    assert report.junit_xml.startswith(b"<?xml")
    assert credential.scopes and set(credential.scopes) == {(SCOPE,)}
    methods = [m for m, _, _ in stand_in.requests]
    assert methods[0] == "PUT" and methods[-1] == "DELETE" and set(methods[1:-1]) <= {"GET"}
    identifiers = {i for _, _, i in stand_in.requests}
    assert len(identifiers) == 1 and len(identifiers.pop()) == 48
    assert len(stand_in.wait_ended(1)) == 1 and stand_in.sessions == {}, "the session was not ended"


def test_each_run_gets_its_own_session_and_failures_come_back_as_reports(
        tmp_path: Path, pool: tuple[PoolStandIn, str]) -> None:
    stand_in, url = pool
    runner = DynamicSessionsTestRunner(url, credential_factory=StaticCredential, wait_s=0.5)
    project = _project(tmp_path / "p", """
        def test_ok():
            pass

        def test_broken():
            assert [1] == [2]
    """)

    first = runner.run(project, timeout_s=60)
    second = runner.run(project, timeout_s=60)

    assert first.to_dict() == second.to_dict()
    assert not first.ok and (first.passed, first.failed) == (1, 1)
    assert "test_broken" in first.reason()
    assert len(set(stand_in.wait_ended(2))) == 2 and stand_in.sessions == {}


def test_the_time_limit_is_enforced_inside_the_session(tmp_path: Path, pool: tuple[PoolStandIn, str]) -> None:
    _, url = pool
    runner = DynamicSessionsTestRunner(url, credential_factory=StaticCredential, wait_s=0.5)
    project = _project(tmp_path / "p", """
        import threading

        def test_hangs():
            threading.Event().wait()
    """)

    report = runner.run(project, timeout_s=2)

    assert report.timed_out and not report.ok


def test_a_refusal_inside_the_session_is_a_runner_error_and_the_session_ends(tmp_path: Path) -> None:
    stand_in = PoolStandIn(session_factory(tmp_path / "s", Jail(bwrap=str(tmp_path / "no-bwrap"))), token=TOKEN)
    project = _project(tmp_path / "p", "def test_ok():\n    pass\n")
    with serving(stand_in) as url:
        runner = DynamicSessionsTestRunner(url, credential_factory=StaticCredential, wait_s=0.5)
        with pytest.raises(TestRunnerError, match="refusing to run the generated tests"):
            runner.run(project, timeout_s=60)
        assert len(stand_in.wait_ended(1)) == 1 and stand_in.sessions == {}


@pytest.mark.parametrize(("setup", "expected"), [
    ({"token": "another-token"}, "HTTP 401.*dynamicsessions.io"),
    ({"forbidden": True}, "HTTP 403.*Azure ContainerApps Session Executor"),
    ({"max_sessions": 0}, "HTTP 404.*maximum of concurrent sessions"),
])
def test_pool_refusals_are_explained(tmp_path: Path, setup: dict[str, object], expected: str) -> None:
    options: dict[str, object] = {"token": TOKEN, **setup}
    stand_in = PoolStandIn(session_factory(tmp_path / "s"), **options)  # type: ignore[arg-type]
    project = _project(tmp_path / "p", "def test_ok():\n    pass\n")
    with serving(stand_in) as url:
        runner = DynamicSessionsTestRunner(url, credential_factory=StaticCredential)
        with pytest.raises(TestRunnerError, match=expected):
            runner.run(project, timeout_s=60)
    assert stand_in.sessions == {}


def test_without_an_endpoint_the_runner_says_what_to_deploy(tmp_path: Path) -> None:
    runner = DynamicSessionsTestRunner(None, credential_factory=StaticCredential)
    with pytest.raises(TestRunnerError, match=r"FACTORY_TEST_SESSIONS_ENDPOINT is empty.*testRunnerImage"):
        runner.run(tmp_path, timeout_s=60)


def test_a_token_is_never_sent_over_plain_http_off_loopback(tmp_path: Path) -> None:
    credential = StaticCredential()
    runner = DynamicSessionsTestRunner("http://pool.invalid", credential_factory=lambda: credential)
    project = _project(tmp_path / "p", "def test_ok():\n    pass\n")

    with pytest.raises(TestRunnerError, match="must be https://"):
        runner.run(project, timeout_s=60)
    assert credential.scopes == [], "no token was even asked for"


# --------------------------------------------------------------------------- the archive and the container's contract


def _tar(entries: list[tarfile.TarInfo], data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for entry in entries:
            archive.addfile(entry, io.BytesIO(data) if entry.isfile() else None)
    return buffer.getvalue()


def test_the_archive_holds_files_and_folders_but_no_links(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", "def test_ok():\n    pass\n")
    (project / "link-to-host").symlink_to("/etc/passwd")

    unpack_project(pack_project(project), tmp_path / "out")

    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")) == [
        "tests", "tests/test_sample.py"]


@pytest.mark.parametrize("entry", ["../escape.py", "/abs.py", "tests/../../x.py"])
def test_the_container_refuses_paths_that_leave_the_project(tmp_path: Path, entry: str) -> None:
    info = tarfile.TarInfo(entry)
    info.size = 1
    with pytest.raises(ArchiveError, match="not a relative path"):
        unpack_project(_tar([info], b"x"), tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape.py").exists()


def test_the_container_refuses_links_and_oversized_projects(tmp_path: Path) -> None:
    link = tarfile.TarInfo("tests/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
    with pytest.raises(ArchiveError, match="link or special file"):
        unpack_project(_tar([link]), tmp_path / "out")
    big = tarfile.TarInfo("big.bin")
    big.size = 2048  # the declared size is checked before a byte is written
    with pytest.raises(ArchiveError, match="unpacks to more than 1024 bytes"):
        unpack_project(_tar([big], b"\0" * 2048), tmp_path / "out", max_extracted_bytes=1024)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ArchiveError, match="could not be read"):
        unpack_project(b"not a tar", tmp_path / "out")


class FakeRunner:
    """A TestRunner double that returns one canned report."""

    def __init__(self) -> None:
        self.runs: list[Path] = []

    def run(self, project_dir: Path, *, timeout_s: float, lint: bool = False) -> TestReport:
        self.runs.append(project_dir)
        return TestReport(passed=1, failed=0, errors=0, skipped=0, exit_code=0, timed_out=False, output=".",
                          output_truncated=False, duration_ms=1.0, cases=[CaseResult("test_ok", "t", "passed")])


def test_one_session_runs_one_project_and_a_retried_start_does_not_run_it_twice(tmp_path: Path) -> None:
    runner, exits = FakeRunner(), []
    client = Client(SessionServer(runner, tmp_path, on_exit=lambda: exits.append(1)))
    archive = pack_project(_project(tmp_path / "p", "def test_ok():\n    pass\n"))
    run_id = "0b8f7c1e-run-0001"

    assert client.put(f"/runs/{run_id}?timeoutSeconds=30", data=archive).status_code == 202
    done = client.get(f"/runs/{run_id}?waitSeconds=30").get_json()
    again = client.put(f"/runs/{run_id}?timeoutSeconds=30", data=archive)
    other = client.put("/runs/another-run-0002?timeoutSeconds=30", data=archive)
    assert client.get("/runs/unknown-run-0003").status_code == 404
    assert client.put("/runs/bad?timeoutSeconds=30", data=archive).status_code == 400
    ended = client.delete(f"/runs/{run_id}")
    assert exits == [], "the session may end only after its answer is sent"
    ended.close()  # what the WSGI server does once the answer is on the wire

    assert done["status"] == "succeeded" and TestReport.from_wire(done["report"]).passed == 1
    assert again.status_code == 200 and again.get_json()["status"] == "succeeded"
    assert other.status_code == 409
    assert len(runner.runs) == 1
    assert ended.status_code == 202 and exits == [1] and not (tmp_path / run_id).exists()
    assert client.get("/health").get_json() == {"status": "ok"}


def test_the_report_survives_its_wire_form_and_a_malformed_one_is_refused() -> None:
    report = TestReport(passed=1, failed=1, errors=0, skipped=0, exit_code=1, timed_out=False, output="out",
                        output_truncated=True, duration_ms=12.5, junit_xml=b"<x/>", lint_exit_code=0,
                        lint_output="ok", isolation="somewhere",
                        cases=[CaseResult("a", "t", "passed"), CaseResult("b", "t", "failed", "boom")])

    assert TestReport.from_wire(report.to_wire()) == report
    with pytest.raises(TestRunnerError, match="malformed report"):
        TestReport.from_wire({"passed": 1})


class HttpForward:
    """A session whose container is a real process: each request is forwarded over HTTP, as the pool does."""

    def __init__(self, base: str) -> None:
        self.base = base

    def __call__(self, environ: dict[str, object], start_response: Callable[..., object]) -> object:
        request = Request(environ)  # type: ignore[arg-type]
        forwarded = urllib.request.Request(
            self.base + request.full_path, data=request.get_data() or None, method=request.method,
            headers={"Content-Type": request.content_type or "application/octet-stream"})
        try:
            with urllib.request.urlopen(forwarded, timeout=120) as answer:
                status, body = answer.status, answer.read()
        except urllib.error.HTTPError as refused:
            status, body = refused.code, refused.read()
        return Response(body, status, content_type="application/json")(environ, start_response)  # type: ignore[arg-type]


def test_the_images_command_serves_one_run_then_exits_which_ends_the_session(tmp_path: Path) -> None:
    factory = Path(sys.executable).with_name("factory")
    server = subprocess.Popen([str(factory), "sandbox", "serve", "--host", "127.0.0.1", "--port", "0"],
                              env={**os.environ, "FACTORY_HOME": str(tmp_path / "home")},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        base = line.strip().rsplit(" ", 1)[-1]
        assert base.startswith("http://127.0.0.1:"), line + server.stderr.read() if server.stderr else line
        stand_in = PoolStandIn(lambda identifier, on_exit: HttpForward(base), token=TOKEN)  # type: ignore[arg-type,return-value]
        project = _project(tmp_path / "p", "def test_ok():\n    assert True\n")
        with serving(stand_in) as url:
            report = DynamicSessionsTestRunner(url, credential_factory=StaticCredential, wait_s=0.5).run(
                project, timeout_s=60)

        assert report.ok and report.passed == 1
        assert report.isolation.startswith("Azure Container Apps dynamic session (Hyper-V); inside: bubblewrap")
        assert server.wait(timeout=30) == 0, "the container must exit after its run (the pool's OnContainerExit)"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
