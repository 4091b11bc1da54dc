"""Symbol values as ``dotnet new`` holds them, and their text form (.NET ``ToString``).

Values are ``bool``, ``int`` (.NET long), ``float`` (.NET double), ``str``, ``MultiValue`` (a
multi-choice parameter) or ``None`` (no value: the symbol is not set, its ``replaces`` does
nothing and conditions see it as an unknown name).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

#: datatypes of template.json, lower-cased, to the one we convert to
DATATYPES = {
    "bool": "bool", "boolean": "bool", "choice": "choice", "string": "string", "text": "string",
    "int": "integer", "integer": "integer", "float": "float", "hex": "hex",
}
#: datatype -> JSON Schema type (how the API takes the value)
JSON_TYPES = {"bool": "boolean", "integer": "integer", "hex": "integer", "float": "number", "string": "string",
              "choice": "string"}
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
_VERSION = re.compile(r"\d+(\.\d+){1,3}")


class MultiValue(tuple[str, ...]):
    """The values of a multi-choice parameter; its text is the values joined by ``|``."""

    def __str__(self) -> str:
        return "|".join(self)

    def __repr__(self) -> str:
        return f"MultiValue({'|'.join(self)!r})"


def text(value: Any) -> str:
    """.NET ``ToString()`` of a value: ``True``/``False`` for bools, ``a|b`` for multi-choice."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        if value.is_integer() and not math.isinf(value):
            return str(int(value))
        return repr(value)
    return str(value)


def parse_bool(value: Any) -> bool | None:
    """``bool.TryParse``: ``true``/``false`` in any case (surrounding spaces allowed), else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "false"):
            return low == "true"
    return None


def parse_number(value: Any) -> float | None:
    """A double from a number or a numeric string (invariant culture, or ``0x`` hex), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        raw = value.strip()
        if _HEX.fullmatch(raw):
            return float(int(raw, 16))
        try:
            number = float(raw)
        except ValueError:
            return None
        return None if raw.lower() in ("nan", "inf", "-inf", "infinity", "-infinity") else number
    return None


def parse_version(value: Any) -> tuple[int, ...] | None:
    """``System.Version.TryParse`` of a string (2 to 4 numeric parts), else None."""
    if isinstance(value, str) and _VERSION.fullmatch(value.strip()):
        return tuple(int(p) for p in value.strip().split("."))
    return None


def multi(values: Iterable[str]) -> MultiValue:
    return MultiValue(tuple(values))


def split_multi(raw: str) -> list[str]:
    """A multi-choice value given as text: values separated by ``|`` or ``,``."""
    return [part.strip() for part in re.split(r"[|,]", raw) if part.strip()]


def convert(datatype: str, raw: Any, *, multiple: bool = False) -> tuple[Any, str | None]:
    """``raw`` (CLI text or JSON value) as ``datatype``; returns (value, problem or None)."""
    if raw is None:
        return None, None
    if datatype == "bool":
        parsed = parse_bool(raw)
        return (parsed, None) if parsed is not None else (raw, f"{raw!r} is not a bool (true or false)")
    if datatype == "integer":
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw, None
        if isinstance(raw, str):
            stripped = raw.strip()
            if _HEX.fullmatch(stripped):
                return int(stripped, 16), None
            try:
                return int(stripped), None
            except ValueError:
                pass
        return raw, f"{raw!r} is not an integer"
    if datatype == "hex":
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw, None
        if isinstance(raw, str) and _HEX.fullmatch(raw.strip()):
            return int(raw.strip(), 16), None
        return raw, f"{raw!r} is not a hex number (0x...)"
    if datatype == "float":
        number = parse_number(raw)
        return (number, None) if number is not None else (raw, f"{raw!r} is not a number")
    if datatype == "choice" and multiple:
        if isinstance(raw, MultiValue):
            return raw, None
        if isinstance(raw, list | tuple):
            return multi(str(v) for v in raw), None
        return multi(split_multi(str(raw))), None
    if isinstance(raw, bool):
        return text(raw), None
    return (raw, None) if isinstance(raw, str) else (text(raw), None)


def jsonable(value: Any) -> Any:
    """A value as JSON (multi-choice values as a list)."""
    if isinstance(value, MultiValue):
        return list(value)
    return value
