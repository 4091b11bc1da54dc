from __future__ import annotations

import pytest

from shared.generators.infrastructure import OverlayConflictError, OverlayError, OverlayValidationError, generate
from shared.generators.infrastructure.generator import resolve
from shared.generators.infrastructure.overlays import OverlayLayer, merge
from shared.product.blueprint import ServiceBlueprint


def test_environment_overlay_sets_replica_floor_and_profile(task_tracker: ServiceBlueprint) -> None:
    dev = resolve(task_tracker, "tasks", "dev")
    prod = resolve(task_tracker, "tasks", "prod")
    assert (dev.cost.profile, dev.resilience.autoscale.min_replicas) == ("economy", 1)
    assert (prod.cost.profile, prod.resilience.autoscale.min_replicas) == ("standard", 2)
    assert dev.resources.cpu_limit == "250m" and prod.resources.cpu_limit == "500m"


def test_user_overlay_wins_over_environment_and_merges_deeply(task_tracker: ServiceBlueprint, write_overlay) -> None:
    path = write_overlay("more.yaml", "values:\n  resilience: {autoscale: {maxReplicas: 9}}\n")
    bp = resolve(task_tracker, "tasks", "prod", [path])
    assert bp.resilience.autoscale.max_replicas == 9
    assert bp.resilience.autoscale.min_replicas == 2  # from overlays/prod.yaml, untouched
    assert bp.resilience.probes.liveness is not None  # sibling keys survive


def test_edition_overlay_applies_between_environment_and_user(task_tracker: ServiceBlueprint, write_overlay) -> None:
    bp = resolve(task_tracker, "tasks", "prod", edition="enterprise")
    assert (bp.edition, bp.cost.profile, bp.resilience.autoscale.max_replicas) == (
        "enterprise",
        "performance",
        20,
    )
    user = write_overlay("u.yaml", "values:\n  cost: {profile: economy}\n")
    assert resolve(task_tracker, "tasks", "prod", [user], edition="enterprise").cost.profile == "economy"


def test_unknown_edition_lists_the_available_ones(task_tracker: ServiceBlueprint) -> None:
    with pytest.raises(OverlayError, match="available: enterprise, standard"):
        resolve(task_tracker, "tasks", "dev", edition="gold")


def test_same_precedence_disagreement_names_both_files_and_key(task_tracker: ServiceBlueprint, write_overlay) -> None:
    a = write_overlay("a.yaml", "values:\n  resilience: {autoscale: {maxReplicas: 4}}\n")
    b = write_overlay("b.yaml", "values:\n  resilience: {autoscale: {maxReplicas: 6}}\n")
    with pytest.raises(OverlayConflictError) as info:
        resolve(task_tracker, "tasks", "dev", [a, b])
    assert info.value.key_path == "resilience.autoscale.maxReplicas"
    assert str(a) in str(info.value) and str(b) in str(info.value)


def test_same_precedence_agreement_is_not_a_conflict(task_tracker: ServiceBlueprint, write_overlay) -> None:
    a = write_overlay("a.yaml", "values:\n  ingress: {targetPort: 9000}\n")
    b = write_overlay("b.yaml", "values:\n  ingress: {targetPort: 9000}\n  env: {FEATURE_X: 'on'}\n")
    bp = resolve(task_tracker, "tasks", "dev", [a, b])
    assert (bp.ingress.target_port, bp.env["FEATURE_X"]) == (9000, "on")


def test_higher_declared_precedence_resolves_a_disagreement(task_tracker: ServiceBlueprint, write_overlay) -> None:
    a = write_overlay("a.yaml", "values:\n  resilience: {autoscale: {maxReplicas: 4}}\n")
    b = write_overlay("b.yaml", "precedence: 40\nvalues:\n  resilience: {autoscale: {maxReplicas: 6}}\n")
    assert resolve(task_tracker, "tasks", "dev", [b, a]).resilience.autoscale.max_replicas == 6


def test_map_versus_scalar_is_a_type_clash_naming_file_and_key(task_tracker: ServiceBlueprint, write_overlay) -> None:
    path = write_overlay("clash.yaml", "values:\n  resilience: {autoscale: 5}\n")
    with pytest.raises(OverlayConflictError) as info:
        resolve(task_tracker, "tasks", "dev", [path])
    assert (info.value.source, info.value.key_path) == (str(path), "resilience.autoscale")


def test_type_clash_between_overlays_at_same_precedence() -> None:
    layers = [
        OverlayLayer("x.yaml", 30, {"ingress": {"exposure": "public"}}),
        OverlayLayer("y.yaml", 30, {"ingress": 1}),
    ]
    with pytest.raises(OverlayConflictError, match="ingress"):
        merge({}, layers)


def test_invalid_merged_result_names_the_file_and_key(task_tracker: ServiceBlueprint, write_overlay) -> None:
    path = write_overlay("bad.yaml", "values:\n  resilience: {autoscale: {minReplicas: 50, maxReplicas: 3}}\n")
    with pytest.raises(OverlayValidationError) as info:
        resolve(task_tracker, "tasks", "dev", [path])
    assert info.value.source == str(path)
    assert "resilience.autoscale" in str(info.value)


def test_plain_secret_value_is_a_model_error(task_tracker: ServiceBlueprint, write_overlay) -> None:
    path = write_overlay("s.yaml", "values:\n  secrets: {DB_PASSWORD: hunter2}\n")
    with pytest.raises(OverlayValidationError, match="not a Key Vault reference") as info:
        resolve(task_tracker, "tasks", "dev", [path])
    assert info.value.source == str(path)


def test_null_unsets_a_key(task_tracker: ServiceBlueprint, write_overlay) -> None:
    path = write_overlay("n.yaml", "values:\n  resilience: {probes: {startup: null}}\n")
    assert resolve(task_tracker, "tasks", "dev", [path]).resilience.probes.startup is None


def test_overlay_with_unknown_top_level_key_is_rejected(task_tracker: ServiceBlueprint, write_overlay) -> None:
    path = write_overlay("t.yaml", "resilience: {autoscale: {maxReplicas: 4}}\n")
    with pytest.raises(OverlayError, match="put blueprint keys under 'values:'"):
        resolve(task_tracker, "tasks", "dev", [path])


def test_overlay_change_changes_the_package(task_tracker: ServiceBlueprint, write_overlay) -> None:
    path = write_overlay("p.yaml", "values:\n  ingress: {targetPort: 9000}\n")
    assert (
        generate(task_tracker, "tasks", "dev", "t").content_hash
        != generate(task_tracker, "tasks", "dev", "t", [path]).content_hash
    )
