"""``factory templates ...``: list, show, run, update, diff. Exit codes: 0 ok, 1 conflicts or
problems found, 2 bad input (unknown template, invalid parameters, unsupported template, a folder
that already has files)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from shared.cli.common import BAD_INPUT, FAILED, did_you_mean, error_text
from shared.cli.output import esc, json_to_stdout, say, say_raw, table, write_json
from shared.scaffold.catalog import TemplateCatalog, default_roots
from shared.scaffold.errors import ScaffoldError, TemplateNotFoundError
from shared.scaffold.output import commit_tree, read_manifest, write_result
from shared.scaffold.parameters import coerce_cli_parameters
from shared.scaffold.render import RenderOptions, RenderResult, render
from shared.scaffold.update import diff as diff_folder
from shared.scaffold.update import update as update_folder

RootsOption = Annotated[list[Path] | None, typer.Option("--root", help="template root folder (repeatable)",
                                                        metavar="DIR")]
ParamOption = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="NAME=VALUE, or NAME alone for an option given without a value (repeatable; repeat a "
                          "multi-choice parameter or write a|b)", metavar="NAME=VALUE")]
BindOption = Annotated[list[str] | None, typer.Option(
    "--bind", help="value of a bind symbol: host:NAME=VALUE or env:NAME=VALUE (repeatable)",
    metavar="SOURCE:NAME=VALUE")]
JsonOption = Annotated[str | None, typer.Option("--json", help="write JSON to FILE (- for stdout) instead of text",
                                                metavar="FILE|-")]
TemplateArg = Annotated[str, typer.Argument(help="template identity or shortName (`factory templates list`)",
                                            metavar="TEMPLATE")]
VersionOption = Annotated[str | None, typer.Option("--version", help="template version (default: the newest)",
                                                   metavar="VERSION")]


def _catalog(roots: list[Path] | None) -> TemplateCatalog:
    catalog = TemplateCatalog(roots or default_roots())
    for problem in catalog.errors:
        say(f"[yellow]warning:[/] skipped {esc(problem.location)}: {esc(problem.error)}", stderr=True)
    return catalog


def _refuse(what: str, why: str, fix: str) -> int:
    say(error_text(what, why, fix), stderr=True)
    return BAD_INPUT


def _pairs(values: list[str] | None) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; ``NAME`` alone is None (option without value); a repeated NAME is a list."""
    out: dict[str, Any] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not key:
            raise typer.Exit(_refuse(f"--param {item!r} has no name", "a parameter is NAME=VALUE or NAME",
                                     "see the parameters with `factory templates show TEMPLATE`"))
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
            raise typer.Exit(_refuse(f"--bind {item!r} is not host:NAME=VALUE or env:NAME=VALUE",
                                     "a binding needs a source, a name and a value",
                                     "write --bind host:NAME=VALUE or --bind env:NAME=VALUE"))
        out[key.strip()] = value
    return out


def _report(result: RenderResult) -> None:
    for warning in result.warnings:
        say(f"[yellow]warning:[/] {esc(warning)}", stderr=True)
    for index, action in enumerate(result.manifest.get("postActions", [])):
        what = action.get("description") or action.get("actionId") or "post action"
        manual = "; ".join(str(m.get("text", "")) for m in action.get("manualInstructions", []) or []
                           if isinstance(m, dict))
        say_raw(f"postActions[{index}] ({what}) is not executed by this engine (post-action execution is "
                f"not supported){': do it yourself: ' + manual if manual else ''}")


