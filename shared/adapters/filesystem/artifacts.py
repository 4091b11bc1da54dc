"""``FilesystemArtifactStore``: content-addressed artifacts in a folder (the embedded artifact store).

Layout: ``<root>/sha256/<first two hex digits>/<hex>``. A put writes a temporary file in the
target folder (``.<hex prefix>.<random>.tmp``, locked with ``flock`` while it is written), fsyncs it and
``os.replace``s it into place, so a crash never leaves a partial artifact under its final name; the
temporary files a killed writer left are swept at start (``sweep_partial``: unlocked and older than a
few seconds). Reads verify the SHA-256 of what they return: a mismatch is ``ArtifactCorruptedError``
("corrupt", with both digests), never "not found".
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no locks, the age alone decides
    fcntl = None  # type: ignore[assignment]

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
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed (or its writer dies)
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

    def sweep_partial(self, *, min_age_s: float = 5.0) -> list[Path]:
        """Delete the temporary files of puts whose writer died (unlocked, older than ``min_age_s``)."""
        removed: list[Path] = []
        now = time.time()
        for temp in self.root.glob("sha256/*/.*.tmp"):
            try:
                if now - temp.stat().st_mtime < min_age_s:
                    continue
                fd = os.open(temp, os.O_RDONLY)
            except OSError:
                continue
            try:
                if fcntl is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        continue  # a live writer holds it
                with contextlib.suppress(FileNotFoundError):
                    temp.unlink()
                    removed.append(temp)
            finally:
                os.close(fd)
        return removed


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
