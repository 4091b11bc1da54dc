""".NET ``DateTime.ToString(format)`` (invariant culture) for the ``now`` generator.

Standard formats (one letter: ``d D f F g G m M o O r R s t T u U y Y``; empty = ``G``) and
custom ones (``yyyy MM dd HH mm ss fff tt`` ..., ``'quoted'`` text, ``\\x`` escapes, ``%x``).
"""

from __future__ import annotations

from datetime import datetime

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_STANDARD = {
    "d": "MM/dd/yyyy", "D": "dddd, dd MMMM yyyy", "f": "dddd, dd MMMM yyyy HH:mm",
    "F": "dddd, dd MMMM yyyy HH:mm:ss", "g": "MM/dd/yyyy HH:mm", "G": "MM/dd/yyyy HH:mm:ss",
    "m": "MMMM dd", "M": "MMMM dd", "o": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "O": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK", "r": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "R": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'", "s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss", "t": "HH:mm",
    "T": "HH:mm:ss", "u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'", "U": "dddd, dd MMMM yyyy HH:mm:ss",
    "y": "yyyy MMMM", "Y": "yyyy MMMM",
}


class DateFormatError(ValueError):
    """A .NET date format string that cannot be rendered."""


def _run(fmt: str, i: int) -> int:
    j = i
    while j < len(fmt) and fmt[j] == fmt[i]:
        j += 1
    return j - i


def _zone(moment: datetime, count: int) -> str:
    offset = moment.utcoffset()
    if offset is None:
        return "" if count == 0 else "+00" if count == 2 else "+0" if count == 1 else "+00:00"
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    if count == 1:
        return f"{sign}{hours}"
    if count == 2:
        return f"{sign}{hours:02d}"
    return f"{sign}{hours:02d}:{mins:02d}"


def format_datetime(moment: datetime, fmt: str | None) -> str:
    """``moment.ToString(fmt)`` with the invariant culture."""
    fmt = fmt or "G"
    if len(fmt) == 1:
        if fmt not in _STANDARD:
            raise DateFormatError(f"{fmt!r} is not a .NET standard date format (use one of "
                                  f"{''.join(sorted(_STANDARD))} or a custom format such as 'yyyyMMdd')")
        fmt = _STANDARD[fmt]
        if fmt.endswith("'Z'") or fmt.endswith("'GMT'"):
            offset = moment.utcoffset()
            if offset is not None:
                moment = moment - offset
    out: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        n = _run(fmt, i)
        if ch in "'\"":
            end = fmt.find(ch, i + 1)
            if end < 0:
                raise DateFormatError(f"unterminated quote in date format {fmt!r}")
            out.append(fmt[i + 1:end])
            i = end + 1
            continue
        if ch == "\\":
            out.append(fmt[i + 1:i + 2])
            i += 2
            continue
        if ch == "%":
            i += 1
            continue
        if ch == "y":
            year = moment.year
            out.append(str(year % 100) if n == 1 else f"{year % 100:02d}" if n == 2 else f"{year:0{n}d}")
        elif ch == "M":
            out.append(str(moment.month) if n == 1 else f"{moment.month:02d}" if n == 2
                       else _MONTHS[moment.month - 1][:3] if n == 3 else _MONTHS[moment.month - 1])
        elif ch == "d":
            out.append(str(moment.day) if n == 1 else f"{moment.day:02d}" if n == 2
                       else _DAYS[moment.weekday()][:3] if n == 3 else _DAYS[moment.weekday()])
        elif ch in "Hh":
            hour = moment.hour if ch == "H" else (moment.hour % 12 or 12)
            out.append(str(hour) if n == 1 else f"{hour:02d}")
        elif ch in "ms":
            value = moment.minute if ch == "m" else moment.second
            out.append(str(value) if n == 1 else f"{value:02d}")
        elif ch in "fF":
            digits = f"{moment.microsecond:06d}0"[:min(n, 7)]
            out.append(digits if ch == "f" else digits.rstrip("0"))
        elif ch == "t":
            mark = "AM" if moment.hour < 12 else "PM"
            out.append(mark[:1] if n == 1 else mark)
        elif ch == "K":
            out.append(_zone(moment, 0) if moment.utcoffset() is None else
                       ("Z" if moment.utcoffset().total_seconds() == 0 else _zone(moment, 3)))  # type: ignore[union-attr]
        elif ch == "z":
            out.append(_zone(moment, min(n, 3)))
        elif ch == "g":
            out.append("A.D.")
        else:
            out.append(fmt[i:i + n])
        i += n
    return "".join(out)
