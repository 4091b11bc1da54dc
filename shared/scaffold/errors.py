"""Typed errors of the scaffold engine: every failure carries the full list of problems."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request or a template.

    ``parameter`` names the offending parameter, ``path`` the offending file or template key;
    ``allowed`` lists what would have been accepted (choices, type), when that is known.
    """

    message: str
    parameter: str | None = None
    path: str | None = None
    allowed: Sequence[Any] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.parameter is not None:
            out["parameter"] = self.parameter
        if self.path is not None:
            out["path"] = self.path
        if self.allowed is not None:
            out["allowed"] = list(self.allowed)
        return out

    def __str__(self) -> str:
        where = self.parameter or self.path
        text = f"{where}: {self.message}" if where else self.message
        if self.allowed is not None:
            text += f" (allowed: {', '.join(map(str, self.allowed))})"
        return text


class ScaffoldError(Exception):
    """Base class: a list of problems, all reported at once."""

    hint = "fix the problems listed above and run again"

    def __init__(self, problems: Iterable[Problem], summary: str | None = None) -> None:
        self.problems: list[Problem] = list(problems)
        head = summary or type(self).__name__
        body = "; ".join(str(p) for p in self.problems)
        super().__init__(f"{head}: {body}" if body else head)


class ParameterError(ScaffoldError):
    """The parameters do not match the schema derived from the template's symbols."""

    hint = "pass valid values with --param NAME=VALUE (see `factory templates show ID`)"


class UnsupportedTemplateError(ScaffoldError):
    """The template uses a feature outside the supported template.json subset, or is malformed."""

    hint = "remove or rewrite the named template.json feature (see shared/scaffold/README.md)"


class UnsafePathError(ScaffoldError):
    """A path would escape the template or output folder, or a file is too large."""

    hint = "use relative paths without '..' inside the template and output folders"


class TemplateNotFoundError(ScaffoldError):
    """No template with this identity/shortName (and version) in the catalog."""

    hint = "list the available templates with `factory templates list`"


class CompositionError(ScaffoldError):
    """Two templates of a batch write the same path and no merge strategy is declared."""

    hint = "declare a merge strategy for the path in the batch manifest (concat, json-merge, prefer)"


class UpdateError(ScaffoldError):
    """A rendered folder cannot be updated (no manifest, snapshot missing, ...)."""

    hint = "update only folders produced by `factory templates run` (they hold .factory/manifest.json)"
