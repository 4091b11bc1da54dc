"""``host.json``: what the Functions host does with a long handling (the release gate runs for minutes)."""

from __future__ import annotations

import json
from datetime import timedelta

from shared.mesh.agents.devops import GATE_TIMEOUT_S
from tests.infra.infra_bicep import ROOT

HOST = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))


def duration(text: str) -> timedelta:
    """A host.json ``hh:mm:ss[.fff]`` (or ``d.hh:mm:ss``) duration."""
    days, _, clock = text.rpartition(".") if text.count(":") == 2 and "." in text.split(":")[0] else ("", "", text)
    hours, minutes, seconds = (float(part) for part in clock.split(":"))
    return timedelta(days=float(days or 0), hours=hours, minutes=minutes, seconds=seconds)


def test_locks_are_renewed_for_as_long_as_a_function_may_run() -> None:
    """A lock that stops being renewed before the function times out lets Service Bus hand the message to
    another instance while the first still works on it."""
    renewal = duration(HOST["extensions"]["serviceBus"]["maxAutoLockRenewalDuration"])
    timeout = duration(HOST["functionTimeout"])
    assert renewal >= timeout


def test_a_function_may_run_longer_than_the_release_gate() -> None:
    assert duration(HOST["functionTimeout"]) > timedelta(seconds=GATE_TIMEOUT_S)


def test_durations_parse_like_the_host_reads_them() -> None:
    assert duration("00:10:00") == timedelta(minutes=10)
    assert duration("01:02:03.5") == timedelta(hours=1, minutes=2, seconds=3.5)
    assert duration("1.02:00:00") == timedelta(days=1, hours=2)
