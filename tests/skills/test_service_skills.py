"""backend, qa, security and devops skills: the generated service, its tests, review and release gate."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared.mesh.agents import backend, devops, security
from shared.mesh.agents.project import manifest_files
from shared.ports.skills import Artifact, SkillError
from tests.skills.conftest import EXAMPLE_NAMES, _run
from tests.skills.simulation import FakeEvent, ProjectSimulation

Completed = Callable[[str], ProjectSimulation]


def _data(sim: ProjectSimulation, event_type: str) -> dict[str, Any]:
    return dict(sim.by_type[event_type].data)


def test_api_contract_asks_the_scaffold_engine_for_the_service(completed: Completed) -> None:
    command = _data(completed("task-tracker"), "GenerateScaffold")

    assert command == {
        "idempotencyKey": "proj-1:task-tracker:scaffold",
        "templateId": "python-functions-service",
        "parameters": {
            "name": "task_tracker",
            "serviceName": "task-tracker",
            "packageName": "task_tracker",
            "description": "HTTP API of task-tracker (task-tracker).",
            "includeCosmos": True,
            "logLevel": "Information",
        },
        "requestedBy": "backend-developer",
        "projectId": "proj-1",
        "service": "task-tracker",
        "commit": False,
    }


def test_template_executed_becomes_microservice_scaffolded(completed: Completed) -> None:
    sim = completed("task-tracker")
    executed, scaffolded = _data(sim, "TemplateExecuted"), _data(sim, "MicroserviceScaffolded")

    assert scaffolded == {
        "projectId": "proj-1",
        "service": "task-tracker",
        "executionId": executed["executionId"],
        "manifestDigest": executed["manifestDigest"],
        "treeHash": executed["treeHash"],
        "artifacts": [],
    }


def test_another_agents_scaffold_is_ignored(completed: Completed) -> None:
    sim = completed("task-tracker")
    event = FakeEvent("e1", "TemplateExecuted", {**_data(sim, "TemplateExecuted"), "requestedBy": "someone-else"})

    assert backend.request_scaffold(event, sim.ctx).events == []


@pytest.mark.parametrize(
    ("event_type", "data", "words"),
    [
        ("TemplateExecutionRejected", {"errors": ["name: is required"]}, "rejected"),
        ("TemplateExecutionFailed", {"reason": "disk full"}, "not generated"),
    ],
)
def test_a_rejected_or_failed_scaffold_is_a_permanent_error_with_the_reason(
    completed: Completed, event_type: str, data: dict[str, Any], words: str
) -> None:
    event = FakeEvent(
        "e1",
        event_type,
        {
            "executionId": "x1",
            "templateId": "python-functions-service",
            "requestedBy": "backend-developer",
            "service": "task-tracker",
            **data,
        },
    )

    with pytest.raises(SkillError, match=words) as caught:
        backend.request_scaffold(event, completed("task-tracker").ctx)

    assert caught.value.permanent
    assert str(next(iter(data.values()))).strip("[]'") in str(caught.value)


def test_code_generated_writes_models_catalog_routes_and_local_settings(completed: Completed) -> None:
    data = _data(completed("invoicing"), "CodeGenerated")

    assert [a["path"] for a in data["artifacts"]] == [
        "services/invoicing/invoicing/models.py",
        "services/invoicing/invoicing/catalog.py",
        "services/invoicing/invoicing/routes.py",
        "services/invoicing/local.settings.json.example",
    ]
    assert data["fileCount"] == 4


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_generated_service_passes_its_own_tests_and_ruff_in_the_gate(completed: Completed, name: str) -> None:
    sim = completed(name)

    for passed in sim.all_of("TestsPassed"):
        suite = sim.of("TestSuiteGenerated", passed.data["service"])
        assert suite is not None
        assert passed.data["failed"] == passed.data["errors"] == 0
        assert passed.data["passed"] > suite.data["testCount"]  # parametrized tests run once per case
        report = json.loads(sim.ctx.load_artifact(passed.data["reportDigest"]))
        assert report["ok"] and report["timedOut"] is False
        assert report["lint"]["tool"] == "ruff check" and report["lint"]["exitCode"] == 0


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_the_gate_folder_of_each_service_is_ruff_clean(completed: Completed, name: str) -> None:
    sim = completed(name)

    for service in sim.by_type["BlueprintCreated"].data["services"]:
        project = Path(sim.ctx.work_dir) / "test-gate" / service
        result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=project,
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, (project, result.stdout)


def test_a_lint_failure_blocks_the_release_like_a_failing_test(completed: Completed, tmp_path: Path) -> None:
    sim = completed("task-tracker")
    unused = Artifact.text("services/task-tracker/tests/test_lint.py", "import os\n\n\ndef test_ok():\n    pass\n")
    ctx = dataclasses.replace(sim.ctx, work_dir=tmp_path,
                              artifacts={**sim.ctx.artifacts, unused.digest: unused.content})
    refs = [*_data(sim, "TestSuiteGenerated")["artifacts"], unused.ref()]
    event = FakeEvent("e-lint", "TestSuiteGenerated", {**_data(sim, "TestSuiteGenerated"), "artifacts": refs})

    (emitted,) = devops.run_test_gate(event, ctx).events

    assert emitted.type == "TestsFailed"
    assert emitted.data["failed"] == 0
    assert "ruff check failed" in emitted.data["reason"] and "F401" in emitted.data["reason"]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_each_service_was_hosted_locally_and_answered_its_smoke_test(completed: Completed, name: str) -> None:
    sim = completed(name)

    for deployed in sim.all_of("ServiceDeployed"):
        data = deployed.data
        assert data["environment"] == "local" and data["url"].startswith("http://127.0.0.1:")
        assert data["healthCheck"] == {"path": "/api/health", "status": 200, "passed": True}
        assert all(check["passed"] for check in data["checks"])
        assert any(check["method"] == "POST" and check["status"] == 201 for check in data["checks"])
        assert data["eventsPublished"] >= 1


def test_a_smoke_test_that_fails_stops_the_service_with_the_reason(completed: Completed, tmp_path: Path) -> None:
    sim = completed("task-tracker")
    broken = Artifact.text("services/task-tracker/task_tracker/health.py",
                           "import azure.functions as func\n\nbp = func.Blueprint()\n")
    code = _data(sim, "CodeGenerated")
    ctx = dataclasses.replace(sim.ctx, work_dir=tmp_path,
                              artifacts={**sim.ctx.artifacts, broken.digest: broken.content})
    ctx.events = [e if e["type"] != "CodeGenerated" else {**e, "data": {**code, "artifacts": [*code["artifacts"],
                                                                                             broken.ref()]}}
                  for e in sim.ctx.events]

    with pytest.raises(SkillError, match=r"health: GET /api/health gave 404") as caught:
        devops.deploy_locally(sim.by_type["TestsPassed"], ctx)

    assert caught.value.permanent


def test_qa_suite_covers_every_endpoint_and_every_kind_of_bad_input(completed: Completed) -> None:
    sim = completed("invoicing")
    refs = _data(sim, "TestSuiteGenerated")["artifacts"]
    text = sim.ctx.load_artifact(next(r["digest"] for r in refs if r["path"].endswith("test_invoices_api.py"))).decode()

    for fragment in (
        "def test_create_without_a_required_field_is_422",
        "def test_create_does_not_coerce_a_value_of_the_wrong_json_type",
        "def test_create_with_an_unknown_enum_value_is_422",
        "def test_create_too_long_is_422",
        "def test_create_below_minimum_is_422",
        "def test_create_above_maximum_is_422",
        "def test_create_with_too_many_items_is_422",
        "def test_create_with_too_many_decimal_places_is_422",
        "def test_create_with_a_body_that_cannot_be_read_is_a_4xx_problem",
        "def test_list_pages_with_continuation_tokens",
        "def test_list_filters_by_equality",
        "def test_list_filters_by_range",
        "def test_list_sorts_ascending_and_descending",
        "def test_create_naming_an_unknown_customer_id_is_422_naming_the_field",
        "def test_status_cannot_skip_its_lifecycle_409",
        "def test_number_must_be_unique_409",
        "def test_another_tenant_cannot_see_change_or_delete_the_item",
        'b"[" * 100_000',
    ):
        assert fragment in text, fragment
    paths = {r["path"] for r in refs}
    assert {"services/invoicing/tests/test_fuzz.py", "services/invoicing/invoicing/samples.py",
            "pyproject.toml", "requirements-dev.txt"} <= paths


def test_a_service_that_follows_another_gets_the_event_contract_tests_and_the_root_gets_a_cross_test(
        completed: Completed) -> None:
    sim = completed("library")
    lending = {r["path"] for r in sim.of("TestSuiteGenerated", "library-lending").data["artifacts"]}
    catalog = {r["path"] for r in sim.of("TestSuiteGenerated", "library-catalog").data["artifacts"]}

    assert "services/library-lending/tests/test_events_in.py" in lending
    assert "services/library-catalog/tests/test_events_in.py" not in catalog
    assert "tests/test_across_services.py" in lending & catalog


def test_security_review_of_the_generated_service_is_clean(completed: Completed) -> None:
    data = _data(completed("invoicing"), "SecurityReviewCompleted")

    assert data["findings"] == []  # the write routes validate through crud.*_item (one call deep)
    assert data["highestSeverity"] == "none"
    assert [a["path"] for a in data["artifacts"]] == ["security/invoicing-review.json", "security/invoicing-review.md"]


BAD_CODE = """
import os
import subprocess

