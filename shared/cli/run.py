"""``factory run``, ``factory host``, ``factory publish``: work on the embedded runtime."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from shared.bootstrap import api_token_of, host_registration
from shared.cli import intent as intent_cli
from shared.cli.common import BAD_INPUT, FAILED, INTERRUPTED, did_you_mean, fail, install_sigint, open_runtime, warn
from shared.cli.inputs import read_document
from shared.cli.output import console, esc, json_to_stdout, say, write_json
from shared.cli.report import advice, build_report, print_report, print_trace
from shared.contracts.errors import ContractError
from shared.contracts.manifests import Consumer, all_subscriptions
from shared.host.access import serve_local
from shared.host.local import Delivery, build_host, drive
from shared.ports.skills import Emit
from shared.product.findings import findings_text
from shared.product.intent import Intent, IntentError, load_intent
from shared.product.projects import (
    ProjectStatus,
    ReleaseTarget,
    export_repository,
    list_projects,
    project_status,
    start_project,
)

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
            state = " ".join(f"[bold]{escape(f['state'])}[/]" + (f" [red]{escape(f['failure'])}[/]"
                                                                 if f.get("failure") else "") for f in instances)
        else:
            state = escape(str(row.get("last", "")))
        table.add_row(f"{c.kind[0]}:{c.name}", str(row.get("ok", 0)), str(row.get("bad", 0)), state)
    return table


def _same_command(intent: str, run_id: str, env: str | None, out: Path | None) -> str:
    words = ["factory", "run", intent]
    if run_id:
        words += ["--run-id", run_id]
    if env:
        words += ["--env", env]
    if out:
        words += ["--out", str(out)]
    return " ".join(shlex.quote(w) for w in words)


def read_intent(intent: Path) -> Intent:
    """The intent from a file, or an error (exit 2) with one line per problem; nothing is published."""
    if not intent.exists():
        raise fail(f"intent file {intent} does not exist", "the path is wrong",
                   "pass a file like examples/task-tracker.yaml", BAD_INPUT)
    if intent.is_dir():
        raise fail(f"{intent} is a folder, not an intent file", "an intent is one YAML or JSON file",
                   "pass a file like examples/task-tracker.yaml", BAD_INPUT)
    try:
        return load_intent(intent)
    except IntentError as exc:
        count = len(exc.problems)
        raise fail(f"{exc.source} is not a valid intent", f"{count} problem{'s' if count != 1 else ''} (listed above); "
                   "nothing was published",
                   "fix the fields above (schema: contracts/intent.schema.json, examples: examples/*.yaml) and run "
                   "the command again", BAD_INPUT, problems=[str(p) for p in exc.problems]) from exc


@_command
def run(
    intent: Annotated[str, typer.Argument(help="intent file (YAML or JSON), e.g. examples/task-tracker.yaml, or the "
                                               "product described in quotes (a model drafts the intent first)",
                                          metavar="INTENT|TEXT")],
    run_id: Annotated[str, typer.Option(help="salt for a fresh project from the same intent", metavar="ID")] = "",
    timeout: Annotated[float, typer.Option(help="give up after this many seconds", metavar="SECONDS")] = 900.0,
    out: Annotated[Path | None, typer.Option(help="where to write the generated repository "
                                                  "(default FACTORY_HOME/repos/PROJECT)", metavar="DIR")] = None,
    json_out: Annotated[str | None, typer.Option("--json", help="write the summary as JSON to FILE (- for stdout)",
                                                 metavar="FILE|-")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print the summary only")] = False,
    trace: Annotated[bool, typer.Option("--trace", help="print the trace tree before the summary (bookkeeping "
                                                       "events hidden; `factory trace ID --all` shows them)")] = False,
    env: Annotated[str | None, typer.Option(help="release environment (default FACTORY_RELEASE_ENVIRONMENT); "
                                                 "one that requires approval waits for `factory approve`",
                                            metavar="ENV")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="TEXT: accept a valid draft the model wrote without asking")
                   ] = False,
    record: intent_cli.RecordOpt = None,
    replay: intent_cli.ReplayOpt = None,
) -> None:
    """Take an intent to a released, tested service on the embedded runtime, with live progress.

    Run the same command again to resume a project that was interrupted or waits for a decision.
    """

    overrides = intent_cli.model_overrides(record, replay)
    # refused before anything is opened: a bad intent file, or free text without a model
    argument = read_intent(Path(intent)) if not intent_cli.is_free_text(intent) else \
        intent_cli.free_text(intent, **overrides)
    to_stdout = json_to_stdout(json_out)
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
    release = ReleaseTarget(environment, rt.settings.requires_approval(environment))
    if isinstance(argument, Intent):
        project = start_project(rt, argument, run_id=run_id, release=release)
    else:  # free text: drafted by the model, shown, confirmed (or --yes), then the same run
        project = intent_cli.start_from_text(rt, host, argument, yes=yes, run_id=run_id, release=release,
                                             timeout=timeout, stderr=to_stdout)
    if not quiet and not to_stdout:
        say(f"[bold]project[/] {esc(project.project_id)}  [bold]trace[/] {esc(project.trace_id)}")
    interrupted = install_sigint(host)
    status = project_status(rt, project.project_id)
    if status.done:  # a finished project may have work waiting (`flow retry`, a decision): apply it first
        host.run_until_idle(max_seconds=timeout)
    if quiet or to_stdout or not console.is_terminal:
        drive(rt, host, project.project_id, timeout=timeout)
    else:
        with Live(_progress_table(rt.consumers, status, counts, 0), console=console, refresh_per_second=4) as live:
            drive(rt, host, project.project_id, timeout=timeout, on_tick=lambda st: live.update(
                _progress_table(rt.consumers, st, counts, time.perf_counter() - started_at)))
    host.close()
    elapsed = time.perf_counter() - started_at
    same = _same_command(intent, run_id, env, out)
    if interrupted.requested:
        raise fail(f"interrupted: project {project.project_id} is not finished", "Ctrl-C stopped the local host "
                   "after its in-flight handlings; nothing is lost", f"run the same command again to resume: `{same}`",
                   INTERRUPTED)
    status = project_status(rt, project.project_id)
    repo_dir = out or (Path(rt.settings.factory_home) / "repos" / project.project_id)
    commit = export_repository(rt, project.project_id, repo_dir) if status.events else None
    report = build_report(rt, project.project_id, repository=repo_dir, commit=commit, elapsed=elapsed)
    report.next_steps = advice(report, rerun=same)
    if trace and not to_stdout:
        print_trace(rt, project.trace_id)
    if json_out:
        write_json(report.to_dict(), json_out)
    if not to_stdout:
        print_report(report, show_next=False)
    if report.outcome == "released":
        return
    if report.outcome == "awaiting approval":
        why = f"{environment} requires approval (FACTORY_APPROVAL_REQUIRED)"
        held = report.blocking_findings()
        if held:
            why = (f"findings hold the release until a person overrides them ({findings_text(held)}); the approval "
                   "is recorded with who and why")
        raise fail(f"project {project.project_id} waits for a person to approve its release to {environment}",
                   why, report.next_steps[0], FAILED)
    why = status.reason or ("timed out" if elapsed > timeout else
                            "the flows stopped waiting for events that never came (see `factory dlq list`)")
    raise fail(f"project {project.project_id} did not release (outcome: {report.outcome})", why,
               "; ".join(report.next_steps) or f"inspect with `factory status {project.project_id}`", FAILED)


@_command
def host(
    port: Annotated[int, typer.Option(help="Studio and HTTP API port on localhost (0 = no HTTP)",
                                      metavar="PORT", min=0, max=65535)] = 7071,
    until_idle: Annotated[bool, typer.Option("--until-idle", help="exit when nothing is due and nothing in flight")
                          ] = False,
    verbose: Annotated[bool, typer.Option("--verbose/--quiet", help="print every delivery (--quiet: only "
                                                                    "start and stop)")] = True,
) -> None:
    """Run function_app's triggers on the embedded bus (and Studio + the HTTP API on localhost) until Ctrl-C.

    Ctrl-C (or SIGTERM) lets in-flight handlings finish; nothing is lost, and the next `factory host` or
    `factory run` carries on.
    """

    rt = open_runtime()

    def on_delivery(d: Delivery) -> None:
        if verbose:
            colour = "green" if d.outcome == "completed" else "red"
            say(f"[{colour}]{d.outcome:>13}[/] {esc(d.function)} ← {esc(d.event_type)} {esc(d.message_id)} "
                f"(delivery {d.delivery_count}, {d.duration_ms:.1f} ms)"
                + (f" [red]{esc(d.error)}[/]" if d.error else ""))

    lh, http = build_host(rt, on_delivery=on_delivery)
    server = None
    if port and http:
        token = api_token_of(rt.settings)
        try:
            server = serve_local(http, port, token)
        except OSError as exc:
            raise fail(f"cannot listen on 127.0.0.1:{port}", exc.strerror or str(exc),
                       f"stop what uses port {port}, or pass --port N (0 = no HTTP)", BAD_INPUT) from exc
        say(f"Studio on {esc(server.url)}/?token={esc(token)} · HTTP API on {esc(server.url)}/api ({len(http)} "
            f"functions; changes need `Authorization: Bearer <token>`, the token is in "
            f"{esc(rt.settings.api_token_path)})")
    say(f"hosting {len(lh.functions)} Service Bus functions on the embedded bus "
        f"({esc(rt.settings.factory_home)}); Ctrl-C to stop")
    say(f"model: {esc(rt.model_description())}")
    install_sigint(lh)
    try:
        with host_registration(rt.settings):
            if until_idle:
                lh.run_until_idle()
            else:
                lh.run()
    finally:
        lh.close()
        if server is not None:
            server.shutdown()
    say(f"stopped after {lh.deliveries} deliveries")
    if until_idle:
        unfinished = [p["projectId"] for p in list_projects(rt) if not project_status(rt, p["projectId"]).done]
        if unfinished:
            raise fail(f"{len(unfinished)} project(s) are not finished: {', '.join(unfinished[:10])}",
                       "they wait for a person (approval), a timer, or a flow that is stuck",
                       "see `factory status <project>`; approve, retry or cancel it, then run the host again",
                       FAILED)


def _receivers(rt: Any, event_type: str) -> tuple[list[str], list[str] | None]:
    """(subscriptions, consumers' and lanes', whose manifest takes ``event_type``; of those the ones that exist
    on the bus — None when the bus cannot list its subscriptions, as on Azure where the Bicep creates them all)."""
    consumers = sorted(s.name for s in all_subscriptions(rt.consumers) if event_type in s.event_types)
    listing = getattr(rt.receiver, "subscriptions", None)
    if not callable(listing):
        return consumers, None
    existing = {spec.name for spec in listing()}
    return consumers, [c for c in consumers if c in existing]


@_command
def publish(
    file: Annotated[Path, typer.Argument(help="JSON/YAML with {type, version?, data, tenantId?, projectId?}",
                                         metavar="FILE")],
    force: Annotated[bool, typer.Option("--force", help="publish even when no subscription would receive it")
                     ] = False,
) -> None:
    """Validate, sign and publish one event from a file (a new trace).

    Refused when no subscription would receive the event (a type nobody consumes, or a fresh
    FACTORY_HOME where no host has created the subscriptions yet), unless --force.
    """

    doc = read_document(file, "event file", "{type: ProjectInitialized, data: {...}}")
    event_type, data = doc.get("type"), doc.get("data", {})
    problems = []
    if not isinstance(event_type, str) or not event_type:
        problems.append("type: required, the event's name as text (e.g. ProjectInitialized)")
    if not isinstance(data, dict):
        problems.append(f"data: must be a mapping, not {type(data).__name__}")
    for key in ("version", "tenantId", "projectId"):
        if key in doc and not isinstance(doc[key], str):
            problems.append(f"{key}: must be text, not {type(doc[key]).__name__} (quote it in YAML)")
    if problems:
        raise fail(f"{file} is not an event", "the file has the wrong shape",
                   "write {type, version?, data, tenantId?, projectId?}; `factory events validate FILE` checks it",
                   BAD_INPUT, problems=problems)
    assert isinstance(event_type, str) and isinstance(data, dict)
    rt = open_runtime()
    if event_type not in rt.registry.types():
        raise fail(f"{file} was not published", f"no contract is named {event_type!r}",
                   did_you_mean(event_type, rt.registry.types(), "event types")
                   + " (`factory events list` shows them all)", BAD_INPUT)
    consumers, existing = _receivers(rt, event_type)
    if not force and (not consumers or existing == []):
        if not consumers:
            why = f"no consumer's manifest subscribes to {event_type}, so no subscription would receive it"
            fix = "publish an event a consumer takes (`factory topology` shows who takes what), or --force"
        else:
            why = (f"no subscription exists in {rt.settings.factory_home} yet (a fresh home): the bus would drop "
                   f"it; {', '.join(consumers)} would take it once a host has created the subscriptions")
            fix = "start `factory host` once (it creates the subscriptions), then publish again; or --force"
        raise fail(f"{file} was not published", why, fix, BAD_INPUT)
    project = doc.get("projectId") or data.get("projectId")
    try:
        env = rt.publisher.publish_new(Emit(event_type, data, version=doc.get("version")), source="cli",
                                       tenant_id=doc.get("tenantId", "default"),
                                       project_id=project if isinstance(project, str) else None)
    except ContractError as exc:
        raise fail(f"{file} was not published", str(exc), "fix the event (`factory events validate FILE` checks it)",
                   BAD_INPUT) from exc
    receivers = existing if existing is not None else consumers
    say(f"published {esc(env.type)}@{esc(env.version)} id={esc(env.id)} trace={esc(env.trace_id)}")
    if receivers:
        say(f"subscriptions that receive it: {esc(', '.join(receivers))} (a running `factory host` handles it)")
    else:
        warn("published with --force: no subscription receives it")


def register(app: typer.Typer) -> None:
    """Add this module's root commands to ``app``."""
    for fn in _COMMANDS:
        app.command()(fn)
