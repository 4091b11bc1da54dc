"""``factory events``: the event contracts (list, validate, diff)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from shared.cli.common import console, err
from shared.contracts.lint import list_rows, validate_file
from shared.contracts.registry import default_registry
from shared.contracts.schema_diff import diff_refs

app = typer.Typer(no_args_is_help=True, help="Event contracts: list, validate, diff.")



@app.command("list")
def events_list() -> None:
    """Every event and command contract with its versions and status."""

    rows = list_rows(default_registry())
    table = Table(*rows[0].keys()) if rows else Table("name")
    for r in rows:
        table.add_row(*(", ".join(v) if isinstance(v, list | tuple) else str(v) for v in r.values()))
    console.print(table)


@app.command("validate")
def events_validate(file: Path) -> None:
    """Validate an envelope or {type, version, data} file against its contract."""

    problems = validate_file(default_registry(), file)
    if problems:
        for p in problems:
            err.print(f"[red]✗[/] {p}")
        raise typer.Exit(1)
    console.print(f"[green]✓[/] {file} is valid")


@app.command("diff")
def events_diff(a: str, b: str) -> None:
    """Classify each change between two versions, e.g. `ProjectInitialized@1.0.0 ProjectInitialized@1.1.0`."""

    changes = diff_refs(default_registry(), a, b)
    table = Table("path", "change", "compatibility", "reason")
    for c in changes:
        colour = "red" if c.compatibility == "breaking" else "green"
        table.add_row(c.path, c.kind, f"[{colour}]{c.compatibility}[/]", c.reason)
    console.print(table)
    breaking = any(c.compatibility == "breaking" for c in changes)
    console.print("[red]breaking: publish it as a new major[/]" if breaking else "[green]compatible[/]")
    raise typer.Exit(1 if breaking else 0)
