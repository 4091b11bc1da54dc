"""One error style (what failed, why, what next), user text never read as markup, no tracebacks, and one
exit-code scheme: 0 ok, 1 a failed run or check, 2 bad input, 130 interrupted. Each test is a defect of
issue #14, reproduced."""

from __future__ import annotations

import json
import os
import resource
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Released
from tests.cli.harness import EXAMPLES, FACTORY, ROOT, cli, events_in


def _intent(**changes: object) -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load((EXAMPLES / "task-tracker.yaml").read_text())
    data.update(changes)
    return data


def test_a_bad_intent_shows_the_schema_pattern_literally_not_as_markup(home: Path) -> None:
    ran = cli("run", str(EXAMPLES / "bad-intent.yaml"))
    assert ran.exit_code == 2
    assert "^[a-z][a-z0-9]*(-[a-z0-9]+)*$" in ran.stderr
    assert ran.stderr.startswith("error: ") and "\n  why: " in ran.stderr and "\n  next: " in ran.stderr
    # one line per problem, each whole
    assert sum(1 for line in ran.stderr.splitlines() if line.startswith("  - ")) == 11
    assert not (home / "bus.db").exists() or events_in(home) == []


def test_a_yaml_error_keeps_its_brackets(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("product: {name: tasks\nentities: [Task, [oops]\n")
    ran = cli("run", str(bad))
    assert ran.exit_code == 2
    assert "not valid YAML/JSON" in ran.stderr and "[" in ran.stderr.split("not valid YAML/JSON", 1)[1]


def test_a_product_named_like_a_markup_tag_is_an_error_message_not_a_crash(home: Path, tmp_path: Path) -> None:
    intent = tmp_path / "markup.yaml"
    intent.write_text(yaml.safe_dump(_intent(product={"name": "[/x]", "displayName": "[bold red]x[/]"})))
    ran = cli("run", str(intent))
    assert ran.exit_code == 2
    assert "'[/x]' does not match" in ran.stderr


def test_a_non_utf8_intent_is_a_clear_error(home: Path, tmp_path: Path) -> None:
    intent = tmp_path / "latin1.yaml"
    intent.write_bytes((EXAMPLES / "task-tracker.yaml").read_bytes().replace(b"Task Tracker", b"T\xe2che"))
    ran = cli("run", str(intent))
    assert ran.exit_code == 2
    assert "is not UTF-8 text" in ran.stderr and "offset" in ran.stderr


def test_an_intent_with_200_entities_gets_one_short_line_per_problem(home: Path, tmp_path: Path) -> None:
    entities = [{"name": f"Thing{i}", "fields": [{"name": "title", "type": "string"}]} for i in range(200)]
    intent = tmp_path / "wide.yaml"
    intent.write_text(yaml.safe_dump(_intent(entities=entities)))
    ran = cli("run", str(intent))
    assert ran.exit_code == 2
    assert "entities: has 200 items; at most" in ran.stderr
    assert len(ran.stderr) < 600, ran.stderr
    assert events_in(home) == []


def test_a_5_mb_intent_is_refused_before_anything_is_published(home: Path, tmp_path: Path) -> None:
    intent = tmp_path / "huge.yaml"
    intent.write_text(yaml.safe_dump(_intent(purpose="x" * (5 * 1024 * 1024))))
    ran = cli("run", str(intent))
    assert ran.exit_code == 2
    assert "bytes" in ran.stderr and "at most" in ran.stderr
    assert len(ran.stderr) < 600
    assert events_in(home) == []


def test_a_large_valid_intent_under_the_byte_limit_but_over_a_list_limit_names_each_list(
        home: Path, tmp_path: Path) -> None:
    fields = [{"name": f"f{i}", "type": "string"} for i in range(500)]
    features = [{"name": f"Feature {i}", "description": "d"} for i in range(500)]
    intent = tmp_path / "lists.yaml"
    intent.write_text(yaml.safe_dump(_intent(entities=[{"name": "Task", "fields": fields}], features=features)))
    ran = cli("run", str(intent))
    assert ran.exit_code == 2
    problems = [line for line in ran.stderr.splitlines() if line.startswith("  - ")]
    assert any(p.startswith("  - entities[0].fields: has 500 items") for p in problems)
    assert any(p.startswith("  - features: has 500 items") for p in problems)
    assert all(len(p) < 200 for p in problems)


def test_resubmitting_an_unknown_dead_letter_is_an_error_not_a_traceback(released: Released,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORY_HOME", str(released.home))
    ran = cli("dlq", "resubmit", "vision-architect", "99999")
    assert ran.exit_code == 2
    assert "cannot resubmit vision-architect 99999" in ran.stderr and "factory dlq list" in ran.stderr


def test_listing_dead_letters_of_an_unknown_subscription_is_refused_with_did_you_mean(
        released: Released, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORY_HOME", str(released.home))
    nope = cli("dlq", "list", "--subscription", "nope")
    assert nope.exit_code == 2 and "no subscription named 'nope'" in nope.stderr and not nope.stdout
    typo = cli("dlq", "list", "--subscription", "vision-architekt")
    assert typo.exit_code == 2 and "did you mean 'vision-architect'?" in typo.stderr


def test_events_diff_with_a_misspelt_contract_says_did_you_mean(home: Path) -> None:
    ran = cli("events", "diff", "AgentFailed", "AgentFaild@2.0.0")
    assert ran.exit_code == 2
    assert "no contract is named 'AgentFaild'" in ran.stderr and "did you mean 'AgentFailed'?" in ran.stderr
    version = cli("events", "diff", "AgentFailed@1.0.0", "AgentFailed@9.0.0")
    assert version.exit_code == 2 and "AgentFailed has no version 9.0.0" in version.stderr


def test_flow_force_to_a_state_that_does_not_exist_is_refused_at_once(released: Released,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORY_HOME", str(released.home))
    before = len(events_in(released.home))
    ran = cli("flow", "force", released.project_id, "--to", "nowhere")
    assert ran.exit_code == 2
    assert "microservice-assembly has no state 'nowhere'" in ran.stderr and "its states are " in ran.stderr
    typo = cli("flow", "force", released.project_id, "--to", "complete")
    assert typo.exit_code == 2 and "did you mean 'completed'?" in typo.stderr
    unknown_flow = cli("flow", "skip", released.project_id, "--flow", "release-manger")
    assert unknown_flow.exit_code == 2 and "did you mean 'release-manager'?" in unknown_flow.stderr
    finished = cli("flow", "cancel", released.project_id)
    assert finished.exit_code == 2 and "nothing to cancel" in finished.stderr
    assert len(events_in(released.home)) == before  # nothing was published


def test_unknown_ids_exit_2_with_the_same_style_in_every_command(released: Released,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORY_HOME", str(released.home))
    near = released.project_id[:-1]
    for args in (["status", near], ["flow", "status", near], ["artifacts", "list", near],
                 ["artifacts", "get", near, "x"], ["approve", near, "--as", "a", "--reason", "r"],
                 ["flow", "retry", near], ["trace", "0" * 32], ["templates", "show", "python-libary"],
                 ["infra", "versions", "ghost"]):
        ran = cli(*args)
        assert ran.exit_code == 2, ran
        assert ran.stderr.startswith("error: ") and "\n  next: " in ran.stderr, ran
    status = cli("status", near)
    assert f"did you mean '{released.project_id}'?" in status.stderr
    template = cli("templates", "show", "python-libary")
    assert "did you mean 'python-library'" in template.stderr


def test_usage_mistakes_exit_2_in_the_same_style_and_name_the_help(home: Path) -> None:
    for args, says in ((["stauts"], "No such command"), (["run"], "Missing argument"),
                       (["run", "x.yaml", "--timeout", "soon"], "--timeout"), (["dlq", "list", "--bogus"], "--bogus")):
        ran = cli(*args)
        assert ran.exit_code == 2, ran
        assert ran.stderr.startswith("error: ") and says in ran.stderr and "--help" in ran.stderr, ran
    assert "did you mean" in cli("stauts").stderr.lower()


def test_version_and_short_help_work_everywhere(home: Path) -> None:
    version = cli("--version")
    assert version.exit_code == 0 and version.stdout.startswith("factory ")
    for args in (["-h"], ["run", "-h"], ["flow", "retry", "-h"], ["templates", "run", "-h"]):
        ran = cli(*args)
        assert ran.exit_code == 0 and "Usage:" in ran.stdout, ran


def test_publish_refuses_an_event_no_subscription_would_receive_unless_forced(home: Path, tmp_path: Path) -> None:
    event = tmp_path / "vision.yaml"
    event.write_text(yaml.safe_dump({"type": "ProjectInitialized", "projectId": "p1", "data": {
        "projectId": "p1", "productName": "x", "intentDigest": "sha256:" + "0" * 64,
        "intent": yaml.safe_load((EXAMPLES / "task-tracker.yaml").read_text())}}))
    fresh = cli("publish", str(event))
    assert fresh.exit_code == 2 and "no subscription exists" in fresh.stderr and "factory host" in fresh.stderr
    assert events_in(home) == []
    forced = cli("publish", str(event), "--force")
    assert forced.exit_code == 0 and "published ProjectInitialized" in forced.stdout
    nobody = tmp_path / "nobody.yaml"
    nobody.write_text(yaml.safe_dump({"type": "ProjectCompleted", "data": {"projectId": "p1",
                                                                          "outcome": "released"}}))
    ran = cli("publish", str(nobody))
    assert ran.exit_code == 2 and "no consumer's manifest subscribes to ProjectCompleted" in ran.stderr


def test_publish_of_a_file_with_the_wrong_shape_lists_each_problem(home: Path, tmp_path: Path) -> None:
    event = tmp_path / "shape.yaml"
    event.write_text("type: 123\ndata: [1, 2]\nprojectId: [a]\n")
    ran = cli("publish", str(event))
    assert ran.exit_code == 2
    assert "type: required" in ran.stderr and "data: must be a mapping" in ran.stderr
    assert "projectId: must be text" in ran.stderr


def test_templates_run_refuses_a_folder_with_files_unless_forced(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "lib"
    first = cli("templates", "run", "python-library", "--out", str(out), "-p", "name=shop")
    assert first.exit_code == 0, first
    readme = next(p for p in out.rglob("*.py") if p.is_file())
    readme.write_text("# my edits\n")
    again = cli("templates", "run", "python-library", "--out", str(out), "-p", "name=shop")
    assert again.exit_code == 2 and "is not empty" in again.stderr and "templates update" in again.stderr
    assert readme.read_text() == "# my edits\n"
    forced = cli("templates", "run", "python-library", "--out", str(out), "-p", "name=shop", "--force")
    assert forced.exit_code == 0 and readme.read_text() != "# my edits\n"


def test_templates_diff_patch_is_only_the_patch_and_applies(home: Path, tmp_path: Path) -> None:
    import subprocess

    out = tmp_path / "lib"
    assert cli("templates", "run", "python-library", "--out", str(out), "-p", "name=shop", "--commit").exit_code == 0
    core = next(p for p in out.rglob("core.py"))
    long_line = "LONG = '" + "x" * 150 + "'  # longer than any terminal\n"
    core.write_text(core.read_text() + long_line)
    ran = cli("templates", "diff", str(out), "--patch")
    assert ran.exit_code == 1  # something changed
    assert long_line.rstrip("\n") in ran.stdout.replace("+LONG", "LONG")
    patch = tmp_path / "mine.patch"
    patch.write_text(ran.stdout)
    subprocess.run(["git", "checkout", "--", "."], cwd=out, check=True, capture_output=True)
    applied = subprocess.run(["git", "apply", "--check", str(patch)], cwd=out, capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr + ran.stdout


def test_infra_versions_reads_the_store_under_factory_home(released: Released, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORY_HOME", str(released.home))
    monkeypatch.chdir(tmp_path)  # nothing under ./.factory here
    ran = cli("infra", "versions", released.service, "--json", "-")
    assert ran.exit_code == 0, ran
    assert json.loads(ran.stdout)[0]["version"].startswith("1-")


def test_no_python_reprs_in_text_output(released: Released, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORY_HOME", str(released.home))
    for args in (["templates", "show", "python-library"], ["events", "list"], ["status", released.project_id],
                 ["projects", "list"]):
        ran = cli(*args)
        assert ran.exit_code == 0
        for repr_ in ("['", "None", "True", "False", "{'"):
            assert repr_ not in ran.stdout, (repr_, ran)


def test_readme_names_the_field_attributes_the_schema_has() -> None:
    """README once documented `minimum` where the schema says `min`: a word in the Intents section that is a
    longer or shorter spelling of a field attribute (minimum/min, value/values, maxlength/maxLength) and no
    schema key at all is a drifted name."""
    import re

    schema = json.loads((ROOT / "contracts" / "intent.schema.json").read_text())
    attributes = {k.lower(): k for k in schema["$defs"]["field"]["properties"]}
    keys: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            keys.update(node.get("properties", {}) or {})
            keys.update(str(v) for v in node.get("enum", []) or [] if isinstance(node.get("enum"), list))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Intents", 1)[1].split("\n## ", 1)[0]
    words = {w for span in re.findall(r"`([^`]+)`", section) if not span.startswith(("-", "factory"))
             for w in re.findall(r"[A-Za-z]+", span)} - keys
    drifted = sorted(f"{w} (the schema says {attributes[a]})" for w in words for a in attributes
                     if w.lower() == a or (len(a) >= 3 and (w.lower().startswith(a) or a.startswith(w.lower()))))
    assert not drifted, f"README's Intents section names field attributes the schema spells otherwise: {drifted}"


def test_an_alias_bomb_parsed_elsewhere_is_refused_by_the_intent_limits_without_expanding_it() -> None:
    from shared.product.intent import IntentError, intent_from_mapping
    from tests.cli.test_bad_input import ALIAS_BOMB

    bomb = yaml.safe_load(ALIAS_BOMB)  # the HTTP API parses YAML bodies itself: 9**9 values once expanded
    with pytest.raises(IntentError) as refused:
        intent_from_mapping(bomb)
    (problem,) = refused.value.problems
    assert "more than 50,000 values" in problem.message


def test_a_home_that_cannot_be_written_is_named_as_such_not_as_a_bug(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_")} | {"FACTORY_HOME": str(home)}
    limit = 16 * 1024  # a file size limit: the first databases are created, then a write fails

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    ran = subprocess.run([FACTORY, "run", str(EXAMPLES / "task-tracker.yaml"), "--quiet"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=300, preexec_fn=limited)
    assert ran.returncode == 1, ran.stderr
    assert ran.stderr.startswith("error: `factory run") and "could not write the factory's home" in ran.stderr
    assert "disk I/O error" in ran.stderr and "a file size limit" in ran.stderr and "factory doctor" in ran.stderr
    assert "bug" not in ran.stderr and "Traceback" not in ran.stderr
