"""``factory intent draft|show|confirm``: free-text intents, and the intent argument of ``factory run``.

A description in free text is submitted (``IntentSubmitted``), the intent-drafter agent drafts a structured
intent with its open questions (``IntentDrafted``), a person confirms it (or ``--yes`` accepts a valid
draft the model wrote), and the confirmed intent starts the project as a YAML intent does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from shared.bootstrap import Runtime
from shared.cli.common import console, err, fail, open_runtime
from shared.host.local import LocalHost, build_host
from shared.product.drafts import DraftError, DraftStatus, confirm_draft, draft_status, submit_text
from shared.product.intent import Intent, IntentError, load_intent
from shared.product.projects import ReleaseTarget, StartedProject, start_project
from shared.product.usage import model_usage
from shared.settings import ModelProvider, load_settings

app = typer.Typer(no_args_is_help=True, help="Free-text intents: draft one from a description, show it, confirm it.")

#: exit code when a draft waits for a person (not an error: the next command is printed)
WAITS_FOR_CONFIRMATION = 3

RecordOpt = Annotated[Path | None, typer.Option(
    "--record", help="record every model answer into this folder (replay it later with --replay)")]
ReplayOpt = Annotated[Path | None, typer.Option(
    "--replay", help="answer every model call from answers recorded in this folder (no network)")]


def model_overrides(record: Path | None, replay: Path | None) -> dict[str, object]:
    """Settings overrides for ``--record``/``--replay``."""
    overrides: dict[str, object] = {}
    if record is not None:
        overrides["model_record_dir"] = record
    if replay is not None:
        overrides["model_replay_dir"] = replay
    return overrides


def looks_like_a_path(argument: str) -> bool:
    return "\n" not in argument and (argument.endswith((".yaml", ".yml", ".json")) or "/" in argument) \
        and " " not in argument.strip()


def wait_for_draft(rt: Runtime, host: LocalHost, project_id: str, *, timeout: float) -> DraftStatus:
    """Run the local host until the drafter has answered (or failed) for ``project_id``."""
    started = time.perf_counter()
    last = 0.0

    def settled() -> bool:
        nonlocal last
        now = time.perf_counter()
        if now - last < 0.05:
            return False
        last = now
        status = draft_status(rt, project_id)
        return (status is not None and status.settled) or now - started > timeout

    host.run(until=settled)
    status = draft_status(rt, project_id)
    if status is None or not status.settled:
        raise fail(f"the draft {project_id} was not written within {timeout:g}s", "the intent-drafter did not "
                   "answer (a slow or rate-limited model is retried)",
                   f"run `factory host` and then `factory intent show {project_id}`", 1)
    return status


def print_draft(status: DraftStatus) -> None:
    """The draft as a person reviews it: the intent as YAML, open questions, assumptions, problems, usage."""
    console.print(f"[bold]draft[/] {status.project_id}  [bold]state[/] {status.state}")
    if status.failure:
        err.print(f"[red]drafting failed:[/] {status.failure}")
    draft = status.draft
    if draft is None:
        return
    console.print(f"drafted by: {draft['draftedBy']}" + ("" if draft["draftedBy"] == "model" else
                                                          " [yellow](a skeleton: edit it before confirming)[/]"))
    console.print(yaml.safe_dump(draft["intent"], sort_keys=False, allow_unicode=True).rstrip())
    for title, key in (("open questions", "openQuestions"), ("assumed", "assumptions"), ("problems", "problems")):
        if draft.get(key):
            console.print(f"[bold]{title}:[/]")
            for item in draft[key]:
                console.print(f"  - {item}")
    usage = model_usage({"type": "SkillUsed", "data": u} for u in status.usage)
    if usage["calls"]:
        console.print(f"model: {usage['calls']} call(s), {usage['promptTokens']}+{usage['completionTokens']} tokens, "
                      f"{_cost(usage['costUsd'])}")


def _cost(value: float | None) -> str:
    return "cost unknown (no price for the model)" if value is None else f"{value:.4f} USD"


def _confirmed(rt: Runtime, status: DraftStatus, *, edit: Path | None, source: str = "cli") -> StartedProject:
    try:
        edited = load_intent(edit) if edit is not None else None
    except IntentError as exc:
        raise fail(f"{edit} is not a valid intent", str(exc), "fix the file and confirm again", 2) from exc
    try:
        return confirm_draft(rt, status.project_id, intent=edited, source=source)
    except DraftError as exc:
        raise fail(f"the draft {status.project_id} was not confirmed", str(exc),
                   f"`factory intent show {status.project_id}`; then confirm with --edit FILE", 2) from exc


def read_argument(argument: str, **overrides: object) -> Intent | str:
    """``factory run ARGUMENT`` before anything is opened: a valid intent file, or free text a model can read.

    Refuses (exit 2) a bad intent, a missing file, and free text without a model, writing nothing."""
    path = Path(argument)
    if path.is_file():
        try:
            return load_intent(path)
        except IntentError as exc:
            err.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from exc
    if looks_like_a_path(argument):
        raise fail(f"intent file {argument} does not exist", "the path is wrong",
                   "pass a file like examples/task-tracker.yaml, or describe the product in quotes", 2)
    try:
        settings = load_settings(**overrides)
    except ValueError as exc:
        raise fail("the settings are not usable", str(exc), "fix the option or the setting named above", 2) from exc
    if settings.model_provider is ModelProvider.none and settings.model_replay_dir is None:
        raise fail("a description in free text needs a model to read it, and no model is configured",
                   "FACTORY_MODEL_PROVIDER is unset, so only the deterministic skills run (they need an intent "
                   "written as YAML)",
                   "write the intent as YAML (examples/task-tracker.yaml), configure a model (README, 'Model-backed "
                   "skills'), replay recorded answers with --replay DIR, or get a skeleton to fill in with "
                   "`factory intent draft TEXT`", 2)
    return argument


def start_from_argument(rt: Runtime, host: LocalHost, argument: Intent | str, *, yes: bool, run_id: str,
                        release: ReleaseTarget, timeout: float) -> StartedProject:
    """``factory run ARGUMENT``: an intent starts at once; free text is drafted, shown and confirmed first."""
    if isinstance(argument, Intent):
        return start_project(rt, argument, run_id=run_id, release=release)
    console.print(f"[bold]model[/] {rt.model_description()}")
    try:
        submitted = submit_text(rt, argument, run_id=run_id, release=release)
    except DraftError as exc:
        raise fail("the description was not submitted", str(exc), "shorten or complete it", 2) from exc
    status = wait_for_draft(rt, host, submitted.project_id, timeout=timeout)
    print_draft(status)
    if status.state == "failed":
        raise fail(f"no draft for {status.project_id}", str(status.failure),
                   "see `factory trace " + status.trace_id + "`; fix the model settings and run again", 1)
    draft = status.draft or {}
    if status.state == "confirmed":
        console.print("this draft was confirmed before; following its project")
        return StartedProject(status.project_id, status.trace_id, submitted.event)
    if yes and draft.get("draftedBy") == "model" and draft.get("valid"):
        return _confirmed(rt, status, edit=None)
    if not yes and console.is_terminal and draft.get("valid") \
            and typer.confirm("Start the project with this intent?", default=False):
        return _confirmed(rt, status, edit=None)
    why = ("--yes accepts only a valid draft the model wrote; this one needs a person"
           if yes else "the draft waits for a person to confirm it")
    err.print(f"[yellow]{why}.[/] Review it, then `factory intent confirm {status.project_id}` "
              f"(with --edit FILE to start from your own version: `factory intent show {status.project_id} "
              f"--yaml > intent.yaml`).")
    raise typer.Exit(WAITS_FOR_CONFIRMATION)


def print_usage(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The model-usage rows of a run's summary; returns the usage (for the JSON summary)."""
    usage = model_usage(events)
    if not usage["calls"] and not usage["budgetExceeded"]:
        return usage
    table = Table(title="model usage", show_header=True)
    for column in ("agent", "calls", "invalid answers", "cost"):
        table.add_column(column)
    for agent, row in sorted(usage["byAgent"].items()):
        table.add_row(agent, str(row["calls"]), str(row["invalid"]), f"{row['costUsd']:.4f} USD")
    table.add_row("total", str(usage["calls"]), f"{usage['promptTokens']}+{usage['completionTokens']} tokens",
                  _cost(usage["costUsd"]))
    console.print(table)
    for item in usage["degraded"]:
        err.print(f"[yellow]degraded:[/] {item['agent']} ({item['skill']}): {item['reason']}")
    if usage["budgetExceeded"]:
        err.print(f"[bold red]budget exceeded:[/] {usage['budgetExceeded']}")
    return usage


