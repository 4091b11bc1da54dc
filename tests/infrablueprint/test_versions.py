from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.generators.infrastructure import DirectoryVersionStore, diff_versions, generate
from shared.generators.infrastructure.versions import VersionError, current, record, rollback, versions
from shared.ports import FakeClock
from shared.product.blueprint import ServiceBlueprint


def _bigger(bp: ServiceBlueprint) -> ServiceBlueprint:
    nfr = bp.non_functional.model_copy(update={"expected_rps": 500})
    return bp.model_copy(update={"non_functional": nfr})


def _changed(bp: ServiceBlueprint) -> ServiceBlueprint:
    service = bp.services[0].model_copy(update={"storage": ["cosmos", "blob"]})
    return bp.model_copy(update={"services": [service]})


@pytest.fixture
def store(tmp_path: Path) -> DirectoryVersionStore:
    return DirectoryVersionStore(tmp_path / "store")


def test_first_generation_creates_version_one_and_points_current_at_it(
    store: DirectoryVersionStore, task_tracker: ServiceBlueprint
) -> None:
    package = generate(task_tracker, "tasks", "dev", "trace-1")
    saved = record(store, package, clock=FakeClock())
    short = package.content_hash.removeprefix("sha256:")[:12]
    assert (saved.created, saved.version.number, saved.version.label) == (True, 1, f"1-{short}")
    folder = store.root / "tasks" / "dev" / "versions" / f"1-{short}"
    assert (folder / "files" / "kubernetes" / "deployment.yaml").read_bytes() == package.files[
        "kubernetes/deployment.yaml"
    ]
    assert (store.root / "tasks" / "dev" / "current").read_text().strip() == f"1-{short}"
    assert saved.version.created_at == "2026-01-01T00:00:00+00:00"


def test_regeneration_with_unchanged_output_makes_no_new_version(
    store: DirectoryVersionStore, task_tracker: ServiceBlueprint
) -> None:
    record(store, generate(task_tracker, "tasks", "dev", "trace-1"), clock=FakeClock())
    again = record(store, generate(task_tracker, "tasks", "dev", "trace-2"), clock=FakeClock())
    assert (again.created, again.version.number, again.version.trace_id) == (False, 1, "trace-1")
    assert store.numbers("tasks", "dev") == [1]


def test_changed_service_blueprint_makes_a_new_current_version(
    store: DirectoryVersionStore, task_tracker: ServiceBlueprint
) -> None:
    record(store, generate(task_tracker, "tasks", "dev", "trace-1"), clock=FakeClock())
    saved = record(store, generate(_changed(task_tracker), "tasks", "staging", "trace-2"), clock=FakeClock())
    assert saved.version.number == 1  # other environment, own history
    changed = record(store, generate(_changed(task_tracker), "tasks", "dev", "trace-3"), clock=FakeClock())
    assert (changed.created, changed.version.number) == (True, 2)
    assert store.current_number("tasks", "dev") == 2
    assert [v.number for v in versions(store, "tasks", "dev")] == [1, 2]


def test_versions_are_immutable(store: DirectoryVersionStore, task_tracker: ServiceBlueprint) -> None:
    package = generate(task_tracker, "tasks", "dev", "t")
    saved = record(store, package, clock=FakeClock())
    with pytest.raises(VersionError, match="immutable"):
        store.write_version(store.load("tasks", "dev", saved.version.number))
    stored_file = next((store.root / "tasks" / "dev" / "versions").glob("1-*/files/helm/values.yaml"))
    assert not os.access(stored_file, os.W_OK) or os.geteuid() == 0
    assert stored_file.stat().st_mode & 0o222 == 0


