"""Output that works in a terminal and in a pipe.

In a terminal, Rich draws tables and colours. When stdout is not a terminal (a pipe, a file, a
script), everything is plain text: no colour, no box drawing, no truncation and no hard wrapping,
whatever ``COLUMNS`` says, so ids can be copied and lines can be grepped. Text a user or a file
supplied (names, patterns, error messages) is never read as Rich markup: build messages with
:func:`esc` around every value, or print raw text with :func:`say_raw`.

``--json FILE`` on the read commands goes through :func:`write_json`; ``-`` means stdout, and then
stdout carries only the JSON document.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

#: stdout and stderr. ``emoji=False``: ``:smile:`` in user text stays text; ``highlight=False``: no guessing
console = Console(emoji=False, highlight=False)
err = Console(stderr=True, emoji=False, highlight=False)

#: event types that record the machinery rather than the work; the trace tree hides them unless asked
BOOKKEEPING_EVENTS = frozenset({"CoordinatorStateChanged", "FlowTimeout"})


def esc(value: object) -> str:
    """``value`` as text that Rich prints literally (``[/x]`` stays ``[/x]``)."""
    return escape(text(value))


def text(value: object) -> str:
    """A value as a person reads it: no Python reprs (``None`` -> empty, lists joined, booleans yes/no)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(text(v) for v in value)
    return str(value)


def is_terminal() -> bool:
    return console.is_terminal


def say(markup: str, *, stderr: bool = False) -> None:
    """Print one message written in Rich markup (values inside it escaped with :func:`esc`).

    Never hard-wrapped: a long line stays one line (the terminal folds it on screen, a pipe gets it whole).
    """
    (err if stderr else console).print(markup, soft_wrap=True)


def say_raw(value: str, *, stderr: bool = False) -> None:
    """Print text exactly as given (no markup, no wrapping): patches, Mermaid, file content."""
    (err if stderr else console).print(value, markup=False, soft_wrap=True)


def _plain(cell: object) -> str:
    if isinstance(cell, Text):
        return cell.plain
    return text(cell).replace("\r\n", " ").replace("\n", " ")


def table(columns: Sequence[str], rows: Iterable[Sequence[object]], *, title: str | None = None,
          stderr: bool = False) -> None:
    """A table: Rich in a terminal (ids folded, never cut), aligned plain columns in a pipe.

    Cells are values, not markup (a :class:`rich.text.Text` keeps its style in a terminal).
    """
    rows = [list(r) for r in rows]
    target = err if stderr else console
    if target.is_terminal:
        grid = Table(title=title)
        for name in columns:
            grid.add_column(name, overflow="fold")
        for row in rows:
            grid.add_row(*(c if isinstance(c, Text) else Text(text(c)) for c in row))
        target.print(grid)
        return
    cells = [[_plain(c) for c in columns], *[[_plain(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = [title] if title else []
    for r in cells:
        lines.append("  ".join(c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)).rstrip())
    target.print("\n".join(lines), markup=False, soft_wrap=True)


def pairs(items: Iterable[tuple[str, object]], *, title: str | None = None) -> None:
    """Key/value lines (a summary): ``key   value``, one per line, values never cut."""
    items = [(k, v) for k, v in items if v not in (None, "", [], {})]
    if console.is_terminal:
        grid = Table(title=title, show_header=False)
        grid.add_column("key", style="bold")
        grid.add_column("value", overflow="fold")
        for key, value in items:
            grid.add_row(key, value if isinstance(value, Text) else Text(text(value)))
        console.print(grid)
        return
    width = max((len(k) for k, _ in items), default=0)
    lines = [title] if title else []
    lines += [f"{k.ljust(width)}  {_plain(v)}" for k, v in items]
    console.print("\n".join(lines), markup=False, soft_wrap=True)


def write_json(document: Any, destination: str | Path) -> None:
    """Write ``document`` as JSON to a file, or to stdout when ``destination`` is ``-``."""
    body = json.dumps(document, indent=2, sort_keys=False, default=str) + "\n"
    if str(destination) == "-":
        sys.stdout.write(body)
        sys.stdout.flush()
        return
    path = Path(destination)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")


def json_to_stdout(destination: str | Path | None) -> bool:
    """``--json -``: stdout is for the JSON document only."""
    return destination is not None and str(destination) == "-"
