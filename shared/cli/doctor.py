"""``factory doctor`` (the state of the home) and ``factory repair`` (move a broken database aside, keep what
can be read). Both work on a home whose databases a normal start refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from shared.bootstrap import HOME_DATABASES, home_report, repair_home
from shared.cli.common import BAD_INPUT, console, fail
from shared.settings import load_settings


def doctor(
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the report as JSON to FILE",
                                                  metavar="FILE")] = None,
) -> None:
    """The state of FACTORY_HOME: each database (schema version, integrity), locks held by hosts that are gone,
    and what killed processes left behind. Exits 1 when something needs `factory repair` or a restore."""
    report = home_report(load_settings())
    for db in report["databases"]:
        mark = "ok" if db["healthy"] else "BROKEN"
        console.print(f"{mark:>6}  {db['path']}  schema v{db['schemaVersion']}  {db['size']:,} bytes"
                      + (f"\n        {db['problem']}" if db["problem"] else ""), markup=False, highlight=False)
    for line in report["notes"]:
        console.print(f"  note  {line}", markup=False, highlight=False)
    if json_out is not None:
        json_out.write_text(json.dumps(report, default=str, indent=2) + "\n", encoding="utf-8")
    if not all(db["healthy"] for db in report["databases"]):
        raise fail("the home has a broken database", "see the lines marked BROKEN above",
                   "stop every `factory host`, then restore the file from a backup or run `factory repair`")


def repair(
    yes: bool = typer.Option(False, "--yes", help="do it (without: only say what would be done)"),
) -> None:
    """Move each broken database aside (<name>.broken-<time>) and copy every readable row into a new one.
    Stop every `factory host` on this home first. Rows that cannot be read are lost (the report says which)."""
    settings = load_settings()
    broken = [db for db in home_report(settings)["databases"] if not db["healthy"]]
    if not broken:
        console.print(f"every database in {settings.factory_home} is healthy: nothing to repair")
        return
    if not yes:
        for db in broken:
            console.print(f"would repair {db['path']}: {db['problem']}", markup=False, highlight=False)
        raise fail("nothing was changed", "repair moves files aside", "run `factory repair --yes`", BAD_INPUT)
    for line in repair_home(settings):
        console.print(line, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
    app.command("repair")(repair)


__all__ = ["HOME_DATABASES", "register"]
