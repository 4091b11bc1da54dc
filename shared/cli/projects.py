"""``factory projects list``: every project in this FACTORY_HOME, newest first."""

from __future__ import annotations

from typing import Annotated

import typer

from shared.api.views import project_summary
from shared.cli.common import open_runtime
from shared.cli.output import json_to_stdout, say, table, write_json
from shared.product.projects import list_projects

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Projects of this FACTORY_HOME.")


@app.command("list")
def projects_list(
    json_out: Annotated[str | None, typer.Option("--json", help="write JSON to FILE (- for stdout) instead of text",
                                                 metavar="FILE|-")] = None,
) -> None:
    """Every project, newest first: outcome, release environment, duration, trace id."""
    rt = open_runtime()
    items = [s for e in list_projects(rt) if (s := project_summary(rt, str(e["projectId"]), e)) is not None]
    if json_out:
        write_json(items, json_out)
        if json_to_stdout(json_out):
            return
    if not items:
        say(f"no projects in {rt.settings.factory_home} yet; start one with `factory run examples/task-tracker.yaml`")
        return
    table(["project", "outcome", "environment", "started", "seconds", "trace"],
          [[p["projectId"], p["outcome"], p["release"]["environment"], p["startedAt"], p["durationSeconds"],
            p["traceId"]] for p in items])
