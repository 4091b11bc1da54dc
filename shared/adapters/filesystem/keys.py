"""The embedded signing key: random per home, created on first start, readable by the owner only.

Several processes may start on one home at once (a host, the CLI, a second host): the key is written
to a temporary file and hard-linked into place, so every process reads the same complete key and a
reader never sees a half-written one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

#: a key shorter than this (a truncated file) is refused rather than used
MIN_KEY_BYTES = 32


class SigningKeyFileError(RuntimeError):
    """The home's key file cannot be read or is not a usable key. The message says what to do."""


def home_signing_key(path: Path) -> bytes:
    """The key in ``path``; a new random one (``token_urlsafe(48)``) when the file does not exist yet."""
    return home_secret(path)


def home_secret(path: Path) -> bytes:
    """A random secret kept in ``path`` (the signing key, the local API token), created on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".signing.", suffix=".tmp")
        try:
            os.fchmod(handle, 0o600)
            with os.fdopen(handle, "w", encoding="ascii") as out:
                out.write(secrets.token_urlsafe(48) + "\n")
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):  # another process was first: its key wins
                os.link(temp, path)  # atomic
        finally:
            Path(temp).unlink(missing_ok=True)
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningKeyFileError(
            f"cannot read the secret {path}: {exc}. Restore it from a backup (events signed with the old key "
            "are refused without it), or set FACTORY_SIGNING_KEY") from exc
    if len(key) < MIN_KEY_BYTES:
        raise SigningKeyFileError(
            f"the secret {path} is {len(key)} characters, fewer than {MIN_KEY_BYTES}: the file was truncated "
            "or edited. Restore it from a backup, or delete it to start the home with a new key (messages already "
            "on the bus are then refused as SignatureInvalid)")
    return key.encode()
