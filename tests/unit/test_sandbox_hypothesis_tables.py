"""Hypothesis's Unicode tables: built once per runner by the runner itself, copied into every run's folder."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from shared.adapters.process.hypothesis_tables import TABLES, UnicodeTables
from shared.adapters.process.jail import Jail
from shared.adapters.process.sandbox import run_tests
from shared.adapters.process.scratch import sweep

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def _files(folder: Path) -> dict[str, bytes]:
    """Each table's decompressed content, by its path under ``folder``."""
    return {str(p.relative_to(folder)): gzip.decompress(p.read_bytes()) for p in sorted(folder.rglob("*.gz"))}


def _built_by_hypothesis(tmp_path: Path) -> dict[str, bytes]:
    """What hypothesis builds by itself when a test draws text in a fresh folder."""
    store = tmp_path / "own"
    script = ("from hypothesis import given, strategies as st\n"
              "@given(st.text(), st.characters(codec='utf-8'))\ndef t(a, b): pass\nt()\n")
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, capture_output=True,
                   env={**ENV, "HYPOTHESIS_STORAGE_DIRECTORY": str(store), "HOME": str(tmp_path)})
    return _files(store / "unicode_data")


def _two_runs(tmp_path: Path) -> tuple[UnicodeTables, Path, Path]:
    """A runner's tables (not built yet) and the folders of two runs."""
    first, second = tmp_path / "run1", tmp_path / "run2"
    first.mkdir()
    second.mkdir()
    return UnicodeTables(sys.executable, tmp_path / "scratch"), first, second


def test_the_runner_builds_the_tables_hypothesis_would_build_and_copies_them_into_later_runs(tmp_path: Path) -> None:
    tables, first, second = _two_runs(tmp_path)
    try:
        assert not tables.seed(first)  # a first run starts no build: a one-gate process never pays for it
        assert tables.tables() is None and not (tmp_path / "scratch").exists()
        assert not tables.seed(first)  # the second run starts the build and does not wait for it
        built = tables.tables()
        assert built is not None and tables.tables() == built  # built once
        assert tables.seed(first) and tables.seed(second)
        assert _files(first / TABLES) == _files(second / TABLES) == _built_by_hypothesis(tmp_path)
        assert any(name.endswith("charmap.json.gz") for name in _files(first / TABLES))
    finally:
        tables.close()
    assert list((tmp_path / "scratch").iterdir()) == []  # closing removes them


def test_a_run_that_changes_its_copy_does_not_change_what_the_next_run_gets(tmp_path: Path) -> None:
    tables, first, second = _two_runs(tmp_path)
    try:
        tables.start()
        tables.tables()
        assert tables.seed(first)
        original = _files(first / TABLES)
        for table in (first / TABLES).rglob("*.gz"):
            table.write_bytes(gzip.compress(b"[]"))  # a run poisoning its own copy

        tables.seed(second)

        assert _files(second / TABLES) == original
    finally:
        tables.close()


def test_a_folder_with_its_own_tables_is_left_alone(tmp_path: Path) -> None:
    tables = UnicodeTables(sys.executable, tmp_path / "scratch")
    own = tmp_path / "run" / TABLES / "mine.json.gz"
    own.parent.mkdir(parents=True)
    own.write_bytes(gzip.compress(b"{}"))
    try:
        tables.start()
        assert tables.tables() is not None
        assert not tables.seed(tmp_path / "run")
        assert [p.name for p in (tmp_path / "run" / TABLES).rglob("*") if p.is_file()] == ["mine.json.gz"]
    finally:
        tables.close()


def test_an_interpreter_that_cannot_build_them_seeds_nothing_and_runs_go_on(tmp_path: Path) -> None:
    tables = UnicodeTables("/bin/false", tmp_path / "scratch")
    (tmp_path / "run").mkdir()

    tables.start()
    assert tables.tables() is None
    assert not tables.seed(tmp_path / "run")
    assert not (tmp_path / "run" / TABLES).exists()
    tables.close()


def test_a_jailed_run_finds_the_tables_before_hypothesis_needs_them(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    (project / "tests" / "test_fuzz.py").write_text(textwrap.dedent("""
        import os
        from pathlib import Path

        from hypothesis import given, strategies as st

        SEEDED = sorted(p.name for p in Path(".hypothesis/unicode_data").rglob("*.gz"))

        def test_the_tables_were_there_at_import():
            assert "charmap.json.gz" in SEEDED, SEEDED

        @given(st.text())
        def test_text_is_drawn(value):
            assert isinstance(value, str)
    """))
    tables = UnicodeTables(sys.executable, tmp_path / "scratch")
    try:
        tables.start()
        assert tables.tables() is not None  # built at an earlier run's start
        report = run_tests(project, timeout_s=120, jail=Jail(), base_env=ENV, scratch_root=tmp_path / "scratch",
                           unicode_tables=tables)
    finally:
        tables.close()

    assert report.ok and report.passed == 2, report.output
    assert not (project / ".hypothesis").exists()  # the project itself is untouched
    assert os.listdir(tmp_path / "scratch") == []


def test_closing_the_runner_during_a_build_stops_it_and_leaves_no_folder(tmp_path: Path) -> None:
    tables = UnicodeTables(sys.executable, tmp_path / "scratch")
    tables.start()

    tables.close()

    assert tables.tables() is None
    assert list((tmp_path / "scratch").glob("*")) == []


def test_a_sweep_keeps_the_tables_of_a_live_runner(tmp_path: Path) -> None:
    tables = UnicodeTables(sys.executable, tmp_path / "scratch")
    tables.start()
    try:
        built = tables.tables()
        assert built is not None

        assert sweep(tmp_path / "scratch") == []  # their folder is locked while the runner lives

        assert built.is_dir()
    finally:
        tables.close()


def test_tables_that_vanish_before_the_copy_leave_the_run_to_build_its_own(tmp_path: Path) -> None:
    tables = UnicodeTables(sys.executable, tmp_path / "scratch")
    tables.start()
    (tmp_path / "run").mkdir()
    try:
        built = tables.tables()
        assert built is not None
        shutil.rmtree(built)  # as when the runner closes while a run is being prepared

        assert not tables.seed(tmp_path / "run")

        assert not (tmp_path / "run" / TABLES).exists()
    finally:
        tables.close()
