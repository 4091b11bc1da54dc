"""Parsed Bicep for the infra policy tests (pycep-parser: offline, no Bicep CLI, no Azure)."""

from __future__ import annotations

from typing import cast

import pytest
from pycep import BicepParser

from tests.infra.infra_bicep import INFRA, Tree, bicep_files


@pytest.fixture(scope="session")
def parser() -> BicepParser:
    return BicepParser()


@pytest.fixture(scope="session")
def trees(parser: BicepParser) -> dict[str, Tree]:
    """Every .bicep file under infra/, parsed, keyed by its path relative to infra/."""
    return {str(p.relative_to(INFRA)): cast(Tree, parser.parse(file_path=p)) for p in bicep_files()}
