"""Scaffold engine benchmark: this engine vs cookiecutter vs copier, render and update.

Run: ``python tests/bench/bench_scaffold.py --json OUT``. Generates a 200-file synthetic template
(text with placeholders and conditionals, a few binary files) in three formats, renders it with
each tool in-process (read template -> write output folder; the tools take turns, best of N runs
and the median), then times an
update after a template change that conflicts with user edits in a few files: ``update`` here vs
``copier update`` (which needs a git-tagged template repository; built locally, works offline).

Goals (issue #16): render at least 20x faster than cookiecutter *in the same run*, update in at most
0.1 s. Times are the best of N runs (the median is reported too), each update starting from a fresh
copy of the edited project.

Where the files go: the render is timed twice, on a memory file system (``/dev/shm``, when it exists) and
on the disk (the temp folder). On the disk, creating 200 files waits on the file system's journal whenever
other processes on the machine write, which swamps this engine's ~15 ms and barely shows on cookiecutter's
~450 ms; the memory figure measures the engines. The goal is judged on the *median* ratio on the memory
file system (on the disk when there is none); both places are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from shared.scaffold.catalog import TemplateCatalog
from shared.scaffold.output import write_result
from shared.scaffold.render import RenderOptions, TemplateSource, render
from shared.scaffold.tree import read_tree
from shared.scaffold.update import update

TEXT_FILES = 190
BINARY_FILES = 10
CONFLICTING = 5
GOAL_RENDER_SPEEDUP = 20.0
GOAL_UPDATE_S = 0.1
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "bench@localhost"}


def _body(i: int, style: str, version: int) -> str:
    """One synthetic module; ``style`` picks the placeholder syntax of each tool."""
    name, author = {"ours": ("MyProj", "AUTHOR_NAME"),
                    "jinja-cc": ("{{ cookiecutter.project_name }}", "{{ cookiecutter.author }}"),
                    "jinja": ("{{ project_name }}", "{{ author }}")}[style]
    if_db, else_, end = {"ours": ("#if (useDb)", "#else", "#endif"),
                         "jinja-cc": ("{% if cookiecutter.use_db %}", "{% else %}", "{% endif %}"),
                         "jinja": ("{% if use_db %}", "{% else %}", "{% endif %}")}[style]
    lines = [f'"""Module {i} of {name}, written by {author}."""', "", f"MODULE_{i} = '{name}-{i}'", ""]
    for j in range(25):
        lines.append(f"def function_{j}(value: int) -> int:")
        lines.append(f"    return value * {j} + {i}  # {name}")
        lines.append("")
    if i % 4 == 0:
        lines += [if_db, "DATABASE = 'cosmos'", else_, "DATABASE = None", end]
    if version == 2 and i < CONFLICTING * 3:
        lines[2] = f"MODULE_{i} = '{name}-{i}-v2'"
    lines.append("")
    return "\n".join(lines)


def _binary(i: int) -> bytes:
    return bytes(range(256)) * 40 + bytes([i])


def build_templates(root: Path, version: int) -> dict[str, Path]:
    """The same template in three formats under ``root``."""
    ours = root / "ours"
    (ours / ".template.config").mkdir(parents=True)
    (ours / ".template.config/template.json").write_text(json.dumps({
        "identity": "bench.synthetic", "name": "Synthetic", "shortName": "synthetic", "version": f"{version}.0.0",
        "sourceName": "MyProj", "defaultName": "my-proj",
        "symbols": {"author": {"type": "parameter", "datatype": "string", "defaultValue": "someone",
                               "replaces": "AUTHOR_NAME"},
                    "useDb": {"type": "parameter", "datatype": "bool", "defaultValue": "false"}},
        # dotnet new gives .py files the // comment style; Python templates declare # conditionals
        "specialCustomOperations": {"**/*.py": {"operations": [{"type": "conditional", "configuration": {
            "style": "line", "token": "#", "keywordPrefix": ""}}]}}}))
    cc = root / "cookiecutter"
    cc_dir = cc / "{{cookiecutter.project_slug}}"
    cc_dir.mkdir(parents=True)
    (cc / "cookiecutter.json").write_text(json.dumps({
        "project_name": "MyProj", "project_slug": "my_proj", "author": "someone", "use_db": False,
        "_copy_without_render": ["assets/*"]}))
    cp = root / "copier"
    cp_dir = cp / "template" / "{{project_slug}}"
    cp_dir.mkdir(parents=True)
    (cp / "copier.yml").write_text(
        "_subdirectory: template\n_templates_suffix: .jinja\nproject_name: {type: str, default: MyProj}\n"
        "project_slug: {type: str, default: my_proj}\nauthor: {type: str, default: someone}\n"
        "use_db: {type: bool, default: false}\n")
    (cp / "template" / "{{_copier_conf.answers_file}}.jinja").write_text(
        "# Changes here will be overwritten by Copier\n{{ _copier_answers|to_nice_yaml -}}\n")
    for i in range(TEXT_FILES):
        rel = f"pkg/sub{i % 10}/module_{i}.py"
        for base, style, suffix in ((ours / "MyProj", "ours", ""), (cc_dir, "jinja-cc", ""),
                                    (cp_dir, "jinja", ".jinja")):
            path = base / (rel + suffix)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_body(i, style, version))
    for i in range(BINARY_FILES):
        for base in (ours / "MyProj", cc_dir, cp_dir):
            path = base / f"assets/blob_{i}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_binary(i))
    return {"ours": ours, "cookiecutter": cc, "copier": cp}


def _interleaved(tools: dict[str, tuple[Callable[[], object], int]]) -> dict[str, list[float]]:
    """Time the tools in turns (ours, cookiecutter, copier, ours, ...) so that each meets the same
    machine conditions; one untimed warm-up call each first (imports, caches)."""
    for fn, _ in tools.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in tools}
    for i in range(max(n for _, n in tools.values())):
        for name, (fn, n) in tools.items():
            if i < n:
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return times


def bench_render(tpl: dict[str, Path], work: Path, runs: int) -> dict[str, Any]:
    from cookiecutter.main import cookiecutter
    from copier import run_copy

    params = {"name": "order-service", "author": "Ada", "useDb": True}
    counter = iter(range(10_000))

    def ours() -> None:
        source = TemplateSource(read_tree(tpl["ours"]), "bench")
        write_result(render(source, params, RenderOptions(seed="bench")), work / f"ours-{next(counter)}", source)

    source = TemplateSource(read_tree(tpl["ours"]), "bench")

    def ours_pure() -> None:
        render(source, params, RenderOptions(seed="bench"))

    def cc() -> None:
        cookiecutter(str(tpl["cookiecutter"]), no_input=True, output_dir=str(work / f"cc-{next(counter)}"),
                     extra_context={"project_name": "OrderService", "author": "Ada", "use_db": True})

    def cp() -> None:
        run_copy(str(tpl["copier"]), str(work / f"cp-{next(counter)}"), defaults=True, unsafe=True, quiet=True,
                 data={"project_name": "OrderService", "author": "Ada", "use_db": True})

    # best of N (the figure least disturbed by other processes: creating files waits on the shared
    # disk's journal whenever other work on the machine writes, which swamps this engine's ~20 ms but
    # barely shows on cookiecutter's ~500 ms); medians are reported too
    times = _interleaved({"ours": (ours, runs), "ours_pure_render": (ours_pure, runs), "cookiecutter": (cc, runs),
                          "copier": (cp, max(1, runs // 2))})
    out: dict[str, Any] = {}
    for name, values in times.items():
        out[f"{name}_s"] = min(values)
        out[f"{name}_median_s"] = statistics.median(values)
    out["ours_files"] = len(list((work / "ours-0").rglob("*")))
    return out


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env={**os.environ, **GIT_ENV})


def _user_edits(project: Path, pattern: str) -> None:
    """Edit line 3 of the first CONFLICTING*3 modules (upstream changes the same line in v2)."""
    for i in range(CONFLICTING):
        path = next(project.rglob(f"module_{i * 3}.py"))
        lines = path.read_text().splitlines(keepends=True)
        lines[2] = f"MODULE_{i * 3} = 'edited by the user'\n"
        path.write_text("".join(lines))
    del pattern


def bench_update(work: Path, runs: int) -> dict[str, object]:
    v1 = build_templates(work / "v1", 1)
    v2 = build_templates(work / "v2", 2)
    params = {"name": "order-service", "author": "Ada", "useDb": True}
    # ours: render v1, edit, then update to v2 (catalog loading included), on a fresh copy each run
    src1 = TemplateSource(read_tree(v1["ours"]), "v1")
    edited = work / "ours-edited"
    write_result(render(src1, params, RenderOptions(seed="bench")), edited, src1)
    _user_edits(edited, "ours")
    times: list[float] = []
    for i in range(runs):
        out = work / f"ours-project-{i}"
        shutil.copytree(edited, out)
        start = time.perf_counter()
        catalog = TemplateCatalog([work / "v1", work / "v2"])
        result = update(out, "2.0.0", catalog=catalog)
        times.append(time.perf_counter() - start)
    report: dict[str, object] = {"ours_update_s": min(times), "ours_update_median_s": statistics.median(times),
                                 "ours_conflicts": len(result.conflicts),
                                 "ours_conflict_hunks": sum(c.hunks for c in result.conflicts)}
    # copier: a git repository with tags v1 and v2, destination committed, then `copier update`
    try:
        from copier import run_copy, run_update

        repo = work / "copier-repo"
        shutil.copytree(v1["copier"], repo)
        _git(repo, "init", "-q", "-b", "main")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "v1")
        _git(repo, "tag", "v1")
        shutil.rmtree(repo / "template")
        shutil.copytree(v2["copier"] / "template", repo / "template")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "v2")
        _git(repo, "tag", "v2")
        dst = work / "copier-project"
        os.environ.update(GIT_ENV)
        run_copy(str(repo), str(dst), vcs_ref="v1", defaults=True, unsafe=True, quiet=True,
                 data={"project_name": "OrderService", "author": "Ada", "use_db": True})
        _git(dst, "init", "-q", "-b", "main")
        _git(dst, "add", "-A")
        _git(dst, "commit", "-q", "-m", "scaffold")
        _user_edits(dst, "copier")
        _git(dst, "commit", "-q", "-am", "user edits")
        start = time.perf_counter()
        run_update(str(dst), vcs_ref="v2", defaults=True, overwrite=True, unsafe=True, quiet=True,
                   conflict="inline")
        report["copier_update_s"] = time.perf_counter() - start
        markers = sum(p.read_text(errors="ignore").count("<<<<<<<") for p in dst.rglob("*.py"))
        report["copier_conflict_hunks"] = markers
    except Exception as exc:  # report, never fake: copier update needs git and a tagged repo
        report["copier_update_s"] = None
        report["copier_update_error"] = f"{type(exc).__name__}: {exc}"
    return report


PLACES = {"memory": "memory file system (/dev/shm)", "disk": "disk"}


def memory_folder() -> Path | None:
    """A memory file system to render into (Linux's ``/dev/shm``), or None."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-scaffold-"))
    memory = memory_folder()
    results: dict[str, object] = {"files": TEXT_FILES + BINARY_FILES, "runs": args.runs,
                                  "render_place": "memory" if memory else "disk"}
    try:
        tpl = build_templates(work / "tpl", 1)
        if memory is not None:
            in_memory = Path(tempfile.mkdtemp(prefix="bench-scaffold-", dir=memory))
            try:
                results.update(bench_render(tpl, in_memory, args.runs))
            finally:
                shutil.rmtree(in_memory, ignore_errors=True)
        on_disk = bench_render(tpl, work / "render", args.runs)
        results.update({f"disk_{k}": v for k, v in on_disk.items()} if memory is not None else on_disk)
        results.update(bench_update(work / "update", args.runs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for prefix in ("", "disk_") if memory is not None else ("",):
        for stat in ("", "_median"):
            ours = float(results[f"{prefix}ours{stat}_s"])  # type: ignore[arg-type]
            for tool in ("cookiecutter", "copier"):
                results[f"{prefix}{tool}_vs_ours{stat}"] = float(results[f"{prefix}{tool}{stat}_s"]) / ours  # type: ignore[arg-type]
    results["goal_render_speedup"] = GOAL_RENDER_SPEEDUP
    results["goal_update_s"] = GOAL_UPDATE_S
    results["goal_render_met"] = float(results["cookiecutter_vs_ours_median"]) >= GOAL_RENDER_SPEEDUP  # type: ignore[arg-type]
    results["goal_update_met"] = float(results["ours_update_s"]) <= GOAL_UPDATE_S  # type: ignore[arg-type]
    where = f" ({results['render_place']})"
    rows = [(f"render: this engine (read+render+write){where}", results["ours_s"]),
            ("render: this engine (pure render only)", results["ours_pure_render_s"]),
            (f"render: cookiecutter{where}", results["cookiecutter_s"]),
            (f"render: copier{where}", results["copier_s"])]
    if "disk_ours_s" in results:
        rows += [("render: this engine (disk)", results["disk_ours_s"]),
                 ("render: cookiecutter (disk)", results["disk_cookiecutter_s"])]
    rows += [("update: this engine", results["ours_update_s"]), ("update: copier update", results["copier_update_s"])]
    print(f"{'case':45} {'seconds':>10}")
    for label, value in rows:
        print(f"{label:45} {value if value is None else format(value, '10.4f')}")
    for prefix, place in (("", results["render_place"]), ("disk_", "disk")):
        if f"{prefix}ours_s" not in results:
            continue
        print(f"render on the {PLACES[str(place)]}: cookiecutter / this engine "
              f"{results[f'{prefix}cookiecutter_vs_ours']:.1f}x "
              f"best, {results[f'{prefix}cookiecutter_vs_ours_median']:.1f}x median (this engine "
              f"{float(results[f'{prefix}ours_median_s']):.4f}s, cookiecutter "  # type: ignore[arg-type]
              f"{float(results[f'{prefix}cookiecutter_median_s']):.4f}s); copier / this engine "  # type: ignore[arg-type]
              f"{results[f'{prefix}copier_vs_ours_median']:.1f}x median")
    print(f"goal: cookiecutter / this engine >= {GOAL_RENDER_SPEEDUP:g}x on the median on the "
          f"{PLACES[str(results['render_place'])]}: {'met' if results['goal_render_met'] else 'NOT met'}; "
          "update median "
          f"{float(results['ours_update_median_s']):.4f}s")  # type: ignore[arg-type]
    print(f"update: {float(results['ours_update_s']):.4f}s (goal <= {GOAL_UPDATE_S:g}s: "  # type: ignore[arg-type]
          f"{'met' if results['goal_update_met'] else 'NOT met'})")
    print(f"update conflicts: this engine {results['ours_conflicts']} files "
          f"({results['ours_conflict_hunks']} hunks), copier {results.get('copier_conflict_hunks')} hunks")
    if results.get("copier_update_error"):
        print(f"copier update could not run: {results['copier_update_error']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
