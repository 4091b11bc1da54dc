"""Shared fixtures: an embedded runtime on a temporary FACTORY_HOME with a fake clock, and the two
servers the Azure adapters are tested on (Azurite for Blob, cosmosdb-server for Cosmos DB), each
started once per session on a free port."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from shared.bootstrap import Runtime, bootstrap
from shared.contracts.envelope import Envelope, make_envelope, new_trace_id
from shared.ports import FakeClock
from shared.settings import Settings

try:
    from tests.azurite import AZURITE_BLOB, AzuriteUnavailableError, azurite_blob
    from tests.cosmosdb_server import CosmosServer, CosmosServerUnavailableError, cosmosdb_server
except ImportError:  # tests/ is on sys.path itself (rootdir-relative import mode)
    from azurite import AZURITE_BLOB, AzuriteUnavailableError, azurite_blob  # type: ignore[no-redef]
    from cosmosdb_server import (  # type: ignore[no-redef]
        CosmosServer,
        CosmosServerUnavailableError,
        cosmosdb_server,
    )

# never let a developer's real settings leak into tests
for _name in list(os.environ):
    if _name.startswith("FACTORY_") or _name in ("APPLICATIONINSIGHTS_CONNECTION_STRING",):
        os.environ.pop(_name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_settings(home: Path, **overrides: Any) -> Settings:
    return Settings(FACTORY_HOME=home, **overrides)


@pytest.fixture
def runtime(tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    rt = bootstrap(make_settings(tmp_path / "factory"), clock=clock)
    yield rt
    rt.close()


def signed_event(rt: Runtime, type: str, data: Mapping[str, Any], *, id: str | None = None,
                 tenant_id: str = "t1", project_id: str | None = "p1", trace_id: str | None = None) -> Envelope:
    info = rt.registry.latest(type)
    # the access policy is enforced on delivery: publish as one of the contract's emitters
    source = "cli" if "cli" in info.emitters else (info.emitters[0] if info.emitters else "cli")
    return make_envelope(type, info.version, data, source=source, tenant_id=tenant_id,
                         trace_id=trace_id or new_trace_id(), time=rt.clock.now(), id=id,
                         project_id=project_id, schema_uri=info.schema_uri).signed(rt.signing_key)


@pytest.fixture(scope="session")
def azurite_connection_string(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Connection string of a fresh in-memory Azurite blob service. Fails (never skips) if it cannot run."""
    if not AZURITE_BLOB.exists():
        pytest.fail(
            f"{AZURITE_BLOB} is missing: run `npm ci` in the repository root to install the Azurite "
            "emulator (pinned in package.json; `make test` installs it)",
            pytrace=False,
        )
    try:
        with azurite_blob(tmp_path_factory.mktemp("azurite")) as connection_string:
            yield connection_string
    except AzuriteUnavailableError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def cosmos_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CosmosServer]:
    """A fresh in-memory cosmosdb-server (tests/cosmosdb_server.js). Fails (never skips) if it cannot run."""
    try:
        with cosmosdb_server(tmp_path_factory.mktemp("cosmosdb-server")) as server:
            yield server
    except CosmosServerUnavailableError as error:
        pytest.fail(str(error), pytrace=False)
