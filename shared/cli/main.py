"""``factory``: the command line of the software factory (embedded by default).

Every sub-command is registered here, explicitly: the root commands from ``run``, ``inspect``,
``generate`` and ``approval``, and one group per module (``projects``, ``artifacts``, ``events``,
``dlq``, ``flow``, ``sandbox``, ``templates``, ``infra``).

:class:`FactoryGroup` is where every command ends: a usage mistake, a user error that escaped a
command, an interrupt or an unexpected exception is printed in the one error style
(:func:`shared.cli.common.error_text`) with the one exit-code scheme (0 ok, 1 failed, 2 bad input,
130 interrupted) — never a traceback, unless ``factory --debug`` asks for it.
"""

from __future__ import annotations

import errno
import sqlite3
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Annotated, Any

import typer
import yaml
from typer.core import TyperGroup

from shared.cli import (
    approval,
    artifacts,
    dlq,
    doctor,
    events,
    flows,
    generate,
    infra,
    inspect,
    intent,
    messaging,
    projects,
    run,
    sandbox,
    templates,
)
from shared.cli.common import BAD_INPUT, FAILED, INTERRUPTED, OK, error_text
from shared.cli.output import say, say_raw
from shared.contracts.errors import ContractError
from shared.product.intent import IntentError
from shared.scaffold.errors import ScaffoldError

#: exceptions that mean the input was wrong (a file, an id, a parameter), not that the factory broke
USER_ERRORS: tuple[type[BaseException], ...] = (ContractError, IntentError, ScaffoldError, yaml.YAMLError,
                                               UnicodeDecodeError, FileNotFoundError, IsADirectoryError,
                                               NotADirectoryError, PermissionError)


def _version() -> str:
    try:
        return package_version("software-factory")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree that was never installed
        return "unknown"


def _command_of(args: Sequence[str]) -> str:
    words = [a for a in args if not a.startswith("-")][:2]
    return " ".join(["factory", *words])


def _kind(exc: BaseException, name: str) -> bool:
    """``exc`` is Click's exception ``name`` (typer may bring its own copy of Click, so match by class name)."""
    return any(c.__name__ == name for c in type(exc).__mro__)


class FactoryGroup(TyperGroup):
    """The root ``factory`` group: turns every way a command can end into one error style and exit code."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,  # always "factory"
             complete_var: str | None = None, standalone_mode: bool = True, windows_expand_args: bool = True,
             **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv[:argv.index("--") if "--" in argv else len(argv)]
        try:
            result = super().main(argv, "factory", complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else OK
        except typer.Exit as exc:
            code = exc.exit_code
        except (typer.Abort, KeyboardInterrupt):
            say(error_text("interrupted", "Ctrl-C", "run the same command again"), stderr=True)
            code = INTERRUPTED
        except Exception as exc:
            if _kind(exc, "NoArgsIsHelpError"):
                ctx = getattr(exc, "ctx", None)
                say_raw(ctx.get_help() if ctx is not None else str(exc))
                code = OK if ctx is None or ctx.parent is None else BAD_INPUT
            elif _kind(exc, "UsageError"):
                ctx = getattr(exc, "ctx", None)
                command = ctx.command_path if ctx is not None else "factory"
                message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
                say(error_text(message, f"`{command}` does not take these arguments", f"see `{command} --help`"),
                    stderr=True)
                code = BAD_INPUT
            elif _kind(exc, "Exit"):  # Click's own Exit, from an older typer
                code = int(getattr(exc, "exit_code", OK))
            elif _kind(exc, "Abort"):
                say(error_text("interrupted", "Ctrl-C", "run the same command again"), stderr=True)
                code = INTERRUPTED
            elif debug:
                raise
            elif _storage_failure(exc):
                say(error_text(f"`{_command_of(argv)}` could not write the factory's home",
                               f"{type(exc).__name__}: {exc} (the disk is full, a file size limit was reached, or "
                               "the home is on a read-only or failing file system)",
                               "free space or lift the limit, then `factory doctor` checks the home and the same "
                               "command resumes"), stderr=True)
                code = FAILED
            elif isinstance(exc, USER_ERRORS):
                say(error_text(f"`{_command_of(argv)}` could not complete", _reason(exc),
                               f"fix the input and run it again (`{_command_of(argv)} --help` lists the "
                               "arguments)"), stderr=True)
                code = BAD_INPUT
            else:
                say(error_text(f"`{_command_of(argv)}` stopped on an unexpected error",
                               f"{type(exc).__name__}: {exc}",
                               f"this is a bug in the factory: rerun as `factory --debug {' '.join(argv)}` to see "
                               "where, and report it"), stderr=True)
                code = FAILED
        if standalone_mode:
            sys.exit(code)
        return code


#: what SQLite says when the storage under it fails (not the factory's own logic)
_STORAGE_MESSAGES = ("disk i/o error", "database or disk is full", "attempt to write a readonly database",
                     "unable to open database file")


def _storage_failure(exc: BaseException) -> bool:
    """The home's storage failed: a full or read-only disk, a file size limit, an I/O error."""
    if isinstance(exc, sqlite3.OperationalError):
        return any(m in str(exc).lower() for m in _STORAGE_MESSAGES)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EROFS, errno.EIO, errno.EDQUOT)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"the file is not UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r} at offset {exc.start})"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
    return str(exc)


app = typer.Typer(cls=FactoryGroup, no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  pretty_exceptions_enable=False, context_settings={"help_option_names": ["-h", "--help"]},
                  help="The event-driven software factory: run intents, host functions, inspect traces.\n\n"
                       "Exit codes: 0 ok, 1 a failed run or check, 2 bad input, 130 interrupted.")


def _show_version(value: bool) -> None:
    if value:
        say(f"factory {_version()}")
        raise typer.Exit(OK)


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_show_version,
                                          help="print the version and exit")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show the Python traceback of an unexpected error")] = False,
) -> None:
    """The event-driven software factory: run intents, host functions, inspect traces.

    Exit codes: 0 ok, 1 a failed run or check, 2 bad input, 130 interrupted.
    """


run.register(app)
inspect.register(app)
generate.register(app)
approval.register(app)
doctor.register(app)
app.add_typer(intent.app, name="intent")
app.add_typer(projects.app, name="projects")
app.add_typer(artifacts.app, name="artifacts")
app.add_typer(events.app, name="events")
app.add_typer(dlq.app, name="dlq")
app.add_typer(flows.app, name="flow")
app.add_typer(sandbox.app, name="sandbox")
templates_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                            help="Scaffold templates: list, show, run, update, diff.")
templates.register(templates_app)
app.add_typer(templates_app, name="templates")
infra_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                        help="Infrastructure: factory deployment files and service blueprints.")
messaging.register(infra_app)
infra.register(infra_app)
app.add_typer(infra_app, name="infra")


def main() -> None:
    app()
