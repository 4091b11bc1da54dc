"""The messaging infrastructure generated from contracts/: current, complete, well-formed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import typer
from pycep import BicepParser
from typer.testing import CliRunner

from shared.cli.messaging import register
from shared.contracts.manifests import Consumer, all_subscriptions, load_consumers
from shared.generators.messaging import (
    EMULATOR_CONFIG,
    MESSAGING_BICEP,
    bicep_string,
    render_all,
    render_emulator_config,
    render_messaging_bicep,
    stale_files,
)
from tests.infra.infra_bicep import ROOT, unescape

#: The parts of the Service Bus emulator's Config.json the factory relies on.
EMULATOR_SCHEMA = {
    "type": "object",
    "required": ["UserConfig"],
    "properties": {"UserConfig": {
        "type": "object",
        "required": ["Namespaces", "Logging"],
        "properties": {
            "Logging": {"type": "object", "required": ["Type"]},
            "Namespaces": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
                "type": "object",
                "required": ["Name", "Topics"],
                "properties": {
                    "Name": {"const": "sbemulatorns"},
                    "Queues": {"type": "array"},
                    "Topics": {"type": "array", "items": {
                        "type": "object",
                        "required": ["Name", "Properties", "Subscriptions"],
                        "properties": {
                            "Properties": {"type": "object", "required": [
                                "DefaultMessageTimeToLive", "DuplicateDetectionHistoryTimeWindow",
                                "RequiresDuplicateDetection"]},
                            "Subscriptions": {"type": "array", "items": {
                                "type": "object",
                                "required": ["Name", "Properties", "Rules"],
                                "properties": {
                                    "Name": {"type": "string", "maxLength": 50},
                                    "Properties": {"type": "object", "required": [
                                        "DeadLetteringOnMessageExpiration", "LockDuration",
                                        "MaxDeliveryCount", "RequiresSession"]},
                                    "Rules": {"type": "array", "minItems": 1, "items": {
                                        "type": "object",
                                        "required": ["Name", "Properties"],
                                        "properties": {"Properties": {
                                            "type": "object",
                                            "required": ["FilterType", "SqlFilter"],
                                            "properties": {
                                                "FilterType": {"const": "Sql"},
                                                "SqlFilter": {"type": "object",
                                                              "required": ["SqlExpression"]},
                                            },
                                        }},
                                    }},
                                },
                            }},
                        },
                    }},
                },
            }},
        },
    }},
}


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """factory infra"""

    return app


def _copy_contracts(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "contracts", tmp_path / "contracts")
    return tmp_path


def test_committed_generated_files_are_current() -> None:
    stale = stale_files(ROOT, render_all(load_consumers()))
    assert not stale, f"stale: {[str(p) for p in stale]}; run `factory infra render` and commit the result"


def test_render_check_exits_1_and_names_the_stale_files(tmp_path: Path) -> None:
    root = _copy_contracts(tmp_path)
    result = CliRunner().invoke(_cli(), ["render", "--check", "--root", str(root)])
    assert result.exit_code == 1
    assert str(MESSAGING_BICEP) in result.output and str(EMULATOR_CONFIG) in result.output


def test_render_writes_the_files_and_then_check_passes(tmp_path: Path) -> None:
    root = _copy_contracts(tmp_path)
    written = CliRunner().invoke(_cli(), ["render", "--root", str(root)])
    assert written.exit_code == 0, written.output
    assert (root / MESSAGING_BICEP).is_file() and (root / EMULATOR_CONFIG).is_file()
    checked = CliRunner().invoke(_cli(), ["render", "--check", "--root", str(root)])
    assert checked.exit_code == 0, checked.output


def test_a_new_manifest_makes_the_files_stale_and_render_adds_its_subscription(tmp_path: Path) -> None:
    root = _copy_contracts(tmp_path)
    CliRunner().invoke(_cli(), ["render", "--root", str(root)])
    (root / "contracts" / "agents" / "cost-analyst.yaml").write_text(
        "id: cost-analyst\nsubscribesTo: {BlueprintCreated: infra.design_infrastructure}\nemits: [AgentFailed]\n",
        encoding="utf-8")
    result = CliRunner().invoke(_cli(), ["render", "--check", "--root", str(root)])
    assert result.exit_code == 1
    assert "name: 'cost-analyst'" not in (root / MESSAGING_BICEP).read_text(encoding="utf-8")
    CliRunner().invoke(_cli(), ["render", "--root", str(root)])
    assert "name: 'cost-analyst'" in (root / MESSAGING_BICEP).read_text(encoding="utf-8")
    emulator = json.loads((root / EMULATOR_CONFIG).read_text(encoding="utf-8"))
    names = [s["Name"] for s in emulator["UserConfig"]["Namespaces"][0]["Topics"][0]["Subscriptions"]]
    assert "cost-analyst" in names


def test_bicep_string_round_trips_quotes_backslashes_and_interpolation(tmp_path: Path) -> None:
    tricky = "a 'quoted' \\ back ${not-interpolated}"
    path = tmp_path / "t.bicep"
    path.write_text(f"var x = {bicep_string(tricky)}\n", encoding="utf-8")
    tree = BicepParser().parse(file_path=path)
    assert unescape(str(tree["variables"]["x"]["value"])) == tricky


def test_filters_with_tenant_scope_render_into_both_targets() -> None:
    scoped = Consumer(name="tenant-agent", kind="agent", subscribes_to=("A", "B"), tenant_scope="t-1")
    assert "AND tenantId = \\'t-1\\'" in render_messaging_bicep([scoped])
    rule = render_emulator_config([scoped])["UserConfig"]["Namespaces"][0]["Topics"][0]["Subscriptions"][0]
    assert rule["Rules"][0]["Properties"]["SqlFilter"]["SqlExpression"] == scoped.sql_filter


def test_emulator_config_has_the_emulator_structure() -> None:
    config = json.loads((ROOT / EMULATOR_CONFIG).read_text(encoding="utf-8"))
    jsonschema.validate(config, EMULATOR_SCHEMA)


def test_emulator_config_has_one_subscription_per_consumer_and_lane_with_its_filter() -> None:
    config = json.loads((ROOT / EMULATOR_CONFIG).read_text(encoding="utf-8"))
    topic = config["UserConfig"]["Namespaces"][0]["Topics"][0]
    assert topic["Name"] == "factory-events"
    assert topic["Properties"]["RequiresDuplicateDetection"] is True
    subs = {s["Name"]: s for s in topic["Subscriptions"]}
    subscriptions = all_subscriptions(load_consumers())
    assert sorted(subs) == sorted(s.name for s in subscriptions)
    for s in subscriptions:
        sub = subs[s.name]
        assert sub["Properties"]["MaxDeliveryCount"] == 10
        assert [r["Properties"]["SqlFilter"]["SqlExpression"] for r in sub["Rules"]] == [s.sql_filter]
