"""Every command and every option says what it is for, with readable value labels (``FILE|-``, ``DIR``,
``SECONDS``), never Python type names like ``<list[Path]>`` or ``<bool>``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from shared.cli.main import app
from tests.cli.harness import cli

PYTHON_LABELS = ("<list[", "<bool>", "<Path>", "<path>]", "list[str]", "<float>", "<int>")


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_every_command_and_option_has_help_text_and_readable_labels(home: object) -> None:
    root = typer.main.get_command(app)
    seen = 0
    for path, command in _commands(root):
        assert (command.help or "").strip(), f"`factory {' '.join(path)}` has no help text"
        for param in command.params:
            if param.param_type_name == "option" and not param.hidden:
                assert (param.help or "").strip(), f"`factory {' '.join(path)}` option {param.opts} has no help"
        ran = cli(*path, "--help")
        assert ran.exit_code == 0, ran
        for label in PYTHON_LABELS:
            assert label not in ran.stdout, f"`factory {' '.join(path)} --help` shows {label!r}:\n{ran.stdout}"
        seen += 1
    assert seen > 30  # every group and sub-command was visited
