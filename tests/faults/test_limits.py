"""Size limits where input enters: the intent's lists, the encoded message before it is published."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shared.bootstrap import bootstrap
from shared.contracts.errors import MessageTooLargeError
from shared.ports.skills import Emit
from shared.product.intent import IntentError, intent_from_mapping
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_an_intent_with_too_many_features_is_refused_with_the_path_before_anything_is_published() -> None:
    intent = yaml.safe_load((ROOT / "examples" / "task-tracker.yaml").read_text())
    intent["features"] = [{"name": f"f{i}", "description": "a feature"} for i in range(51)]
    with pytest.raises(IntentError) as caught:
        intent_from_mapping(intent)
    assert [str(p) for p in caught.value.problems] == ["features: has 51 items; at most 50"]


def test_a_message_larger_than_the_bus_takes_is_refused_before_publishing(tmp_path: Path) -> None:
    rt = bootstrap(Settings(FACTORY_HOME=tmp_path, FACTORY_MAX_MESSAGE_BYTES=4096))  # type: ignore[call-arg]
    try:
        with pytest.raises(MessageTooLargeError, match=r"FACTORY_MAX_MESSAGE_BYTES.*nothing was published"):
            rt.publisher.publish_new(Emit("ProjectCompleted", {"projectId": "p1", "outcome": "failed",
                                                               "reason": "x" * 5000}), source="operator",
                                     tenant_id="acme", project_id="p1")
        assert rt.state.events_for_project("p1") == []
    finally:
        rt.close()
