"""``factory infra ...``: blueprint, diff, rollback, versions. Mount with ``register(typer_app)``."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table

from shared.bootstrap import bootstrap
from shared.generators.infrastructure.derive import UnknownServiceError, find_service
from shared.generators.infrastructure.generator import MODEL_FILE, InfraPackage, generate
from shared.generators.infrastructure.overlays import OverlayError
from shared.generators.infrastructure.policies import BLOCKING, SEVERITY_ORDER, Finding, blocking
from shared.generators.infrastructure.renderers import Stamp
from shared.generators.infrastructure.versions import (
    DirectoryVersionStore,
    ResourceChange,
    VersionError,
    current,
    diff_files,
    load_package_dir,
    record,
    rollback,
    versions,
)
from shared.product.blueprint import ServiceBlueprint

DEFAULT_STORE = Path(".factory/infra")
console = Console()
errors = Console(stderr=True, soft_wrap=True)

_SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}

StoreOption = Annotated[Path, typer.Option("--store", help="version store root")]
EnvOption = Annotated[str, typer.Option("--env", help="dev | staging | prod")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def findings_table(title: str, findings: list[Finding]) -> Table:
    table = Table(title=title)
    for column in ("severity", "rule", "resource", "message"):
        table.add_column(column)
    for f in sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity]):
        style = _SEVERITY_STYLE[f.severity]
        table.add_row(f"[{style}]{f.severity}[/{style}]", f.rule_id, f.resource or "", f.message)
    return table


def write_package(out: Path, package: InfraPackage) -> Path:
    """Write the files to ``out/<service>/<env>/``, replacing an earlier package there (never other files)."""
    target = out / package.service / package.environment
    if target.exists():
        if not (target / MODEL_FILE).is_file():
            raise _fail(f"{target} exists and is not an infrastructure package; choose another --out")
        shutil.rmtree(target)
    for rel, data in sorted(package.files.items()):
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return target


def _load_blueprint(path: Path) -> ServiceBlueprint:
    try:
        return ServiceBlueprint.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}") from exc
    except ValidationError as exc:
        raise _fail(f"{path} is not a valid service blueprint:\n{exc}") from exc


def blueprint_command(
    service_blueprint: Annotated[Path, typer.Argument(help="blueprint.json (a ServiceBlueprint)")],
    out: Annotated[Path, typer.Option("--out", help="folder to write <service>/<env>/ into")],
    env: EnvOption = "dev",
    service: Annotated[str | None, typer.Option("--service", help="only this service")] = None,
    overlay: Annotated[list[Path] | None, typer.Option("--overlay", help="user overlay file (repeatable)")] = None,
    edition: Annotated[str | None, typer.Option("--edition", help="edition overlay, e.g. enterprise")] = None,
    trace_id: Annotated[str | None, typer.Option("--trace-id", help="trace to stamp (default: new)")] = None,
    store: StoreOption = DEFAULT_STORE,
    no_store: Annotated[bool, typer.Option("--no-store", help="do not record a version")] = False,
) -> None:
    """Generate the infrastructure package (Bicep, Kubernetes, Helm, workflow, OTel) per service."""
    bp = _load_blueprint(service_blueprint)
    trace = trace_id or uuid.uuid4().hex
    try:
        names = [find_service(bp, service).name] if service else [s.name for s in bp.services]
        packages = [generate(bp, name, env, trace, overlay or (), edition) for name in names]
    except (OverlayError, UnknownServiceError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    store_ = DirectoryVersionStore(store)
    block = False
    for package in packages:
        target = write_package(out, package)
        line = f"[bold]{package.service}[/bold] ({env}) -> {target}  {package.blueprint_version}"
        if not no_store:
            saved = record(store_, package, actor="cli")
            line += f"  version {saved.version.number}" + ("" if saved.created else " (unchanged)")
        console.print(line)
        console.print(findings_table(f"findings: {package.service} ({env})", package.findings))
        block = block or blocking(package.findings)
    if block:
        errors.print("[red]blocking findings (critical/high): fix them or override with an overlay[/red]")
        raise typer.Exit(1)


def _resolve(ref: str, store: Path) -> tuple[dict[str, bytes], Stamp, str]:
    path = Path(ref)
    if path.is_dir():
        files, stamp = load_package_dir(path)
        return files, stamp, ref
    parts = ref.split("/")
    if len(parts) != 3 or not parts[2].isdigit():
        raise _fail(f"{ref!r} is neither a package folder nor SERVICE/ENV/N (e.g. tasks/prod/3)")
    stored = DirectoryVersionStore(store).load(parts[0], parts[1], int(parts[2]))
    return stored.files, stored.info.stamp, stored.info.label


def print_changes(changes: list[ResourceChange]) -> None:
    if not changes:
        console.print("no changes")
        return
    for change in changes:
        style = {"added": "green", "removed": "red", "changed": "yellow"}[change.status]
        console.print(f"[{style}]{change.status}[/{style}] {change.resource}")
        console.print(Syntax(change.diff, "diff", theme="ansi_dark", word_wrap=True))


def diff_command(
    a: Annotated[str, typer.Argument(help="package folder or SERVICE/ENV/N")],
    b: Annotated[str, typer.Argument(help="package folder or SERVICE/ENV/N")],
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Show what changed per resource between two versions (trace stamps ignored)."""
    try:
        a_files, a_stamp, a_label = _resolve(a, store)
        b_files, b_stamp, b_label = _resolve(b, store)
    except VersionError as exc:
        raise _fail(str(exc)) from exc
    print_changes(diff_files(a_files, a_stamp, b_files, b_stamp, a_label, b_label))


