"""End to end with a recorded model: a description in free text is drafted, confirmed and released by the
``factory`` command; the recorded run replays identically with no model at all; a budget stops a run.

The model is the local fixture server (``tests/ai/model_server.py``) answering with the hand-written answers in
``tests/ai/fixtures/answers``: no real model is reachable here, and none was used. The first run records the
answers through the real ``openai`` SDK (``--record``); every other run replays them (``--replay``), as CI does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from shared.bootstrap import bootstrap
from shared.settings import Settings
from tests.ai.model_server import ModelServer
from tests.live import call, live_factory

FACTORY = str(Path(sys.executable).with_name("factory"))
TEXT = ("A booking app for a dental practice: patients book appointments with a dentist, the front desk confirms "
        "or cancels them, and patients get a reminder the day before.")
#: events that record how the flows moved, not what was made
BOOKKEEPING = ("CoordinatorStateChanged", "FlowTimeout")
MODEL_AGENTS = ["documentation-writer", "intent-drafter", "product-manager", "solution-architect",
                "vision-architect"]


@dataclass
class Run:
    home: Path
    code: int
    stdout: str
    stderr: str
    summary: dict[str, Any]

    def events(self) -> list[dict[str, Any]]:
        rt = bootstrap(Settings(FACTORY_HOME=self.home))
        try:
            return rt.state.events_for_project(self.summary["projectId"])
        finally:
            rt.close()

    def repository(self) -> dict[str, bytes]:
        root = Path(self.summary["repository"])
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and ".git" not in p.relative_to(root).parts}


def factory_run(home: Path, *args: str, **settings: str) -> Run:
    """``factory run`` in a subprocess with only the settings given (and PATH/LANG/HOME)."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME", "TMPDIR")}
    env.update({"FACTORY_HOME": str(home), "COLUMNS": "200", **settings})
    summary = home / "summary.json"
    done = subprocess.run([FACTORY, "run", TEXT, "--quiet", "--json", str(summary), *args], env=env,
                          capture_output=True, text=True, timeout=600)
    return Run(home, done.returncode, done.stdout, done.stderr,
               json.loads(summary.read_text()) if summary.exists() else {})


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, running_server: ModelServer) -> tuple[Run, Path]:
    """The run against the fixture model, recording its answers."""
    running_server.reset()
    answers = tmp_path_factory.mktemp("answers")
    run = factory_run(tmp_path_factory.mktemp("recorded"), "--yes", "--record", str(answers),
                      FACTORY_MODEL_PROVIDER="openai", FACTORY_MODEL_ENDPOINT=running_server.base_url,
                      FACTORY_MODEL_NAME=running_server.model)
    assert run.code == 0, run.stderr[-3000:]
    return run, answers


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory, recorded: tuple[Run, Path],
             running_server: ModelServer) -> Run:
    """The same run replayed: no model provider configured at all, the server must see nothing."""
    before = len(running_server.seen)
    run = factory_run(tmp_path_factory.mktemp("replayed"), "--yes", "--replay", str(recorded[1]))
    assert run.code == 0, run.stderr[-3000:]
    assert len(running_server.seen) == before
    return run


def test_a_free_text_intent_is_drafted_confirmed_and_released_with_a_recorded_model(
        recorded: tuple[Run, Path]) -> None:
    run, answers = recorded
    events = run.events()
    types = Counter(e["type"] for e in events)

    assert run.summary["outcome"] == "released", (run.summary, run.stderr[-2000:])
    assert run.summary["projectId"].startswith("booking-dental-practice-")
    assert [e["type"] for e in events[:3]] == ["IntentSubmitted", "SkillUsed", "IntentDrafted"]
    assert types["ProjectInitialized"] == 1 and types["ProjectCompleted"] == 1 and types["TestsPassed"] == 1
    assert {e["traceId"] for e in events} == {run.summary["traceId"]}  # one trace from the words to the release
    drafted = next(e for e in events if e["type"] == "IntentDrafted")["data"]
    initialized = next(e for e in events if e["type"] == "ProjectInitialized")["data"]
    assert drafted["draftedBy"] == "model" and initialized["intent"] == drafted["intent"]
    assert "How are reminders sent (email, text message), and who sends them?" in run.stdout  # shown to the person

    usage = run.summary["modelUsage"]
    assert sorted(usage["byAgent"]) == MODEL_AGENTS and usage["calls"] == 5 and usage["degraded"] == []
    assert len(list(answers.glob("*.json"))) == 5
    repo = run.repository()
    assert "Booking a dental appointment today means phoning the practice" in repo["docs/vision.md"].decode()
    assert "Dental Bookings keeps the practice's patients" in repo["services/dental-bookings/README.md"].decode()
    assert sorted(p.split("/")[2] for p in repo if p.startswith(".factory/model-calls/")) == MODEL_AGENTS


