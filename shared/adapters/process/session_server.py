"""The HTTP face of a test runner, served inside an Azure Container Apps dynamic session.

The factory's test-runner image (``infra/test-runner/Dockerfile``) runs ``factory sandbox serve``.
Azure Container Apps forwards every request sent to the session pool's management endpoint, after
checking the caller's Entra token, to this server in the session named by ``?identifier=``: one
session per run, a Hyper-V sandbox made for untrusted code, no outbound network. The contract:

``PUT /runs/{id}?timeoutSeconds=N&lint=true|false``  body: the project as a gzip'd tar
    starts the run; 202 ``{"id", "status": "running"}``. The same id again answers its state
    (a retried request does not start a second run); another id in the same session is 409.
``GET /runs/{id}?waitSeconds=N``  waits up to N seconds (at most ``MAX_WAIT_S``) for the end:
    ``{"status": "running"}``, ``{"status": "succeeded", "report": TestReport.to_wire()}`` or
    ``{"status": "failed", "error": "..."}`` (the runner could not run the tests).
``DELETE /runs/{id}``  kills the run if it still runs, removes its files and ends the session
    (the pool's lifecycle is ``OnContainerExit``; ``on_exit``, called once the answer is sent, stops the server).
``GET /health``  ``{"status": "ok"}``.

The archive is checked before anything is written: regular files and folders only, relative paths
without ``..``, at most ``MAX_ARCHIVE_BYTES`` compressed and ``MAX_EXTRACTED_BYTES`` unpacked.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from shared.adapters.process.jail import remove_tree
from shared.ports.test_runner import TestReport, TestRunner, TestRunnerError

MAX_ARCHIVE_BYTES = 64 * 1024**2
MAX_EXTRACTED_BYTES = 256 * 1024**2
MAX_MEMBERS = 20_000
MAX_WAIT_S = 60.0
MAX_TIMEOUT_S = 3600.0
RUN_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")

WSGIEnviron = dict[str, Any]
StartResponse = Callable[..., Any]


class ArchiveError(ValueError):
    """The project archive is not one this server unpacks."""


def unpack_project(data: bytes, target: Path, *, max_extracted_bytes: int = MAX_EXTRACTED_BYTES) -> None:
    """Unpack a gzip'd tar of a project into ``target`` after checking every member."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise ArchiveError(f"the archive is {len(data)} bytes; the limit is {MAX_ARCHIVE_BYTES}")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            members = archive.getmembers()
            _check_members(members, max_extracted_bytes)
            target.mkdir(parents=True, exist_ok=True)
            for member in members:
                destination = target.joinpath(*PurePosixPath(member.name).parts)
                if member.isdir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                assert source is not None
                destination.write_bytes(source.read())
                if member.mode & 0o111:
                    destination.chmod(0o755)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"the archive could not be read: {exc}") from exc


def _check_members(members: Iterable[tarfile.TarInfo], max_extracted_bytes: int) -> None:
    total = 0
    for count, member in enumerate(members, start=1):
        if count > MAX_MEMBERS:
            raise ArchiveError(f"more than {MAX_MEMBERS} entries")
        path = PurePosixPath(member.name)
        if path.is_absolute() or ".." in path.parts or not path.parts or "\\" in member.name:
            raise ArchiveError(f"{member.name!r} is not a relative path inside the project")
        if not (member.isfile() or member.isdir()):
            raise ArchiveError(f"{member.name!r} is a link or special file; only files and folders are accepted")
        total += member.size
        if total > max_extracted_bytes:
            raise ArchiveError(f"the project unpacks to more than {max_extracted_bytes} bytes")


@dataclass
class _Run:
    id: str
    folder: Path
    done: threading.Event = field(default_factory=threading.Event)
    report: TestReport | None = None
    error: str = ""

    def state(self) -> dict[str, Any]:
        if not self.done.is_set():
            return {"id": self.id, "status": "running"}
        if self.report is not None:
            return {"id": self.id, "status": "succeeded", "report": self.report.to_wire()}
        return {"id": self.id, "status": "failed", "error": self.error}


