"""Fixtures of the CLI tests: a fresh FACTORY_HOME per test at ``COLUMNS=80``, and one shared home where
the sample intent was released (read by the read-command tests, never written by them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from shared.bootstrap import bootstrap
from shared.runtime import set_runtime
from tests.cli.harness import EXAMPLES, cli


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("FACTORY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "80")
    yield tmp_path / "home"
    set_runtime(None)


@dataclass(frozen=True)
class Released:
    """A home where examples/task-tracker.yaml was released, with a dead letter and an infrastructure version."""

    home: Path
    project_id: str
    trace_id: str
    repository: Path
    service: str
    dead_letter_subscription: str
    dead_letter_id: str


@pytest.fixture(scope="session")
def released(tmp_path_factory: pytest.TempPathFactory) -> Released:
    base = tmp_path_factory.mktemp("released")
    home = base / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACTORY_HOME", str(home))
        mp.setenv("COLUMNS", "80")
        ran = cli("run", str(EXAMPLES / "task-tracker.yaml"), "--quiet", "--json", str(base / "summary.json"))
        assert ran.exit_code == 0, ran
        summary = json.loads((base / "summary.json").read_text())
        # a forged event: the access policy dead-letters it at every consumer (EmitterNotAllowed)
        blueprint = json.loads((Path(summary["repository"]) / "architecture" / "blueprint.json").read_text())
        real = next(e for e in bootstrap().state.events_for_project(summary["projectId"])
                    if e["type"] == "BlueprintCreated")
        forged = base / "forged.yaml"
        forged.write_text(yaml.safe_dump({"type": "BlueprintCreated", "projectId": "forged",
                                          "data": {**real["data"], "projectId": "forged"}}))
        published = cli("publish", str(forged))
        hosted = cli("host", "--until-idle", "--port", "0", "--quiet")
        assert hosted.exit_code == 0, hosted
        letters = cli("dlq", "list", "--json", "-")
        assert letters.exit_code == 0, letters
        dead = json.loads(letters.stdout)
        assert dead, (published, letters)
        service = blueprint["services"][0]["name"]
        infra = cli("infra", "blueprint", str(Path(summary["repository"]) / "architecture" / "blueprint.json"),
                    "--out", str(base / "infra-out"))
        assert infra.exit_code in (0, 1), infra  # 1: blocking findings (a budget overrun), still recorded
        set_runtime(None)
    return Released(home, summary["projectId"], summary["traceId"], Path(summary["repository"]), service,
                    dead[0]["subscription"], dead[0]["id"])
