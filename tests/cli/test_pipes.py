"""Every command that reads state, run as a subprocess with stdout on a pipe at ``COLUMNS=80``: plain text
(no box drawing, no colour codes), every id a user has to type appears whole (never cut with "…" nor
wrapped), no Python reprs, and ``--json -`` writes the JSON document to stdout (never a file named ``-``)."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shared.bootstrap import bootstrap
from shared.cli.output import BOOKKEEPING_EVENTS
from shared.contracts.lint import list_rows
from shared.contracts.registry import default_registry
from shared.generators.infrastructure.versions import DirectoryVersionStore, versions
from shared.product.projects import project_files
from shared.scaffold.catalog import TemplateCatalog, default_roots
from shared.settings import Settings
from tests.cli.conftest import Released
from tests.cli.harness import Ran, cli, run_factory

FORBIDDEN = ("…", "│", "┃", "━", "─", "\x1b[", "['", "None", "<bool>")


def read_commands(r: Released) -> list[tuple[list[str], list[str], int]]:
    """(arguments, ids that must appear whole, exit code) for every read command."""
    rt = bootstrap(Settings(FACTORY_HOME=r.home))
    events = rt.state.events_for_trace(r.trace_id)
    work = [e["id"] for e in events if e["type"] not in BOOKKEEPING_EVENTS]
    files = project_files(rt, r.project_id)
    contracts = list_rows(default_registry())
    catalog = TemplateCatalog(default_roots())
    infra = versions(DirectoryVersionStore(r.home / "infra"), r.service, "dev")
    rt.close()
    assert work and files and contracts and infra
    return [
        (["projects", "list"], [r.project_id, r.trace_id], 0),
        (["status", r.project_id], [r.project_id, r.trace_id, f"reports/{r.service}-tests.json"], 0),
        (["trace", r.trace_id], [r.trace_id, *work], 0),
        (["trace", r.trace_id, "--all"], [e["id"] for e in events], 0),
        (["flow", "status", r.project_id], ["project-lifecycle", "microservice-assembly", "release-manager"], 0),
        (["artifacts", "list", r.project_id], [*files, *files.values()], 0),
        (["events", "list"], sorted({c["name"] for c in contracts} | {c["version"] for c in contracts}), 0),
        (["events", "diff", "AgentFailed@1.0.0", "AgentFailed@2.0.0"], [], 1),
        (["dlq", "list"], [r.dead_letter_subscription, r.dead_letter_id, "EmitterNotAllowed"], 0),
        (["templates", "list"], [t for e in catalog.list() for t in (e.identity, e.config.short_name)], 0),
        (["templates", "show", "python-library"], ["factory.python-library", "includeCli", "pythonVersion"], 0),
        (["infra", "versions", r.service], [i.label for i in infra] + [i.trace_id for i in infra], 0),
        (["topology"], ["vision_architect", "microservice_assembly"], 0),
    ]


def _whole(text: str, token: str) -> bool:
    return re.search(rf"(?<![\w.-]){re.escape(token)}(?![\w-])", text) is not None


def test_every_read_command_in_a_pipe_at_80_columns_prints_plain_text_with_whole_ids(
        released: Released, tmp_path: Path) -> None:
    commands = read_commands(released)
    with ThreadPoolExecutor(2) as pool:
        results: list[Ran] = list(pool.map(lambda c: run_factory(c[0], released.home, cwd=tmp_path), commands))
    for (args, ids, code), ran in zip(commands, results, strict=True):
        assert ran.exit_code == code, ran
        assert ran.stdout.strip(), ran
        for bad in FORBIDDEN:
            assert bad not in ran.stdout, f"{bad!r} in {ran}"
        missing = [i for i in ids if not _whole(ran.stdout, i)]
        assert not missing, f"not whole in `factory {' '.join(args)}`: {missing[:5]}"
    wide = max(len(line) for ran in results for line in ran.stdout.splitlines())
    assert wide > 80  # nothing was wrapped to the 80 columns COLUMNS asks for


JSON_COMMANDS = [
    ["projects", "list"], ["status", "{project}"], ["trace", "{trace}"], ["flow", "status", "{project}"],
    ["artifacts", "list", "{project}"], ["events", "list"], ["dlq", "list"], ["templates", "list"],
    ["templates", "show", "python-library"], ["infra", "versions", "{service}"], ["topology"],
]


def test_json_dash_writes_to_stdout_and_json_file_writes_the_file(released: Released, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORY_HOME", str(released.home))
    monkeypatch.chdir(tmp_path)
    for i, template in enumerate(JSON_COMMANDS):
        words = [w.format(project=released.project_id, trace=released.trace_id, service=released.service)
                 for w in template]
        to_stdout = cli(*words, "--json", "-")
        assert to_stdout.exit_code == 0, to_stdout
        assert json.loads(to_stdout.stdout) is not None, to_stdout
        to_file = cli(*words, "--json", f"{i}.json")
        assert to_file.exit_code == 0, to_file
        assert json.loads((tmp_path / f"{i}.json").read_text()) == json.loads(to_stdout.stdout)
    assert not (tmp_path / "-").exists()
