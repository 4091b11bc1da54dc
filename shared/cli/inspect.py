"""``factory trace``, ``factory status``, ``factory topology``: read what happened."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from shared.cli.common import BAD_INPUT, did_you_mean, fail, open_runtime, require_project, warn
from shared.cli.cost import print_bill
from shared.cli.output import console, esc, json_to_stdout, say, say_raw, table, write_json
from shared.cli.report import build_report, print_report, print_trace
from shared.handling.traceview import build_tree
from shared.mesh.topology import analyse
from shared.product.cost import project_bill
from shared.product.projects import list_projects, project_files

#: the root commands of this module, in the order ``register`` adds them
_COMMANDS: list[Callable[..., None]] = []

JsonOption = Annotated[str | None, typer.Option("--json", help="write JSON to FILE (- for stdout) instead of text",
                                                metavar="FILE|-")]


def _command(fn: Callable[..., None]) -> Callable[..., None]:
    _COMMANDS.append(fn)
    return fn


@_command
def trace(
    trace_id: Annotated[str, typer.Argument(help="the traceId `factory run` and `factory status` print (a project "
                                                 "id works too)", metavar="TRACE_ID")],
    all_events: Annotated[bool, typer.Option("--all", help="also show bookkeeping events (CoordinatorStateChanged, "
                                                           "FlowTimeout)")] = False,
    json_out: JsonOption = None,
) -> None:
    """Print the causation tree of a trace: events, handlings, durations, outcomes."""

    rt = open_runtime()
    events = rt.state.events_for_trace(trace_id)
    if not events:
        projects = list_projects(rt)
        by_project = {str(p["projectId"]): str(p["traceId"]) for p in projects}
        if trace_id in by_project:
            trace_id = by_project[trace_id]
            events = rt.state.events_for_trace(trace_id)
    if not events:
        known = [str(p["traceId"]) for p in list_projects(rt)]
        raise fail(f"no events for trace {trace_id}", "the id is wrong or the trace ran under another FACTORY_HOME",
                   "copy the traceId from `factory run` or `factory status` ("
                   + did_you_mean(trace_id, known, "traces") + ")", BAD_INPUT)
    if json_out:
        roots = build_tree(events, rt.tracer.spans_for_trace(trace_id))
        write_json([r.to_dict() for r in roots], json_out)
        if json_to_stdout(json_out):
            return
    print_trace(rt, trace_id, all_events=all_events)


@_command
def status(
    project_id: Annotated[str, typer.Argument(help="project id (`factory projects list` shows them)",
                                              metavar="PROJECT_ID")],
    json_out: JsonOption = None,
    cost: Annotated[bool, typer.Option(
        "--cost", help="also the project's Azure bill, estimated from its event log (list prices)")] = False,
) -> None:
    """Status of a project: outcome and why, every flow's state, the generated tests (failing ones and the
    report's path), policy and security findings, and what to do next."""

    rt = open_runtime()
    require_project(rt, project_id)
    report = build_report(rt, project_id)
    bill = project_bill(rt, project_id, repository_files=project_files(rt, project_id)) if cost else None
    if json_out:
        write_json({**report.to_dict(), **({"cost": bill.to_dict()} if bill else {})}, json_out)
        if json_to_stdout(json_out):
            return
    print_report(report, show_next=False)
    table(["flow", "state", "failure", "transitions"],
          [[name, doc["state"], doc.get("failure"), len(doc.get("history", []))]
           for name, doc in report.status.flows.items()])
    if bill is not None:
        print_bill(console, bill)
    for step in report.next_steps:
        say(f"[bold]next:[/] {esc(step)}")


@_command
def topology(
    out: Annotated[Path | None, typer.Option(help="write the Mermaid graph to this file", metavar="FILE")] = None,
    json_out: JsonOption = None,
) -> None:
    """Mermaid graph of agents, flows and events, with warnings for dangling or cyclic events."""

    rt = open_runtime()
    report = analyse(rt.consumers, rt.flows)
    if json_out:
        write_json({"mermaid": report.mermaid, "edges": [list(e) for e in report.edges],
                    "warnings": report.warnings}, json_out)
    if out:
        out.write_text(report.mermaid + "\n", encoding="utf-8")
        if not json_to_stdout(json_out):
            say(f"wrote {out}")
    elif not json_to_stdout(json_out):
        say_raw(report.mermaid)
    for w in report.warnings:
        warn(w)


def register(app: typer.Typer) -> None:
    """Add this module's root commands to ``app``."""
    for fn in _COMMANDS:
        app.command()(fn)

