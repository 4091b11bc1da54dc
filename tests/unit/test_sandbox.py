"""The test sandbox: results from junit, time limit, output cap, scrubbed environment, refusal, scratch folders.

Every run here goes through the real bubblewrap jail (CI installs bubblewrap; without it these
tests fail with the refusal that says how to install it). ``test_sandbox_isolation.py`` holds the
escape attempts.
"""

from __future__ import annotations

import fcntl
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from shared.adapters.azure.sessions_runner import DynamicSessionsTestRunner
from shared.adapters.process.jail import Isolation, Jail, Limits
from shared.adapters.process.sandbox import (
    JUNIT_NAME,
    TRUNCATION_MARK,
    SandboxedTestRunner,
    SandboxError,
    SandboxUnavailableError,
    package_paths,
    parse_junit,
    read_regular_file,
    run_tests,
    scrubbed_env,
)
from shared.adapters.process.scratch import LOCK_NAME, PREFIX, STALE_AFTER_S, scratch_folder, sweep
from shared.bootstrap import bootstrap
from shared.settings import load_settings

JAIL = Jail()
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def _project(root: Path, tests: str, *, conftest: str = "") -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    (root / "tests" / "test_sample.py").write_text(textwrap.dedent(tests))
    if conftest:
        (root / "tests" / "conftest.py").write_text(textwrap.dedent(conftest))
    return root


def _run(project: Path, **options: object) -> object:
    return run_tests(project, jail=JAIL, base_env=ENV, **options)  # type: ignore[arg-type]


def test_the_jail_works_on_this_machine() -> None:
    verdict = JAIL.verdict(sys.executable)
    assert verdict.usable, verdict.detail


