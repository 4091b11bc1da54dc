"""The artifact contract against ``BlobArtifactStore`` on a real Azurite blob emulator."""

from __future__ import annotations

import uuid

import pytest
from azure.storage.blob import BlobServiceClient

from shared.adapters.azure.blob_artifacts import BlobArtifactStore, blob_name
from shared.adapters.azure.clients import AzureConnectionError, blob_artifact_store
from shared.ports import ArtifactStore
from shared.settings import load_settings

from .artifact_contract import ArtifactStoreContract


class TestBlobArtifactStoreOnAzurite(ArtifactStoreContract):
    @pytest.fixture(autouse=True)
    def _service(self, azurite_connection_string: str) -> None:
        self.connection_string = azurite_connection_string
        self.service = BlobServiceClient.from_connection_string(azurite_connection_string)
        self.container_name = f"artifacts-{uuid.uuid4().hex[:12]}"

    def make_store(self) -> ArtifactStore:
        return BlobArtifactStore(self.service.get_container_client(self.container_name))

    def test_container_is_created_on_first_put(self, data: bytes) -> None:
        container = self.service.get_container_client(self.container_name)
        assert not container.exists()
        BlobArtifactStore(container).put(data)
        assert container.exists()

    def test_blob_carries_name_media_type_and_size(self, data: bytes) -> None:
        container = self.service.get_container_client(self.container_name)
        ref = BlobArtifactStore(container).put(data, "text/markdown")
        properties = container.get_blob_client(blob_name(ref.digest)).get_blob_properties()
        assert properties.name == "sha256/" + ref.digest.removeprefix("sha256:")
        assert properties.content_settings.content_type == "text/markdown"
        assert properties.metadata == {"size": str(len(data))}

    def test_corrupted_blob_is_reported_not_returned(self, data: bytes) -> None:
        container = self.service.get_container_client(self.container_name)
        store = BlobArtifactStore(container)
        ref = store.put(data)
        container.upload_blob(blob_name(ref.digest), b"tampered", overwrite=True)
        with pytest.raises(KeyError, match="corrupt"):
            store.get(ref.digest)

    def test_from_settings_uses_the_connection_string(self, data: bytes) -> None:
        settings = load_settings(
            ArtifactStorage=self.connection_string,
            ArtifactStorage__blobServiceUri=None,
            FACTORY_ARTIFACTS_CONTAINER=self.container_name,
        )
        ref = blob_artifact_store(settings).put(data)
        container = self.service.get_container_client(self.container_name)
        assert container.get_blob_client(blob_name(ref.digest)).exists()

    def test_from_settings_without_storage_explains_what_to_set(self) -> None:
        with pytest.raises(AzureConnectionError, match="ArtifactStorage__blobServiceUri"):
            blob_artifact_store(
                load_settings(ArtifactStorage=None, ArtifactStorage__blobServiceUri=None)
            )
