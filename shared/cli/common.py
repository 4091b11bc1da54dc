"""What every ``factory`` command shares: one error style, one exit-code scheme, the runtime, Ctrl-C.

Exit codes, the same for every command:

==== =======================================================================
0    done (a read, a run that released, a check that passed)
1    a run or a check failed (the project did not release, a diff is breaking,
     blocking findings, conflicts) or the factory met an unexpected error
2    bad input: a wrong argument, an unknown id, an invalid file; nothing was changed
130  interrupted (Ctrl-C); the command says how to resume
==== =======================================================================

Errors always read ``error: what failed`` / ``why: ...`` / ``next: what to do``, on stderr, one
logical line each (never hard-wrapped, so a suggested command can be copied whole), with any user
text escaped. The consoles and table helpers live in :mod:`shared.cli.output`.
"""

from __future__ import annotations

import difflib
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType

import typer

from shared.bootstrap import DatabaseCorruptError, Runtime, SigningKeyFileError, bootstrap
from shared.cli.output import console, err, esc, say
from shared.host.local import LocalHost
from shared.product.projects import ProjectStatus, list_projects, project_status
from shared.settings import load_settings

__all__ = ["BAD_INPUT", "FAILED", "INTERRUPTED", "OK", "console", "did_you_mean", "err", "fail", "open_runtime"]

OK = 0
FAILED = 1
BAD_INPUT = 2
INTERRUPTED = 130

#: how commands build the runtime; tests replace it to inject fakes (a test runner, a clock)
runtime_factory: Callable[[], Runtime] = bootstrap


def error_text(what: str, why: str, fix: str, problems: Iterable[str] = ()) -> str:
    """The one error style, as Rich markup with every value escaped."""
    lines = [f"[bold red]error:[/] {esc(what)}"]
    lines += [f"  - {esc(p)}" for p in problems]
    lines.append(f"  [bold]why:[/] {esc(why)}")
    if fix:
        lines.append(f"  [bold]next:[/] {esc(fix)}")
    return "\n".join(lines)


def fail(what: str, why: str, fix: str, code: int = FAILED, problems: Iterable[str] = ()) -> typer.Exit:
    """Print what failed, why, and what to do next (one line per problem); return the ``Exit`` to raise."""
    say(error_text(what, why, fix, problems), stderr=True)
    return typer.Exit(code)


def warn(message: str) -> None:
    say(f"[yellow]warning:[/] {esc(message)}", stderr=True)


def did_you_mean(word: str, known: Iterable[str], what: str = "") -> str:
    """``did you mean 'x'?`` when something close exists, else the list of known values (shortened)."""
    known = sorted(set(known))
    scored = sorted(((difflib.SequenceMatcher(None, word, k).ratio(), k) for k in known), reverse=True)
    close = [k for score, k in scored[:3] if score >= 0.75 and score >= scored[0][0] - 0.05]
    if close:
        return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    if not known:
        return f"there are no {what or 'values'} yet"
    shown = ", ".join(known[:12]) + (f" and {len(known) - 12} more" if len(known) > 12 else "")
    return f"known {what or 'values'}: {shown}"


def open_runtime(**overrides: object) -> Runtime:
    """The runtime from the settings, or a clear refusal (no traceback) when a database or a key file of the home
    is broken. ``overrides`` replace settings by field name (``factory run --replay DIR`` sets
    ``model_replay_dir``); without overrides, ``runtime_factory`` builds it (tests inject fakes there)."""
    try:
        return runtime_factory() if not overrides else bootstrap(load_settings(**overrides))
    except (DatabaseCorruptError, SigningKeyFileError) as exc:
        raise fail("cannot open the factory's home", str(exc), "see `factory doctor`") from exc
    except ValueError as exc:
        if not overrides:
            raise
        raise fail("the settings are not usable", str(exc), "fix the option or the setting named above",
                   BAD_INPUT) from exc


def require_project(rt: Runtime, project_id: str) -> ProjectStatus:
    """The project's status, or an error (exit 2) with the closest known project ids."""
    status = project_status(rt, project_id)
    if not status.events:
        known = [str(p["projectId"]) for p in list_projects(rt)]
        raise fail(f"unknown project {project_id}", f"no events were recorded for it in {rt.settings.factory_home}",
                   did_you_mean(project_id, known, "projects") + " (`factory projects list` shows them; "
                   "FACTORY_HOME selects the home)", BAD_INPUT)
    return status


@dataclass
class Interruption:
    """Set when Ctrl-C (or SIGTERM) asked the command to stop; the host finishes in-flight work first."""

    requested: bool = False


def install_sigint(host: LocalHost) -> Interruption:
    """Ctrl-C stops ``host`` after its in-flight handlings (nothing is lost); returns the flag to check."""
    flag = Interruption()

    def handler(_sig: int, _frame: FrameType | None) -> None:
        if not flag.requested:
            say("[yellow]stopping: finishing in-flight handlings; nothing is lost[/]", stderr=True)
        flag.requested = True
        host.stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return flag
