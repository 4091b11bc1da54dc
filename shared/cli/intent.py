"""``factory intent draft|show|confirm``, and free text as the argument of ``factory run``.

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

from shared.bootstrap import Runtime
from shared.cli.common import BAD_INPUT, FAILED, fail, open_runtime, warn
from shared.cli.output import esc, say, say_raw
from shared.host.local import LocalHost, build_host
from shared.product.drafts import DraftError, DraftStatus, confirm_draft, draft_status, submit_text
from shared.product.intent import IntentError, load_intent
from shared.product.projects import ReleaseTarget, StartedProject
from shared.product.usage import model_usage
from shared.settings import ModelProvider, load_settings

app = typer.Typer(no_args_is_help=True, help="Free-text intents: draft one from a description, show it, confirm it.")

RecordOpt = Annotated[Path | None, typer.Option(
    "--record", help="record every model answer into DIR (replay them later with --replay)", metavar="DIR")]
ReplayOpt = Annotated[Path | None, typer.Option(
    "--replay", help="answer every model call from the answers recorded in DIR (no network)", metavar="DIR")]
DraftArg = Annotated[str, typer.Argument(help="the draft's project id", metavar="DRAFT_ID")]


def model_overrides(record: Path | None, replay: Path | None) -> dict[str, object]:
    """Settings overrides for ``--record``/``--replay``."""
    overrides: dict[str, object] = {}
    if record is not None:
        overrides["model_record_dir"] = record
    if replay is not None:
        overrides["model_replay_dir"] = replay
    return overrides


def is_free_text(argument: str) -> bool:
    """Not a path to an intent: no such file, and not shaped like a path (one word with a slash or .yaml)."""
    if Path(argument).exists():
        return False
    word = argument.strip()
    return not (" " not in word and "\n" not in word and (word.endswith((".yaml", ".yml", ".json")) or "/" in word))


def free_text(argument: str, **overrides: object) -> str:
    """The text, once the settings show a model can read it; otherwise an error (exit 2), nothing written."""
    try:
        settings = load_settings(**overrides)
    except ValueError as exc:
        raise fail("the settings are not usable", str(exc), "fix the option or the setting named above",
                   BAD_INPUT) from exc
    if settings.model_provider is ModelProvider.none and settings.model_replay_dir is None:
        raise fail("a description in free text needs a model to read it, and no model is configured",
                   "FACTORY_MODEL_PROVIDER is unset, so only the deterministic skills run (they need an intent "
                   "written as YAML)",
                   "write the intent as YAML (examples/task-tracker.yaml), configure a model (README, \"Model-backed "
                   "skills\"), replay recorded answers with --replay DIR, or get a skeleton to fill in with "
                   "`factory intent draft TEXT`", BAD_INPUT)
    return argument


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
        raise fail(f"the draft {project_id} was not written within {timeout:g} s",
                   "the intent-drafter did not answer (a slow or rate-limited model is retried)",
                   f"keep `factory host` running, then `factory intent show {project_id}`", FAILED)
    return status


def _cost(value: float | None) -> str:
    return "cost unknown (no price for the model)" if value is None else f"{value:.4f} USD"


def print_draft(status: DraftStatus, *, stderr: bool = False) -> None:
    """The draft as a person reviews it: the intent as YAML, open questions, assumptions, problems, usage."""
    say(f"[bold]draft[/] {esc(status.project_id)}  [bold]state[/] {esc(status.state)}", stderr=stderr)
    if status.failure:
        say(f"[red]drafting failed:[/] {esc(status.failure)}", stderr=stderr)
    draft = status.draft
    if draft is None:
        return
    skeleton = "" if draft["draftedBy"] == "model" else " [yellow](a skeleton: fill it in before confirming)[/]"
    say(f"drafted by: {esc(draft['draftedBy'])}{skeleton}", stderr=stderr)
    say_raw(yaml.safe_dump(draft["intent"], sort_keys=False, allow_unicode=True).rstrip(), stderr=stderr)
    for title, key in (("open questions", "openQuestions"), ("assumed", "assumptions"), ("problems", "problems")):
        if draft.get(key):
            say(f"[bold]{title}:[/]", stderr=stderr)
            for item in draft[key]:
                say(f"  - {esc(item)}", stderr=stderr)
    usage = model_usage({"type": "SkillUsed", "data": u} for u in status.usage)
    if usage["calls"]:
        say(f"model: {usage['calls']} call(s), {usage['promptTokens']}+{usage['completionTokens']} tokens, "
            f"{esc(_cost(usage['costUsd']))}", stderr=stderr)


def _confirm(rt: Runtime, status: DraftStatus, *, edit: Path | None) -> StartedProject:
    try:
        edited = load_intent(edit) if edit is not None else None
    except IntentError as exc:
        raise fail(f"{edit} is not a valid intent", f"{len(exc.problems)} problem(s) (listed above)",
                   "fix the file and confirm again", BAD_INPUT, problems=[str(p) for p in exc.problems]) from exc
    try:
        return confirm_draft(rt, status.project_id, intent=edited, source="cli")
    except DraftError as exc:
        raise fail(f"the draft {status.project_id} was not confirmed", str(exc),
                   f"`factory intent show {status.project_id}`; confirm your own version with --edit FILE",
                   BAD_INPUT) from exc


def start_from_text(rt: Runtime, host: LocalHost, text: str, *, yes: bool, run_id: str, release: ReleaseTarget,
                    timeout: float, stderr: bool = False) -> StartedProject:
    """``factory run TEXT``: draft, show, confirm (``--yes`` or a prompt in a terminal); then the run goes on."""
    say(f"[bold]model[/] {esc(rt.model_description())}", stderr=stderr)
    try:
        submitted = submit_text(rt, text, run_id=run_id, release=release)
    except DraftError as exc:
        raise fail("the description was not submitted", str(exc), "shorten or complete it", BAD_INPUT) from exc
    status = wait_for_draft(rt, host, submitted.project_id, timeout=timeout)
    print_draft(status, stderr=stderr)
    if status.state == "confirmed":
        say("this draft was confirmed before: following its project", stderr=stderr)
        return StartedProject(status.project_id, status.trace_id, submitted.event)
    if status.state == "failed":
        raise fail(f"no draft for {status.project_id}", str(status.failure),
                   f"see `factory trace {status.trace_id}`; fix the model settings and run the command again", FAILED)
    draft: dict[str, Any] = status.draft or {}
    if yes and draft.get("draftedBy") == "model" and draft.get("valid"):
        return _confirm(rt, status, edit=None)
    if not yes and not stderr and typer.get_text_stream("stdin").isatty() and draft.get("valid") \
            and typer.confirm("Start the project with this intent?", default=False):
        return _confirm(rt, status, edit=None)
    why = ("--yes accepts only a valid draft the model wrote; this one needs a person" if yes
           else "the draft waits for a person to confirm it")
    raise fail(f"draft {status.project_id} is not confirmed", why,
               f"review it, then `factory intent confirm {status.project_id}` (to start from your own version: "
               f"`factory intent show {status.project_id} --yaml > intent.yaml`, edit, then "
               f"`factory intent confirm {status.project_id} --edit intent.yaml`)", FAILED)


# ----------------------------------------------------------------------------- factory intent ...


@app.command()
def draft(
    text: Annotated[str, typer.Argument(help="the product in your own words, in quotes", metavar="TEXT")],
    run_id: Annotated[str, typer.Option(help="salt for a fresh draft of the same text", metavar="ID")] = "",
    env: Annotated[str | None, typer.Option(help="release environment of the project once confirmed",
                                            metavar="ENV")] = None,
    owner: Annotated[str | None, typer.Option(help="who to notify about the project (an email; masked)",
                                              metavar="EMAIL")] = None,
    timeout: Annotated[float, typer.Option(help="give up waiting for the draft after this many seconds",
                                           metavar="SECONDS")] = 300.0,
    record: RecordOpt = None,
    replay: ReplayOpt = None,
) -> None:
    """Submit a description and wait for the drafted intent (the drafter runs on the embedded host).

    Without a model the draft is a skeleton with one placeholder entity, for you to fill in.
    """
    rt = open_runtime(**model_overrides(record, replay))
    if rt.model is None:
        warn(f"model: {rt.model_description()}")
    else:
        say(f"[bold]model[/] {esc(rt.model_description())}")
    environment = env or rt.settings.release_environment
    host, _ = build_host(rt)  # first: its subscriptions exist before the text is published
    try:
        try:
            submitted = submit_text(rt, text, run_id=run_id, owner_email=owner,
                                    release=ReleaseTarget(environment, rt.settings.requires_approval(environment)))
        except DraftError as exc:
            raise fail("the description was not submitted", str(exc), "shorten or complete it", BAD_INPUT) from exc
        status = wait_for_draft(rt, host, submitted.project_id, timeout=timeout)
    finally:
        host.close()
    print_draft(status)
    if status.state == "drafted":
        say(f"[bold]next:[/] `factory intent confirm {esc(status.project_id)}` (or --edit FILE with your version)")


def _require_draft(rt: Runtime, draft_id: str) -> DraftStatus:
    status = draft_status(rt, draft_id)
    if status is None:
        raise fail(f"no draft {draft_id}", "no description was submitted under this id",
                   "submit one with `factory intent draft TEXT`", BAD_INPUT)
    return status


@app.command()
def show(
    draft_id: DraftArg,
    as_yaml: Annotated[bool, typer.Option("--yaml", help="print only the drafted intent as YAML (to edit)")] = False,
) -> None:
    """Show a draft: the intent, its open questions, assumptions and problems."""
    status = _require_draft(open_runtime(), draft_id)
    if as_yaml:
        if status.draft is None:
            raise fail(f"the draft {draft_id} is not written yet", f"it is {status.state}",
                       "keep `factory host` running until IntentDrafted, then show it again", BAD_INPUT)
        say_raw(yaml.safe_dump(status.draft["intent"], sort_keys=False, allow_unicode=True).rstrip())
        return
    print_draft(status)


@app.command()
def confirm(
    draft_id: DraftArg,
    edit: Annotated[Path | None, typer.Option(help="start from this intent file instead (your edit of the draft)",
                                              metavar="FILE")] = None,
) -> None:
    """Confirm a draft: the project starts from it (or from --edit FILE) under the draft's ids."""
    rt = open_runtime()
    started = _confirm(rt, _require_draft(rt, draft_id), edit=edit)
    say(f"confirmed: project {esc(started.project_id)} started (trace {esc(started.trace_id)}); a running "
        f"`factory host` builds it — follow it with `factory status {esc(started.project_id)}`")
