"""``factory``: the command line of the software factory (embedded by default)."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="The event-driven software factory: run intents, host functions, inspect traces.")
events_app = typer.Typer(no_args_is_help=True, help="Event contracts: list, validate, diff.")
dlq_app = typer.Typer(no_args_is_help=True, help="Dead-lettered messages: list and resubmit.")
flow_app = typer.Typer(no_args_is_help=True, help="Coordinator flows: status and manual control (audited).")
templates_app = typer.Typer(no_args_is_help=True, help="Scaffold templates: list, show, run, update, diff.")
infra_app = typer.Typer(no_args_is_help=True, help="Infrastructure: factory deployment files and service blueprints.")
app.add_typer(events_app, name="events")
app.add_typer(dlq_app, name="dlq")
app.add_typer(flow_app, name="flow")
app.add_typer(templates_app, name="templates")
app.add_typer(infra_app, name="infra")

console = Console()
err = Console(stderr=True)


def _fail(what: str, why: str, fix: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {what}\n  [bold]why:[/] {why}\n  [bold]next:[/] {fix}")
    return typer.Exit(code)


def _runtime() -> Any:
    from shared.bootstrap import bootstrap

    return bootstrap()


# --------------------------------------------------------------------------- run / host


def _progress_table(status: Any, counts: dict[str, dict[str, int]], elapsed: float) -> Table:
    table = Table(title=f"project {status.project_id} — {elapsed:.1f}s", expand=False)
    table.add_column("consumer")
    table.add_column("handled", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("state / last event")
    from shared.contracts.manifests import load_consumers

    for c in load_consumers():
        row = counts.get(c.name, {})
        state = ""
        if c.kind == "coordinator" and c.name in status.flows:
            flow = status.flows[c.name]
            state = f"[bold]{flow['state']}[/]" + (f" [red]{flow['failure']}[/]" if flow.get("failure") else "")
        else:
            state = str(row.get("last", ""))
        table.add_row(f"{c.kind[0]}:{c.name}", str(row.get("ok", 0)), str(row.get("bad", 0)), state)
    return table


@app.command()
def run(
    intent: Annotated[Path, typer.Argument(help="intent file (YAML or JSON), e.g. examples/task-tracker.yaml")],
    run_id: Annotated[str, typer.Option(help="salt for a fresh project from the same intent")] = "",
    timeout: Annotated[float, typer.Option(help="give up after this many seconds")] = 900.0,
    out: Annotated[Path | None, typer.Option(help="where to write the generated repository")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the summary as JSON here")] = None,
    quiet: Annotated[bool, typer.Option(help="no live table")] = False,
) -> None:
    """Take an intent to a released, tested service on the embedded runtime, with live progress."""
    from shared.handling.traceview import build_tree, render_tree
    from shared.host.local import build_host
    from shared.product.intent import IntentError, load_intent
    from shared.product.projects import drive, export_repository, project_status, start_project

    if not intent.exists():
        raise _fail(f"intent file {intent} does not exist", "the path is wrong",
                    "pass a file like examples/task-tracker.yaml", 2)
    try:
        parsed = load_intent(intent)
    except IntentError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    rt = _runtime()
    started_at = time.perf_counter()
    counts: dict[str, dict[str, int]] = {}

    def on_delivery(d: Any) -> None:
        row = counts.setdefault(d.subscription, {"ok": 0, "bad": 0, "last": ""})
        row["ok" if d.outcome == "completed" else "bad"] += 1
        row["last"] = f"{d.event_type} ({d.outcome})"

    host, _ = build_host(rt, on_delivery=on_delivery)
    project = start_project(rt, parsed, run_id=run_id)
    console.print(f"[bold]project[/] {project.project_id}  [bold]trace[/] {project.trace_id}")
    _install_sigint(host)
    status = project_status(rt, project.project_id)
    if quiet or not console.is_terminal:
        drive(rt, host, project.project_id, timeout=timeout)
    else:
        with Live(_progress_table(status, counts, 0), console=console, refresh_per_second=4) as live:
            drive(rt, host, project.project_id, timeout=timeout, on_tick=lambda st: live.update(
                _progress_table(st, counts, time.perf_counter() - started_at)))
    host.close()
    elapsed = time.perf_counter() - started_at
    status = project_status(rt, project.project_id)
    repo_dir = out or (Path(rt.settings.factory_home) / "repos" / project.project_id)
    commit = export_repository(rt, project.project_id, repo_dir) if status.events else None
    events = rt.state.events_for_trace(project.trace_id)
    console.print(render_tree(build_tree(events, rt.tracer.spans_for_trace(project.trace_id)), project.trace_id))
    summary = {
        "projectId": project.project_id, "traceId": project.trace_id, "outcome": status.outcome,
        "reason": status.reason, "repository": str(repo_dir) if commit else None, "commit": commit,
        "tests": status.tests, "elapsedSeconds": round(elapsed, 3), "events": len(status.events),
        "flows": {k: v["state"] for k, v in status.flows.items()},
    }
    if json_out:
        json_out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    table = Table(title="summary", show_header=False)
    for key in ("projectId", "traceId", "outcome", "repository", "elapsedSeconds", "events"):
        table.add_row(key, str(summary[key]))
    if status.tests:
        t = status.tests
        table.add_row("generated tests", f"{t['type']}: {t.get('passed')} passed, {t.get('failed')} failed, "
                                         f"{t.get('errors', 0)} errors in {t.get('durationMs')} ms")
    console.print(table)
    if status.outcome != "released":
        why = status.reason or ("timed out" if elapsed > timeout else
                                "the flows are waiting for events that never came")
        raise _fail(f"project {project.project_id} did not release (outcome: {status.outcome or 'unfinished'})",
                    why, f"inspect with `factory status {project.project_id}` and "
                    f"`factory trace {project.trace_id}`; fix, then `factory flow retry {project.project_id} "
                    "--flow <flow>` or run again with --run-id")


def _install_sigint(host: Any) -> None:
    def handler(_sig: int, _frame: Any) -> None:
        err.print("[yellow]stopping: finishing in-flight handlings; nothing is lost[/]")
        host.stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


@app.command()
def host(
    port: Annotated[int, typer.Option(help="HTTP API port on localhost (0 = no HTTP)")] = 7071,
    until_idle: Annotated[bool, typer.Option(help="exit when nothing is due and nothing in flight")] = False,
    verbose: Annotated[bool, typer.Option(help="print every delivery")] = True,
) -> None:
    """Run function_app's triggers on the embedded bus (and its HTTP API on localhost) until Ctrl-C."""
    from shared.host.local import build_host

    rt = _runtime()

    def on_delivery(d: Any) -> None:
        if verbose:
            colour = "green" if d.outcome == "completed" else "red"
            console.print(f"[{colour}]{d.outcome:>13}[/] {d.function} ← {d.event_type} {d.message_id[:8]} "
                          f"(delivery {d.delivery_count}, {d.duration_ms:.1f} ms)"
                          + (f" [red]{d.error}[/]" if d.error else ""))

    lh, http = build_host(rt, on_delivery=on_delivery)
    server = None
    if port and http:
        from shared.host.serving import serve

        server = serve(http, port)
        console.print(f"HTTP API on http://127.0.0.1:{port}/api ({len(http)} functions)")
    console.print(f"hosting {len(lh.functions)} Service Bus functions on the embedded bus "
                  f"({rt.settings.factory_home}); Ctrl-C to stop")
    _install_sigint(lh)
    try:
        if until_idle:
            lh.run_until_idle()
        else:
            lh.run()
    finally:
        lh.close()
        if server is not None:
            server.shutdown()
    console.print(f"stopped after {lh.deliveries} deliveries")


