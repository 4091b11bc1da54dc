from __future__ import annotations

from shared.generators.infrastructure import generate
from shared.product.blueprint import ServiceBlueprint
from tests.infrablueprint.conftest import TRACE_ID


def test_same_input_gives_byte_identical_package(catalogue: ServiceBlueprint) -> None:
    first = generate(catalogue, "catalogue", "prod", TRACE_ID)
    second = generate(catalogue, "catalogue", "prod", TRACE_ID)
    assert first.files == second.files
    assert first.content_hash == second.content_hash


def test_trace_id_is_stamped_but_not_part_of_the_content_hash(catalogue: ServiceBlueprint) -> None:
    a = generate(catalogue, "catalogue", "prod", "trace-a")
    b = generate(catalogue, "catalogue", "prod", "trace-b")
    assert a.content_hash == b.content_hash
    assert a.blueprint_version == b.blueprint_version
    assert a.files != b.files
    assert b"trace-b" in b.files["kubernetes/deployment.yaml"]


def test_service_order_in_the_blueprint_does_not_change_output(invoicing: ServiceBlueprint) -> None:
    reordered = invoicing.model_copy(update={"services": list(reversed(invoicing.services))})
    assert (
        generate(invoicing, "invoices", "prod", TRACE_ID).files
        == generate(reordered, "invoices", "prod", TRACE_ID).files
    )


def test_changing_the_service_changes_hash_and_version(task_tracker: ServiceBlueprint) -> None:
    before = generate(task_tracker, "tasks", "dev", TRACE_ID)
    service = task_tracker.services[0].model_copy(update={"storage": ["cosmos", "blob"]})
    after = generate(task_tracker.model_copy(update={"services": [service]}), "tasks", "dev", TRACE_ID)
    assert before.content_hash != after.content_hash
    assert before.blueprint_version != after.blueprint_version
    assert after.blueprint_version.startswith("1.0.0+")


def test_default_image_tag_is_pinned_never_latest(task_tracker: ServiceBlueprint) -> None:
    package = generate(task_tracker, "tasks", "dev", TRACE_ID)
    assert package.blueprint.image.tag.startswith("sha-")
    assert b":latest" not in package.files["kubernetes/deployment.yaml"]
