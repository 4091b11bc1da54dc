"""The test sandbox: results from junit, time limit, output cap, scrubbed environment."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shared.adapters.process.sandbox import (
    TRUNCATION_MARK,
    SandboxError,
    package_paths,
    parse_junit,
    run_tests,
    scrubbed_env,
)


def _project(root: Path, tests: str, *, conftest: str = "") -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    (root / "tests" / "test_sample.py").write_text(textwrap.dedent(tests))
    if conftest:
        (root / "tests" / "conftest.py").write_text(textwrap.dedent(conftest))
    return root


def test_passing_and_failing_tests_are_counted_from_junit(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        """
        import pytest

        def test_ok():
            assert 1 + 1 == 2

        def test_broken():
            assert [1] == [2]

        @pytest.mark.skip(reason="not today")
        def test_skipped():
            pass
    """,
    )

    report = run_tests(project, timeout_s=60)

    assert (report.passed, report.failed, report.errors, report.skipped) == (1, 1, 0, 1)
    assert report.exit_code == 1 and not report.ok
    assert {c.name: c.outcome for c in report.cases} == {
        "test_ok": "passed",
        "test_broken": "failed",
        "test_skipped": "skipped",
    }
    assert "test_broken" in report.reason()
    assert report.junit_xml.startswith(b"<?xml")


def test_all_passing_run_is_ok_and_its_deterministic_form_has_no_timing(tmp_path: Path) -> None:
    project = _project(tmp_path, "def test_ok():\n    assert True\n")

    first = run_tests(project, timeout_s=60)
    second = run_tests(project, timeout_s=60)

    assert first.ok and first.reason() == ""
    assert first.to_dict() == second.to_dict()
    assert "durationMs" not in first.to_dict()
    assert "durationMs" in first.to_dict(deterministic=False)


def test_error_in_collection_is_not_ok(tmp_path: Path) -> None:
    project = _project(tmp_path, "import not_a_module_anywhere\n\ndef test_x():\n    pass\n")

    report = run_tests(project, timeout_s=60)

    assert not report.ok
    assert report.errors == 1


def test_a_run_past_its_time_limit_is_killed_and_marked(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        """
        import threading

        def test_hangs():
            threading.Event().wait()
    """,
    )

    report = run_tests(project, timeout_s=2)

    assert report.timed_out
    assert report.exit_code is None
    assert not report.ok
    assert "time limit" in report.reason()


def test_output_beyond_the_cap_is_truncated_and_marked(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        """
        import sys

        def test_noisy():
            sys.stdout.write("x" * 200_000)
            assert False
    """,
    )

    report = run_tests(project, timeout_s=60, max_output_bytes=10_000)

    assert report.output_truncated
    assert report.output.endswith(TRUNCATION_MARK)
    assert len(report.output.encode()) <= 10_000 + len(TRUNCATION_MARK.encode())
    assert report.failed == 1


def test_secrets_and_factory_settings_do_not_reach_the_tests(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        """
        import os
        import pathlib

        def test_environment():
            print(sorted(os.environ))
            assert "MY_SECRET" not in os.environ
            assert "FACTORY_SIGNING_KEY" not in os.environ
            assert "CosmosConnection" not in os.environ
            assert "AZURE_CLIENT_SECRET" not in os.environ
            assert os.environ["PYTHONHASHSEED"] == "0"
            assert os.environ["PYTHONDONTWRITEBYTECODE"] == "1"
            assert pathlib.Path.cwd() == pathlib.Path(os.environ["HOME"])
            assert "hunter2" not in repr(dict(os.environ))
    """,
    )
    parent_env = {
        "PATH": "/usr/bin:/bin",
        "MY_SECRET": "hunter2",
        "FACTORY_SIGNING_KEY": "hunter2",
        "CosmosConnection": "AccountKey=hunter2",
        "AZURE_CLIENT_SECRET": "hunter2",
        "LANG": "C.UTF-8",
    }

    report = run_tests(
        project,
        timeout_s=60,
        base_env=parent_env,
        env_allow=("PATH", "LANG", "MY_SECRET", "FACTORY_SIGNING_KEY"),
    )

    assert report.ok, report.output
    assert "hunter2" not in report.output


def test_scrubbed_env_keeps_only_allowed_harmless_names(tmp_path: Path) -> None:
    env = scrubbed_env(
        {"PATH": "/bin", "API_TOKEN": "t", "FACTORY_BUS": "sqlite", "LANG": "C"},
        ("PATH", "API_TOKEN", "FACTORY_BUS", "LANG"),
        tmp_path,
    )

    assert env["PATH"] == "/bin" and env["LANG"] == "C"
    assert "API_TOKEN" not in env and "FACTORY_BUS" not in env
    assert env["HOME"] == str(tmp_path)


def test_tests_run_with_a_temp_cwd_and_leave_no_bytecode_or_cache(tmp_path: Path) -> None:
    project = _project(tmp_path, "def test_ok():\n    assert True\n")

    assert run_tests(project, timeout_s=60).ok

    leftovers = [p.name for p in project.rglob("*") if p.name in ("__pycache__", ".pytest_cache")]
    assert leftovers == []


def test_missing_project_is_a_sandbox_error(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="not a directory"):
        run_tests(tmp_path / "nope")


def test_junit_messages_have_the_project_path_normalised(tmp_path: Path) -> None:
    failure = f'<failure message="{tmp_path}/x.py:1: boom"/>'
    case_xml = f'<testcase classname="t" name="a">{failure}</testcase>'
    xml = f"<testsuites><testsuite>{case_xml}</testsuite></testsuites>"

    (case,) = parse_junit(xml.encode(), tmp_path)

    assert case.outcome == "failed"
    assert case.message == "<project>/x.py:1: boom"


def test_package_folders_of_the_app_reach_the_tests_and_nothing_else_of_its_path(tmp_path: Path) -> None:
    """On Azure the app's packages are in ``.python_packages/lib/site-packages`` on the worker's ``sys.path``,
    not in the interpreter's own site: the gate hands exactly those folders on."""
    packages = tmp_path / "app" / ".python_packages" / "lib" / "site-packages"
    (packages / "only_in_the_app").mkdir(parents=True)
    (packages / "only_in_the_app" / "__init__.py").write_text("VALUE = 42\n")
    code = tmp_path / "app"
    assert package_paths([str(code), str(packages), ""]) == (str(packages),)
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_import.py").write_text(textwrap.dedent("""
        import sys
        import only_in_the_app

        def test_the_app_package_is_importable():
            assert only_in_the_app.VALUE == 42

        def test_the_app_code_folder_is_not_on_the_path():
            assert not any(p.endswith("/app") for p in sys.path)
        """))
    report = run_tests(project, timeout_s=60, python_path=package_paths([str(code), str(packages)]))
    assert report.ok and report.passed == 2, report.output
    assert not run_tests(project, timeout_s=60).ok  # without them the package is not importable