def test_diff_shows_only_changed_resources_with_unified_diff(
    store: DirectoryVersionStore, task_tracker: ServiceBlueprint
) -> None:
    record(store, generate(task_tracker, "tasks", "prod", "trace-1"), clock=FakeClock())
    record(store, generate(_bigger(task_tracker), "tasks", "prod", "trace-2"), clock=FakeClock())
    changes = diff_versions(store.load("tasks", "prod", 1), store.load("tasks", "prod", 2))
    changed = {c.resource: c for c in changes}
    assert "kubernetes/hpa.yaml" in changed
    assert "kubernetes/service.yaml" not in changed  # stamps differ, content does not
    hpa = changed["kubernetes/hpa.yaml"]
    assert hpa.status == "changed"
    assert "-  maxReplicas: 3\n+  maxReplicas: 20\n" in hpa.diff
    assert sorted(changed) == [
        "bicep/main.bicep",
        "helm/values.yaml",
        "infrastructure-blueprint.json",
        "kubernetes/hpa.yaml",
    ]


def test_diff_reports_added_and_removed_files(
    store: DirectoryVersionStore, task_tracker: ServiceBlueprint, write_overlay
) -> None:
    secret = write_overlay("s.yaml", "values:\n  secrets: {API_KEY: {vault: kv-tasks, secret: api-key}}\n")
    record(store, generate(task_tracker, "tasks", "dev", "a"), clock=FakeClock())
    record(store, generate(task_tracker, "tasks", "dev", "b", [secret]), clock=FakeClock())
    forward = {
        c.resource: c.status for c in diff_versions(store.load("tasks", "dev", 1), store.load("tasks", "dev", 2))
    }
    backward = {
        c.resource: c.status for c in diff_versions(store.load("tasks", "dev", 2), store.load("tasks", "dev", 1))
    }
    assert forward["kubernetes/secretproviderclass.yaml"] == "added"
    assert backward["kubernetes/secretproviderclass.yaml"] == "removed"


def test_rollback_makes_old_version_current_audits_and_returns_event(
    store: DirectoryVersionStore, task_tracker: ServiceBlueprint
) -> None:
    clock = FakeClock()
    first = record(store, generate(task_tracker, "tasks", "dev", "a"), clock=clock)
    record(store, generate(_changed(task_tracker), "tasks", "dev", "b"), clock=clock)
    clock.advance(60)
    event = rollback(store, "tasks", "dev", 1, actor="alice", reason="bad autoscale", clock=clock)
    assert event.type == "InfrastructureBlueprintRolledBack"
    assert dict(event.data) == {
        "service": "tasks",
        "environment": "dev",
        "fromVersion": 2,
        "toVersion": 1,
        "actor": "alice",
        "reason": "bad autoscale",
    }
    restored = current(store, "tasks", "dev")
    assert restored is not None and restored.info.content_hash == first.version.content_hash
    audit = store.audit("tasks", "dev")
    assert [a["action"] for a in audit] == ["create", "create", "rollback"]
    assert audit[-1]["at"] == "2026-01-01T00:01:00+00:00"
    assert store.numbers("tasks", "dev") == [1, 2]  # nothing deleted


def test_regeneration_after_rollback_creates_a_new_version_when_output_differs(
    store: DirectoryVersionStore, task_tracker: ServiceBlueprint
) -> None:
    record(store, generate(task_tracker, "tasks", "dev", "a"), clock=FakeClock())
    record(store, generate(_changed(task_tracker), "tasks", "dev", "b"), clock=FakeClock())
    rollback(store, "tasks", "dev", 1, actor="alice")
    unchanged = record(store, generate(task_tracker, "tasks", "dev", "c"), clock=FakeClock())
    assert (unchanged.created, unchanged.version.number) == (False, 1)
    again = record(store, generate(_changed(task_tracker), "tasks", "dev", "d"), clock=FakeClock())
    assert (again.created, again.version.number) == (True, 3)


def test_rollback_to_missing_or_current_version_is_refused(
    store: DirectoryVersionStore, task_tracker: ServiceBlueprint
) -> None:
    with pytest.raises(VersionError, match="no versions yet"):
        rollback(store, "tasks", "dev", 1, actor="alice")
    record(store, generate(task_tracker, "tasks", "dev", "a"), clock=FakeClock())
    with pytest.raises(VersionError, match="already current"):
        rollback(store, "tasks", "dev", 1, actor="alice")
    with pytest.raises(VersionError, match="has no version 7"):
        rollback(store, "tasks", "dev", 7, actor="alice")
