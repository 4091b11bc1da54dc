"""``factory trace``, ``factory status``, ``factory topology``: read what happened."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shared.cli.common import console, err, fail, open_runtime
from shared.cli.cost import print_bill
from shared.handling.traceview import build_tree, render_tree
from shared.mesh.topology import analyse
from shared.product.cost import project_bill
from shared.product.projects import project_files, project_status

#: the root commands of this module, in the order ``register`` adds them
_COMMANDS: list[Callable[..., None]] = []


def _command(fn: Callable[..., None]) -> Callable[..., None]:
    _COMMANDS.append(fn)
    return fn


@_command
def trace(trace_id: str, json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the causation tree of a trace: events, handlings, durations, outcomes."""

    rt = open_runtime()
    events = rt.state.events_for_trace(trace_id)
    if not events:
        raise fail(f"no events for trace {trace_id}", "the id is wrong or the trace ran under another "
                    "FACTORY_HOME", "copy the traceId from `factory run` or `factory status`")
    roots = build_tree(events, rt.tracer.spans_for_trace(trace_id))
    if json_out:
        console.print_json(json.dumps([r.to_dict() for r in roots]))
    else:
        console.print(render_tree(roots, trace_id))


@_command
def status(project_id: str, cost: Annotated[bool, typer.Option(
        "--cost", help="also print the project's Azure bill, estimated from its event log")] = False) -> None:
    """Status of a project: outcome, every flow's state and failure reason, test results."""

    rt = open_runtime()
    st = project_status(rt, project_id)
    if not st.events:
        raise fail(f"unknown project {project_id}", "no events were recorded for it",
                    "list projects with `factory run` output or check FACTORY_HOME")
    console.print(f"[bold]project[/] {project_id}  [bold]trace[/] {st.trace_id}  "
                  f"[bold]outcome[/] {st.outcome or 'running'}"
                  + (f"\n[red]reason:[/] {st.reason}" if st.reason else ""))
    table = Table("flow", "state", "failure", "transitions")
    for name, doc in st.flows.items():
        table.add_row(name, doc["state"], str(doc.get("failure") or ""), str(len(doc.get("history", []))))
    console.print(table)
    if st.tests:
        console.print(f"tests: {st.tests['type']} passed={st.tests.get('passed')} failed={st.tests.get('failed')}")
    if cost:
        print_bill(console, project_bill(rt, project_id, repository_files=project_files(rt, project_id)))


@_command
def topology(
    out: Annotated[Path | None, typer.Option(help="write the Mermaid graph to this file")] = None,
) -> None:
    """Mermaid graph of agents, flows and events, with warnings for dangling or cyclic events."""

    rt = open_runtime()
    report = analyse(rt.consumers, rt.flows)
    if out:
        out.write_text(report.mermaid + "\n", encoding="utf-8")
        console.print(f"wrote {out}")
    else:
        console.print(report.mermaid, markup=False, highlight=False)
    for w in report.warnings:
        err.print(f"[yellow]warning:[/] {w}")


def register(app: typer.Typer) -> None:
    """Add this module's root commands to ``app``."""
    for fn in _COMMANDS:
        app.command()(fn)
