"""Upcasters lift old majors to the latest one; the result validates against the target schema."""

from __future__ import annotations

from typing import Any

import pytest

from shared.contracts.registry import default_registry
from shared.contracts.upcasters import UPCASTERS, Upcaster, upcast

V1: dict[str, Any] = {"agent": "qa-engineer", "failedEventId": "e1", "failedEventType": "CodeGenerated",
                      "reason": "timeout"}


def test_agent_failed_v1_is_upcast_to_v2_with_defaults() -> None:
    version, data = upcast("AgentFailed", "1.0.0", V1)
    assert version == "2.0.0"
    assert data == {**V1, "attempt": 0, "permanent": False}
    assert "attempt" not in V1  # input untouched


def test_upcast_output_validates_against_the_target_version() -> None:
    registry = default_registry()
    for (type_, major), step in UPCASTERS.items():
        source = registry.latest(type_, major)
        assert registry.validate(type_, step.to_version, upcast(type_, source.version, V1)[1]) == []


def test_every_upcaster_targets_the_next_live_major() -> None:
    registry = default_registry()
    for (type_, major), step in UPCASTERS.items():
        assert registry.get(type_, step.to_version).major == major + 1


def test_latest_major_and_types_without_upcasters_pass_through() -> None:
    data = {**V1, "attempt": 3, "permanent": True}
    assert upcast("AgentFailed", "2.0.0", data) == ("2.0.0", data)
    assert upcast("ProjectCompleted", "1.0.0", {"projectId": "p"}) == ("1.0.0", {"projectId": "p"})


def test_upcasters_chain_across_several_majors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(UPCASTERS, ("Thing", 1), Upcaster("2.0.0", lambda d: {**d, "b": 2}))
    monkeypatch.setitem(UPCASTERS, ("Thing", 2), Upcaster("3.1.0", lambda d: {**d, "c": 3}))
    assert upcast("Thing", "1.4.0", {"a": 1}) == ("3.1.0", {"a": 1, "b": 2, "c": 3})


def test_upcaster_that_does_not_raise_the_major_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(UPCASTERS, ("Loop", 1), Upcaster("1.1.0", dict))
    with pytest.raises(ValueError, match="higher major"):
        upcast("Loop", "1.0.0", {})
