"""The production profile: the factory as a Flex Consumption app runs it, as far as this machine gets.

* The code folder is what a deployment ships (the repository minus ``.funcignore``), with the packages of
  ``requirements.txt`` alone installed into ``.python_packages/lib/site-packages`` the way the Functions
  build does it (no dev extras), then made read-only: ``chmod a-w`` (the kernel enforces it for any user
  but root) plus, because root ignores file modes, ``read_only_launcher.py``'s audit hook refusing writes
  there in the factory process; the folder's listing is also compared before and after the run. The
  interpreter is a bare venv with nothing installed; the code and the packages come from ``PYTHONPATH``,
  as the worker puts them on ``sys.path``.
* The app settings are the Bicep's (``infra/modules/functionapp.bicep``), with the endpoints swapped for the
  local servers: state in cosmosdb-server, artifacts in Azurite, telemetry to the App Insights capture.
  ``FACTORY_HOME`` is unset. What this machine cannot run is said by name: Service Bus has no server, so
  the embedded SQLite bus stands in (``FACTORY_BUS=sqlite``; its file is the only thing the run may write
  under ``.factory``), and ``factory run``'s local host stands in for the Functions host.
* ``examples/task-tracker.yaml`` is taken to ``released``: the release gate runs the generated service's
  tests with the app's own interpreter and packages (pytest is a runtime requirement).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pathspec
import pytest
from azure.storage.blob import BlobServiceClient
from pycep import BicepParser

from shared.adapters.azure.clients import cosmos_state_store
from shared.settings import load_settings
from tests.appinsights_capture import QUIET_EXPORTER_ENV, capture_server, check_tree, name
from tests.cosmosdb_server import CosmosServer
from tests.infra.infra_bicep import INFRA, app_settings

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).resolve().parent / "read_only_launcher.py"

#: app settings taken as they are from the Bicep (literal values there)
FROM_BICEP = ("FACTORY_STATE", "FACTORY_ARTIFACTS", "FACTORY_REQUIRE_SIGNATURE", "OTEL_TRACES_SAMPLER",
              "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME",
              "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY")


@dataclass(frozen=True)
class AppPackage:
    base: Path  # holds everything; removed at the end
    code: Path  # read-only: the deployed package
    python: Path  # a bare interpreter (venv without packages)
    build_seconds: float

    @property
    def python_path(self) -> str:
        return os.pathsep.join([str(self.code), str(self.code / ".python_packages" / "lib" / "site-packages")])


def deployable_files(root: Path) -> Iterator[Path]:
    """The files a deployment ships: the repository minus what ``.funcignore`` excludes."""
    ignore = pathspec.GitIgnoreSpec.from_lines((root / ".funcignore").read_text().splitlines())
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root)
        dirs[:] = [d for d in dirs if not ignore.match_file(f"{(rel / d).as_posix()}/")]
        yield from (Path(folder) / f for f in files if not ignore.match_file((rel / f).as_posix()))


def make_read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            mode = path.stat().st_mode
            readable = mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
            path.chmod(readable & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def listing(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def package() -> Iterator[AppPackage]:
    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="factory-production-"))
    code = base / "wwwroot"
    for source in deployable_files(ROOT):
        target = code / source.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base / "python")], check=True, timeout=300)
    site = code / ".python_packages" / "lib" / "site-packages"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                          "--target", str(site), "-r", str(code / "requirements.txt")],
                         capture_output=True, text=True, timeout=900, check=False)
    assert pip.returncode == 0, pip.stderr[-3000:]
    # bytecode ahead of time, as the Functions build leaves it (pip compiled the packages already)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(code / "shared"), str(code / "functions"),
                    str(code / "function_app.py")], check=True, timeout=300)
    make_read_only(code)
    yield AppPackage(base, code, base / "python" / "bin" / "python", round(time.monotonic() - started, 1))
    for path in [base, *base.rglob("*")]:  # writable again, so it can be removed
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    shutil.rmtree(base, ignore_errors=True)


def bicep_app_settings() -> dict[str, Any]:
    tree = BicepParser().parse(file_path=INFRA / "modules" / "functionapp.bicep")
    return app_settings({"modules/functionapp.bicep": tree})


def gate_reports(connection_string: str, container: str) -> str:
    """The release gate's failing cases, from its report artifacts (to explain a failed run)."""
    client = BlobServiceClient.from_connection_string(connection_string).get_container_client(container)
    found = []
    for blob in client.list_blobs():
        data = client.download_blob(blob.name).readall()
        if data.startswith(b"{") and b'"cases"' in data:
            report = json.loads(data)
            found += [f"{c['classname']}.{c['name']}: {c['outcome']} {c['message']}" for c in report["cases"]
                      if c["outcome"] != "passed"] or [f"report: {report}"]
    return "\n".join(found)


