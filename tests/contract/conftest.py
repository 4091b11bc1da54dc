"""Fixtures for the contract tests: the Azurite blob emulator (started once per session)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

try:
    from tests.azurite import AZURITE_BLOB, AzuriteUnavailableError, azurite_blob
except ImportError:  # tests/ is on sys.path itself (rootdir-relative import mode)
    from azurite import AZURITE_BLOB, AzuriteUnavailableError, azurite_blob  # type: ignore[no-redef]


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
