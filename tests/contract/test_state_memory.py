"""The state contract against ``InMemoryStateStore`` (the double handlers' unit tests use)."""

from __future__ import annotations

from shared.adapters.memory.state import InMemoryStateStore
from shared.ports import FakeClock, StateStore

from .state_contract import StateStoreContract


class TestInMemoryStateStore(StateStoreContract):
    def make_store(self, clock: FakeClock) -> StateStore:
        return InMemoryStateStore(clock=clock)

    def test_returned_bodies_are_copies(self, clock: FakeClock) -> None:
        store = InMemoryStateStore(clock=clock)
        created = store.create("p", "doc", {"items": [1]})
        created.body["items"].append(2)
        loaded = store.get("p", "doc")
        assert loaded is not None
        loaded.body["items"].append(3)
        assert store.get("p", "doc").body == {"items": [1]}  # type: ignore[union-attr]
