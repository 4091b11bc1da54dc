"""What every ``factory`` command shares: the consoles, one error style, the runtime, Ctrl-C handling."""

from __future__ import annotations

import signal
from types import FrameType

import typer
from rich.console import Console

from shared.bootstrap import Runtime, bootstrap
from shared.host.local import LocalHost
from shared.settings import load_settings

console = Console()
err = Console(stderr=True)


def fail(what: str, why: str, fix: str, code: int = 1) -> typer.Exit:
    """Print what failed, why, and what to do next; return the ``Exit`` to raise."""
    err.print(f"[bold red]error:[/] {what}\n  [bold]why:[/] {why}\n  [bold]next:[/] {fix}")
    return typer.Exit(code)


def open_runtime(**overrides: object) -> Runtime:
    """The runtime from the settings; ``overrides`` replace settings by field name (e.g. ``model_replay_dir``)."""
    if not overrides:
        return bootstrap()
    try:
        settings = load_settings(**overrides)
    except ValueError as exc:
        raise fail("the settings are not usable", str(exc), "fix the option or the setting named above", 2) from exc
    return bootstrap(settings)


def install_sigint(host: LocalHost) -> None:
    def handler(_sig: int, _frame: FrameType | None) -> None:
        err.print("[yellow]stopping: finishing in-flight handlings; nothing is lost[/]")
        host.stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
