"""One telemetry tree per run, through the real azure-monitor exporter into a local capture of App Insights.

``factory run`` runs in a subprocess (the distro's providers are process-global) with
``APPLICATIONINSIGHTS_CONNECTION_STRING`` aimed at ``tests/appinsights_capture.py``; the exporter flushes
at interpreter exit, so everything it sent is in the capture when the process has ended.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.appinsights_capture import (
    QUIET_EXPORTER_ENV,
    base_type,
    capture_server,
    check_tree,
    item_id,
    name,
    operation_id,
    parent_id,
    properties,
)

ROOT = Path(__file__).resolve().parents[2]


def factory_env(home: Path, connection_string: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FACTORY_", "APPLICATIONINSIGHTS_", "OTEL_", "PYTHON_APPLICATIONINSIGHTS_"))}
    env.update(QUIET_EXPORTER_ENV, APPLICATIONINSIGHTS_CONNECTION_STRING=connection_string, FACTORY_HOME=str(home))
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """One ``factory run`` of the sample intent, exported to the capture server: (summary, envelopes)."""
    home = tmp_path_factory.mktemp("telemetry-run")
    with capture_server() as capture:
        done = subprocess.run(
            [sys.executable, "-c", "from shared.cli.main import main; main()", "run", "examples/task-tracker.yaml",
             "--run-id", "telemetry-tree", "--quiet", "--json", str(home / "summary.json")],
            cwd=ROOT, env=factory_env(home, capture.connection_string), capture_output=True, text=True,
            timeout=600, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        yield json.loads((home / "summary.json").read_text()), capture.envelopes()


def test_run_exports_one_tree_under_its_trace_id(run: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    summary, envelopes = run
    assert summary["outcome"] == "released"
    tree = check_tree(envelopes, summary["traceId"])
    assert len(tree.spans) >= 40
    assert [name(root) for root in tree.roots] == ["publish ProjectInitialized"]
    assert [(base_type(e), name(e), parent_id(e)) for e in tree.dangling] == []
    # nothing of the run went out under another operation id (metrics carry none)
    strays = [e for e in envelopes if base_type(e) != "MetricData" and operation_id(e) != summary["traceId"]]
    assert [(base_type(e), name(e), operation_id(e)) for e in strays] == []


def test_handlings_are_requests_below_the_publish_that_caused_them(
        run: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    summary, envelopes = run
    tree = check_tree(envelopes, summary["traceId"])
    by_id = {item_id(e): e for e in tree.spans}
    requests = [e for e in tree.spans if base_type(e) == "RequestData"]
    publishes = [e for e in tree.spans if base_type(e) == "RemoteDependencyData"]
    assert len(requests) >= 20 and len(publishes) >= 20
    for request in requests:  # every handling hangs below the publish of the message it handled
        parent = by_id[parent_id(request)]
        assert name(parent).startswith("publish "), name(parent)
        assert properties(request)["factory.event_type"] == name(parent).removeprefix("publish ")
        assert properties(request)["factory.outcome"] in ("completed", "duplicate")
    for publish in publishes:  # every publish but the entry point's is done by a handling
        if parent_id(publish) is not None:
            assert base_type(by_id[parent_id(publish)]) == "RequestData"
    # the release gate ran and released under this trace
    assert any(properties(e).get("factory.project.outcome") == "released" for e in publishes)
    # the sampler is explicit: every item kept at 100 % (the distro's default keeps about 5 spans/s)
    assert {e.get("sampleRate") for e in tree.spans} == {100.0}


def test_logs_during_a_handling_carry_its_operation(run: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    summary, envelopes = run
    tree = check_tree(envelopes, summary["traceId"])
    request_ids = {item_id(e) for e in tree.spans if base_type(e) == "RequestData"}
    logs = [e for e in envelopes if base_type(e) == "MessageData" and "handled" in name(e)]
    assert len(logs) >= len(request_ids)
    for entry in logs:
        assert operation_id(entry) == summary["traceId"]
        assert parent_id(entry) in request_ids


def test_a_lower_sampling_ratio_drops_whole_traces_with_their_logs(tmp_path: Path) -> None:
    """OTEL_TRACES_SAMPLER_ARG=0 keeps nothing of the trace and no log of it: nothing dangles."""
    with capture_server() as capture:
        done = subprocess.run(
            [sys.executable, "-c", "from shared.cli.main import main; main()", "run", "examples/task-tracker.yaml",
             "--run-id", "telemetry-sampled-out", "--quiet", "--json", str(tmp_path / "summary.json")],
            cwd=ROOT, env=factory_env(tmp_path, capture.connection_string, OTEL_TRACES_SAMPLER_ARG="0"),
            capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        summary = json.loads((tmp_path / "summary.json").read_text())
        envelopes = capture.envelopes()
    assert summary["outcome"] == "released"
    assert any(base_type(e) == "MetricData" for e in envelopes)  # the exporter did send
    assert [e for e in envelopes if operation_id(e) == summary["traceId"]] == []
