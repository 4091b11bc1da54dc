"""What is replaced in content and in paths (``replaces``, ``fileRename``, ``sourceName``, ``guids``).

Content: ``sourceName`` in the forms identity, safe_name, lower_safe_name, safe_namespace and
lower_safe_namespace (each form of sourceName -> the same form of ``name``); every symbol's
``replaces`` in each of its ``forms`` (the form applied to the token and to the value); every
top-level GUID in each format n d b p x (lower and upper case); ``replacement`` operations.
Paths: ``sourceName`` (identity only, case-sensitive) and each symbol's ``fileRename`` in each
of its forms. One pass, longest token first, no re-replacement. When the same token is registered
twice the last registration wins, as in the ``dotnet new`` token trie (order: sourceName in the form
order above -- so ``My App`` replaces a sourceName token with its safe_namespace form ``My_App`` --
then symbols in declaration order, then GUIDs); two *symbols* giving the same token different values
is reported as a warning.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from shared.scaffold.conditionals import Replacement
from shared.scaffold.config import NAME, TemplateConfig
from shared.scaffold.errors import Problem, UnsupportedTemplateError
from shared.scaffold.forms import NAME_FORMS, FormError, FormRegistry
from shared.scaffold.symbols import DETERMINISTIC_GUID, format_guid, seeded_guid
from shared.scaffold.values import text


@dataclass(frozen=True)
class _Entry:
    token: str
    value: str
    owner: str
    after: str = ""
    before: str = ""


@dataclass
class Replacer:
    """Single-pass replacement of many literal tokens (longest first)."""

    entries: list[_Entry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _rx: re.Pattern[str] | None = None
    _table: dict[str, str] = field(default_factory=dict)
    _contextual: dict[str, list[_Entry]] = field(default_factory=dict)
    _order: tuple[str, ...] = ()

    def add(self, token: str, value: str, owner: str, after: str = "", before: str = "") -> None:
        if not token:
            return
        for i, e in enumerate(self.entries):
            if e.token == token and e.after == after and e.before == before:
                if e.value != value and e.owner.split(" (")[0] != owner.split(" (")[0]:
                    self.warnings.append(f"{owner} replaces {token!r} with {value!r} and so does {e.owner} with "
                                         f"{e.value!r}; the last wins (as in dotnet new)")
                self.entries[i] = _Entry(token, value, owner, after, before)
                self._rx = None
                return
        self.entries.append(_Entry(token, value, owner, after, before))
        self._rx = None

    def _compile(self) -> re.Pattern[str] | None:
        if self._rx is None and self.entries:
            parts = []
            for e in sorted(self.entries, key=lambda e: (-(len(e.token) + len(e.after) + len(e.before)), e.token)):
                look = (f"(?<={re.escape(e.after)})" if e.after else "") + re.escape(e.token) + \
                       (f"(?={re.escape(e.before)})" if e.before else "")
                parts.append(look)
            self._rx = re.compile("|".join(parts))
            self._table = {e.token: e.value for e in self.entries if not e.after and not e.before}
            self._order = tuple(sorted(self._table, key=lambda t: (-len(t), t)))
            self._contextual = {}
            for e in self.entries:
                if e.after or e.before:
                    self._contextual.setdefault(e.token, []).append(e)
        return self._rx

    def _value(self, m: re.Match[str]) -> str:
        token = m.group(0)
        for e in self._contextual.get(token, ()):
            s = m.string
            if (not e.after or s[:m.start()].endswith(e.after)) and (not e.before or s.startswith(e.before, m.end())):
                return e.value
        return self._table.get(token, token)

    def __call__(self, value: str) -> str:
        rx = self._compile()
        if rx is None:
            return value
        if self._contextual:
            return rx.sub(self._value, value)
        table = self._table
        if len(table) <= _FAST_TOKENS:
            present = tuple(t for t in self._order if t in value)
            if not present:
                return value
            if len(present) == 1:
                return value.replace(present[0], table[present[0]])
            if _disjoint(present):
                return _split_replace(value, present, table)
        return rx.sub(lambda m: table[m.group(0)], value)

    def __bool__(self) -> bool:
        return bool(self.entries)


#: up to this many plain tokens, occurrences are found with ``str`` operations instead of the regex
_FAST_TOKENS = 48


@lru_cache(maxsize=1024)
def _disjoint(tokens: tuple[str, ...]) -> bool:
    """No token contains another or overlaps it (a suffix of one is a prefix of another): then
    replacing them one after the other on split pieces equals one leftmost-longest pass."""
    for a in tokens:
        for b in tokens:
            if a is b:
                continue
            if a in b or any(a.endswith(b[:k]) for k in range(1, min(len(a), len(b)))):
                return False
    return True


def _split_replace(value: str, tokens: tuple[str, ...], table: Mapping[str, str]) -> str:
    """Single-pass replacement of disjoint tokens: split on the first, recurse into the pieces
    (inserted values are never scanned again)."""
    if not tokens:
        return value
    first, rest = tokens[0], tokens[1:]
    pieces = value.split(first)
    if rest:
        pieces = [_split_replace(p, tuple(t for t in rest if t in p), table) if p else p for p in pieces]
    return table[first].join(pieces)


def _formed(forms: FormRegistry, names: tuple[str, ...], token: str, value: str, where: str
            ) -> list[tuple[str, str, str]]:
    out = []
    for name in names:
        try:
            out.append((forms.apply(name, token), forms.apply(name, value), name))
        except FormError as exc:
            raise UnsupportedTemplateError([Problem(str(exc), path=where)], "bad value form") from exc
    return out


def new_guid(old: str, seed: str, deterministic: bool) -> uuid.UUID:
    return DETERMINISTIC_GUID if deterministic else seeded_guid(seed, f"guid:{uuid.UUID(old)}")


def build(config: TemplateConfig, values: Mapping[str, Any], *, seed: str, deterministic: bool,
          custom: tuple[Replacement, ...] = ()) -> tuple[Replacer, Replacer]:
    """(content replacer, path replacer) for these symbol values."""
    forms = FormRegistry(config.forms)
    content, paths = Replacer(), Replacer()
    name = values.get(NAME)
    if config.source_name and name is not None:
        for token, value, form in _formed(forms, NAME_FORMS, config.source_name, text(name), "sourceName"):
            content.add(token, value, f"sourceName ({form})")
        paths.add(config.source_name, text(name).strip(), "sourceName")
    for sym_name, sym in config.symbols.items():
        sym_value = values.get(sym_name)
        if sym_value is None:
            continue
        where = f"symbols.{sym_name}"
        if sym.replaces:
            for token, formed, form in _formed(forms, sym.forms, sym.replaces, text(sym_value), f"{where}.forms"):
                if sym.only_if:
                    for after, before in sym.only_if:
                        content.add(token, formed, f"{where}.replaces ({form})", after, before)
                else:
                    content.add(token, formed, f"{where}.replaces ({form})")
        if sym.file_rename:
            for token, formed, form in _formed(forms, sym.forms, sym.file_rename, text(sym_value),
                                               f"{where}.forms"):
                paths.add(token, formed, f"{where}.fileRename ({form})")
    for old in config.guids:
        try:
            new = new_guid(old, seed, deterministic)
            old_id = uuid.UUID(old)
        except ValueError as exc:
            raise UnsupportedTemplateError([Problem(f"{old!r} is not a GUID", path="guids")]) from exc
        for fmt in "ndbpxNDBPX":
            content.add(format_guid(old_id, fmt), format_guid(new, fmt), "guids")
    for rep in custom:
        if rep.only_if:
            for after, before in rep.only_if:
                content.add(rep.original, rep.replacement, "customOperations.replacement", after, before)
        else:
            content.add(rep.original, rep.replacement, "customOperations.replacement")
    return content, paths


Rewrite = Callable[[str], str]
