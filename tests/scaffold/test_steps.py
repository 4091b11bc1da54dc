"""The scaffold steps: Requested -> Validating -> Rejected | Generating -> Generated | Failed -> Committed."""

from __future__ import annotations

from pathlib import Path

from dulwich.repo import Repo

from shared.ports import FakeClock
from shared.scaffold.catalog import TemplateCatalog
from shared.scaffold.execution import commit_step, execution_id_for, generate_step, validate_step
from tests.scaffold.memory_templates import base_config, make_source

SOURCE = make_source(
    base_config(sourceName="Demo", defaultName="demo", symbols={
        "db": {"type": "parameter", "datatype": "choice", "defaultValue": "sql",
               "choices": [{"choice": "sql"}, {"choice": "cosmos"}]}}),
    {"Demo.txt": "db for Demo\n", "img.png": b"\x89PNG\x00"})
CATALOG = TemplateCatalog(sources=[SOURCE])


def _request(**extra) -> dict:
    return {"idempotencyKey": "req-1", "templateId": "test", "parameters": {"name": "orders"},
            "requestedBy": "backend-developer", "projectId": "p1", "commit": True, **extra}


def _run_all(tmp_path: Path, clock: FakeClock) -> tuple[list, dict, dict]:
    store: dict[str, bytes] = {}
    v = validate_step(_request(), None, CATALOG, clock=clock)
    g = generate_step(v.events[0].data, v.execution, CATALOG, trace_id="trace-1", clock=clock)
    for artifact in g.artifacts:
        store[artifact.digest] = artifact.content
    c = commit_step(g.events[0].data, g.execution, load_artifact=store.__getitem__,
                    repo_dir=tmp_path / "repo", clock=clock)
    return [v, g, c], c.execution, store


def test_happy_path_validates_generates_and_commits(tmp_path: Path) -> None:
    (v, g, c), execution, _ = _run_all(tmp_path, FakeClock())
    assert [e.type for e in v.events + g.events + c.events] == [
        "TemplateExecutionValidated", "ScaffoldGenerated", "TemplateExecuted"]
    assert v.events[0].data == {"executionId": execution_id_for("req-1"), "idempotencyKey": "req-1",
                                "templateId": "test", "templateVersion": "1.0.0",
                                "parameters": {"name": "orders"}, "requestedBy": "backend-developer",
                                "projectId": "p1", "commit": True}
    generated = g.events[0].data
    manifest_artifact = next(a for a in g.artifacts if a.path == ".factory/manifest.json")
    assert generated["manifestDigest"] == manifest_artifact.digest
    assert generated["fileCount"] == 2 and generated["treeHash"].startswith("sha256:")
    assert {a.path for a in g.artifacts} >= {"orders.txt", "img.png", ".factory/manifest.json"}
    assert execution["status"] == "Committed"
    assert [h["status"] for h in execution["history"]] == [
        "Requested", "Validating", "Generating", "Generated", "Committed"]
    executed = c.events[0].data
    repo = Repo(str(tmp_path / "repo"))
    head = repo[repo.head()]
    assert executed["commitId"] == repo.head().decode()
    message = head.message.decode()
    assert f"Factory-Manifest: {generated['manifestDigest']}" in message
    assert "Factory-Template: test.template@1.0.0" in message and "Factory-Trace: trace-1" in message
    assert (tmp_path / "repo" / "orders.txt").read_text() == "db for orders\n"
    repo.close()


def test_a_repeated_request_maps_to_the_same_execution_and_emits_nothing(tmp_path: Path) -> None:
    (v, g, _c), execution, _ = _run_all(tmp_path, FakeClock())
    again = validate_step(_request(), execution, CATALOG)
    assert again.events == [] and again.execution == execution
    assert generate_step(v.events[0].data, execution, CATALOG).events == []
    assert commit_step(g.events[0].data, execution, load_artifact=lambda d: b"",
                       repo_dir=tmp_path / "repo").events == []
    assert execution["id"] == execution_id_for("req-1")


def test_invalid_parameters_are_rejected_with_every_error() -> None:
    out = validate_step(_request(parameters={"db": "mongo", "size": 3}), None, CATALOG)
    (event,) = out.events
    assert event.type == "TemplateExecutionRejected"
    assert event.data["errors"] == [
        {"message": "'mongo' is not one of the choices", "parameter": "db", "allowed": ["sql", "cosmos"]},
        {"message": "is not a parameter of this template", "parameter": "size", "allowed": ["db", "name"]},
    ]
    assert out.execution["status"] == "Rejected"
    assert validate_step(_request(), out.execution, CATALOG).events == []


def test_an_unknown_template_is_rejected_naming_the_known_ones() -> None:
    (event,) = validate_step(_request(templateId="nope"), None, CATALOG).events
    assert event.type == "TemplateExecutionRejected"
    assert event.data["errors"][0]["allowed"] == ["test.template@1.0.0"]


def test_generation_failure_emits_failed_with_the_reason() -> None:
    v = validate_step(_request(), None, CATALOG)
    broken = TemplateCatalog(sources=[make_source(base_config(sourceName="Demo", defaultName="demo"),
                                                  {"a.txt": "//#if (nosuch ==)\n//#endif\n"})])
    out = generate_step(v.events[0].data, v.execution, broken)
    (event,) = out.events
    assert event.type == "TemplateExecutionFailed" and "a.txt:1" in event.data["reason"]
    assert "operand is missing" in event.data["reason"]
    assert out.execution["status"] == "Failed"


def test_commit_false_completes_without_a_commit(tmp_path: Path) -> None:
    v = validate_step(_request(commit=False), None, CATALOG)
    g = generate_step(v.events[0].data, v.execution, CATALOG)
    c = commit_step(g.events[0].data, g.execution, load_artifact=lambda d: b"", repo_dir=tmp_path / "r")
    assert "commitId" not in c.events[0].data and c.execution["status"] == "Committed"
    assert not (tmp_path / "r").exists()


def test_a_missing_artifact_fails_the_commit_step(tmp_path: Path) -> None:
    v = validate_step(_request(), None, CATALOG)
    g = generate_step(v.events[0].data, v.execution, CATALOG)
    c = commit_step(g.events[0].data, g.execution, load_artifact={}.__getitem__, repo_dir=tmp_path / "r")
    assert c.events[0].type == "TemplateExecutionFailed" and c.execution["status"] == "Failed"


def test_steps_are_deterministic_for_the_same_request(tmp_path: Path) -> None:
    first = _run_all(tmp_path / "a", FakeClock())
    second = _run_all(tmp_path / "b", FakeClock())
    assert first[1] == second[1]
    assert first[0][2].events[0].data["commitId"] == second[0][2].events[0].data["commitId"]
