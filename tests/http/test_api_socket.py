"""The HTTP API and Studio served by the real host, through a socket: every route answers, errors are
problem+json, projects page, approval gates end to end, and the access policy's dead letters."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from typer.testing import CliRunner

from shared.api.routes import ROUTES, STUDIO_ROUTES
from shared.cli.main import app as cli
from tests.live import LiveFactory, call, live_factory
from tests.security_finding import plant_security_finding
from tests.unit.test_contracts import SAMPLES

ROOT = Path(__file__).resolve().parents[2]
TASKS = (ROOT / "examples" / "task-tracker.yaml").read_bytes()
PROBLEM = "application/problem+json"


def problem_of(reply: tuple[int, dict[str, str], bytes], status: int) -> dict[str, Any]:
    code, headers, body = reply
    assert code == status, body[:500]
    assert headers["content-type"] == PROBLEM
    doc: dict[str, Any] = json.loads(body)
    assert doc["status"] == status and doc["title"] and doc["detail"]
    return doc


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveFactory]:
    """HTTP only: what is published stays queued (no mesh runs), so these tests are quick."""
    with live_factory(tmp_path_factory.mktemp("quiet") / "home", pump=False) as live:
        yield live


# ----------------------------------------------------------------------------- every route


def _sample_path(route: str) -> str:
    path = re.sub(r"\{\*?([A-Za-z]+)[^}]*\}", lambda m: {"path": "docs/x.md", "sequence": "999"}.get(
        m.group(1), "unknown-" + m.group(1).lower()), route)
    return "/api/" + path


@pytest.mark.parametrize("route", [*ROUTES, *STUDIO_ROUTES], ids=lambda r: f"{r.methods[0]} {r.route}")
def test_every_route_answers_over_a_socket_and_errors_are_problems(quiet: LiveFactory, route: Any) -> None:
    method = route.methods[0]
    body = b"{}" if method == "POST" else None
    status, headers, content = call(quiet, method, _sample_path(route.route), body,
                                    {"Content-Type": "application/json"} if body else None)
    assert content, f"{method} {route.route} answered an empty body"
    assert headers.get("content-type"), f"{method} {route.route} has no Content-Type"
    assert status < 500, content[:300]
    if status >= 400:
        assert headers["content-type"] == PROBLEM, (route.route, status, content[:200])
        assert json.loads(content)["detail"]
    elif status == 303:
        assert headers["location"]


def test_health_says_which_adapters_run(quiet: LiveFactory) -> None:
    status, headers, body = call(quiet, "GET", "/api/health")
    doc = json.loads(body)
    assert status == 200 and headers["content-type"] == "application/json"
    assert doc["status"] == "ok" and doc["adapters"] == {"bus": "sqlite", "state": "sqlite",
                                                         "artifacts": "filesystem"}
    assert "release-manager" in doc["flows"]


def test_studio_pages_are_html_with_security_headers_and_static_files_cache(quiet: LiveFactory) -> None:
    status, headers, body = call(quiet, "GET", "/", headers={"Accept": "text/html"})
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in headers["content-security-policy"] and headers["x-content-type-options"] == "nosniff"
    assert b"<title>Projects" in body and b"vendor/htmx.min.js" in body
    status, headers, body = call(quiet, "GET", "/static/vendor/mermaid.min.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript") and len(body) > 1_000_000
    again = call(quiet, "GET", "/static/vendor/mermaid.min.js", headers={"If-None-Match": headers["etag"]})
    assert again[0] == 304
    problem_of(call(quiet, "GET", "/static/../pages.py"), 404)
    html404 = call(quiet, "GET", "/projects/nope", headers={"Accept": "text/html"})
    assert html404[0] == 404 and b"No project &#39;nope&#39;" in html404[2]


def test_projects_are_listed_newest_first_in_pages(quiet: LiveFactory) -> None:
    ids = []
    for run in ("a", "b", "c"):
        status, headers, body = call(quiet, "POST", f"/api/projects?runId=page-{run}", TASKS,
                                     {"Content-Type": "application/yaml"})
        assert status == 202 and headers["location"] == f"/api/projects/{json.loads(body)['projectId']}"
        ids.append(json.loads(body)["projectId"])
    first = json.loads(call(quiet, "GET", "/api/projects?pageSize=2")[2])
    assert first["total"] >= 3 and first["pageSize"] == 2 and len(first["items"]) == 2
    assert first["next"] == "/api/projects?page=2&pageSize=2" and first["previous"] is None
    listed = [p["projectId"] for p in first["items"]]
    second = json.loads(call(quiet, "GET", first["next"])[2])
    listed += [p["projectId"] for p in second["items"]]
    assert set(ids) <= set(listed)
    item = first["items"][0]
    assert item["outcome"] == "running" and item["durationSeconds"] >= 0
    assert item["release"] == {"environment": "dev", "approvalRequired": False}
    assert "pageSize" in problem_of(call(quiet, "GET", "/api/projects?pageSize=1000"), 400)["detail"]
    problem_of(call(quiet, "GET", "/api/projects?page=x"), 400)


def test_a_2_mb_intent_is_refused_with_a_problem_not_an_empty_reply(quiet: LiveFactory) -> None:
    huge = json.dumps({"product": {"name": "x" * (2 * 1024 * 1024)}}).encode()
    doc = problem_of(call(quiet, "POST", "/api/projects", huge, {"Content-Type": "application/json"}), 413)
    assert "at most" in doc["detail"]


def test_approval_is_refused_when_nothing_waits_or_who_and_why_are_missing(quiet: LiveFactory) -> None:
    body = json.loads(call(quiet, "POST", "/api/projects?runId=approval", TASKS)[2])
    project = body["projectId"]
    missing = json.dumps({"decision": "approve", "reason": "ok"}).encode()
    assert "who" in problem_of(call(quiet, "POST", f"/api/projects/{project}/approval", missing), 422)["detail"]
    ok = json.dumps({"decision": "approve", "actor": "alice", "reason": "ok"}).encode()
    assert "not waiting" in problem_of(call(quiet, "POST", f"/api/projects/{project}/approval", ok), 409)["detail"]
    problem_of(call(quiet, "POST", "/api/projects/nope/approval", ok), 404)
    bad = json.dumps({"decision": "maybe", "actor": "alice", "reason": "ok"}).encode()
    problem_of(call(quiet, "POST", f"/api/projects/{project}/approval", bad), 422)


# ----------------------------------------------------------------------------- through the mesh


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveFactory]:
    with live_factory(tmp_path_factory.mktemp("mesh") / "home") as live:
        yield live


def _flows(live: LiveFactory, project: str) -> dict[str, str]:
    status, _, body = call(live, "GET", f"/api/projects/{project}/flows")
    return {f["flow"]: f["state"] for f in json.loads(body)["flows"]} if status == 200 else {}


def _awaiting_approval(live: LiveFactory, query: str, what: str) -> str:
    """POST the task tracker with ``query`` (202), then wait until its release waits for a decision; its id."""
    status, _, body = call(live, "POST", f"/api/projects?{query}", TASKS, {"Content-Type": "application/yaml"})
    assert status == 202
    project = str(json.loads(body)["projectId"])
    live.wait_until(lambda: _flows(live, project).get("release-manager") == "awaitingApproval", what=what)
    return project


def test_a_prod_release_waits_for_approval_and_a_rejection_fails_the_project_with_who_and_why(
        mesh: LiveFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _awaiting_approval(mesh, "environment=prod&runId=reject", "the release to wait for approval")
    listed = json.loads(call(mesh, "GET", "/api/projects")[2])["items"]
    assert next(p for p in listed if p["projectId"] == project)["outcome"] == "awaiting approval"
    monkeypatch.setenv("FACTORY_HOME", str(mesh.rt.settings.factory_home))
    result = CliRunner().invoke(cli, ["reject", project, "--as", "bob", "--reason", "not on a Friday"])
    assert result.exit_code == 0, result.output
    assert "rejected the release" in result.output
    doc = mesh.wait_until(lambda: (d := json.loads(call(mesh, "GET", f"/api/projects/{project}")[2]))
                          ["outcome"] not in ("running", "awaiting approval") and d, what="the project to end")
    assert doc["outcome"] == "failed"
    assert doc["flows"]["release-manager"] == {"state": "rejected",
                                               "failure": "the release was rejected by bob: not on a Friday"}
    events = mesh.rt.state.events_for_project(project)
    (decision,) = [e for e in events if e["type"] == "ReleaseApprovalRejected"]
    assert decision["source"] == "cli" and decision["data"]["actor"] == "bob"
    assert decision["data"]["reason"] == "not on a Friday" and decision["data"]["environment"] == "prod"
    (change,) = [e for e in events if e["type"] == "CoordinatorStateChanged" and e["data"]["to"] == "rejected"]
    assert change["data"]["actor"] == "bob"
    assert "ReleaseTriggered" not in {e["type"] for e in events}
    # the infrastructure package downloads as one zip (Studio, here under /api/studio as on Azure)
    status, headers, content = call(mesh, "GET", f"/api/studio/projects/{project}/archive?prefix=infra/")
    assert status == 200 and headers["content-type"] == "application/zip"
    assert headers["content-disposition"] == f'attachment; filename="{project}-infra.zip"'
    names = zipfile.ZipFile(io.BytesIO(content)).namelist()
    assert any(n.endswith("/bicep/main.bicep") for n in names) and all(n.startswith(f"{project}/infra/")
                                                                        for n in names)


def test_a_high_security_finding_holds_a_dev_release_until_an_approval_overrides_it_over_api_and_studio(
        mesh: LiveFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    plant_security_finding(monkeypatch, "high")
    project = _awaiting_approval(mesh, "environment=dev&runId=held", "the release to be held")
    doc = json.loads(call(mesh, "GET", f"/api/projects/{project}")[2])
    assert doc["outcome"] == "awaiting approval" and [f["ruleId"] for f in doc["heldFindings"]] == ["SEC001"]
    approval = json.loads(call(mesh, "GET", f"/api/projects/{project}/flows")[2])["approval"]
    assert approval["pending"] and approval["approvalRequired"] is False  # dev: held by the finding alone
    (held,) = approval["heldFindings"]
    assert (held["kind"], held["severity"], held["ruleId"], held["service"]) == ("security", "high", "SEC001",
                                                                                 "task-tracker")
    decision = {"decision": "approve", "actor": "carol", "reason": "the key is a test fixture"}
    refused = problem_of(call(mesh, "POST", f"/api/projects/{project}/approval", json.dumps(decision).encode(),
                              {"Content-Type": "application/json"}), 409)
    assert refused["title"] == "Findings need an override"
    assert "high security SEC001 (task-tracker)" in refused["detail"] and "overrideFindings" in refused["detail"]
    assert [f["id"] for f in refused["findings"]] == [held["id"]]
    # Studio: the form lists the finding and offers the box; approving without ticking it shows the 409 there
    form = {"decision": "approve", "actor": "carol", "reason": "the key is a test fixture"}
    html = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}
    page = call(mesh, "GET", f"/projects/{project}", headers={"Accept": "text/html"})[2].decode()
    assert 'id="held-findings"' in page and "SEC001" in page and 'name="overrideFindings"' in page
    status, _, body = call(mesh, "POST", f"/projects/{project}/approval", urlencode(form).encode(), html)
    assert status == 409 and 'id="approval-error"' in body.decode()
    assert "held by 1 finding(s) that need an override: high security SEC001" in body.decode()
    assert 'value="carol"' in body.decode()  # what was typed is kept
    assert not [e for e in mesh.rt.state.events_for_project(project) if e["type"] == "ReleaseApprovalGranted"]

    status, _, body = call(mesh, "POST", f"/api/projects/{project}/approval",
                           json.dumps(decision | {"overrideFindings": True}).encode(),
                           {"Content-Type": "application/json"})
    assert status == 202, body
    doc = mesh.wait_until(lambda: (d := json.loads(call(mesh, "GET", f"/api/projects/{project}")[2]))
                          ["outcome"] not in ("running", "awaiting approval") and d,
                          what="the project to end")
    assert doc["outcome"] == "released"
    events = mesh.rt.state.events_for_project(project)
    (granted,) = [e["data"] for e in events if e["type"] == "ReleaseApprovalGranted"]
    assert granted["reason"] == "the key is a test fixture (overrides findings: high security SEC001 (task-tracker))"
    assert granted["overriddenFindings"] == [f"task-tracker/{held['id']}"] and granted["actor"] == "carol"
    (change,) = [e["data"] for e in events if e["type"] == "CoordinatorStateChanged"
                 and e["data"]["flow"] == "release-manager" and e["data"]["to"] == "approved"]
    assert change["actor"] == "carol" and change["reason"] == granted["reason"]


def test_a_cli_published_blueprint_is_dead_lettered_as_emitter_not_allowed_and_can_be_resubmitted(
        mesh: LiveFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    event = tmp_path / "blueprint.yaml"
    event.write_text(yaml.safe_dump({"type": "BlueprintCreated", "projectId": "forged",
                                     "data": {**SAMPLES["BlueprintCreated"], "projectId": "forged"}}))
    monkeypatch.setenv("FACTORY_HOME", str(mesh.rt.settings.factory_home))
    result = CliRunner().invoke(cli, ["publish", str(event)])
    assert result.exit_code == 0, result.output

    def forged() -> list[dict[str, Any]]:
        letters = json.loads(call(mesh, "GET", "/api/deadletters")[2])["deadLetters"]
        return [d for d in letters if d["projectId"] == "forged"]

    letters = mesh.wait_until(lambda: len(forged()) == len(consumers) and forged(), what="the dead letters")
    assert {d["subscription"] for d in letters} == set(consumers)
    for d in letters:
        assert d["reason"] == "EmitterNotAllowed" and d["type"] == "BlueprintCreated"
        assert "'cli' may not emit BlueprintCreated@1.0.0; allowed emitters: solution-architect" in d["description"]
    assert not [e for e in mesh.rt.state.events_for_project("forged") if e["type"] != "BlueprintCreated"]

    one = letters[0]
    status, _, body = call(mesh, "POST", f"/api/deadletters/{one['subscription']}/{one['sequenceNumber']}/resubmit")
    assert status == 202 and json.loads(body)["status"] == "resubmitted"
    again = mesh.wait_until(lambda: [d for d in forged() if d["subscription"] == one["subscription"]
                                     and d["sequenceNumber"] != one["sequenceNumber"]], what="the redelivery")
    assert again[0]["reason"] == "EmitterNotAllowed"  # the policy still holds on redelivery
    problem_of(call(mesh, "POST", f"/api/deadletters/{one['subscription']}/{one['sequenceNumber']}/resubmit"), 404)


#: every consumer subscribed to BlueprintCreated (contracts/events/domain/BlueprintCreated.v1.json)
consumers = json.loads((ROOT / "contracts/events/domain/BlueprintCreated.v1.json").read_text())["x-event"]["consumers"]


def test_studio_under_api_studio_links_there_and_keeps_the_function_key(quiet: LiveFactory) -> None:
    status, _, body = call(quiet, "GET", "/api/studio?code=k3y", headers={"Accept": "text/html"})
    page = body.decode()
    assert status == 200
    assert 'href="/api/studio/static/studio.css?code=k3y"' in page
    assert 'href="/api/studio/deadletters?code=k3y"' in page
    assert 'action="/api/studio/projects?code=k3y"' in page
    local = call(quiet, "GET", "/", headers={"Accept": "text/html"})[2].decode()
    assert 'href="/static/studio.css"' in local and 'href="/deadletters"' in local


def test_a_studio_form_post_starts_a_project_and_redirects_to_its_page(quiet: LiveFactory) -> None:
    form = urlencode({"intent": TASKS.decode(), "environment": "staging", "runId": "form"}).encode()
    status, headers, _ = call(quiet, "POST", "/projects", form,
                              {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"})
    assert status == 303 and re.fullmatch(r"/projects/task-tracker-[0-9a-f]{10}", headers["location"])
    project = headers["location"].rsplit("/", 1)[-1]
    doc = json.loads(call(quiet, "GET", "/api/projects?pageSize=100")[2])
    (item,) = [p for p in doc["items"] if p["projectId"] == project]
    assert item["release"] == {"environment": "staging", "approvalRequired": False}
    bad = urlencode({"intent": "product: {name: Bad Name}"}).encode()
    status, headers, body = call(quiet, "POST", "/projects", bad,
                                 {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"})
    assert status == 422 and headers["content-type"].startswith("text/html")
    assert b'id="intent-errors"' in body and b"product.name" in body