def test_the_recorded_run_replays_identically_with_no_network(recorded: tuple[Run, Path], replayed: Run) -> None:
    original = recorded[0]
    assert replayed.summary["projectId"] == original.summary["projectId"]
    assert replayed.summary["traceId"] == original.summary["traceId"]
    assert replayed.summary["outcome"] == "released"
    assert replayed.repository() == original.repository()  # every file, byte for byte

    def payloads(run: Run) -> Counter[tuple[str, str, str]]:
        """Every event as (type, source, payload). Left out: the coordinators' bookkeeping (which event moved a
        flow, and so the ids downstream, depends on the order concurrent handlings finish in, model or not)
        and the payloads that carry wall-clock durations (the gate's, the smoke test's)."""
        timed = ("TestsPassed", "ServiceDeployed")
        return Counter((e["type"], e["source"], "" if e["type"] in timed else json.dumps(e["data"], sort_keys=True))
                       for e in run.events() if e["type"] not in BOOKKEEPING)

    assert payloads(replayed) == payloads(original)
    assert replayed.summary["modelUsage"] == original.summary["modelUsage"]  # tokens, cost and latency as recorded


def test_budget_exhaustion_stops_the_run_with_budget_exceeded_and_a_clear_summary(
        tmp_path: Path, recorded: tuple[Run, Path]) -> None:
    run = factory_run(tmp_path, "--yes", "--replay", str(recorded[1]), FACTORY_MODEL_BUDGET_USD="0.001",
                      FACTORY_MODEL_PRICES=json.dumps({"fixture-model": {"input": 2.5, "output": 10}}))
    events = run.events()
    types = [e["type"] for e in events]

    assert run.code == 1
    assert run.summary["outcome"] == "failed"
    [exceeded] = [e["data"] for e in events if e["type"] == "BudgetExceeded"]
    assert exceeded["agent"] == "vision-architect" and exceeded["budgetUsd"] == 0.001
    assert exceeded["spentUsd"] >= 0.001 and exceeded["byAgent"].keys() == {"intent-drafter"}
    assert "VisionDocumentCreated" not in types and types.count("SkillUsed") == 1
    failed = next(e["data"] for e in events if e["type"] == "AgentFailed")
    assert failed["agent"] == "vision-architect" and failed["permanent"]
    assert run.summary["modelUsage"]["budgetExceeded"] == exceeded["summary"]
    assert "budget exceeded" in run.stdout and exceeded["summary"] in run.stdout  # the summary's row
    assert "BudgetExceededError: the model budget of project" in run.stderr  # the error: why it did not release
    assert "raise FACTORY_MODEL_BUDGET_USD" in run.stderr
    assert run.summary["reason"].startswith("agent vision-architect failed on ProjectInitialized (permanent failure)")


def test_free_text_without_a_model_is_refused_plainly(tmp_path: Path) -> None:
    run = factory_run(tmp_path, "--yes")
    assert run.code == 2 and run.summary == {}
    assert "a description in free text needs a model to read it, and no model is configured" in run.stderr
    assert "examples/task-tracker.yaml" in run.stderr


# ----------------------------------------------------------------------------- the HTTP API and Studio


def test_the_api_drafts_text_plain_and_confirms_the_draft(tmp_path: Path, recorded: tuple[Run, Path]) -> None:
    with live_factory(tmp_path / "home", FACTORY_MODEL_REPLAY_DIR=recorded[1]) as live:
        status, headers, body = call(live, "POST", "/api/projects", TEXT.encode(),
                                     {"Content-Type": "text/plain; charset=utf-8"})
        assert status == 202, body
        submitted = json.loads(body)
        assert submitted["projectId"] == recorded[0].summary["projectId"]
        assert headers["location"] == f"/api/projects/{submitted['projectId']}/draft"

        def drafted() -> dict[str, Any] | None:
            doc: dict[str, Any] = json.loads(call(live, "GET", headers["location"])[2])
            return doc if doc["state"] == "drafted" else None

        draft = live.wait_until(drafted, what="the draft")
        assert draft["draft"]["openQuestions"][1] == "Can patients cancel or move an appointment themselves?"
        assert draft["modelUsage"]["calls"] == 1

        status, _, body = call(live, "POST", f"/api/projects/{submitted['projectId']}/confirm")
        assert status == 202 and json.loads(body)["traceId"] == submitted["traceId"], body
        again = call(live, "POST", f"/api/projects/{submitted['projectId']}/confirm")
        assert again[0] == 409 and again[1]["content-type"] == "application/problem+json"


