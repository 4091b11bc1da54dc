"""What every ``factory`` command shares: the consoles, one error style, the runtime, Ctrl-C handling."""

from __future__ import annotations

import signal
from types import FrameType

import typer
from rich.console import Console

from shared.bootstrap import DatabaseCorruptError, Runtime, SigningKeyFileError, bootstrap
from shared.host.local import LocalHost

console = Console()
err = Console(stderr=True)


def fail(what: str, why: str, fix: str, code: int = 1) -> typer.Exit:
    """Print what failed, why, and what to do next; return the ``Exit`` to raise."""
    err.print(f"[bold red]error:[/] {what}\n  [bold]why:[/] {why}\n  [bold]next:[/] {fix}")
    return typer.Exit(code)


def open_runtime() -> Runtime:
    """The runtime, or a clear refusal (no traceback) when a database or a key file of the home is broken."""
    try:
        return bootstrap()
    except (DatabaseCorruptError, SigningKeyFileError) as exc:
        raise fail("cannot open the factory's home", str(exc), "see `factory doctor`") from exc


def install_sigint(host: LocalHost) -> None:
    def handler(_sig: int, _frame: FrameType | None) -> None:
        err.print("[yellow]stopping: finishing in-flight handlings; nothing is lost[/]")
        host.stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
