"""Documentation that cannot drift: every shell command in README.md and docs/*.md runs (or is listed
here as needing something this machine does not have, with the reason), every Python snippet runs, and
every ``factory ...`` the prose mentions names commands and options that exist.

Fenced ``bash`` blocks of a page run in order in one scratch folder (``examples/`` linked in, a fresh
FACTORY_HOME), so a later command can use what an earlier one made; the page's ``python`` blocks run
after them in the same folder. A command that needs Azure, Docker or the Functions Core Tools is not run:
its block is skipped with the reason from ``NEEDS``, and the repository files it names must exist.
``make`` targets are checked with ``make -n`` (a dry run: the target exists and expands); running them for
real is CI's job (``make test``) or the same ``factory run`` this test runs.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from shared.cli.main import app
from tests.cli.harness import ROOT, Ran, check_clean, factory_env

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CLI = typer.main.get_command(app)  # one click tree, so commands can be compared by identity

#: programs this machine (and CI) cannot run, and why; a block using one is skipped, not run
NEEDS = {
    "azd": "needs an Azure subscription (the Azure Developer CLI provisions and deploys real resources)",
    "az": "needs an Azure subscription (the Azure CLI)",
    "func": "needs the Azure Functions Core Tools (not installed in CI) and, to publish, a subscription",
    "docker": "needs a Docker engine (none runs in CI; the compose file is checked structurally by tests/infra)",
}
#: a ``factory`` command the docs mention that must not run as written here, and what runs instead
ADJUSTED = {
    ("factory", "host"): (["--until-idle", "--port", "0"], "runs until Ctrl-C; started with --until-idle --port 0"),
    ("factory", "generate"): (["--check"], "would rewrite derived files in this repository; --check fails when "
                                           "they are stale"),
    ("factory", "infra", "render"): (["--check"], "would rewrite infra/generated in this repository; --check "
                                                 "fails when it is stale"),
}
#: documented commands that end with a non-zero exit code on purpose
EXPECTED_EXIT = {"factory run examples/bad-intent.yaml": 2,  # refused: the README shows the problems
                 "factory events diff AgentFailed@1.0.0 AgentFailed@2.0.0": 1}  # breaking, as the page says
#: prose mentions of commands that run more than this test should (itself, or writers of history)
NOT_RUN_INLINE = {
    "make test": "is this suite",
    "python -m shared.contracts.lint freeze": "writes contracts/history: only after a contract change",
    ".venv/bin/python -m pytest tests/infrablueprint": "is part of this suite",
    "python -m tests.ai.model_server": "serves the fixture model until Ctrl-C; tests/ai starts the same server "
                                       "in-process",
    "factory sandbox serve": "serves a session until its run ends; tests/unit/test_sandbox_sessions.py runs it as a "
                             "real process behind the stand-in pool",
}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    language: str
    body: str


def blocks(page: Path) -> Iterator[Block]:
    text = page.read_text(encoding="utf-8")
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        yield Block(page, text[:m.start()].count("\n") + 1, m.group(1), m.group(2))


def commands(body: str) -> list[str]:
    """Shell commands of a block: continuation lines joined, comments and blank lines dropped."""
    out: list[str] = []
    for line in body.replace("\\\n", " ").splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            words = line.split()
        if words:
            out.append(shlex.join(words))
    return out


def _needs(body: str) -> str | None:
    for word in re.findall(r"(?<![\w./-])([a-z]+)(?=\s)", body):
        if word in NEEDS:
            return NEEDS[word]
    return None


def _sandbox(tmp: Path) -> Path:
    work = tmp / "work"
    work.mkdir()
    for name in ("examples", "contracts", "templates", "infra", "local.settings.json.example"):
        (work / name).symlink_to(ROOT / name)
    return work


def _run(command: str, work: Path, home: Path) -> Ran:
    """Run one documented command: ``make`` as a dry run in the repository, the rest in the scratch folder."""
    words = shlex.split(command)
    if words[0].endswith("/factory"):
        words[0] = "factory"
    for prefix, (extra, _why) in ADJUSTED.items():
        if tuple(words) == prefix:
            words += extra
    if words[0] == "make":
        done = subprocess.run(["make", "-n", "-C", str(ROOT), *words[1:]], capture_output=True, text=True,
                              timeout=60)
        return Ran(words, done.returncode, done.stdout, done.stderr)
    done = subprocess.run(words, cwd=work, env=factory_env(home, {"PYTHONPATH": str(ROOT)}), capture_output=True,
                          text=True, timeout=600)
    return check_clean(Ran(words, done.returncode, done.stdout, done.stderr))


def _missing_repository_paths(body: str) -> list[str]:
    paths = re.findall(r"(?<![\w/.<-])((?:infra|contracts|examples|docs)/[\w./-]+\.(?:bicep|json|ya?ml))", body)
    paths += re.findall(r"(?<![\w/.-])(local\.settings\.json\.example)", body)
    return [p for p in paths if not (ROOT / p).exists()]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shell_command_and_python_snippet_of_the_page_runs(page: Path, tmp_path: Path) -> None:
    work, home = _sandbox(tmp_path), tmp_path / "home"
    ran = skipped = 0
    for block in blocks(page):
        if block.language not in ("bash", "sh", "shell", "python"):
            continue
        where = f"{page.relative_to(ROOT)}:{block.line}"
        if block.language == "python":
            done = subprocess.run([sys.executable, "-c", block.body], cwd=work, capture_output=True, text=True,
                                  env=factory_env(home, {"PYTHONPATH": str(ROOT)}), timeout=300)
            assert done.returncode == 0, f"{where}: the Python snippet fails:\n{done.stderr[-3000:]}"
            ran += 1
            continue
        reason = _needs(block.body)
        if reason is not None:
            missing = _missing_repository_paths(block.body)
            assert not missing, f"{where}: the skipped block ({reason}) names files that do not exist: {missing}"
            skipped += 1
            continue
        for command in commands(block.body):
            result = _run(command, work, home)
            expected = EXPECTED_EXIT.get(command, 0)
            assert result.exit_code == expected, f"{where}: `{command}` exited {result.exit_code}:\n{result}"
            ran += 1
    assert ran or skipped or not [b for b in blocks(page) if b.language in ("bash", "sh", "shell", "python")]


# ----------------------------------------------------------------------------- prose mentions

def _inline(page: Path) -> Iterator[tuple[int, str]]:
    text = re.sub(r"^```.*?^```", lambda m: "\n" * m.group(0).count("\n"), page.read_text(), flags=re.S | re.M)
    for m in re.finditer(r"`((?:\.venv/bin/)?(?:factory|make|python)(?=[\s`])[^`]*)`", text):
        yield text[:m.start()].count("\n") + 1, " ".join(m.group(1).split())


def _resolve(words: list[str]) -> tuple[Any, list[str]]:
    """The deepest command the words name, and the words after it."""
    command: Any = CLI
    rest = words
    while rest and getattr(command, "commands", None) and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    return command, rest


def check_mention(mention: str) -> list[str]:
    """Problems with a ``factory ...`` mention: sub-commands that do not exist, options a command lacks."""
    words = mention.replace("\\|", "|").replace("…", "").split()
    words = words[1:] if words[0].endswith("factory") else words
    root: Any = CLI
    problems: list[str] = []
    alternatives = [a.split() for a in " ".join(words).split("|")]
    parent: Any = root
    for i, alt in enumerate(alternatives):
        if not alt:
            continue
        if i == 0:
            command, rest = _resolve(alt)
            if command is root and alt[0].startswith("--"):
                rest = alt  # a root option: `factory --version`
            elif command is root:
                problems.append(f"`factory {alt[0]}` is not a command")
                continue
            path = alt[:len(alt) - len(rest)]
            parent, _ = _resolve(path[:-1])
        else:  # `list | show ID`: the next sub-command of the same group, or a value of an option
            command, rest = _resolve([*_path_of(parent), *alt]) if alt[0] in getattr(parent, "commands", {}) \
                else (None, alt)
            if command is None:
                continue
        names = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        for word in rest:
            option = word.strip("[]").split("=")[0]
            if option.startswith("--") and option not in names and option != "--help":
                problems.append(f"`{option}` is not an option of `factory {' '.join(_path_of(command))}`")
    return problems


def _path_of(command: Any) -> list[str]:
    root = CLI

    def find(node: Any, path: list[str]) -> list[str] | None:
        if node is command:
            return path
        for name, sub in getattr(node, "commands", {}).items():
            found = find(sub, [*path, name])
            if found is not None:
                return found
        return None

    return find(root, []) or []


def test_every_factory_command_the_prose_mentions_exists_with_its_options() -> None:
    problems, seen = [], 0
    for page in PAGES:
        for line, mention in _inline(page):
            if not mention.split()[0].endswith("factory"):
                continue
            seen += 1
            problems += [f"{page.relative_to(ROOT)}:{line}: {p} (in `{mention}`)" for p in check_mention(mention)]
    assert seen > 30
    assert not problems, "\n".join(problems)


def test_every_complete_command_the_prose_mentions_runs(tmp_path: Path) -> None:
    """Mentions with every required argument and no placeholder run for real (``make`` ones as a dry run)."""
    work, home = _sandbox(tmp_path), tmp_path / "home"
    todo: dict[str, str] = {}  # command -> where the docs mention it first
    for page in PAGES:
        for line, mention in _inline(page):
            words = mention.split()
            if mention in todo or mention in NOT_RUN_INLINE or words[0] == "python":
                continue
            if words[0].endswith("factory"):
                if re.search(r"[A-Z]{2,}|[\[\]|<>…]|\.\.\.", mention):
                    continue  # a synopsis with placeholders: checked by the test above
                command, rest = _resolve(words[1:])
                try:
                    command.make_context(words[-1], list(rest), resilient_parsing=False)
                except (Exception, SystemExit):
                    continue  # a mention of a command, not a complete one (`factory trace`)
            todo[mention] = f"{page.relative_to(ROOT)}:{line}"
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(todo, pool.map(lambda m: _run(m, work, home), todo), strict=True))
    for mention, result in results.items():
        assert result.exit_code == EXPECTED_EXIT.get(mention, 0), \
            f"{todo[mention]}: `{mention}` exited {result.exit_code}:\n{result}"
    assert {"factory run examples/bad-intent.yaml", "factory topology", "make run"} <= set(todo), todo


def test_python_module_mentions_run() -> None:
    for page in PAGES:
        for _line, mention in _inline(page):
            if mention.startswith("python -m ") and mention not in NOT_RUN_INLINE:
                done = subprocess.run([sys.executable, *mention.split()[1:]], cwd=ROOT, capture_output=True,
                                      text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
                assert done.returncode == 0, f"`{mention}`: {done.stdout[-2000:]}{done.stderr[-2000:]}"
