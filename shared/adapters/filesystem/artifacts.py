"""``FilesystemArtifactStore``: content-addressed artifacts in a folder (the embedded artifact store).

Layout: ``<root>/sha256/<first two hex digits>/<hex>``. A put writes a temporary file in the
target folder, fsyncs it and ``os.replace``s it into place, so a crash never leaves a partial
artifact under its final name. Reads verify the SHA-256 of what they return.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from shared.adapters.records import digest_hex, sha256_digest, verified
from shared.ports import ArtifactNotFoundError, ArtifactRef


class FilesystemArtifactStore:
    """Artifacts as files under ``root``, named by their SHA-256."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path_for(self, digest: str) -> Path:
        hex_digest = digest_hex(digest)
        return self.root / "sha256" / hex_digest[:2] / hex_digest

    def put(self, data: bytes, media_type: str = "application/octet-stream") -> ArtifactRef:
        digest = sha256_digest(data)
        ref = ArtifactRef(digest=digest, size=len(data), media_type=media_type)
        target = self.path_for(digest)
        if target.is_file() and sha256_digest(target.read_bytes()) == digest:
            return ref  # already stored intact: idempotent
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:12]}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as temp:
                temp.write(data)
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        _fsync_directory(target.parent)
        return ref

    def get(self, digest: str) -> bytes:
        target = self.path_for(digest)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                f"artifact {digest} is not in {self.root}: it was never stored here or the folder was "
                "cleaned. "
                "Re-run the step that produced it, or point FACTORY_HOME at the folder that holds it."
            ) from None
        return verified(digest, data, str(target))

    def exists(self, digest: str) -> bool:
        return self.path_for(digest).is_file()


def _fsync_directory(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
