"""The one contract every ``ArtifactStore`` adapter honours; subclassed in ``test_artifacts_*.py``."""

from __future__ import annotations

import hashlib
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.ports import ArtifactNotFoundError, ArtifactStore


class ArtifactStoreContract:
    """Abstract case: subclasses implement ``make_store``."""

    def make_store(self) -> ArtifactStore:
        raise NotImplementedError

    @pytest.fixture
    def store(self) -> ArtifactStore:
        return self.make_store()

    @pytest.fixture
    def data(self) -> bytes:
        return f"artifact {uuid.uuid4()}\n".encode() + bytes(range(256))

    def test_put_returns_the_sha256_address_size_and_media_type(
        self, store: ArtifactStore, data: bytes
    ) -> None:
        ref = store.put(data, "text/markdown")
        assert ref.digest == "sha256:" + hashlib.sha256(data).hexdigest()
        assert ref.size == len(data)
        assert ref.media_type == "text/markdown"

    def test_get_returns_the_exact_bytes(self, store: ArtifactStore, data: bytes) -> None:
        ref = store.put(data)
        assert store.get(ref.digest) == data

    def test_put_is_idempotent(self, store: ArtifactStore, data: bytes) -> None:
        first = store.put(data, "application/json")
        second = store.put(data, "application/json")
        assert first == second
        assert store.get(first.digest) == data

    def test_concurrent_puts_of_the_same_bytes_all_succeed(self, store: ArtifactStore, data: bytes) -> None:
        with ThreadPoolExecutor(max_workers=4) as pool:
            refs = list(pool.map(lambda _: store.put(data), range(4)))
        assert len({ref.digest for ref in refs}) == 1
        assert store.get(refs[0].digest) == data

    def test_exists_tells_stored_from_unknown(self, store: ArtifactStore, data: bytes) -> None:
        missing = "sha256:" + hashlib.sha256(data + b"other").hexdigest()
        assert not store.exists(missing)
        ref = store.put(data)
        assert store.exists(ref.digest)

    def test_get_of_unknown_digest_raises_not_found_naming_the_digest(
        self, store: ArtifactStore, data: bytes
    ) -> None:
        missing = "sha256:" + hashlib.sha256(data).hexdigest()
        with pytest.raises(ArtifactNotFoundError, match=missing):
            store.get(missing)

    def test_empty_artifact_round_trips(self, store: ArtifactStore) -> None:
        ref = store.put(b"")
        assert ref.size == 0 and store.get(ref.digest) == b""

    def test_malformed_digest_is_rejected_with_the_expected_form(self, store: ArtifactStore) -> None:
        with pytest.raises(ValueError, match="sha256:"):
            store.get("md5:abc")
        with pytest.raises(ValueError, match="64 lowercase hex"):
            store.exists("sha256:../../etc/passwd")