def _fail(exc: ScaffoldError, code: int = BAD_INPUT, catalog: TemplateCatalog | None = None) -> typer.Exit:
    hint = exc.hint
    if isinstance(exc, TemplateNotFoundError):
        problems = [str(p.message) for p in exc.problems]
        known = [str(a).split("@")[0] for p in exc.problems for a in (p.allowed or [])]
        if catalog is not None:
            known += [n for e in catalog.entries for n in (e.identity, *e.config.short_names)]
        wanted = next((str(p.path) for p in exc.problems if p.path), "")
        hint = f"{did_you_mean(wanted, known, 'templates')} (`factory templates list` shows them)"
    else:
        problems = [str(p) for p in exc.problems]
    say(error_text(exc.args[0].split(":")[0], type(exc).__name__ + (" (problems listed above)" if problems else ""),
                   hint, problems), stderr=True)
    return typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add the template commands to ``app`` (mounted by the integrator as ``factory templates``)."""

    @app.command("list")
    def list_cmd(root: RootsOption = None, as_json: JsonOption = None) -> None:
        """List the templates (newest version of each, with every version available)."""
        catalog = _catalog(root)
        entries = [e.describe() for e in catalog.list()]
        if as_json:
            write_json(entries, as_json)
            if json_to_stdout(as_json):
                return
        table(["identity", "shortName", "versions", "kind", "name"],
              [[e["identity"], e["shortName"], [x.version for x in catalog.versions(e["identity"])], e["kind"],
                e["name"]] for e in entries])

    @app.command("show")
    def show_cmd(template: TemplateArg, version: VersionOption = None, root: RootsOption = None,
                 as_json: JsonOption = None) -> None:
        """Show a template's parameters (types, defaults, choices, what each drives)."""
        catalog = _catalog(root)
        try:
            info = catalog.get(template, version).describe()
        except ScaffoldError as exc:
            raise _fail(exc, catalog=catalog) from exc
        if as_json:
            write_json(info, as_json)
            if json_to_stdout(as_json):
                return
        say(f"[bold]{esc(info['name'])}[/bold] {esc(info['identity'])}@{esc(info['version'])} ({esc(info['kind'])})")
        say_raw(str(info["description"]))
        rows = []
        for p in info["parameters"]:
            required = "yes" if p["required"] else (f"when {p['requiredWhen']}" if p.get("requiredWhen") else "")
            rows.append([p["name"], p["type"], "" if p["default"] is None else json.dumps(p["default"]), required,
                         [c["choice"] for c in p["choices"] or []], "; ".join(p.get("drives") or []) or "nothing",
                         p["description"]])
        table(["parameter", "type", "default", "required", "choices", "drives", "description"], rows)

    @app.command("run")
    def run_cmd(template: TemplateArg,
                out: Path | None = typer.Option(None, "--out", "-o", help="output folder, empty unless --force "
                                                "(default: ./NAME when the template sets preferNameDirectory and "
                                                "a name is given)", metavar="DIR"),
                param: ParamOption = None, version: VersionOption = None,
                seed: str | None = typer.Option(None, "--seed", help="seed for generated values (guids, random)",
                                                metavar="TEXT"),
                bind: BindOption = None,
                deterministic: bool = typer.Option(False, "--deterministic", help="dotnet new's deterministic "
                                                   "mode: fixed GUID, 1900-01-01, random and port = low"),
                commit: bool = typer.Option(False, "--commit", help="commit the rendered files with git"),
                force: bool = typer.Option(False, "--force", help="render into a folder that already has files "
                                           "(overwrites them; `templates update` merges instead)"),
                root: RootsOption = None) -> None:
        """Render a template into an empty folder (optionally committing it to git).

        Like ``dotnet new``: without ``--param name=...`` the name is the output folder's name
        (or the template's defaultName when it sets preferDefaultName).
        """
        catalog = _catalog(root)
        try:
            entry = catalog.get(template, version)
        except ScaffoldError as exc:
            raise _fail(exc, catalog=catalog) from exc
        raw = _pairs(param)
        cfg = entry.config
        if out is None:
            if not (cfg.prefer_name_directory and raw.get("name")):
                raise typer.Exit(_refuse("--out is required", "only a template with preferNameDirectory and a given "
                                         "name defaults to ./NAME", "pass --out DIR"))
            out = Path(str(raw["name"]))
        if out.exists() and not out.is_dir():
            raise typer.Exit(_refuse(f"{out} is a file, not a folder", "the output of a template is a folder",
                                     "pass --out DIR with a new or empty folder"))
        if not force and out.is_dir() and any(out.iterdir()):
            rendered = (out / ".factory" / "manifest.json").is_file()
            raise typer.Exit(_refuse(
                f"{out} is not empty", "rendering would overwrite the files there"
                + (" (it is an earlier render: your edits would be lost)" if rendered else ""),
                (f"`factory templates update {out}` merges a new version into it; " if rendered else "")
                + "or pass --out with an empty folder, or --force to overwrite"))
        if "name" not in raw and not (cfg.prefer_default_name and cfg.default_name):
            raw["name"] = out.resolve().name
        try:
            params = coerce_cli_parameters(cfg, raw)
            result = render(entry.source, params, RenderOptions(seed=seed, deterministic=deterministic,
                                                                bindings=_bindings(bind)))
        except ScaffoldError as exc:
            raise _fail(exc, catalog=catalog) from exc
        write_result(result, out, entry.source)
        say(f"rendered {len(result.files)} files to {esc(out)} (tree {esc(result.tree_hash)})")
        _report(result)
        if commit:
            say(f"committed {esc(commit_tree(out, f'Scaffold {entry.identity}@{entry.version}'))}")

    @app.command("update")
    def update_cmd(directory: Annotated[Path, typer.Argument(help="a folder `templates run` rendered",
                                                             metavar="DIR")],
                   to: str | None = typer.Option(None, "--to", help="template version", metavar="VERSION"),
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
        say(f"updated {esc(directory)}: {esc(report['from'])} -> {esc(report['to'])}, "
            f"{len(report['written'])} written, {len(report['removed'])} removed")
        for path in report["keptDeleted"]:
            say(f"  kept deleted: {esc(path)}")
        for path in report["keptModified"]:
            say(f"  removed upstream, kept your changes: {esc(path)}")
        if result.conflicts:
            table(["conflict", "kind", "hunks", "theirs"],
                  [[c.path, c.kind, c.hunks, c.theirs_path] for c in result.conflicts])
            say("resolve the <<<<<<< ours / >>>>>>> theirs markers, then commit")
            raise typer.Exit(FAILED)

    @app.command("diff")
    def diff_cmd(directory: Annotated[Path, typer.Argument(help="a folder `templates run` rendered",
                                                           metavar="DIR")],
                 to: str | None = typer.Option(None, "--to", help="template version to compare with (default: "
                                               "the newest)", metavar="VERSION"),
                 root: RootsOption = None,
                 patch: bool = typer.Option(False, "--patch", help="print unified diffs (only the patch, so "
                                            "`| git apply` works)"),
                 as_json: JsonOption = None) -> None:
        """What you changed since the render, and what a re-render would change (exit 1 when anything did)."""
        try:
            report = diff_folder(directory, to, catalog=_catalog(root))
        except ScaffoldError as exc:
            raise _fail(exc) from exc
        changed = bool(report.user_changes or report.upstream_changes)
        if as_json:
            write_json({"from": report.from_version, "to": report.to_version, "yours": report.user_changes,
                        "template": report.upstream_changes}, as_json)
        if patch and not json_to_stdout(as_json):
            sys.stdout.write(report.user_patch + report.upstream_patch)
            sys.stdout.flush()
        elif not json_to_stdout(as_json):
            say(f"{esc(report.from_version)} -> {esc(report.to_version)}")
            table(["path", "yours", "template"],
                  [[path, report.user_changes.get(path, ""), report.upstream_changes.get(path, "")]
                   for path in sorted(set(report.user_changes) | set(report.upstream_changes))])
        if changed:
            raise typer.Exit(FAILED)