def test_passing_and_failing_tests_are_counted_from_junit(tmp_path: Path) -> None:
    project = _project(
        tmp_path / "p",
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

    report = run_tests(project, timeout_s=60, jail=JAIL, base_env=ENV)

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
    project = _project(tmp_path / "p", "def test_ok():\n    assert True\n")
    runner = SandboxedTestRunner(base_env=ENV, jail=JAIL)

    first = runner.run(project, timeout_s=60)
    second = runner.run(project, timeout_s=60)

    assert first.ok and first.reason() == ""
    assert first.to_dict() == second.to_dict()
    assert "durationMs" not in first.to_dict() and "isolation" not in first.to_dict()
    assert first.to_dict(deterministic=False)["isolation"].startswith("bubblewrap sandbox")


def test_error_in_collection_is_not_ok(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", "import not_a_module_anywhere\n\ndef test_x():\n    pass\n")

    report = run_tests(project, timeout_s=60, jail=JAIL, base_env=ENV)

    assert not report.ok
    assert report.errors == 1


def test_a_run_past_its_time_limit_is_killed_and_marked(tmp_path: Path) -> None:
    project = _project(
        tmp_path / "p",
        """
        import threading

        def test_hangs():
            threading.Event().wait()
    """,
    )

    report = run_tests(project, timeout_s=2, jail=JAIL, base_env=ENV)

    assert report.timed_out
    assert report.exit_code is None
    assert not report.ok
    assert "time limit" in report.reason()


def test_output_beyond_the_cap_is_truncated_and_marked(tmp_path: Path) -> None:
    project = _project(
        tmp_path / "p",
        """
        import sys

        def test_noisy():
            sys.stdout.write("x" * 200_000)
            assert False
    """,
    )

    report = run_tests(project, timeout_s=60, max_output_bytes=10_000, jail=JAIL, base_env=ENV)

    assert report.output_truncated
    assert report.output.endswith(TRUNCATION_MARK)
    assert len(report.output.encode()) <= 10_000 + len(TRUNCATION_MARK.encode())
    assert report.failed == 1


def test_secrets_and_factory_settings_do_not_reach_the_tests(tmp_path: Path) -> None:
    project = _project(
        tmp_path / "p",
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
            assert os.environ["HOME"] == "/tmp"
            assert pathlib.Path.cwd() == pathlib.Path("/sandbox")
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

    report = run_tests(project, timeout_s=60, base_env=parent_env, jail=JAIL,
                       env_allow=("PATH", "LANG", "MY_SECRET", "FACTORY_SIGNING_KEY"))

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


def test_tests_run_on_a_copy_and_leave_the_project_and_the_scratch_root_untouched(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", """
        import pathlib

        def test_writes_into_its_folder():
            pathlib.Path("/sandbox/made-by-the-tests.txt").write_text("x")
    """)
    before = sorted(p.relative_to(project) for p in project.rglob("*"))

    report = run_tests(project, timeout_s=60, jail=JAIL, base_env=ENV, scratch_root=tmp_path / "scratch")

    assert report.ok, report.output
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before
    assert list((tmp_path / "scratch").iterdir()) == []


def test_a_link_planted_in_place_of_the_junit_file_is_not_followed(tmp_path: Path) -> None:
    host_file = tmp_path / "host-only.txt"
    host_file.write_text("host secret contents")
    project = _project(tmp_path / "p", "def test_ok():\n    assert True\n", conftest=f"""
        import os

        def pytest_unconfigure(config):  # after pytest wrote its junit file
            os.replace("/sandbox/{JUNIT_NAME}", "/sandbox/moved.xml")
            os.symlink("{host_file}", "/sandbox/{JUNIT_NAME}")
    """)

    report = run_tests(project, timeout_s=60, jail=JAIL, base_env=ENV)

    assert report.junit_xml == b"" and report.cases == []
    assert report.exit_code == 0 and not report.ok and "without test results" in report.reason()
    assert "host secret" not in report.output


def test_reading_a_result_file_takes_regular_files_only_and_caps_them(tmp_path: Path) -> None:
    (tmp_path / "plain").write_bytes(b"x" * 100)
    (tmp_path / "link").symlink_to(tmp_path / "plain")
    os.mkfifo(tmp_path / "fifo")

    assert read_regular_file(tmp_path / "plain", 10) == b"x" * 10
    assert read_regular_file(tmp_path / "link", 10) == b""
    assert read_regular_file(tmp_path / "fifo", 10) == b""  # no writer: must not block
    assert read_regular_file(tmp_path / "absent", 10) == b""


def test_lint_runs_ruff_inside_the_sandbox(tmp_path: Path) -> None:
    clean = _project(tmp_path / "clean", "def test_ok():\n    assert True\n")
    dirty = _project(tmp_path / "dirty", "import os\n\n\ndef test_ok():\n    assert True\n")

    assert run_tests(clean, timeout_s=60, jail=JAIL, base_env=ENV, lint=True).lint_exit_code == 0
    report = run_tests(dirty, timeout_s=60, jail=JAIL, base_env=ENV, lint=True)
    assert report.lint_exit_code == 1 and "F401" in report.lint_output and not report.ok


def test_missing_project_is_a_sandbox_error(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="not a directory"):
        run_tests(tmp_path / "nope", jail=JAIL)


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
    paths = package_paths([str(code), str(packages)])
    for jail in (None, JAIL):  # a plain subprocess and the bubblewrap jail (bound read-only there)
        report = run_tests(project, timeout_s=60, python_path=paths, jail=jail, base_env=ENV)
        assert report.ok and report.passed == 2, report.output
    assert not run_tests(project, timeout_s=60, base_env=ENV).ok  # without them the package is not importable


def test_malformed_junit_gives_no_cases() -> None:
    assert parse_junit(b"<testsuites><testcase") == []


# --------------------------------------------------------------------------- refusal and the unsafe setting


def test_without_bubblewrap_the_runner_refuses_and_says_how_to_fix_it(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", "def test_ok():\n    assert True\n")
    runner = SandboxedTestRunner(base_env=ENV, jail=Jail(bwrap=str(tmp_path / "no-bwrap")))

    with pytest.raises(SandboxUnavailableError) as refused:
        runner.run(project, timeout_s=60)

    message = str(refused.value)
    assert refused.value.permanent, "retrying cannot install bubblewrap"
    assert "refusing to run the generated tests" in message
    assert "check failed: bubblewrap present" in message and "no-bwrap" in message
    assert "apt-get install bubblewrap" in message
    assert "FACTORY_ALLOW_UNSAFE_SANDBOX=true" in message


def test_the_unsafe_setting_runs_without_isolation_and_the_report_says_so(tmp_path: Path) -> None:
    project = _project(tmp_path / "p", "def test_ok():\n    assert True\n")
    runner = SandboxedTestRunner(base_env=ENV, jail=Jail(bwrap=str(tmp_path / "no-bwrap")), allow_unsafe=True)

    report = runner.run(project, timeout_s=60)

    assert report.ok
    assert report.isolation.startswith("UNSANDBOXED (FACTORY_ALLOW_UNSAFE_SANDBOX=true)")
    assert "bubblewrap present" in report.isolation


def _world_reachable(path: Path) -> bool:
    resolved = path.resolve()
    return all(p.stat().st_mode & 0o001 for p in resolved.parents)


@pytest.mark.skipif(os.geteuid() != 0 or _world_reachable(Path(sys.executable)),
                    reason="needs root and an interpreter other users cannot reach (pyenv under /root)")
def test_an_interpreter_the_sandbox_uid_cannot_reach_is_a_refusal_not_a_crash() -> None:
    verdict = Jail(isolation=Isolation.userns).verdict(sys.executable)

    assert not verdict.usable
    assert verdict.check == "interpreter reachable by the sandbox's uid"
    assert "Can't find source path" in verdict.detail and "Permission denied" in verdict.detail
    assert Jail().isolation(sys.executable) is Isolation.rootns  # what the runner picks instead


# --------------------------------------------------------------------------- the composition root


def test_bootstrap_picks_the_bubblewrap_runner_with_the_unsafe_setting_from_settings(tmp_path: Path) -> None:
    runtime = bootstrap(load_settings(FACTORY_HOME=tmp_path, FACTORY_ALLOW_UNSAFE_SANDBOX="true"))
    try:
        assert isinstance(runtime.test_runner, SandboxedTestRunner)
        assert runtime.test_runner.allow_unsafe is True
    finally:
        runtime.close()
    runtime = bootstrap(load_settings(FACTORY_HOME=tmp_path))
    try:
        assert isinstance(runtime.test_runner, SandboxedTestRunner) and runtime.test_runner.allow_unsafe is False
    finally:
        runtime.close()


def test_bootstrap_picks_dynamic_sessions_when_told(tmp_path: Path) -> None:
    settings = load_settings(FACTORY_HOME=tmp_path, FACTORY_TEST_RUNNER="sessions",
                             FACTORY_TEST_SESSIONS_ENDPOINT="https://pool.example.azurecontainerapps.io")
    runtime = bootstrap(settings)
    try:
        assert isinstance(runtime.test_runner, DynamicSessionsTestRunner)
        assert runtime.test_runner.endpoint == "https://pool.example.azurecontainerapps.io"
    finally:
        runtime.close()


# --------------------------------------------------------------------------- scratch folders


def test_a_folder_in_use_is_kept_and_an_abandoned_one_is_swept(tmp_path: Path) -> None:
    abandoned = tmp_path / f"{PREFIX}dead"
    abandoned.mkdir()
    (abandoned / LOCK_NAME).write_text("")  # its owner died: nobody holds the lock
    (abandoned / "work").mkdir()

    with scratch_folder(tmp_path) as live:
        removed = sweep(tmp_path)
        assert live.exists()

    assert removed == [abandoned] and not abandoned.exists()
    assert not live.exists()


def test_a_folder_without_a_lock_is_swept_only_when_old(tmp_path: Path) -> None:
    young, old = tmp_path / f"{PREFIX}young", tmp_path / f"{PREFIX}old"
    young.mkdir()
    old.mkdir()
    past = time.time() - STALE_AFTER_S - 60
    os.utime(old, (past, past))
    (tmp_path / f"{PREFIX}link").symlink_to(young)
    (tmp_path / "unrelated").mkdir()

    assert sweep(tmp_path) == [old]
    assert young.exists() and (tmp_path / "unrelated").exists() and (tmp_path / f"{PREFIX}link").is_symlink()


def test_a_lock_held_by_another_process_keeps_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / f"{PREFIX}other"
    folder.mkdir()
    fd = os.open(folder / LOCK_NAME, os.O_CREAT | os.O_RDWR)
    locked_read, locked_write = os.pipe()  # child -> parent: "I hold the lock"
    stop_read, stop_write = os.pipe()  # parent -> child: "let go"
    pid = os.fork()
    if pid == 0:  # another "host" holding the lock until told to stop
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(locked_write, b"1")
            os.read(stop_read, 1)
        finally:
            os._exit(0)
    os.close(fd)
    try:
        assert os.read(locked_read, 1) == b"1"
        assert sweep(tmp_path) == [] and folder.exists()
    finally:
        os.write(stop_write, b"1")
        os.waitpid(pid, 0)
        for end in (locked_read, locked_write, stop_read, stop_write):
            os.close(end)
    assert sweep(tmp_path) == [folder]


def test_limits_are_passed_to_prlimit_inside_the_jail(tmp_path: Path) -> None:
    jail = Jail(limits=Limits(processes=77, cpu_seconds=9, memory_bytes=2**30, file_bytes=2**20, open_files=99))
    project = _project(tmp_path / "p", """
        import resource

        def test_limits():
            assert resource.getrlimit(resource.RLIMIT_NPROC) == (77, 77)
            assert resource.getrlimit(resource.RLIMIT_CPU) == (9, 10)
            assert resource.getrlimit(resource.RLIMIT_AS) == (2**30, 2**30)
            assert resource.getrlimit(resource.RLIMIT_FSIZE) == (2**20, 2**20)
            assert resource.getrlimit(resource.RLIMIT_NOFILE) == (99, 99)
            assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)
    """)

    report = run_tests(project, timeout_s=60, jail=jail, base_env=ENV)

    assert report.ok, report.output
