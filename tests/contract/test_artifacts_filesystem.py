"""The artifact contract against ``FilesystemArtifactStore``, plus its on-disk guarantees."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.adapters.filesystem.artifacts import FilesystemArtifactStore
from shared.ports import ArtifactCorruptedError, ArtifactNotFoundError, ArtifactStore

from .artifact_contract import ArtifactStoreContract


class TestFilesystemArtifactStore(ArtifactStoreContract):
    @pytest.fixture(autouse=True)
    def _root(self, tmp_path: Path) -> None:
        self.root = tmp_path / "artifacts"

    def make_store(self) -> ArtifactStore:
        return FilesystemArtifactStore(self.root)

    def test_artifact_lives_under_sha256_fanout_folder(self, data: bytes) -> None:
        ref = FilesystemArtifactStore(self.root).put(data)
        hex_digest = ref.digest.removeprefix("sha256:")
        assert (self.root / "sha256" / hex_digest[:2] / hex_digest).read_bytes() == data

    def test_put_leaves_no_temporary_files(self, data: bytes) -> None:
        store = FilesystemArtifactStore(self.root)
        store.put(data)
        store.put(data)
        assert [p.name for p in self.root.rglob("*") if p.is_file() and p.name.startswith(".")] == []

    def test_corrupted_file_is_reported_not_returned(self, data: bytes) -> None:
        store = FilesystemArtifactStore(self.root)
        ref = store.put(data)
        store.path_for(ref.digest).write_bytes(b"tampered")
        with pytest.raises(ArtifactCorruptedError, match="corrupt") as caught:
            store.get(ref.digest)
        assert isinstance(caught.value, ArtifactNotFoundError)
        assert ref.digest in str(caught.value)

    def test_put_of_the_original_bytes_repairs_a_corrupted_file(self, data: bytes) -> None:
        store = FilesystemArtifactStore(self.root)
        ref = store.put(data)
        store.path_for(ref.digest).write_bytes(b"tampered")
        store.put(data)
        assert store.get(ref.digest) == data

    def test_missing_artifact_error_says_what_to_do(self, data: bytes) -> None:
        store = FilesystemArtifactStore(self.root)
        ref = store.put(data)
        store.path_for(ref.digest).unlink()
        with pytest.raises(ArtifactNotFoundError, match="Re-run the step"):
            store.get(ref.digest)
