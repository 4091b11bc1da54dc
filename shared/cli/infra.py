"""``factory infra ...``: blueprint, diff, rollback, versions. Mount with ``register(typer_app)``."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.syntax import Syntax
from rich.text import Text

from shared.cli.common import BAD_INPUT, FAILED, did_you_mean, error_text, open_runtime
from shared.cli.output import console, esc, json_to_stdout, say, say_raw, table, write_json
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
from shared.settings import load_settings

_SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}

StoreOption = Annotated[Path | None, typer.Option("--store", help="version store root (default FACTORY_HOME/infra)",
                                                  metavar="DIR")]
EnvOption = Annotated[str, typer.Option("--env", help="dev | staging | prod", metavar="ENV")]


def default_store() -> Path:
    """Where versions live unless --store says otherwise: ``FACTORY_HOME/infra``."""
    return load_settings().factory_home / "infra"


def _fail(what: str, code: int = BAD_INPUT, *, why: str, fix: str) -> typer.Exit:
    say(error_text(what, why, fix), stderr=True)
    return typer.Exit(code)


def print_findings(title: str, findings: list[Finding]) -> None:
    table(["severity", "rule", "resource", "message"],
          [[Text(f.severity, style=_SEVERITY_STYLE[f.severity]), f.rule_id, f.resource, f.message]
           for f in sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])], title=title)


def write_package(out: Path, package: InfraPackage) -> Path:
    """Write the files to ``out/<service>/<env>/``, replacing an earlier package there (never other files)."""
    target = out / package.service / package.environment
    if target.exists():
        if not (target / MODEL_FILE).is_file():
            raise _fail(f"{target} exists and is not an infrastructure package",
                        why="writing the package there would replace files that are not ours",
                        fix="choose another --out")
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
        raise _fail(f"cannot read {path}", why=str(exc.strerror or exc),
                    fix="pass the architecture/blueprint.json of a project (`factory artifacts get PROJECT_ID "
                        "architecture/blueprint.json --out blueprint.json`)") from exc
    except (ValidationError, ValueError) as exc:
        errors = exc.errors() if isinstance(exc, ValidationError) else []
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:20]]
        say(error_text(f"{path} is not a valid service blueprint", f"{len(errors) or 'a'} problem(s)"
                       + (" (listed above)" if problems else f": {exc}"),
                       "pass the architecture/blueprint.json a project produced", problems), stderr=True)
        raise typer.Exit(BAD_INPUT) from exc


def blueprint_command(
    service_blueprint: Annotated[Path, typer.Argument(help="blueprint.json (a ServiceBlueprint)", metavar="FILE")],
    out: Annotated[Path, typer.Option("--out", help="folder to write <service>/<env>/ into", metavar="DIR")],
    env: EnvOption = "dev",
    service: Annotated[str | None, typer.Option("--service", help="only this service", metavar="NAME")] = None,
    overlay: Annotated[list[Path] | None, typer.Option("--overlay", help="user overlay file (repeatable)",
                                                       metavar="FILE")] = None,
    edition: Annotated[str | None, typer.Option("--edition", help="edition overlay, e.g. enterprise",
                                                metavar="NAME")] = None,
    trace_id: Annotated[str | None, typer.Option("--trace-id", help="trace to stamp (default: new)",
                                                 metavar="TRACE_ID")] = None,
    store: StoreOption = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="do not record a version")] = False,
) -> None:
    """Generate the infrastructure package (Bicep, Kubernetes, Helm, workflow, OTel) per service."""
    bp = _load_blueprint(service_blueprint)
    trace = trace_id or uuid.uuid4().hex
    try:
        names = [find_service(bp, service).name] if service else [s.name for s in bp.services]
        packages = [generate(bp, name, env, trace, overlay or (), edition) for name in names]
    except UnknownServiceError as exc:
        raise _fail(f"no service {service!r} in {service_blueprint}", why=str(exc),
                    fix=did_you_mean(str(service), [s.name for s in bp.services], "services")) from exc
    except (OverlayError, ValueError) as exc:
        raise _fail(f"cannot generate the infrastructure of {service_blueprint}", why=str(exc),
                    fix="fix the overlay or blueprint named above") from exc
    store_ = DirectoryVersionStore(store or default_store())
    block = False
    for package in packages:
        target = write_package(out, package)
        line = f"[bold]{esc(package.service)}[/bold] ({esc(env)}) -> {esc(target)}  {esc(package.blueprint_version)}"
        if not no_store:
            saved = record(store_, package, actor="cli")
            line += f"  version {saved.version.number}" + ("" if saved.created else " (unchanged)")
        say(line)
        print_findings(f"findings: {package.service} ({env})", package.findings)
        block = block or blocking(package.findings)
    if block:
        say(error_text("blocking findings (critical/high)", "the policy rules above failed",
                       "fix them in the blueprint or override the values with an --overlay"), stderr=True)
        raise typer.Exit(FAILED)


def _resolve(ref: str, store: Path) -> tuple[dict[str, bytes], Stamp, str]:
    path = Path(ref)
    if path.is_dir():
        files, stamp = load_package_dir(path)
        return files, stamp, ref
    parts = ref.split("/")
    if len(parts) != 3 or not parts[2].isdigit():
        raise _fail(f"{ref!r} is neither a package folder nor SERVICE/ENV/N", why="no such folder, and not a "
                    "version reference", fix="write SERVICE/ENV/N (e.g. tasks/prod/3; `factory infra versions "
                    "SERVICE` lists them) or a package folder")
    stored = DirectoryVersionStore(store).load(parts[0], parts[1], int(parts[2]))
    return stored.files, stored.info.stamp, stored.info.label


def print_changes(changes: list[ResourceChange]) -> None:
    if not changes:
        console.print("no changes")
        return
    for change in changes:
        style = {"added": "green", "removed": "red", "changed": "yellow"}[change.status]
        say(f"[{style}]{change.status}[/{style}] {esc(change.resource)}")
        if console.is_terminal:
            console.print(Syntax(change.diff, "diff", theme="ansi_dark", word_wrap=True))
        else:
            say_raw(change.diff.rstrip("\n"))


def diff_command(
    a: Annotated[str, typer.Argument(help="package folder or SERVICE/ENV/N", metavar="A")],
    b: Annotated[str, typer.Argument(help="package folder or SERVICE/ENV/N", metavar="B")],
    store: StoreOption = None,
) -> None:
    """Show what changed per resource between two versions (trace stamps ignored)."""
    root = store or default_store()
    try:
        a_files, a_stamp, a_label = _resolve(a, root)
        b_files, b_stamp, b_label = _resolve(b, root)
    except VersionError as exc:
        raise _fail(f"cannot diff {a} and {b}", why=str(exc), fix="`factory infra versions SERVICE` lists the "
                    "versions") from exc
    print_changes(diff_files(a_files, a_stamp, b_files, b_stamp, a_label, b_label))


def rollback_command(
    service: Annotated[str, typer.Argument(help="the service, e.g. tasks (`factory infra versions` lists them)",
                                           metavar="SERVICE")],
    to: Annotated[int, typer.Option("--to", help="version number to make current", metavar="N")],
    actor: Annotated[str, typer.Option("--actor", help="who rolls back (audit)", metavar="NAME")],
    env: EnvOption = "dev",
    reason: Annotated[str | None, typer.Option("--reason", help="why (audit)", metavar="TEXT")] = None,
    store: StoreOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="also re-write the package files here",
                                             metavar="DIR")] = None,
    publish: Annotated[bool, typer.Option(help="publish the audit event on the factory bus")] = True,
    tenant: Annotated[str, typer.Option(help="tenant of the audit event", metavar="TENANT")] = "default",
) -> None:
    """Make an earlier version current and publish the InfrastructureBlueprintRolledBack audit event."""
    store_ = DirectoryVersionStore(store or default_store())
    try:
        event = rollback(store_, service, env, to, actor=actor, reason=reason)
        restored = current(store_, service, env)
    except VersionError as exc:
        raise _fail(f"cannot roll {service}/{env} back to version {to}", why=str(exc),
                    fix=f"`factory infra versions {service} --env {env}` lists the versions") from exc
    if out is not None and restored is not None:
        target = out / service / env
        if target.exists() and (target / MODEL_FILE).is_file():
            shutil.rmtree(target)
        for rel, data in restored.files.items():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            (target / rel).write_bytes(data)
    say_raw(json.dumps({"type": event.type, "data": dict(event.data)}, sort_keys=True, indent=2))
    if publish:
        audit = open_runtime().publisher.publish_new(event, source="operator", tenant_id=tenant)
        say(f"published {esc(audit.type)} {esc(audit.id)} (trace {esc(audit.trace_id)}) as the audit event")


def versions_command(
    service: Annotated[str, typer.Argument(help="the service, e.g. tasks", metavar="SERVICE")],
    env: EnvOption = "dev",
    store: StoreOption = None,
    json_out: Annotated[str | None, typer.Option("--json", help="write JSON to FILE (- for stdout) instead of text",
                                                 metavar="FILE|-")] = None,
) -> None:
    """List the stored versions of a service in one environment (* = current)."""
    root = store or default_store()
    store_ = DirectoryVersionStore(root)
    infos = versions(store_, service, env)
    if not infos:
        known = sorted(f"{p.parent.name}" for p in root.glob(f"*/{env}") if p.is_dir())
        raise _fail(f"no versions of {service}/{env} in {root}", BAD_INPUT,
                    why="`factory infra blueprint` records a version each time it writes a changed package",
                    fix=(did_you_mean(service, known, f"services with {env} versions") + "; " if known else "")
                    + "run `factory infra blueprint BLUEPRINT --out DIR` first (--store selects another store)")
    now = store_.current_number(service, env)
    rows = [{"current": info.number == now, "version": info.label, "blueprintVersion": info.blueprint_version,
             "created": info.created_at, "actor": info.actor, "traceId": info.trace_id,
             "blockingFindings": sum(1 for f in info.findings if f["severity"] in BLOCKING)} for info in infos]
    if json_out:
        write_json(rows, json_out)
        if json_to_stdout(json_out):
            return
    table(["", "version", "blueprintVersion", "created", "actor", "traceId", "blocking findings"],
          [["*" if r["current"] else "", r["version"], r["blueprintVersion"], r["created"], r["actor"],
            r["traceId"], r["blockingFindings"]] for r in rows], title=f"{service} ({env})")


def register(app: typer.Typer) -> None:
    """Add ``blueprint``, ``diff``, ``rollback``, ``versions`` to ``app`` (mounted as ``factory infra``)."""
    app.command("blueprint")(blueprint_command)
    app.command("diff")(diff_command)
    app.command("rollback")(rollback_command)
    app.command("versions")(versions_command)
