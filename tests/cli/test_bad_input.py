"""Malformed invocations of every command (issue #12's CLI inputs): bad YAML, binary and non-UTF-8 files,
missing files and folders, alias bombs, deep nesting, non-string ids, traversal ids, option values of the
wrong type. Each ends in the one error style with exit 2 (or 1 for a check that ran and failed) — never a
traceback — and valid work in the same home still completes afterwards."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.cli.harness import EXAMPLES, cli

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(range(256))
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))


def _task_tracker(**changes: object) -> str:
    data = yaml.safe_load((EXAMPLES / "task-tracker.yaml").read_text())
    data.update(changes)
    return yaml.safe_dump(data)


FILES: dict[str, Callable[[], bytes | str]] = {
    "empty.yaml": lambda: "",
    "binary.yaml": lambda: PNG,
    "latin1.yaml": lambda: b"product: caf\xe9\n",
    "broken.yaml": lambda: "product: {name: [unclosed\n  - x: : y\n",
    "bomb.yaml": lambda: ALIAS_BOMB,
    "deep.yaml": lambda: "[" * 5000 + "]" * 5000,
    "list.yaml": lambda: "- a\n- b\n",
    "number-name.yaml": lambda: _task_tracker(product={"name": 123, "displayName": 4.5}),
    "entities-text.yaml": lambda: _task_tracker(entities="Task"),
    "entities-null.yaml": lambda: _task_tracker(entities=None, features=None),
    "event-type-number.yaml": lambda: "type: 123\ndata: {}\n",
    "event-ids-objects.yaml": lambda: "type: ProjectInitialized\nprojectId: {a: 1}\ntenantId: 5\ndata: {}\n",
    "event-unknown-type.yaml": lambda: "type: ProjectInitialised\ndata: {projectId: p}\n",
    "event-bad-payload.yaml": lambda: "type: ProjectInitialized\nversion: 1.1.0\ndata: {projectId: 7}\n",
    "blueprint.json": lambda: json.dumps({"services": "nope"}),
}

CASES: list[tuple[str, list[str], int]] = [
    # intents
    *[(f"run {name}", ["run", "{dir}/" + name], 2) for name in (
        "empty.yaml", "binary.yaml", "latin1.yaml", "broken.yaml", "bomb.yaml", "deep.yaml", "list.yaml",
        "number-name.yaml", "entities-text.yaml", "entities-null.yaml")],
    ("run a missing file", ["run", "{dir}/nope.yaml"], 2),
    ("run a folder", ["run", "{dir}"], 2),
    ("run with a timeout that is not a number", ["run", "{dir}/list.yaml", "--timeout", "soon"], 2),
    # events on the bus
    *[(f"publish {name}", ["publish", "{dir}/" + name], 2) for name in (
        "empty.yaml", "binary.yaml", "latin1.yaml", "broken.yaml", "bomb.yaml", "deep.yaml", "list.yaml",
        "event-type-number.yaml", "event-ids-objects.yaml", "event-unknown-type.yaml", "event-bad-payload.yaml")],
    ("publish a missing file", ["publish", "{dir}/nope.yaml"], 2),
    ("publish a folder", ["publish", "{dir}"], 2),
    *[(f"events validate {name}", ["events", "validate", "{dir}/" + name], code) for name, code in (
        ("binary.yaml", 2), ("latin1.yaml", 2), ("missing.yaml", 2), ("broken.yaml", 1), ("list.yaml", 1),
        ("event-bad-payload.yaml", 1))],
    ("events diff with no name", ["events", "diff", "@1.0.0", "AgentFailed"], 2),
    ("events diff with no version", ["events", "diff", "AgentFailed@", "AgentFailed"], 2),
    ("events diff of two unknown names", ["events", "diff", "Nope", "Nope@2"], 2),
    # ids
    ("status of a traversal id", ["status", "../../etc/passwd"], 2),
    ("status of a markup id", ["status", "[/x][bold]"], 2),
    ("status of a 10 KB id", ["status", "x" * 10_000], 2),
    ("trace of an emoji", ["trace", "🙂"], 2),
    ("flow status of an unknown project", ["flow", "status", "nope"], 2),
    ("flow force with a traversal state", ["flow", "force", "nope", "--to", "../x"], 2),
    ("artifacts get of a traversal path", ["artifacts", "get", "nope", "../../etc/passwd"], 2),
    ("approve without who", ["approve", "nope", "--as", "", "--reason", "r"], 2),
    ("approve without reason", ["approve", "nope", "--as", "alice"], 2),
    ("dlq resubmit of an unknown subscription", ["dlq", "resubmit", "nope", "1"], 2),
    ("dlq resubmit of a markup subscription", ["dlq", "resubmit", "[/x]", "abc"], 2),
    ("dlq resubmit of a negative sequence", ["dlq", "resubmit", "vision-architect", "--", "-1"], 2),
    ("dlq list of a markup subscription", ["dlq", "list", "--subscription", "[red]x"], 2),
    # templates and infrastructure
    ("templates show of an unknown template", ["templates", "show", "nope"], 2),
    ("templates run with a parameter without =", ["templates", "run", "python-library", "--out", "{dir}/o",
                                                  "-p", "license"], 2),
    ("templates run into a file", ["templates", "run", "python-library", "--out", "{dir}/empty.yaml"], 2),
    ("templates update of a folder that was never rendered", ["templates", "update", "{dir}"], 2),
    ("templates diff of a missing folder", ["templates", "diff", "{dir}/nope"], 2),
    ("infra blueprint of a missing file", ["infra", "blueprint", "{dir}/nope.json", "--out", "{dir}/i"], 2),
    ("infra blueprint of a binary file", ["infra", "blueprint", "{dir}/binary.yaml", "--out", "{dir}/i"], 2),
    ("infra blueprint of an invalid blueprint", ["infra", "blueprint", "{dir}/blueprint.json", "--out",
                                                 "{dir}/i"], 2),
    ("infra diff of nonsense", ["infra", "diff", "a/b/c", "{dir}/nope"], 2),
    ("infra rollback of an unknown service", ["infra", "rollback", "ghost", "--to", "1", "--actor", "a",
                                              "--no-publish"], 2),
    ("infra versions of a traversal service", ["infra", "versions", "../.."], 2),
    ("host on a port out of range", ["host", "--port", "99999", "--until-idle"], 2),
    ("an unknown command", ["deploy"], 2),
    ("an unknown option", ["status", "--colour"], 2),
]


@pytest.fixture
def bad_files(tmp_path: Path) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    for name, make in FILES.items():
        body = make()
        (folder / name).write_bytes(body if isinstance(body, bytes) else body.encode())
    return folder


def test_every_malformed_invocation_is_refused_in_the_one_error_style_and_valid_work_still_completes(
        home: Path, bad_files: Path) -> None:
    failures = []
    for label, args, code in CASES:
        ran = cli(*(a.replace("{dir}", str(bad_files)) for a in args))  # cli() rejects tracebacks and stray styles
        if ran.exit_code != code or not ran.stderr.startswith("error: ") or "\n  next: " not in ran.stderr:
            failures.append(f"{label}: {ran}")
    assert not failures, "\n\n".join(failures)
    released = cli("run", str(EXAMPLES / "task-tracker.yaml"), "--quiet")
    assert released.exit_code == 0 and "outcome      released" in released.stdout, released
