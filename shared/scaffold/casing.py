"""Casing forms of ``sourceName`` and of the value that replaces it (``dotnet new`` style)."""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z0-9])|[A-Z]?[a-z0-9]+|[A-Z]+")

#: form names in the order they take precedence when two forms of sourceName coincide
FORMS: tuple[str, ...] = ("pascal", "camel", "kebab", "snake", "upper", "lower", "identity")


def words(text: str) -> list[str]:
    """Split ``OrderService``, ``order-service``, ``order_service``, ``Order.Service`` into words."""
    return _WORD.findall(text)


def form(text: str, name: str) -> str:
    """``text`` in casing form ``name``; lower/upper join the words (``Order Hub`` -> ``orderhub``)."""
    parts = words(text)
    if name == "identity":
        return text
    if name == "lower":
        return "".join(parts).lower()
    if name == "upper":
        return "".join(parts).upper()
    if name == "pascal":
        return "".join(p[:1].upper() + p[1:].lower() for p in parts)
    if name == "camel":
        pascal = "".join(p[:1].upper() + p[1:].lower() for p in parts)
        return pascal[:1].lower() + pascal[1:]
    if name == "kebab":
        return "-".join(p.lower() for p in parts)
    if name == "snake":
        return "_".join(p.lower() for p in parts)
    raise ValueError(f"unknown casing form {name!r}; known forms: {', '.join(FORMS)}")


def source_name_replacements(source_name: str, value: str) -> dict[str, str]:
    """Map each distinct form of ``source_name`` to the same form of ``value``.

    When two forms of sourceName are the same string (``MyService`` is both its identity and
    its pascal form), the form earlier in ``FORMS`` wins, so ``order-service`` turns
    ``MyService`` into ``OrderService`` and ``my-service`` into ``order-service``.
    """
    out: dict[str, str] = {}
    for name in FORMS:
        key = form(source_name, name)
        if key and key not in out:
            out[key] = form(value, name)
    return out
