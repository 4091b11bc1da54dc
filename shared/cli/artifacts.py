"""``factory artifacts list|get``: a project's files (content-addressed) — the test report, the
blueprint, the sources — without exporting the whole repository."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from shared.cli.common import BAD_INPUT, did_you_mean, fail, open_runtime, require_project
from shared.cli.output import json_to_stdout, say, table, write_json
from shared.product.projects import project_files

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  help="A project's artifacts: list them, get one (e.g. the test report).")

ProjectArg = Annotated[str, typer.Argument(help="project id (`factory projects list` shows them)",
                                           metavar="PROJECT_ID")]


@app.command("list")
def artifacts_list(
    project_id: ProjectArg,
    json_out: Annotated[str | None, typer.Option("--json", help="write JSON to FILE (- for stdout) instead of text",
                                                 metavar="FILE|-")] = None,
) -> None:
    """Every file of the project with its SHA-256 digest (the latest version of each path)."""
    rt = open_runtime()
    require_project(rt, project_id)
    files = project_files(rt, project_id)
    if json_out:
        write_json([{"path": p, "digest": d} for p, d in files.items()], json_out)
        if json_to_stdout(json_out):
            return
    table(["path", "digest"], [[p, d] for p, d in files.items()])


@app.command("get")
def artifacts_get(
    project_id: ProjectArg,
    path: Annotated[str, typer.Argument(help="the artifact's path, e.g. reports/task-tracker-tests.json",
                                        metavar="PATH")],
    out: Annotated[Path | None, typer.Option("--out", help="write it to FILE instead of stdout", metavar="FILE")
                   ] = None,
) -> None:
    """Print one artifact (or write it to --out FILE), byte for byte."""
    rt = open_runtime()
    require_project(rt, project_id)
    files = project_files(rt, project_id)
    if path not in files:
        raise fail(f"project {project_id} has no artifact {path}", "no event of the project produced that path",
                   did_you_mean(path, files, "paths") + f" (`factory artifacts list {project_id}` shows them all)",
                   BAD_INPUT)
    body = rt.artifacts.get(files[path])
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(body)
        say(f"wrote {out} ({len(body):,} bytes, {files[path]})", stderr=True)
        return
    sys.stdout.flush()
    sys.stdout.buffer.write(body)
    sys.stdout.buffer.flush()