# ----------------------------------------------------------------------------- factory intent ...


@app.command()
def draft(
    text: Annotated[str, typer.Argument(help="the product in your own words, in quotes")],
    run_id: Annotated[str, typer.Option(help="salt for a fresh draft of the same text")] = "",
    env: Annotated[str | None, typer.Option(help="release environment of the project once confirmed")] = None,
    owner: Annotated[str | None, typer.Option(help="who to notify about the project (an email; kept masked)")] = None,
    timeout: Annotated[float, typer.Option(help="give up waiting for the draft after this many seconds")] = 300.0,
    record: RecordOpt = None,
    replay: ReplayOpt = None,
) -> None:
    """Submit a description and wait for the drafted intent (runs the drafter on the embedded host)."""
    rt = open_runtime(**model_overrides(record, replay))
    if rt.model is None:
        err.print(f"[yellow]model:[/] {rt.model_description()}; the draft will be a skeleton for you to fill in")
    else:
        console.print(f"[bold]model[/] {rt.model_description()}")
    environment = env or rt.settings.release_environment
    host, _ = build_host(rt)  # first: the subscriptions exist before the text is published
    try:
        try:
            submitted = submit_text(rt, text, run_id=run_id, owner_email=owner,
                                    release=ReleaseTarget(environment, rt.settings.requires_approval(environment)))
        except DraftError as exc:
            raise fail("the description was not submitted", str(exc), "shorten or complete it", 2) from exc
        status = wait_for_draft(rt, host, submitted.project_id, timeout=timeout)
    finally:
        host.close()
    print_draft(status)
    if status.state == "drafted":
        console.print(f"next: `factory intent confirm {status.project_id}` (or --edit FILE with your own version)")