def writable(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # the Cosmos server's own cert
def test_an_intent_is_released_from_a_read_only_package_with_requirements_alone(
        package: AppPackage, cosmos_server: CosmosServer, azurite_connection_string: str) -> None:
    # the venv holds no dev extras (no mypy, no pycep): pytest, hypothesis and ruff because requirements.txt lists them
    site = package.code / ".python_packages" / "lib" / "site-packages"
    installed = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
    # the release gate's tools are runtime requirements (pytest, hypothesis, ruff); the dev extras are not
    assert {"pytest", "hypothesis", "ruff"} <= installed and not installed & {"mypy", "pycep_parser"}

    run_dir = writable(package.base / f"run-{uuid.uuid4().hex[:8]}")
    host_dir, scratch, out = writable(run_dir / "host"), writable(run_dir / "scratch"), writable(run_dir / "out")
    bicep = bicep_app_settings()
    assert str(bicep["FACTORY_SCRATCH_DIR"]).startswith("/tmp/")  # the Bicep's: a temp folder, not the package
    database, container = f"factory-{uuid.uuid4().hex[:8]}", f"artifacts-{uuid.uuid4().hex[:8]}"
    # the Bicep provisions the database and containers; here the adapter's own layout creates them
    cosmos_state_store(load_settings(CosmosConnection=cosmos_server.connection_string,
                                     CosmosConnection__accountEndpoint=None, FACTORY_COSMOS_DATABASE=database),
                       create_if_missing=True)
    before = listing(package.code)
    with capture_server() as capture:
        env = {
            "PATH": os.environ["PATH"], "HOME": str(host_dir), "LANG": "C.UTF-8",
            "PYTHONPATH": package.python_path,
            **{key: str(bicep[key]) for key in FROM_BICEP},
            **QUIET_EXPORTER_ENV,
            "FACTORY_BUS": "sqlite",  # stand-in: there is no Service Bus server
            "CosmosConnection": cosmos_server.connection_string, "FACTORY_COSMOS_DATABASE": database,
            "ArtifactStorage": azurite_connection_string, "FACTORY_ARTIFACTS_CONTAINER": container,
            "APPLICATIONINSIGHTS_CONNECTION_STRING": capture.connection_string, "OTEL_TRACES_SAMPLER_ARG": "1.0",
            "FACTORY_SIGNING_KEY": secrets.token_urlsafe(32),
            "FACTORY_SCRATCH_DIR": str(scratch),
        }
        started = time.monotonic()
        done = subprocess.run(
            [str(package.python), str(LAUNCHER), str(package.code), "run",
             str(package.code / "examples" / "task-tracker.yaml"), "--run-id", uuid.uuid4().hex[:8], "--quiet",
             "--out", str(out / "repo"), "--json", str(host_dir / "summary.json")],
            cwd=host_dir, env=env, capture_output=True, text=True, timeout=900, check=False)
        run_seconds = round(time.monotonic() - started, 1)
        envelopes = capture.envelopes()
    print(f"production profile: package built in {package.build_seconds}s, run took {run_seconds}s")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:] + gate_reports(azurite_connection_string,
                                                                                            container)
    summary = json.loads((host_dir / "summary.json").read_text())
    assert summary["outcome"] == "released"
    assert summary["tests"]["type"] == "TestsPassed" and summary["tests"]["passed"] > 0

    # nothing was written into the package; FACTORY_HOME's default holds only the stand-in bus
    assert listing(package.code) == before
    assert sorted(p.name for p in (host_dir / ".factory").iterdir()) <= ["bus.db", "bus.db-shm", "bus.db-wal"]
    # state and the event log are in Cosmos, the artifacts in Blob storage
    client = cosmos_server.client().get_database_client(database)
    events = list(client.get_container_client("events").query_items(
        "SELECT VALUE COUNT(1) FROM c WHERE c.traceId = @t", parameters=[{"name": "@t", "value": summary["traceId"]}],
        partition_key=summary["traceId"]))
    assert events == [summary["events"]]
    blobs = list(BlobServiceClient.from_connection_string(azurite_connection_string)
                 .get_container_client(container).list_blobs())
    assert len(blobs) >= 20
    # one telemetry tree for the run
    tree = check_tree(envelopes, summary["traceId"])
    assert len(tree.spans) >= 40
    assert [name(root) for root in tree.roots] == ["publish ProjectInitialized"]
    assert tree.dangling == []
