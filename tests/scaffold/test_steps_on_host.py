"""The scaffold execution steps as Service Bus functions, driven through the embedded local host."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import azure.functions as func
import pytest

from shared.bootstrap import Runtime
from shared.host.local import LocalHost, build_host
from shared.mesh.steps import execution_id_for, load_execution
from shared.runtime import set_runtime
from tests.conftest import signed_event


@pytest.fixture
def host(runtime: Runtime) -> Iterator[LocalHost]:
    lh, _ = build_host(runtime)
    lh.functions = [f for f in lh.functions if f.subscription.startswith("scaffold-")]
    yield lh
    lh.close()
    set_runtime(None)


def request(rt: Runtime, key: str, **parameters: object) -> None:
    event = signed_event(rt, "TemplateExecutionRequested", {
        "idempotencyKey": key, "templateId": "python-library", "requestedBy": "cli", "commit": True,
        "parameters": {"author": "Ada", **parameters}})
    rt.publisher.publish_envelopes([event])


def types(rt: Runtime) -> Counter[str]:
    return Counter(e["type"] for e in rt.state.events_for_project("p1"))


def test_a_request_is_validated_generated_and_committed_by_three_functions(runtime: Runtime,
                                                                         host: LocalHost) -> None:
    request(runtime, "key-1")
    host.run_until_idle()
    execution = load_execution(runtime.state, execution_id_for("key-1"))
    assert execution is not None and execution["status"] == "Committed"
    assert types(runtime) == Counter({"TemplateExecutionRequested": 1, "TemplateExecutionValidated": 1,
                                      "ScaffoldGenerated": 1, "TemplateExecuted": 1})
    done = next(e for e in runtime.state.events_for_project("p1") if e["type"] == "TemplateExecuted")
    manifest = json.loads(runtime.artifacts.get(done["data"]["manifestDigest"]))
    assert manifest["template"]["identity"]
    repo = Path(runtime.settings.factory_home).resolve() / "scaffolds" / execution["executionId"]
    assert (repo / ".git").is_dir() and done["data"]["commitId"]


def test_a_repeated_request_returns_the_same_execution_and_no_second_output(runtime: Runtime,
                                                                           host: LocalHost) -> None:
    request(runtime, "key-2")
    host.run_until_idle()
    first = load_execution(runtime.state, execution_id_for("key-2"))
    request(runtime, "key-2")  # a new event id, the same idempotency key
    host.run_until_idle()
    assert load_execution(runtime.state, execution_id_for("key-2")) == first
    counts = types(runtime)
    assert counts["TemplateExecutionRequested"] == 2
    assert counts["ScaffoldGenerated"] == 1 and counts["TemplateExecuted"] == 1


def test_bad_parameters_are_rejected_with_every_problem_and_the_allowed_values(runtime: Runtime,
                                                                              host: LocalHost) -> None:
    request(runtime, "key-3", license="GPL", pythonVersion="2.7")
    host.run_until_idle()
    execution = load_execution(runtime.state, execution_id_for("key-3"))
    assert execution is not None and execution["status"] == "Rejected"
    rejected = next(e for e in runtime.state.events_for_project("p1") if e["type"] == "TemplateExecutionRejected")
    errors = {e["parameter"]: e for e in rejected["data"]["errors"]}
    assert set(errors) == {"license", "pythonVersion"}
    assert "MIT" in errors["license"]["allowed"]
    assert types(runtime)["ScaffoldGenerated"] == 0


def test_the_http_api_starts_an_execution_and_reports_it(runtime: Runtime, host: LocalHost) -> None:
    from shared.api.http import execute_template, get_execution

    set_runtime(runtime)
    req = func.HttpRequest("POST", "http://localhost/api/templates/python-library/execute",
                           headers={"idempotency-key": "http-1"}, route_params={"templateId": "python-library"},
                           body=json.dumps({"parameters": {"author": "Ada"}}).encode())
    resp = execute_template(req)
    assert resp.status_code == 202
    execution_id = json.loads(resp.get_body())["executionId"]
    assert execution_id == execution_id_for("default:http-1")  # keys are per tenant (no x-tenant-id: default)
    host.run_until_idle()
    got = get_execution(func.HttpRequest("GET", f"http://localhost/api/executions/{execution_id}",
                                         route_params={"id": execution_id}, body=b""))
    assert got.status_code == 200 and json.loads(got.get_body())["status"] == "Committed"
    missing = get_execution(func.HttpRequest("GET", "http://localhost/api/executions/nope",
                                             route_params={"id": "nope"}, body=b""))
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
