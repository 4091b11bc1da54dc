"""``factory templates ...``: list, show, run, update, diff. Exit codes: 0 ok, 1 conflicts or
problems found, 2 bad input (unknown template, invalid parameters, unsupported template)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from shared.scaffold.catalog import TemplateCatalog, default_roots
from shared.scaffold.errors import ScaffoldError
from shared.scaffold.output import commit_tree, read_manifest, write_result
from shared.scaffold.parameters import coerce_cli_parameters
from shared.scaffold.render import RenderOptions, RenderResult, render
from shared.scaffold.update import diff as diff_folder
from shared.scaffold.update import update as update_folder

console = Console()
err = Console(stderr=True)

RootsOption = Annotated[list[Path] | None, typer.Option("--root", help="template root folder (repeatable)")]
ParamOption = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="NAME=VALUE, or NAME alone for an option given without a value (repeatable; repeat a "
                          "multi-choice parameter or write a|b)")]
BindOption = Annotated[list[str] | None, typer.Option(
    "--bind", help="value of a bind symbol: host:NAME=VALUE or env:NAME=VALUE (repeatable)")]


def _catalog(roots: list[Path] | None) -> TemplateCatalog:
    catalog = TemplateCatalog(roots or default_roots())
    for problem in catalog.errors:
        err.print(f"[yellow]skipped {problem.location}: {problem.error}[/yellow]")
    return catalog


def _pairs(values: list[str] | None) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; ``NAME`` alone is None (option without value); a repeated NAME is a list."""
    out: dict[str, Any] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not key:
            err.print(f"[red]--param {item!r} must be NAME=VALUE or NAME[/red]")
            raise typer.Exit(2)
        new: Any = value if sep else None
        if key in out and out[key] is not None and new is not None:
            old = out[key]
            out[key] = [*old, new] if isinstance(old, list) else [old, new]
        else:
            out[key] = new
    return out


def _bindings(values: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            err.print(f"[red]--bind {item!r} must be host:NAME=VALUE or env:NAME=VALUE[/red]")
            raise typer.Exit(2)
        out[key.strip()] = value
    return out


def _report(result: RenderResult) -> None:
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}", markup=True, highlight=False)
    for index, action in enumerate(result.manifest.get("postActions", [])):
        what = action.get("description") or action.get("actionId") or "post action"
        manual = "; ".join(str(m.get("text", "")) for m in action.get("manualInstructions", []) or []
                           if isinstance(m, dict))
        console.print(f"postActions[{index}] ({what}) is not executed by this engine (post-action execution is "
                      f"not supported){': do it yourself: ' + manual if manual else ''}", markup=False)