def rollback_command(
    service: Annotated[str, typer.Argument()],
    to: Annotated[int, typer.Option("--to", help="version number to make current")],
    actor: Annotated[str, typer.Option("--actor", help="who rolls back (audit)")],
    env: EnvOption = "dev",
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    store: StoreOption = DEFAULT_STORE,
    out: Annotated[Path | None, typer.Option("--out", help="also re-write the package files here")] = None,
    publish: Annotated[bool, typer.Option(help="publish the audit event on the factory bus")] = True,
    tenant: Annotated[str, typer.Option(help="tenant of the audit event")] = "default",
) -> None:
    """Make an earlier version current and publish the InfrastructureBlueprintRolledBack audit event."""
    store_ = DirectoryVersionStore(store)
    try:
        event = rollback(store_, service, env, to, actor=actor, reason=reason)
        restored = current(store_, service, env)
    except VersionError as exc:
        raise _fail(str(exc)) from exc
    if out is not None and restored is not None:
        target = out / service / env
        if target.exists() and (target / MODEL_FILE).is_file():
            shutil.rmtree(target)
        for rel, data in restored.files.items():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            (target / rel).write_bytes(data)
    console.print_json(json.dumps({"type": event.type, "data": dict(event.data)}, sort_keys=True))
    if publish:
        audit = bootstrap().publisher.publish_new(event, source="operator", tenant_id=tenant)
        console.print(f"published {audit.type} {audit.id} (trace {audit.trace_id}) as the audit event")


def versions_command(
    service: Annotated[str, typer.Argument()],
    env: EnvOption = "dev",
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """List the stored versions of a service in one environment."""
    store_ = DirectoryVersionStore(store)
    infos = versions(store_, service, env)
    if not infos:
        raise _fail(f"no versions of {service}/{env} in {store}; run `factory infra blueprint` first", 1)
    now = store_.current_number(service, env)
    table = Table(title=f"{service} ({env})")
    for column in ("", "version", "blueprintVersion", "created", "actor", "traceId", "blocking findings"):
        table.add_column(column)
    for info in infos:
        count = sum(1 for f in info.findings if f["severity"] in BLOCKING)
        table.add_row(
            "*" if info.number == now else "",
            info.label,
            info.blueprint_version,
            info.created_at,
            info.actor,
            info.trace_id,
            str(count),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``blueprint``, ``diff``, ``rollback``, ``versions`` to ``app`` (mounted as ``factory infra``)."""
    app.command("blueprint")(blueprint_command)
    app.command("diff")(diff_command)
    app.command("rollback")(rollback_command)
    app.command("versions")(versions_command)
