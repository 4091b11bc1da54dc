"""``factory events``: the event contracts (list, validate, diff)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from shared.cli.common import BAD_INPUT, FAILED, did_you_mean, fail
from shared.cli.inputs import read_text_file
from shared.cli.output import esc, json_to_stdout, say, table, write_json
from shared.contracts.errors import ContractError
from shared.contracts.lint import list_rows, validate_file
from shared.contracts.registry import Registry, default_registry
from shared.contracts.schema_diff import diff_refs, parse_ref

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Event contracts: list, validate, diff.")

JsonOption = Annotated[str | None, typer.Option("--json", help="write JSON to FILE (- for stdout) instead of text",
                                                metavar="FILE|-")]


@app.command("list")
def events_list(json_out: JsonOption = None) -> None:
    """Every event and command contract with its versions, status, emitters and consumers."""

    rows = list_rows(default_registry())
    if json_out:
        write_json(rows, json_out)
        if json_to_stdout(json_out):
            return
    table(["name", "version", "kind", "category", "status", "live", "emitters", "consumers", "sensitive"],
          [[r["name"], r["version"], r["kind"], r["category"], r["status"], r["live"], r["emitters"],
            r["consumers"], r["sensitive"]] for r in rows])


@app.command("validate")
def events_validate(
    file: Annotated[Path, typer.Argument(help="an envelope, or {type, version, data}, as YAML or JSON",
                                         metavar="FILE")],
) -> None:
    """Validate an envelope or {type, version, data} file against its contract (exit 1 when invalid)."""

    read_text_file(file, "event file", "{type: ProjectInitialized, version: 1.1.0, data: {...}}")
    problems = validate_file(default_registry(), file)
    if problems:
        raise fail(f"{file} is not a valid event", f"{len(problems)} problem{'s' if len(problems) != 1 else ''} "
                   "(listed above)", "fix the fields above and validate again", FAILED, problems=problems)
    say(f"[green]✓[/] {esc(file)} is valid")


def _check_ref(registry: Registry, ref: str) -> None:
    try:
        name, version = parse_ref(ref)
    except ContractError as exc:
        raise fail(f"{ref!r} is not a contract reference", str(exc), "write Name@version, e.g. AgentFailed@2.0.0",
                   BAD_INPUT) from exc
    if name not in registry.types():
        raise fail(f"no contract is named {name!r}", f"{ref} names a type no file in contracts/ defines",
                   did_you_mean(name, registry.types(), "contracts") + " (`factory events list` shows them)",
                   BAD_INPUT)
    versions = registry.versions(name)
    if version is not None and not version.isdigit() and version not in versions:
        raise fail(f"{name} has no version {version}", f"the versions of {name} are {', '.join(versions)}",
                   did_you_mean(version, versions, "versions"), BAD_INPUT)


@app.command("diff")
def events_diff(
    a: Annotated[str, typer.Argument(help="the old contract, Name@version (or Name@major, or Name)", metavar="A")],
    b: Annotated[str, typer.Argument(help="the new contract, e.g. ProjectInitialized@1.1.0", metavar="B")],
    json_out: JsonOption = None,
) -> None:
    """Classify each change between two versions (exit 1 when one is breaking),
    e.g. `ProjectInitialized@1.0.0 ProjectInitialized@1.1.0`."""

    registry = default_registry()
    _check_ref(registry, a)
    _check_ref(registry, b)
    try:
        changes = diff_refs(registry, a, b)
    except ContractError as exc:
        raise fail(f"cannot diff {a} and {b}", str(exc), "name two existing versions (`factory events list`)",
                   BAD_INPUT) from exc
    breaking = any(c.compatibility == "breaking" for c in changes)
    if json_out:
        write_json({"a": a, "b": b, "breaking": breaking, "changes": [asdict(c) for c in changes]}, json_out)
    if not json_to_stdout(json_out):
        table(["path", "change", "compatibility", "reason"],
              [[c.path, c.kind, Text(c.compatibility, style="red" if c.breaking else "green"), c.reason]
               for c in changes])
        say("[red]breaking: publish it as a new major[/]" if breaking else "[green]compatible[/]")
    raise typer.Exit(FAILED if breaking else 0)