def _fail(exc: ScaffoldError, code: int = 2) -> typer.Exit:
    err.print(f"[red]{type(exc).__name__}[/red]: {exc.args[0].split(':')[0]}")
    for problem in exc.problems:
        err.print(f"  - {problem}")
    err.print(f"next: {exc.hint}")
    return typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add the template commands to ``app`` (mounted by the integrator as ``factory templates``)."""

    @app.command("list")
    def list_cmd(root: RootsOption = None, as_json: bool = typer.Option(False, "--json")) -> None:
        """List the templates (newest version of each)."""
        catalog = _catalog(root)
        entries = [e.describe() for e in catalog.list()]
        if as_json:
            console.print_json(json.dumps(entries, default=str))
            return
        table = Table("identity", "shortName", "version", "kind", "name")
        for e in entries:
            versions = ", ".join(x.version for x in catalog.versions(e["identity"]))
            table.add_row(e["identity"], e["shortName"], versions, e["kind"], e["name"])
        console.print(table)

    @app.command("show")
    def show_cmd(template: str, version: str | None = typer.Option(None, "--version"),
                 root: RootsOption = None, as_json: bool = typer.Option(False, "--json")) -> None:
        """Show a template's parameters (types, defaults, choices)."""
        try:
            info = _catalog(root).get(template, version).describe()
        except ScaffoldError as exc:
            raise _fail(exc) from exc
        if as_json:
            console.print_json(json.dumps(info, default=str))
            return
        console.print(f"[bold]{info['name']}[/bold] {info['identity']}@{info['version']} ({info['kind']})")
        console.print(info["description"])
        table = Table("parameter", "type", "default", "required", "choices", "drives", "description")
        for p in info["parameters"]:
            choices = ", ".join(c["choice"] for c in p["choices"] or [])
            required = "yes" if p["required"] else (f"when {p['requiredWhen']}" if p["requiredWhen"] else "")
            drives = "\n".join(f"- {d}" for d in p["drives"]) or "nothing"
            table.add_row(p["name"], p["type"], json.dumps(p["default"]), required, choices, drives,
                          p["description"])
        console.print(table)

    @app.command("run")
    def run_cmd(template: str,
                out: Path | None = typer.Option(None, "--out", "-o", help="output folder (default: ./NAME when the "
                                                "template sets preferNameDirectory and a name is given)"),
                param: ParamOption = None, version: str | None = typer.Option(None, "--version"),
                seed: str | None = typer.Option(None, "--seed"), bind: BindOption = None,
                deterministic: bool = typer.Option(False, "--deterministic", help="dotnet new's deterministic "
                                                   "mode: fixed GUID, 1900-01-01, random and port = low"),
                commit: bool = typer.Option(False, "--commit"), root: RootsOption = None) -> None:
        """Render a template into a folder (optionally committing it to git).

        Like ``dotnet new``: without ``--param name=...`` the name is the output folder's name
        (or the template's defaultName when it sets preferDefaultName).
        """
        try:
            entry = _catalog(root).get(template, version)
            raw = _pairs(param)
            cfg = entry.config
            if out is None:
                if cfg.prefer_name_directory and raw.get("name"):
                    out = Path(str(raw["name"]))
                else:
                    err.print("[red]--out is required[/red] (only a template with preferNameDirectory and a given "
                              "name defaults to ./NAME)")
                    raise typer.Exit(2)
            if "name" not in raw and not (cfg.prefer_default_name and cfg.default_name):
                raw["name"] = out.resolve().name
            params = coerce_cli_parameters(cfg, raw)
            result = render(entry.source, params, RenderOptions(seed=seed, deterministic=deterministic,
                                                                bindings=_bindings(bind)))
        except ScaffoldError as exc:
            raise _fail(exc) from exc
        write_result(result, out, entry.source)
        console.print(f"rendered {len(result.files)} files to {out} (tree {result.tree_hash})")
        _report(result)
        if commit:
            console.print(f"committed {commit_tree(out, f'Scaffold {entry.identity}@{entry.version}')}")

    @app.command("update")
    def update_cmd(directory: Path, to: str | None = typer.Option(None, "--to", help="template version"),
                   param: ParamOption = None, root: RootsOption = None) -> None:
        """Update a rendered folder to a new template version / parameters with a 3-way merge."""
        try:
            catalog = _catalog(root)
            params: dict[str, Any] = dict(_pairs(param))
            manifest_id = read_manifest(directory)["template"]["identity"]
            if catalog.versions(manifest_id):
                params = coerce_cli_parameters(catalog.get(manifest_id, to).config, _pairs(param))
            result = update_folder(directory, to, params, catalog=catalog)
        except ScaffoldError as exc:
            raise _fail(exc) from exc
        report = result.report()
        console.print(f"updated {directory}: {report['from']} -> {report['to']}, "
                      f"{len(report['written'])} written, {len(report['removed'])} removed")
        for path in report["keptDeleted"]:
            console.print(f"  kept deleted: {path}")
        for path in report["keptModified"]:
            console.print(f"  removed upstream, kept your changes: {path}")
        if result.conflicts:
            table = Table("conflict", "kind", "hunks", "theirs")
            for c in result.conflicts:
                table.add_row(c.path, c.kind, str(c.hunks), c.theirs_path or "")
            console.print(table)
            console.print("resolve the <<<<<<< ours / >>>>>>> theirs markers, then commit")
            raise typer.Exit(1)

    @app.command("diff")
    def diff_cmd(directory: Path, to: str | None = typer.Option(None, "--to"), root: RootsOption = None,
                 patch: bool = typer.Option(False, "--patch", help="print unified diffs")) -> None:
        """What you changed since the render, and what a re-render would change."""
        try:
            report = diff_folder(directory, to, catalog=_catalog(root))
        except ScaffoldError as exc:
            raise _fail(exc) from exc
        table = Table("path", "yours", "template")
        for path in sorted(set(report.user_changes) | set(report.upstream_changes)):
            table.add_row(path, report.user_changes.get(path, ""), report.upstream_changes.get(path, ""))
        console.print(f"{report.from_version} -> {report.to_version}")
        console.print(table)
        if patch:
            console.print(report.user_patch + report.upstream_patch, markup=False, highlight=False)
        if report.user_changes or report.upstream_changes:
            raise typer.Exit(1)
