"""``factory templates`` commands and their exit codes (0 ok, 1 conflicts/changes, 2 bad input)."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from shared.cli.templates import register
from tests.scaffold.memory_templates import REPO

ROOT = str(REPO / "templates")
runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_list_and_show_exit_zero_and_name_the_templates() -> None:
    listed = runner.invoke(_app(), ["list", "--root", ROOT, "--json", "-"])
    assert listed.exit_code == 0 and "factory.python-library" in listed.output
    shown = runner.invoke(_app(), ["show", "python-library", "--root", ROOT, "--json", "-"])
    assert shown.exit_code == 0 and "Apache-2.0" in shown.output


def test_run_with_a_bad_choice_exits_two_and_lists_the_choices(tmp_path: Path) -> None:
    result = runner.invoke(_app(), ["run", "python-library", "--root", ROOT, "--out", str(tmp_path / "o"),
                                    "-p", "license=BSD"])
    assert result.exit_code == 2
    assert "license" in result.output and "MIT" in result.output


def test_run_then_update_with_a_conflict_exits_one(tmp_path: Path) -> None:
    out = tmp_path / "o"
    ran = runner.invoke(_app(), ["run", "python-library", "--version", "1.0.0", "--root", ROOT,
                                 "--out", str(out), "-p", "name=shop", "-p", "includeCli=false", "--commit"])
    assert ran.exit_code == 0, ran.output
    assert not (out / "src/shop/__main__.py").exists()
    core = out / "src/shop/core.py"
    core.write_text(core.read_text().replace('{name.strip()}!"  # 1.0.0', '{name.strip()}!!"  # mine'))
    changed = runner.invoke(_app(), ["diff", str(out), "--root", ROOT])
    assert changed.exit_code == 1 and "src/shop/core.py" in changed.output
    updated = runner.invoke(_app(), ["update", str(out), "--root", ROOT])
    assert updated.exit_code == 1 and "src/shop/core.py" in updated.output
    assert "<<<<<<< ours" in core.read_text()
    assert (out / "LICENSE").is_file()


def test_update_of_a_folder_without_a_manifest_exits_two(tmp_path: Path) -> None:
    result = runner.invoke(_app(), ["update", str(tmp_path), "--root", ROOT])
    assert result.exit_code == 2 and "manifest" in result.output
