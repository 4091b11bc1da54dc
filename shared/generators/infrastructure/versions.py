"""Immutable, content-hashed blueprint versions; diff; rollback with an audit record.

The storage backend is the small ``VersionStore`` protocol (a handful of primitives);
``record`` and ``rollback`` hold the rules on top of it, so an artifact-store-backed store
only needs the primitives. ``DirectoryVersionStore`` lays versions out as::

    <root>/<service>/<env>/versions/<n>-<hash12>/meta.json
    <root>/<service>/<env>/versions/<n>-<hash12>/files/<path>
    <root>/<service>/<env>/current          # "<n>-<hash12>"
    <root>/<service>/<env>/audit.jsonl      # one JSON record per create / rollback
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from shared.generators.infrastructure.generator import MODEL_FILE, InfraPackage, make_stamp
from shared.generators.infrastructure.renderers import Stamp, unstamp_text
from shared.ports import Clock, SystemClock
from shared.ports.skills import Emit

ROLLED_BACK_EVENT = "InfrastructureBlueprintRolledBack"


class VersionError(LookupError):
    """A version that was asked for does not exist, or a rollback makes no sense."""


@dataclass(frozen=True)
class VersionInfo:
    service: str
    environment: str
    number: int
    content_hash: str
    blueprint_version: str
    trace_id: str
    created_at: str
    actor: str
    findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.number}-{self.content_hash.removeprefix('sha256:')[:12]}"

    @property
    def stamp(self) -> Stamp:
        return make_stamp(self.trace_id, self.content_hash)


@dataclass(frozen=True)
class StoredVersion:
    info: VersionInfo
    files: dict[str, bytes]


@dataclass(frozen=True)
class SaveResult:
    version: VersionInfo
    created: bool


class VersionStore(Protocol):
    """Storage primitives. Versions are write-once; ``current`` and the audit log are the only mutables."""

    def numbers(self, service: str, environment: str) -> list[int]: ...

    def write_version(self, version: StoredVersion) -> None: ...

    def load(self, service: str, environment: str, number: int) -> StoredVersion: ...

    def current_number(self, service: str, environment: str) -> int | None: ...

    def set_current(self, service: str, environment: str, number: int) -> None: ...

    def append_audit(self, service: str, environment: str, record: dict[str, Any]) -> None: ...

    def audit(self, service: str, environment: str) -> list[dict[str, Any]]: ...


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


class DirectoryVersionStore:
    """Versions as folders on disk (the embedded default)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _base(self, service: str, environment: str) -> Path:
        return self.root / service / environment

    def _dirs(self, service: str, environment: str) -> dict[int, Path]:
        folder = self._base(service, environment) / "versions"
        if not folder.is_dir():
            return {}
        out = {}
        for child in folder.iterdir():
            head = child.name.split("-", 1)[0]
            if child.is_dir() and head.isdigit():
                out[int(head)] = child
        return out

    def numbers(self, service: str, environment: str) -> list[int]:
        return sorted(self._dirs(service, environment))

    def write_version(self, version: StoredVersion) -> None:
        info = version.info
        target = self._base(info.service, info.environment) / "versions" / info.label
        if target.exists() or info.number in self._dirs(info.service, info.environment):
            raise VersionError(
                f"version {info.number} of {info.service}/{info.environment} already exists; versions are immutable"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".incoming-"))
        try:
            for rel, data in sorted(version.files.items()):
                path = staging / "files" / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                path.chmod(0o444)
            (staging / "meta.json").write_text(
                json.dumps(asdict(info), indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
            (staging / "meta.json").chmod(0o444)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def load(self, service: str, environment: str, number: int) -> StoredVersion:
        folder = self._dirs(service, environment).get(number)
        if folder is None:
            known = ", ".join(map(str, self.numbers(service, environment))) or "none"
            raise VersionError(
                f"{service}/{environment} has no version {number} (versions: {known}); "
                f"list them with `factory infra versions {service} --env {environment}`"
            )
        info = VersionInfo(**json.loads((folder / "meta.json").read_text(encoding="utf-8")))
        files_dir = folder / "files"
        files = {
            p.relative_to(files_dir).as_posix(): p.read_bytes() for p in sorted(files_dir.rglob("*")) if p.is_file()
        }
        return StoredVersion(info=info, files=files)

    def current_number(self, service: str, environment: str) -> int | None:
        pointer = self._base(service, environment) / "current"
        if not pointer.is_file():
            return None
        return int(pointer.read_text(encoding="utf-8").strip().split("-", 1)[0])

    def set_current(self, service: str, environment: str, number: int) -> None:
        label = self.load(service, environment, number).info.label
        _atomic_write(self._base(service, environment) / "current", label + "\n")

    def append_audit(self, service: str, environment: str, record: dict[str, Any]) -> None:
        path = self._base(service, environment) / "audit.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")

    def audit(self, service: str, environment: str) -> list[dict[str, Any]]:
        path = self._base(service, environment) / "audit.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --------------------------------------------------------------------------- rules over the store


def versions(store: VersionStore, service: str, environment: str) -> list[VersionInfo]:
    return [store.load(service, environment, n).info for n in store.numbers(service, environment)]


def current(store: VersionStore, service: str, environment: str) -> StoredVersion | None:
    number = store.current_number(service, environment)
    return None if number is None else store.load(service, environment, number)


def record(
    store: VersionStore,
    package: InfraPackage,
    *,
    actor: str = "infrastructure-engineer",
    clock: Clock | None = None,
) -> SaveResult:
    """Store ``package`` as a new current version, unless its content equals the current one."""
    now = (clock or SystemClock()).now().isoformat()
    existing = current(store, package.service, package.environment)
    if existing is not None and existing.info.content_hash == package.content_hash:
        return SaveResult(version=existing.info, created=False)
    number = max(store.numbers(package.service, package.environment), default=0) + 1
    info = VersionInfo(
        service=package.service,
        environment=package.environment,
        number=number,
        content_hash=package.content_hash,
        blueprint_version=package.blueprint_version,
        trace_id=package.trace_id,
        created_at=now,
        actor=actor,
        findings=[f.to_payload() for f in package.findings],
    )
    store.write_version(StoredVersion(info=info, files=dict(package.files)))
    store.set_current(package.service, package.environment, number)
    store.append_audit(
        package.service,
        package.environment,
        {
            "action": "create",
            "version": number,
            "contentHash": package.content_hash,
            "blueprintVersion": package.blueprint_version,
            "traceId": package.trace_id,
            "actor": actor,
            "at": now,
        },
    )
    return SaveResult(version=info, created=True)


def rollback(
    store: VersionStore,
    service: str,
    environment: str,
    to_version: int,
    *,
    actor: str,
    reason: str | None = None,
    clock: Clock | None = None,
) -> Emit:
    """Make an earlier version current again; returns the event to emit (the caller publishes it)."""
    from_version = store.current_number(service, environment)
    if from_version is None:
        raise VersionError(f"{service}/{environment} has no versions yet; generate one with `factory infra blueprint`")
    target = store.load(service, environment, to_version)  # raises VersionError when missing
    if to_version == from_version:
        raise VersionError(
            f"version {to_version} is already current for {service}/{environment}; "
            "pick another version from `factory infra versions`"
        )
    store.set_current(service, environment, to_version)
    data: dict[str, Any] = {
        "service": service,
        "environment": environment,
        "fromVersion": from_version,
        "toVersion": to_version,
        "actor": actor,
    }
    if reason:
        data["reason"] = reason
    store.append_audit(
        service,
        environment,
        {
            "action": "rollback",
            **data,
            "contentHash": target.info.content_hash,
            "at": (clock or SystemClock()).now().isoformat(),
        },
    )
    return Emit(type=ROLLED_BACK_EVENT, data=data)


# --------------------------------------------------------------------------- diff


@dataclass(frozen=True)
class ResourceChange:
    resource: str
    status: str  # "added" | "removed" | "changed"
    diff: str


def _canonical(files: dict[str, bytes], stamp: Stamp) -> dict[str, str]:
    return {path: unstamp_text(data.decode("utf-8"), stamp) for path, data in files.items()}


def diff_files(
    a: dict[str, bytes],
    a_stamp: Stamp,
    b: dict[str, bytes],
    b_stamp: Stamp,
    a_label: str = "a",
    b_label: str = "b",
) -> list[ResourceChange]:
    """Per file (one Kubernetes resource per file): added / removed / changed with a unified diff.

    Stamps are neutralised first, so only real content changes show up."""
    left, right = _canonical(a, a_stamp), _canonical(b, b_stamp)
    changes = []
    for path in sorted(set(left) | set(right)):
        before, after = left.get(path), right.get(path)
        if before == after:
            continue
        status = "added" if before is None else "removed" if after is None else "changed"
        text = "".join(
            difflib.unified_diff(
                (before or "").splitlines(keepends=True),
                (after or "").splitlines(keepends=True),
                fromfile=f"{a_label}/{path}",
                tofile=f"{b_label}/{path}",
            )
        )
        changes.append(ResourceChange(resource=path, status=status, diff=text))
    return changes


def diff_versions(a: StoredVersion, b: StoredVersion) -> list[ResourceChange]:
    return diff_files(a.files, a.info.stamp, b.files, b.info.stamp, a.info.label, b.info.label)


def load_package_dir(folder: Path) -> tuple[dict[str, bytes], Stamp]:
    """A rendered package folder (as ``factory infra blueprint --out`` writes it) and its stamp."""
    model = folder / MODEL_FILE
    if not model.is_file():
        raise VersionError(
            f"{folder} is not an infrastructure package (no {MODEL_FILE}); pass the folder "
            "`factory infra blueprint --out` wrote, or SERVICE/ENV/N from the version store"
        )
    trace = json.loads(model.read_text(encoding="utf-8"))["trace"]
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    return files, make_stamp(trace["traceId"], trace["contentHash"])
