"""Upcasters: lift an old major's payload to the next major, so handlers see one shape.

A breaking change gets a new major file (``AgentFailed.v2.json``); an upcaster keyed by
``(type, old_major)`` maps a payload of that major to the first version of the next one.
``upcast`` chains them up to the latest major. Upcasters are pure functions on dicts and never
mutate their input.

Adding one: write ``def _<type>_v<n>_to_v<n+1>(data) -> dict``, register it in ``UPCASTERS`` with
the version it produces, and add a test that the output validates against that version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Payload = dict[str, Any]


@dataclass(frozen=True)
class Upcaster:
    to_version: str
    apply: Callable[[Mapping[str, Any]], Payload]


def _agent_failed_v1_to_v2(data: Mapping[str, Any]) -> Payload:
    """v1 never said which attempt failed or whether retrying could help.

    A v1 failure counts as the first delivery (``attempt: 0``, the pipeline's numbering) and as
    transient (``permanent: false``), so a coordinator keeps its retry policy for it;
    ``errorType`` stays absent (unknown).
    """
    out = dict(data)
    out.setdefault("attempt", 0)
    out.setdefault("permanent", False)
    return out


#: (type, major it reads) -> the upcaster to the next major
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("AgentFailed", 1): Upcaster("2.0.0", _agent_failed_v1_to_v2),
}


def _major(version: str) -> int:
    try:
        return int(version.split(".", 1)[0])
    except ValueError as exc:
        raise ValueError(f"version {version!r} is not semver (MAJOR.MINOR.PATCH)") from exc


def upcast(type: str, version: str, data: Mapping[str, Any]) -> tuple[str, Payload]:
    """``(version, data)`` at the latest major reachable by upcasters; unchanged when none applies.

    The returned version is the one the last upcaster targets (e.g. ``2.0.0``): the payload
    is valid for it and, minors being compatible, for every later minor of that major.
    """
    current, payload = version, dict(data)
    while (step := UPCASTERS.get((type, _major(current)))) is not None:
        payload = step.apply(payload)
        if _major(step.to_version) <= _major(current):
            raise ValueError(f"upcaster for {type} v{_major(current)} must target a higher major, "
                             f"not {step.to_version}")
        current = step.to_version
    return current, payload

