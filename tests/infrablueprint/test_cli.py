from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from shared.cli.infra import register
from tests.infrablueprint.conftest import FIXTURES, TRACE_ID

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def _invoke(*args: str):
    return runner.invoke(_app(), list(args), catch_exceptions=False)


def test_blueprint_writes_package_records_version_and_passes(tmp_path: Path) -> None:
    out, store = tmp_path / "out", tmp_path / "store"
    result = _invoke(
        "blueprint",
        str(FIXTURES / "task-tracker.blueprint.json"),
        "--env",
        "dev",
        "--out",
        str(out),
        "--store",
        str(store),
        "--trace-id",
        TRACE_ID,
    )
    assert result.exit_code == 0, result.output
    assert (out / "tasks" / "dev" / "kubernetes" / "deployment.yaml").is_file()
    assert "version 1" in result.output and "IB009" in result.output
    again = _invoke(
        "blueprint",
        str(FIXTURES / "task-tracker.blueprint.json"),
        "--env",
        "dev",
        "--out",
        str(out),
        "--store",
        str(store),
    )
    assert "version 1 (unchanged)" in again.output


def test_blueprint_exits_one_on_blocking_findings_and_renders_every_service(tmp_path: Path) -> None:
    result = _invoke(
        "blueprint",
        str(FIXTURES / "invoicing.blueprint.json"),
        "--env",
        "prod",
        "--out",
        str(tmp_path / "out"),
        "--store",
        str(tmp_path / "store"),
    )
    assert result.exit_code == 1
    assert (tmp_path / "out" / "invoices" / "prod").is_dir()
    assert (tmp_path / "out" / "invoice-reminders" / "prod").is_dir()
    assert "IB009" in result.output


def test_blueprint_service_option_renders_one_service_and_rejects_unknown(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _invoke(
        "blueprint",
        str(FIXTURES / "invoicing.blueprint.json"),
        "--service",
        "invoice-reminders",
        "--env",
        "dev",
        "--out",
        str(out),
        "--no-store",
    )
    assert [p.name for p in out.iterdir()] == ["invoice-reminders"]
    bad = _invoke("blueprint", str(FIXTURES / "invoicing.blueprint.json"), "--service", "nope", "--out", str(out))
    assert bad.exit_code == 2
    assert "services: invoices, invoice-reminders" in bad.output


def test_blueprint_reports_overlay_conflict_with_file_and_key(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("values: {ingress: {targetPort: 1}}\n")
    b.write_text("values: {ingress: {targetPort: 2}}\n")
    result = _invoke(
        "blueprint",
        str(FIXTURES / "task-tracker.blueprint.json"),
        "--out",
        str(tmp_path / "o"),
        "--overlay",
        str(a),
        "--overlay",
        str(b),
        "--no-store",
    )
    assert result.exit_code == 2
    assert "ingress.targetPort" in result.output and "a.yaml" in result.output


def test_versions_diff_and_rollback_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORY_HOME", str(tmp_path / "factory"))
    store, out = tmp_path / "store", tmp_path / "out"
    blueprint = json.loads((FIXTURES / "task-tracker.blueprint.json").read_text())
    _invoke("blueprint", str(FIXTURES / "task-tracker.blueprint.json"), "--out", str(out), "--store", str(store))
    shutil.copytree(out / "tasks" / "dev", tmp_path / "v1")
    blueprint["services"][0]["ingress"] = "internal"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(blueprint))
    _invoke("blueprint", str(changed), "--out", str(out), "--store", str(store))

    listing = _invoke("versions", "tasks", "--env", "dev", "--store", str(store))
    assert listing.exit_code == 0 and "1-" in listing.output and "2-" in listing.output

    by_number = _invoke("diff", "tasks/dev/1", "tasks/dev/2", "--store", str(store))
    assert "changed kubernetes/networkpolicy.yaml" in by_number.output
    by_folder = _invoke("diff", str(tmp_path / "v1"), str(out / "tasks" / "dev"))
    assert "changed kubernetes/networkpolicy.yaml" in by_folder.output

    back = _invoke(
        "rollback",
        "tasks",
        "--env",
        "dev",
        "--to",
        "1",
        "--actor",
        "alice",
        "--reason",
        "oops",
        "--store",
        str(store),
        "--out",
        str(out),
    )
    assert back.exit_code == 0, back.output
    printed, published = back.output.rsplit("}", 1)
    event = json.loads(printed + "}")
    assert event["type"] == "InfrastructureBlueprintRolledBack"
    assert event["data"]["fromVersion"] == 2 and event["data"]["toVersion"] == 1
    assert "published InfrastructureBlueprintRolledBack" in published
    from shared.bootstrap import bootstrap

    trace = published.split("(trace ")[1].split(")")[0]
    (audit,) = bootstrap().state.events_for_trace(trace)
    assert audit["type"] == "InfrastructureBlueprintRolledBack" and audit["data"]["actor"] == "alice"
    assert (out / "tasks" / "dev" / "kubernetes" / "networkpolicy.yaml").read_bytes() == (
        tmp_path / "v1" / "kubernetes" / "networkpolicy.yaml"
    ).read_bytes()


def test_versions_of_unknown_service_tells_what_to_run(tmp_path: Path) -> None:
    result = _invoke("versions", "ghost", "--store", str(tmp_path))
    assert result.exit_code == 2
    assert "factory infra blueprint" in result.output
