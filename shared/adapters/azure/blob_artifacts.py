"""``BlobArtifactStore``: content-addressed artifacts in an Azure Blob Storage container.

Blob name ``sha256/<hex>``; uploads use ``overwrite=False`` and treat "already exists" as success
(same bytes, same name), so a put is idempotent and safe under concurrency. The media type goes in
the blob's content settings, the size in its metadata. ``azure-storage-blob`` is imported lazily so
the embedded mode never needs it.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from shared.adapters.records import digest_hex, sha256_digest, verified
from shared.ports import ArtifactNotFoundError, ArtifactRef

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient



def blob_name(digest: str) -> str:
    return f"sha256/{digest_hex(digest)}"


class BlobArtifactStore:
    """Artifacts as blobs in one container; the container is created on first use if missing."""

    def __init__(self, container_client: ContainerClient) -> None:
        self.container = container_client
        self._container_checked = False

    def _ensure_container(self) -> None:
        if self._container_checked:
            return
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            self.container.create_container()
        self._container_checked = True

    def put(self, data: bytes, media_type: str = "application/octet-stream") -> ArtifactRef:
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
        from azure.storage.blob import ContentSettings

        digest = sha256_digest(data)
        upload: dict[str, Any] = {
            "overwrite": False,
            "content_settings": ContentSettings(content_type=media_type),
            "metadata": {"size": str(len(data))},
        }
        blob = self.container.get_blob_client(blob_name(digest))
        try:
            blob.upload_blob(data, **upload)
        except ResourceExistsError:
            pass  # same name = same bytes: idempotent
        except ResourceNotFoundError:  # the container does not exist yet
            self._ensure_container()
            with contextlib.suppress(ResourceExistsError):
                blob.upload_blob(data, **upload)
        return ArtifactRef(digest=digest, size=len(data), media_type=media_type)

    def get(self, digest: str) -> bytes:
        from azure.core.exceptions import ResourceNotFoundError

        name = blob_name(digest)
        try:
            data = self.container.download_blob(name).readall()
        except ResourceNotFoundError:
            raise ArtifactNotFoundError(
                f"artifact {digest} is not in blob container {self.container.container_name!r} "
                f"(blob {name}): it was never stored there. Re-run the step that produced it, or check "
                "FACTORY_ARTIFACTS_CONTAINER and the ArtifactStorage setting."
            ) from None
        return verified(digest, data, f"blob {self.container.container_name}/{name}")

    def exists(self, digest: str) -> bool:
        return bool(self.container.get_blob_client(blob_name(digest)).exists())
