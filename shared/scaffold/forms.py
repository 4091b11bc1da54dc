"""Value forms (``forms`` in template.json, ``valueTransform`` of derived symbols) as ``dotnet new``
defines them (``src/Microsoft.TemplateEngine.Orchestrator.RunnableProjects/ValueForms``).

A form is an ``identifier`` plus its settings. Any identifier can be used as a form name without
declaring it (``"valueTransform": "kebabCase"``); a template's ``forms`` section adds named,
configured forms (``replace``, ``chain``) or aliases. Identifiers and names are case-insensitive.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import regex

from shared.scaffold.dotnet_regex import compile_pattern, replacement_template

#: the forms the built-in ``name`` symbol is replaced in (RunnableProjectConfig.SetupDefaultNameSymbol)
NAME_FORMS: tuple[str, ...] = ("identity", "safe_name", "lower_safe_name", "safe_namespace",
                               "lower_safe_namespace")

_WORDS = regex.compile(
    r"(?:\p{Lu}\p{M}*)?(?:\p{Ll}\p{M}*)+|(?:\p{Lu}\p{M}*)+(?!\p{Ll})|\p{N}+|[^\p{C}\p{P}\p{Z}]+|[\u2700-\u27BF]")
_TITLE_WORD = regex.compile(r"[\p{L}\p{M}']+")
_SAFE_NAME = regex.compile(r"(((?<=\.)|^)(?=\d)|\W)")
_LETTER = {"Lu", "Ll", "Lt", "Lm", "Lo", "Nl"}
_PART = _LETTER | {"Nd", "Mn", "Mc", "Pc", "Cf"}


class FormError(ValueError):
    """A form that is unknown or badly configured; names the form and what is wrong."""


@dataclass(frozen=True)
class Form:
    name: str
    identifier: str
    settings: Mapping[str, Any] = field(default_factory=dict)


def _first(value: str, fn: Callable[[str], str]) -> str:
    return fn(value[:1]) + value[1:] if value else value


def _title(value: str) -> str:
    def word(m: regex.Match[str]) -> str:
        w = str(m.group(0))
        return w if w.isupper() else w[:1].upper() + w[1:].lower()
    return str(_TITLE_WORD.sub(word, value))


def _words(value: str, sep: str) -> str:
    return sep.join(str(w) for w in _WORDS.findall(value)).lower()


def safe_name(value: str) -> str:
    return str(_SAFE_NAME.sub("_", value.strip()))


def safe_namespace(value: str) -> str:
    value = value.strip()
    out: list[str] = []
    at_start = True
    for i, ch in enumerate(value):
        if ord(ch) > 0xFFFF:  # a surrogate pair in .NET: never part of an identifier
            out.append("_")
            at_start = False
            continue
        cat = unicodedata.category(ch)
        if ch == "." and 0 < i < len(value) - 1 and not at_start:
            out.append(".")
            at_start = True
            continue
        if at_start and cat not in _LETTER and ch != "_":
            if cat in _PART:
                out.append("_" + ch)
            else:
                out.append("_")
            at_start = False
            continue
        out.append(ch if cat in _PART or ch == "_" else "_")
        at_start = False
    return "".join(out)


def _xml(value: str) -> str:
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


_SIMPLE: dict[str, Callable[[str], str]] = {
    "identity": lambda v: v,
    "lowercase": str.lower, "lowercaseinvariant": str.lower,
    "uppercase": str.upper, "uppercaseinvariant": str.upper,
    "firstlowercase": lambda v: _first(v, str.lower), "firstlowercaseinvariant": lambda v: _first(v, str.lower),
    "firstuppercase": lambda v: _first(v, str.upper), "firstuppercaseinvariant": lambda v: _first(v, str.upper),
    "titlecase": _title,
    "kebabcase": lambda v: _words(v, "-"),
    "snakecase": lambda v: _words(v, "_"),
    "xmlencode": _xml,
    "jsonencode": lambda v: json.dumps(v, ensure_ascii=False),
    "safe_name": safe_name,
    "lower_safe_name": lambda v: safe_name(v).lower(),
    "safe_namespace": safe_namespace,
    "lower_safe_namespace": lambda v: safe_namespace(v).lower(),
}
IDENTIFIERS: tuple[str, ...] = (
    "identity", "lowerCase", "lowerCaseInvariant", "upperCase", "upperCaseInvariant", "firstLowerCase",
    "firstLowerCaseInvariant", "firstUpperCase", "firstUpperCaseInvariant", "titleCase", "kebabCase",
    "snakeCase", "xmlEncode", "jsonEncode", "safe_name", "lower_safe_name", "safe_namespace",
    "lower_safe_namespace", "replace", "chain")
_KNOWN = {i.lower() for i in IDENTIFIERS}


class FormRegistry:
    """The forms a template can name: every identifier, plus the template's ``forms`` section."""

    def __init__(self, declared: Mapping[str, Form] | None = None) -> None:
        self.declared = dict(declared or {})
        self._lower = {k.lower(): v for k, v in self.declared.items()}

    def get(self, name: str) -> Form:
        form = self.declared.get(name) or self._lower.get(name.lower())
        if form is not None:
            return form
        if name.lower() in _KNOWN and name.lower() not in ("replace", "chain"):
            return Form(name, name.lower())
        raise FormError(f"unknown form {name!r}: declare it in the template's 'forms' section or use one of "
                        f"{', '.join(i for i in IDENTIFIERS if i not in ('replace', 'chain'))}")

    def apply(self, name: str, value: str, _depth: int = 0) -> str:
        if _depth > 32:
            raise FormError(f"form {name!r}: 'chain' nests more than 32 levels (a chain that refers to itself?)")
        form = self.get(name)
        ident = form.identifier.lower()
        if ident in _SIMPLE:
            return _SIMPLE[ident](value)
        if ident == "replace":
            pattern = form.settings.get("pattern")
            if not isinstance(pattern, str):
                raise FormError(f"form {form.name!r} (replace) needs a string 'pattern'")
            repl = str(form.settings.get("replacement", ""))
            return str(compile_pattern(pattern, f"forms.{form.name}.pattern").sub(replacement_template(repl), value))
        if ident == "chain":
            steps = form.settings.get("steps")
            if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
                raise FormError(f"form {form.name!r} (chain) needs 'steps': a list of form names")
            for step in steps:
                value = self.apply(step, value, _depth + 1)
            return value
        raise FormError(f"form {form.name!r} has unknown identifier {form.identifier!r}; known: "
                        f"{', '.join(IDENTIFIERS)}")


def parse_forms(raw: Mapping[str, Any], problems: list[tuple[str, str]]) -> dict[str, Form]:
    """The ``forms`` section: ``{name: {identifier, ...settings}}``; problems as (path, message)."""
    out: dict[str, Form] = {}
    for name, spec in raw.items():
        if not isinstance(spec, Mapping):
            problems.append((f"forms.{name}", "must be an object with an 'identifier'"))
            continue
        settings = {str(k).lower(): v for k, v in spec.items()}
        ident = settings.pop("identifier", None)
        if not isinstance(ident, str) or ident.lower() not in _KNOWN:
            problems.append((f"forms.{name}.identifier",
                             f"unknown form identifier {ident!r}; known: {', '.join(IDENTIFIERS)}"))
            continue
        allowed = {"replace": {"pattern", "replacement"}, "chain": {"steps"}}.get(ident.lower(), set())
        for key in sorted(set(settings) - allowed):
            problems.append((f"forms.{name}.{key}", f"unsupported setting '{key}' of a '{ident}' form"))
        out[str(name)] = Form(str(name), ident, settings)
    return out
