""".NET regular expressions (``Regex.Replace`` / ``Regex.IsMatch``) on the ``regex`` module.

The ``regex`` module already reads the .NET syntax templates use (``\\p{Lu}``, look-behind of any
length, ``(?<name>...)``, ``\\k<name>``); replacement strings use .NET's ``$`` substitutions, which
``replacement_template`` turns into a function of the match.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import regex

from shared.scaffold.errors import Problem, UnsupportedTemplateError

_SUBST = regex.compile(r"\$(?:(\$)|\{(\w+)\}|(\d+)|(&)|(`)|(')|(\+)|(_))")


@lru_cache(maxsize=256)
def compile_pattern(pattern: str, where: str = "pattern") -> regex.Pattern[str]:
    try:
        return regex.compile(pattern, regex.VERSION0)
    except regex.error as exc:
        raise UnsupportedTemplateError([Problem(f"invalid regular expression {pattern!r}: {exc}", path=where)],
                                       "bad regular expression") from exc


def replacement_template(template: str) -> Callable[[regex.Match[str]], str]:
    """A function giving the .NET replacement text of ``template`` for a match."""
    parts: list[tuple[str, str | int]] = []
    pos = 0
    for m in _SUBST.finditer(template):
        parts.append(("lit", template[pos:m.start()]))
        if m.group(1):
            parts.append(("lit", "$"))
        elif m.group(2) is not None:
            name = m.group(2)
            parts.append(("group", int(name) if name.isdigit() else name))
        elif m.group(3) is not None:
            parts.append(("group", int(m.group(3))))
        elif m.group(4):
            parts.append(("group", 0))
        elif m.group(5):
            parts.append(("before", 0))
        elif m.group(6):
            parts.append(("after", 0))
        elif m.group(7):
            parts.append(("last", 0))
        else:
            parts.append(("input", 0))
        pos = m.end()
    parts.append(("lit", template[pos:]))

    def render(match: regex.Match[str]) -> str:
        out: list[str] = []
        for kind, value in parts:
            if kind == "lit":
                out.append(str(value))
            elif kind == "group":
                try:
                    out.append(match.group(value) or "")
                except (IndexError, regex.error):
                    out.append(f"${value}")  # .NET leaves an unknown group reference as written
            elif kind == "before":
                out.append(match.string[:match.start()])
            elif kind == "after":
                out.append(match.string[match.end():])
            elif kind == "last":
                out.append(match.group(match.lastindex) or "" if match.lastindex else "")
            else:
                out.append(match.string)
        return "".join(out)

    return render