class SessionServer:
    """A WSGI app serving one run at a time with ``runner``; files under ``work_root``."""

    def __init__(self, runner: TestRunner, work_root: Path, *, isolation: str = "",
                 on_exit: Callable[[], None] | None = None, close_runner: Callable[[], None] | None = None) -> None:
        self.runner = runner
        self.work_root = work_root
        self.isolation = isolation
        self.on_exit = on_exit
        self.close_runner = close_runner
        self._run: _Run | None = None
        self._lock = threading.Lock()
        self.urls = Map([
            Rule("/health", endpoint="health", methods=["GET"]),
            Rule("/runs/<run_id>", endpoint="start", methods=["PUT"]),
            Rule("/runs/<run_id>", endpoint="status", methods=["GET"]),
            Rule("/runs/<run_id>", endpoint="end", methods=["DELETE"]),
        ])

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = self.urls.bind_to_environ(environ).match()
            response = getattr(self, f"_{endpoint}")(request, **args)
        except HTTPException as exc:
            response = _json({"error": exc.description or exc.name}, exc.code or 500)
        return response(environ, start_response)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ endpoints

    def _health(self, request: Request) -> Response:
        return _json({"status": "ok"})

    def _start(self, request: Request, run_id: str) -> Response:
        if not RUN_ID.match(run_id):
            return _json({"error": "the run id must be 8-64 letters, digits or dashes"}, 400)
        try:
            timeout_s = float(request.args.get("timeoutSeconds", "240"))
        except ValueError:
            return _json({"error": "timeoutSeconds must be a number"}, 400)
        if not 0 < timeout_s <= MAX_TIMEOUT_S:
            return _json({"error": f"timeoutSeconds must be in (0, {MAX_TIMEOUT_S:g}]"}, 400)
        lint = request.args.get("lint", "false").lower() == "true"
        with self._lock:
            if self._run is not None:
                if self._run.id == run_id:
                    return _json(self._run.state())
                return _json({"error": f"this session already ran {self._run.id}; use a new session per run"}, 409)
            if (request.content_length or 0) > MAX_ARCHIVE_BYTES:
                return _json({"error": f"the archive is larger than {MAX_ARCHIVE_BYTES} bytes"}, 413)
            data = request.get_data(cache=False)
            run = _Run(run_id, self.work_root / run_id)
            try:
                unpack_project(data, run.folder / "project")
            except ArchiveError as exc:
                if run.folder.exists():
                    remove_tree(run.folder)
                return _json({"error": str(exc)}, 400)
            self._run = run
        threading.Thread(target=self._execute, args=(run, timeout_s, lint), daemon=True,
                         name=f"session-run-{run_id}").start()
        return _json(run.state(), 202)

    def _execute(self, run: _Run, timeout_s: float, lint: bool) -> None:
        try:
            report = self.runner.run(run.folder / "project", timeout_s=timeout_s, lint=lint)
            if self.isolation:
                report = _with_isolation(report, self.isolation)
            run.report = report
        except TestRunnerError as exc:
            run.error = str(exc)
        except Exception as exc:  # reported to the caller instead of a silent dead thread
            run.error = f"the test runner failed: {type(exc).__name__}: {exc}"
        finally:
            run.done.set()

    def _status(self, request: Request, run_id: str) -> Response:
        run = self._find(run_id)
        if run is None:
            return _json({"error": f"no run {run_id} in this session"}, 404)
        try:
            wait = min(max(float(request.args.get("waitSeconds", "0")), 0.0), MAX_WAIT_S)
        except ValueError:
            return _json({"error": "waitSeconds must be a number"}, 400)
        run.done.wait(wait)
        return _json(run.state())

    def _end(self, request: Request, run_id: str) -> Response:
        run = self._find(run_id)
        if run is None:  # nothing to keep this session for either
            return self._exit_after(_json({"error": f"no run {run_id} in this session"}, 404))
        if not run.done.is_set() and self.close_runner is not None:
            self.close_runner()
        run.done.wait(30)
        remove_tree(run.folder)
        return self._exit_after(_json({"id": run_id, "status": "ended"}, 202))

    def _exit_after(self, response: Response) -> Response:
        """``on_exit`` runs once the response has been sent (the server closes it then)."""
        if self.on_exit is not None:
            response.call_on_close(self.on_exit)
        return response

    def _find(self, run_id: str) -> _Run | None:
        with self._lock:
            return self._run if self._run is not None and self._run.id == run_id else None


def _with_isolation(report: TestReport, outer: str) -> TestReport:
    inner = f"; inside: {report.isolation}" if report.isolation else ""
    return replace(report, isolation=f"{outer}{inner}")


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