def test_a_tenants_draft_is_its_own_and_starts_its_own_project(tmp_path: Path, recorded: tuple[Run, Path]) -> None:
    plain = {"Content-Type": "text/plain"}
    with live_factory(tmp_path / "home", FACTORY_MODEL_REPLAY_DIR=recorded[1]) as live:
        status, headers, body = call(live, "POST", "/api/projects", TEXT.encode(), plain | {"x-tenant-id": "acme"})
        assert status == 202, body
        project_id = json.loads(body)["projectId"]
        acme, globex = {"x-tenant-id": "acme"}, {"x-tenant-id": "globex"}
        live.wait_until(lambda: json.loads(call(live, "GET", headers["location"], headers=acme)[2])["state"]
                        == "drafted" or None, what="the draft")

        assert call(live, "GET", headers["location"], headers=globex)[0] == 404  # another tenant cannot read it
        assert call(live, "POST", f"/api/projects/{project_id}/confirm", headers=globex)[0] == 404  # nor start it
        assert call(live, "GET", headers["location"], headers={"x-tenant-id": "not a tenant!"})[0] == 400

        status, _, body = call(live, "POST", f"/api/projects/{project_id}/confirm", headers=acme)
        assert status == 202, body
        initialized = next(e for e in live.rt.state.events_for_project(project_id) if e["type"] == "ProjectInitialized")
        assert initialized["tenantId"] == initialized["data"]["intent"]["tenant"]["tenantId"] == "acme"


def test_studio_drafts_a_description_and_confirms_an_edited_draft(tmp_path: Path,
                                                                  recorded: tuple[Run, Path]) -> None:
    html = {"Accept": "text/html", "Content-Type": "application/x-www-form-urlencoded"}
    with live_factory(tmp_path / "home", FACTORY_MODEL_REPLAY_DIR=recorded[1]) as live:
        assert b"Draft the intent" in call(live, "GET", "/", headers={"Accept": "text/html"})[2]
        status, headers, _ = call(live, "POST", "/drafts", urlencode({"description": TEXT}).encode(), html)
        assert status == 303
        page_url = headers["location"]

        def drafted_page() -> bytes | None:
            page = call(live, "GET", page_url, headers={"Accept": "text/html"})[2]
            return page if b"Confirm and start the project" in page else None

        page = live.wait_until(drafted_page, what="the drafted page")
        assert b"Does the practice have several locations?" in page
        edited = json.loads(call(live, "GET", f"/api{page_url.replace('/drafts/', '/projects/')}/draft")[2])
        intent = edited["draft"]["intent"] | {"purpose": "Dental bookings, as edited by the practice manager."}
        status, headers, _ = call(live, "POST", f"{page_url}/confirm",
                                  urlencode({"intent": json.dumps(intent)}).encode(), html)
        assert status == 303 and headers["location"].startswith("/projects/")
        project_id = headers["location"].rsplit("/", 1)[-1]
        initialized = next(e for e in live.rt.state.events_for_project(project_id)
                           if e["type"] == "ProjectInitialized")
        assert initialized["data"]["intent"]["purpose"] == "Dental bookings, as edited by the practice manager."
        project_page = call(live, "GET", headers["location"], headers={"Accept": "text/html"})[2].decode()
        assert 'id="model-usage"' in project_page and "<td>intent-drafter</td>" in project_page


def test_without_a_model_the_api_refuses_free_text_and_studio_says_why(tmp_path: Path) -> None:
    with live_factory(tmp_path / "home", pump=False) as live:
        status, headers, body = call(live, "POST", "/api/projects", b"a booking app",
                                     {"Content-Type": "text/plain"})
        assert status == 422 and headers["content-type"] == "application/problem+json"
        assert json.loads(body)["type"] == "https://factory.local/problems/no-model"
        assert b"Free-text descriptions need a model" in call(live, "GET", "/", headers={"Accept": "text/html"})[2]
