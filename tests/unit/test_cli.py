"""The `factory` command line, in-process on a temporary FACTORY_HOME."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.bootstrap import bootstrap
from shared.cli.main import app
from shared.host.local import build_host
from shared.product.intent import load_intent
from shared.product.projects import start_project
from shared.runtime import set_runtime

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("FACTORY_HOME", str(tmp_path / "factory"))
    yield tmp_path / "factory"
    set_runtime(None)


def test_run_refuses_a_bad_intent_with_paths_and_allowed_values_and_publishes_nothing(home: Path) -> None:
    result = runner.invoke(app, ["run", str(ROOT / "examples" / "bad-intent.yaml"), "--quiet"])
    assert result.exit_code == 2
    assert "entities[" in result.output and "allowed:" in result.output
    assert not (home / "state.db").exists() or bootstrap().state.events_for_project("x") == []
    assert not (home / "bus.db").exists()


def test_run_on_a_missing_file_says_what_to_pass() -> None:
    result = runner.invoke(app, ["run", "nope.yaml"])
    assert result.exit_code == 2 and "examples/task-tracker.yaml" in result.output


def test_events_list_and_diff_classify_compatible_and_breaking_changes() -> None:
    listed = runner.invoke(app, ["events", "list"])
    assert listed.exit_code == 0 and "ProjectInitialized" in listed.output
    minor = runner.invoke(app, ["events", "diff", "ProjectInitialized@1.0.0", "ProjectInitialized@1.1.0"])
    assert minor.exit_code == 0 and "compatible" in minor.output
    major = runner.invoke(app, ["events", "diff", "AgentFailed@1.0.0", "AgentFailed@2.0.0"])
    assert major.exit_code == 1 and "breaking" in major.output


def test_topology_draws_every_consumer_without_warnings() -> None:
    result = runner.invoke(app, ["topology"])
    assert result.exit_code == 0
    for name in ("vision_architect", "microservice_assembly", "scaffold_generate"):
        assert name in result.output
    assert "warning" not in result.output


def test_trace_and_status_of_unknown_ids_say_what_to_do_next() -> None:
    trace = runner.invoke(app, ["trace", "0" * 32])
    assert trace.exit_code == 2 and "copy the traceId" in trace.output
    status = runner.invoke(app, ["status", "ghost"])
    assert status.exit_code == 2 and "unknown project ghost" in status.output


def test_flow_cancel_is_applied_by_the_host_and_audited_with_the_actor() -> None:
    rt = bootstrap()
    host, _ = build_host(rt)
    host.functions = [f for f in host.functions if f.subscription == "project-lifecycle"]
    project = start_project(rt, load_intent(ROOT / "examples" / "task-tracker.yaml"))
    host.run_until_idle()
    result = runner.invoke(app, ["flow", "cancel", project.project_id, "--flow", "project-lifecycle",
                                 "--reason", "wrong intent"])
    assert result.exit_code == 0, result.output
    host.run_until_idle()
    host.close()
    doc = rt.state.get(f"project-lifecycle:{project.project_id}", "instance")
    assert doc is not None and doc.body["state"] == "cancelled"
    assert doc.body["history"][-1]["actor"] == "operator"
    shown = runner.invoke(app, ["flow", "status", project.project_id])
    assert "cancelled" in shown.output and "by operator" in shown.output


def test_dlq_list_shows_the_reason_of_a_dead_lettered_message(home: Path) -> None:
    from shared.ports import OutgoingMessage, SubscriptionSpec

    rt = bootstrap()
    assert rt.receiver is not None
    rt.receiver.ensure_subscription(SubscriptionSpec("vision-architect", "1=1"))
    rt.bus.publish([OutgoingMessage("m1", b"{}", {"type": "ProjectInitialized"})])
    (m,) = rt.receiver.receive("vision-architect")
    rt.receiver.dead_letter(m.lock_token, "InvalidEnvelope", "not a CloudEvent")
    result = runner.invoke(app, ["dlq", "list"])
    assert result.exit_code == 0 and "InvalidEnvelope" in result.output