@app.command()
def publish(
    file: Annotated[Path, typer.Argument(help="JSON/YAML with {type, version?, data, tenantId?, projectId?}")],
) -> None:
    """Validate, sign and publish one event from a file (a new trace)."""
    import yaml

    from shared.contracts.registry import ContractError
    from shared.ports.skills import Emit

    rt = _runtime()
    doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    try:
        data = doc.get("data", {})
        env = rt.publisher.publish_new(Emit(doc["type"], data, version=doc.get("version")), source="cli",
                                       tenant_id=doc.get("tenantId", "default"),
                                       project_id=doc.get("projectId") or data.get("projectId"))
    except (ContractError, KeyError, AttributeError) as exc:
        raise _fail(f"{file} was not published", str(exc), "fix the event and run `factory events validate`",
                    2) from exc
    console.print(f"published {env.type}@{env.version} id={env.id} trace={env.trace_id}")


# --------------------------------------------------------------------------- inspection


@app.command()
def trace(trace_id: str, json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the causation tree of a trace: events, handlings, durations, outcomes."""
    from shared.handling.traceview import build_tree, render_tree

    rt = _runtime()
    events = rt.state.events_for_trace(trace_id)
    if not events:
        raise _fail(f"no events for trace {trace_id}", "the id is wrong or the trace ran under another "
                    "FACTORY_HOME", "copy the traceId from `factory run` or `factory status`")
    roots = build_tree(events, rt.tracer.spans_for_trace(trace_id))
    if json_out:
        console.print_json(json.dumps([r.to_dict() for r in roots]))
    else:
        console.print(render_tree(roots, trace_id))


@app.command()
def status(project_id: str) -> None:
    """Status of a project: outcome, every flow's state and failure reason, test results."""
    from shared.product.projects import project_status

    rt = _runtime()
    st = project_status(rt, project_id)
    if not st.events:
        raise _fail(f"unknown project {project_id}", "no events were recorded for it",
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


@app.command()
def topology(
    out: Annotated[Path | None, typer.Option(help="write the Mermaid graph to this file")] = None,
) -> None:
    """Mermaid graph of agents, flows and events, with warnings for dangling or cyclic events."""
    from shared.mesh.topology import analyse

    report = analyse()
    if out:
        out.write_text(report.mermaid + "\n", encoding="utf-8")
        console.print(f"wrote {out}")
    else:
        console.print(report.mermaid, markup=False, highlight=False)
    for w in report.warnings:
        err.print(f"[yellow]warning:[/] {w}")


# --------------------------------------------------------------------------- events


@events_app.command("list")
def events_list() -> None:
    """Every event and command contract with its versions and status."""
    from shared.contracts.registry import default_registry, list_rows

    rows = list_rows(default_registry())
    table = Table(*rows[0].keys()) if rows else Table("name")
    for r in rows:
        table.add_row(*(", ".join(v) if isinstance(v, list | tuple) else str(v) for v in r.values()))
    console.print(table)


@events_app.command("validate")
def events_validate(file: Path) -> None:
    """Validate an envelope or {type, version, data} file against its contract."""
    from shared.contracts.registry import default_registry, validate_file

    problems = validate_file(default_registry(), file)
    if problems:
        for p in problems:
            err.print(f"[red]✗[/] {p}")
        raise typer.Exit(1)
    console.print(f"[green]✓[/] {file} is valid")


@events_app.command("diff")
def events_diff(a: str, b: str) -> None:
    """Classify each change between two versions, e.g. `ProjectInitialized@1.0.0 ProjectInitialized@1.1.0`."""
    from shared.contracts.registry import default_registry
    from shared.contracts.schema_diff import diff_refs

    changes = diff_refs(default_registry(), a, b)
    table = Table("path", "change", "compatibility", "reason")
    for c in changes:
        colour = "red" if c.compatibility == "breaking" else "green"
        table.add_row(c.path, c.kind, f"[{colour}]{c.compatibility}[/]", c.reason)
    console.print(table)
    breaking = any(c.compatibility == "breaking" for c in changes)
    console.print("[red]breaking: publish it as a new major[/]" if breaking else "[green]compatible[/]")
    raise typer.Exit(1 if breaking else 0)


# --------------------------------------------------------------------------- dead letters


@dlq_app.command("list")
def dlq_list(subscription: Annotated[str | None, typer.Option()] = None) -> None:
    """Dead-lettered messages with their reason (bus DLQ and recorded dead letters)."""
    from shared.handling.settlement import DEAD_LETTER_PARTITION

    rt = _runtime()
    table = Table("subscription", "seq / id", "type", "deliveries", "reason", "description")
    if rt.receiver is not None:
        for d in rt.receiver.dead_letters(subscription):
            table.add_row(d.subscription, str(d.sequence_number), str(d.application_properties.get("type", "")),
                          str(d.delivery_count), d.reason, d.description[:120])
    for doc in rt.state.query(DEAD_LETTER_PARTITION):
        b = doc.body
        if subscription and b["consumer"] != subscription:
            continue
        table.add_row(b["consumer"], b["messageId"], str(b["applicationProperties"].get("type", "")),
                      str(b.get("deliveryCount")), b["reason"], b["description"][:120])
    console.print(table)


@dlq_app.command("resubmit")
def dlq_resubmit(subscription: str, sequence_number: int) -> None:
    """Move a dead-lettered message back to its subscription (the inbox prevents a double effect)."""
    rt = _runtime()
    if rt.receiver is None:
        raise _fail("resubmit needs the embedded bus", "on Azure use Service Bus Explorer", "", 2)
    rt.receiver.resubmit(subscription, sequence_number)
    console.print(f"resubmitted {subscription}#{sequence_number}")


# --------------------------------------------------------------------------- flows


def _control(action: str, instance: str, flow: str, target: str | None, reason: str | None) -> None:
    from shared.ports.skills import Emit
    from shared.product.projects import project_status

    rt = _runtime()
    st = project_status(rt, instance)
    if flow not in st.flows:
        raise _fail(f"no {flow} instance for {instance}", f"known flows of this project: {sorted(st.flows)}",
                    "check the project id with `factory status`", 2)
    data = {"flow": flow, "instanceId": instance, "action": action, "actor": "operator"}
    if target:
        data["targetState"] = target
    if reason:
        data["reason"] = reason
    env = rt.publisher.publish_new(Emit("FlowControlRequested", data), source="operator",
                                   tenant_id=st.events[0]["tenantId"], trace_id=st.trace_id, project_id=instance)
    console.print(f"requested {action} of {flow}/{instance} (event {env.id}); a running `factory host` applies it")


@flow_app.command("status")
def flow_status(instance: str) -> None:
    """Each flow's state for a project (instance id = project id), with its history."""
    from shared.product.projects import project_status

    st = project_status(_runtime(), instance)
    for name, doc in st.flows.items():
        console.print(f"[bold]{name}[/] {doc['state']} (v{doc['version']})"
                      + (f" [red]{doc['failure']}[/]" if doc.get("failure") else ""))
        for h in doc.get("history", []):
            by = f" by {h['actor']}" if h.get("actor") else ""
            console.print(f"   {h['from']} → {h['to']} on {h['trigger']}{by}")


FlowOpt = Annotated[str, typer.Option(help="flow id, e.g. microservice-assembly")]


@flow_app.command("skip")
def flow_skip(instance: str, flow: FlowOpt = "microservice-assembly", reason: str | None = None) -> None:
    """Move the flow to its next state."""
    _control("skip", instance, flow, None, reason)


@flow_app.command("force")
def flow_force(instance: str, to: Annotated[str, typer.Option(help="target state")],
               flow: FlowOpt = "microservice-assembly", reason: str | None = None) -> None:
    """Force the flow into a state."""
    _control("force", instance, flow, to, reason)


@flow_app.command("retry")
def flow_retry(instance: str, flow: FlowOpt = "microservice-assembly", reason: str | None = None) -> None:
    """Retry the last failed agent step (re-opens a failed flow)."""
    _control("retry", instance, flow, None, reason)


@flow_app.command("cancel")
def flow_cancel(instance: str, flow: FlowOpt = "microservice-assembly", reason: str | None = None) -> None:
    """Cancel the flow."""
    _control("cancel", instance, flow, None, reason)


def _mount_optional() -> None:
    """Sub-command groups provided by the scaffold engine and the infrastructure generators."""
    for module, target in (("shared.cli.templates", templates_app), ("shared.cli.messaging", infra_app),
                           ("shared.cli.infra", infra_app)):
        try:
            mod = __import__(module, fromlist=["register"])
        except ImportError:
            continue
        mod.register(target)


_mount_optional()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
