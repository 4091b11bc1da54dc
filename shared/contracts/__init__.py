"""Contracts: the registry of event schemas, the envelope, schema diff, upcasters and manifests.

This package's ``__init__`` stays import-light (``import function_app`` reads the manifests):
it names where the contract files live, nothing else.
"""

from __future__ import annotations

from pathlib import Path

#: the repository root (contracts/, templates/ and infra/ live beside ``shared/``)
REPO_ROOT = Path(__file__).resolve().parents[2]
#: the single source of truth the code is registered from
CONTRACTS_DIR = REPO_ROOT / "contracts"

#: schema ids of the contract files (``$id`` and ``$ref`` targets)
BASE_URI = "https://factory.local/contracts/"
ENVELOPE_FILE = "envelope.v1.json"
ENVELOPE_URI = BASE_URI + ENVELOPE_FILE