import azure.functions as func

bp = func.Blueprint()
STORAGE = "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abcdefghijklmnopqrstuvwxyz0123456789ABCD=="
password = "correct-horse-battery"
DEBUG = True


def open_door(req):
    return func.HttpResponse(str(eval(req.get_body())))


def run(req):
    subprocess.run(req.params["cmd"], shell=True)
    os.system("ls")
    return func.HttpResponse("ok")


bp.route(route="door", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)(open_door)
bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)(run)
"""


def test_security_review_finds_secrets_anonymous_routes_unvalidated_bodies_eval_shell_and_debug() -> None:
    findings = security.review({"svc/routes.py": BAD_CODE.encode()})
    rules = {(f.ruleId, f.line) for f in findings}

    assert ("SEC001", 8) in rules and ("SEC001", 9) in rules
    assert ("SEC006", 10) in rules
    assert ("SEC004", 14) in rules
    assert ("SEC005", 18) in rules and ("SEC005", 19) in rules
    assert ("SEC002", 23) in rules
    assert ("SEC003", 13) in rules
    assert not any(f.ruleId == "SEC002" and f.line == 24 for f in findings)  # health may be anonymous
    assert security.highest(findings) == "high"
    assert all(f.file == "svc/routes.py" and f.id for f in findings)


def test_security_ignores_words_in_comments_for_code_rules() -> None:
    code = b'# never call eval() here\ndef f():\n    return "use subprocess without shell=True"\n'

    assert security.review({"a.py": code}) == []


def test_a_failing_generated_test_makes_the_gate_emit_tests_failed(completed: Completed, tmp_path: Path) -> None:
    sim = completed("task-tracker")
    failing = Artifact.text("services/task-tracker/tests/test_extra.py", "def test_extra():\n    assert 1 == 2\n")
    ctx = dataclasses.replace(
        sim.ctx, work_dir=tmp_path, artifacts={**sim.ctx.artifacts, failing.digest: failing.content}
    )
    refs = [*_data(sim, "TestSuiteGenerated")["artifacts"], failing.ref()]
    event = FakeEvent("e-fail", "TestSuiteGenerated", {**_data(sim, "TestSuiteGenerated"), "artifacts": refs})

    result = devops.run_test_gate(event, ctx)

    (emitted,) = result.events
    assert emitted.type == "TestsFailed"
    assert emitted.data["failed"] == 1
    assert "test_extra" in emitted.data["reason"]
    report = next(a for a in result.artifacts if a.path == "reports/task-tracker-tests.json")
    assert report.digest == emitted.data["reportDigest"]


def test_release_lists_every_project_artifact_with_its_producing_event(completed: Completed) -> None:
    sim = completed("task-tracker")
    released = _data(sim, "ReleaseTriggered")
    provenance = json.loads(
        sim.ctx.load_artifact(next(a["digest"] for a in released["artifacts"] if a["path"].endswith("provenance.json")))
    )
    listed = {(a["path"], a["digest"]) for a in provenance["artifacts"]}
    release_index = next(i for i, e in enumerate(sim.ctx.events) if e["type"] == "ReleaseTriggered")

    produced = {(r["path"], r["digest"]) for e in sim.ctx.events[:release_index]
                for r in e["data"].get("artifacts", [])}
    assert produced <= listed
    assert "services/task-tracker/task_tracker/repository.py" in {path for path, _ in listed}
    assert ("reports/task-tracker-tests.json", released["testsReportDigest"]) in listed
    assert all(a["event"]["id"] and a["event"]["type"] for a in provenance["artifacts"])
    assert released["version"] == "0.1.0"


def test_the_release_commits_the_findings_of_every_gate(completed: Completed) -> None:
    sim = completed("invoicing")
    released = _data(sim, "ReleaseTriggered")
    findings = json.loads(sim.ctx.load_artifact(
        next(a["digest"] for a in released["artifacts"] if a["path"] == "release/invoicing-findings.json")))

    assert findings["tests"]["failed"] == 0 and findings["lint"] == {"tool": "ruff check", "exitCode": 0}
    assert findings["security"]["highestSeverity"] == "none"
    assert {f["ruleId"] for f in findings["infrastructure"]["findings"]} >= {"IB009"}


@pytest.mark.parametrize(
    "manifest",
    [
        {"files": {"a/b.py": {"sha256": "ab" * 32}}},
        {"files": [{"path": "a/b.py", "sha256": "ab" * 32, "size": 3}]},
        {"files": [{"path": "a/b.py", "digest": "sha256:" + "ab" * 32}]},
    ],
)
def test_scaffold_manifest_adapter_accepts_the_mapping_and_list_forms(manifest: dict[str, Any]) -> None:
    assert manifest_files(manifest) == {"a/b.py": "sha256:" + "ab" * 32}


def test_scaffold_manifest_without_files_is_a_permanent_error() -> None:
    with pytest.raises(SkillError, match="no 'files'") as caught:
        manifest_files({"entries": []})

    assert caught.value.permanent


def test_reserved_words_unicode_and_fifteen_entities_still_give_a_released_clean_service(tmp_path: Path) -> None:
    """Entities called Field and BaseModel, fields called from/json/class/copy, unicode text, 15 entities."""
    sim = _run("edge-cases", tmp_path, Path(__file__).parent / "fixtures" / "edge-cases.yaml")

    passed = sim.of("TestsPassed", "edge-cases")
    assert passed is not None and passed.data["failed"] == 0
    report = json.loads(sim.ctx.load_artifact(passed.data["reportDigest"]))
    assert report["lint"]["exitCode"] == 0
    assert sim.of("ReleaseTriggered", "edge-cases") is not None
    models = next(sim.ctx.load_artifact(r["digest"]).decode() for r in sim.by_type["CodeGenerated"].data["artifacts"]
                  if r["path"].endswith("models.py"))
    assert "class Field(_t.Body)" not in models and "class Field(_t.Stored)" in models
    assert 'from_: _Field_from = _pd.Field(alias="from")' in models