@app.command()
def show(
    draft_id: Annotated[str, typer.Argument(help="the draft's project id")],
    as_yaml: Annotated[bool, typer.Option("--yaml", help="print only the drafted intent as YAML (to edit)")] = False,
) -> None:
    """Show a draft: the intent, its open questions, assumptions and problems."""
    status = draft_status(open_runtime(), draft_id)
    if status is None:
        raise fail(f"no draft {draft_id}", "no description was submitted under this id",
                   "submit one with `factory intent draft TEXT`", 2)
    if as_yaml:
        if status.draft is None:
            raise fail(f"the draft {draft_id} is not written yet", f"it is {status.state}",
                       "run `factory host` until IntentDrafted, then show it again", 2)
        typer.echo(yaml.safe_dump(status.draft["intent"], sort_keys=False, allow_unicode=True), nl=False)
        return
    print_draft(status)


@app.command()
def confirm(
    draft_id: Annotated[str, typer.Argument(help="the draft's project id")],
    edit: Annotated[Path | None, typer.Option(help="start from this intent file instead (your edit of the draft)")]
    = None,
) -> None:
    """Confirm a draft: the project starts from it (or from --edit FILE) under the draft's ids."""
    rt = open_runtime()
    status = draft_status(rt, draft_id)
    if status is None:
        raise fail(f"no draft {draft_id}", "no description was submitted under this id",
                   "submit one with `factory intent draft TEXT`", 2)
    started = _confirmed(rt, status, edit=edit)
    console.print(f"confirmed: project {started.project_id} started (trace {started.trace_id}); a running "
                  f"`factory host` builds it — follow with `factory status {started.project_id}`")
