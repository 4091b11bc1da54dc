"""``factory run``, ``factory host``, ``factory publish``: work on the embedded runtime."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.live import Live
from rich.table import Table

from shared.cli import intent as intent_cli
from shared.cli.common import console, fail, install_sigint, open_runtime
from shared.contracts.errors import ContractError
from shared.contracts.manifests import Consumer
from shared.handling.traceview import build_tree, render_tree
from shared.host.local import Delivery, build_host, drive
from shared.host.serving import serve
from shared.ports.skills import Emit
from shared.product.projects import ProjectStatus, ReleaseTarget, export_repository, project_status

#: the root commands of this module, in the order ``register`` adds them
_COMMANDS: list[Callable[..., None]] = []


def _command(fn: Callable[..., None]) -> Callable[..., None]:
    _COMMANDS.append(fn)
    return fn


def _progress_table(consumers: Sequence[Consumer], status: ProjectStatus, counts: dict[str, dict[str, int | str]],
                    elapsed: float) -> Table:
    table = Table(title=f"project {status.project_id} — {elapsed:.1f}s", expand=False)
    table.add_column("consumer")
    table.add_column("handled", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("state / last event")

    for c in consumers:
        row = counts.get(c.name, {})
        state = ""
        instances = [f for key, f in sorted(status.flows.items()) if key == c.name or key.startswith(f"{c.name}/")]
        if c.kind == "coordinator" and instances:
            state = " ".join(f"[bold]{f['state']}[/]" + (f" [red]{f['failure']}[/]" if f.get("failure") else "")
                             for f in instances)
        else:
            state = str(row.get("last", ""))
        table.add_row(f"{c.kind[0]}:{c.name}", str(row.get("ok", 0)), str(row.get("bad", 0)), state)
    return table


@_command
def run(
    intent: Annotated[str, typer.Argument(help="intent file (YAML or JSON), e.g. examples/task-tracker.yaml, or "
                                               "the product described in quotes (drafted by the model first)")],
    run_id: Annotated[str, typer.Option(help="salt for a fresh project from the same intent")] = "",
    timeout: Annotated[float, typer.Option(help="give up after this many seconds")] = 900.0,
    out: Annotated[Path | None, typer.Option(help="where to write the generated repository")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the summary as JSON here")] = None,
    quiet: Annotated[bool, typer.Option(help="no live table")] = False,
    env: Annotated[str | None, typer.Option(help="release environment (default FACTORY_RELEASE_ENVIRONMENT); "
                                                 "one that requires approval waits for `factory approve`")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="accept a valid draft of a free-text intent without asking")]
    = False,
    record: intent_cli.RecordOpt = None,
    replay: intent_cli.ReplayOpt = None,
) -> None:
    """Take an intent to a released, tested service on the embedded runtime, with live progress."""

    overrides = intent_cli.model_overrides(record, replay)
    argument = intent_cli.read_argument(intent, **overrides)  # refuses a bad intent before anything is opened
    rt = open_runtime(**overrides)
    started_at = time.perf_counter()
    counts: dict[str, dict[str, int | str]] = {}

    def on_delivery(d: Delivery) -> None:
        row = counts.setdefault(d.subscription, {"ok": 0, "bad": 0, "last": ""})
        key = "ok" if d.outcome == "completed" else "bad"
        row[key] = int(row[key]) + 1
        row["last"] = f"{d.event_type} ({d.outcome})"

    host, _ = build_host(rt, on_delivery=on_delivery)
    environment = env or rt.settings.release_environment
    project = intent_cli.start_from_argument(
        rt, host, argument, yes=yes, run_id=run_id, timeout=timeout,
        release=ReleaseTarget(environment, rt.settings.requires_approval(environment)))
    console.print(f"[bold]project[/] {project.project_id}  [bold]trace[/] {project.trace_id}")
    install_sigint(host)
    status = project_status(rt, project.project_id)
    if quiet or not console.is_terminal:
        drive(rt, host, project.project_id, timeout=timeout)
    else:
        with Live(_progress_table(rt.consumers, status, counts, 0), console=console, refresh_per_second=4) as live:
            drive(rt, host, project.project_id, timeout=timeout, on_tick=lambda st: live.update(
                _progress_table(rt.consumers, st, counts, time.perf_counter() - started_at)))
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
        "tests": status.tests, "testsByService": status.tests_by_service,
        "elapsedSeconds": round(elapsed, 3), "events": len(status.events),
        "flows": {k: v["state"] for k, v in status.flows.items()},
    }
    summary["modelUsage"] = intent_cli.print_usage(status.events)
    if json_out:
        json_out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    table = Table(title="summary", show_header=False)
    for key in ("projectId", "traceId", "outcome", "repository", "elapsedSeconds", "events"):
        table.add_row(key, str(summary[key]))
    for service, t in sorted(status.tests_by_service.items()):  # one row per generated service
        table.add_row(f"generated tests ({service})",
                      f"{t['type']}: {t.get('passed')} passed, {t.get('failed')} failed, "
                      f"{t.get('errors', 0)} errors in {t.get('durationMs')} ms")
    console.print(table)
    if status.outcome is None and status.flows.get("release-manager", {}).get("state") == "awaitingApproval":
        raise fail(f"project {project.project_id} waits for a person to approve its release to {environment}",
                    f"{environment} requires approval (FACTORY_APPROVAL_REQUIRED)",
                    f"`factory approve {project.project_id} --as NAME --reason TEXT` (or Studio) while "
                    "`factory host` runs", 3)
    if status.outcome != "released":
        why = status.reason or ("timed out" if elapsed > timeout else
                                "the flows are waiting for events that never came")
        raise fail(f"project {project.project_id} did not release (outcome: {status.outcome or 'unfinished'})",
                    why, f"inspect with `factory status {project.project_id}` and "
                    f"`factory trace {project.trace_id}`; fix, then `factory flow retry {project.project_id} "
                    "--flow <flow>` or run again with --run-id")


@_command
def host(
    port: Annotated[int, typer.Option(help="Studio and HTTP API port on localhost (0 = no HTTP)")] = 7071,
    until_idle: Annotated[bool, typer.Option(help="exit when nothing is due and nothing in flight")] = False,
    verbose: Annotated[bool, typer.Option(help="print every delivery")] = True,
) -> None:
    """Run function_app's triggers on the embedded bus (and Studio + the HTTP API on localhost) until Ctrl-C."""

    rt = open_runtime()

    def on_delivery(d: Delivery) -> None:
        if verbose:
            colour = "green" if d.outcome == "completed" else "red"
            console.print(f"[{colour}]{d.outcome:>13}[/] {d.function} ← {d.event_type} {d.message_id[:8]} "
                          f"(delivery {d.delivery_count}, {d.duration_ms:.1f} ms)"
                          + (f" [red]{d.error}[/]" if d.error else ""))

    lh, http = build_host(rt, on_delivery=on_delivery)
    server = None
    if port and http:

        server = serve(http, port)
        console.print(f"Studio on {server.url}/ · HTTP API on {server.url}/api ({len(http)} functions)")
    console.print(f"hosting {len(lh.functions)} Service Bus functions on the embedded bus "
                  f"({rt.settings.factory_home}); Ctrl-C to stop")
    console.print(f"model: {rt.model_description()}")
    install_sigint(lh)
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


@_command
def publish(
    file: Annotated[Path, typer.Argument(help="JSON/YAML with {type, version?, data, tenantId?, projectId?}")],
) -> None:
    """Validate, sign and publish one event from a file (a new trace)."""


    rt = open_runtime()
    doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    try:
        data = doc.get("data", {})
        env = rt.publisher.publish_new(Emit(doc["type"], data, version=doc.get("version")), source="cli",
                                       tenant_id=doc.get("tenantId", "default"),
                                       project_id=doc.get("projectId") or data.get("projectId"))
    except (ContractError, KeyError, AttributeError) as exc:
        raise fail(f"{file} was not published", str(exc), "fix the event and run `factory events validate`",
                    2) from exc
    console.print(f"published {env.type}@{env.version} id={env.id} trace={env.trace_id}")


def register(app: typer.Typer) -> None:
    """Add this module's root commands to ``app``."""
    for fn in _COMMANDS:
        app.command()(fn)
