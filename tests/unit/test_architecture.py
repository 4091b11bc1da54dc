"""The dependency rule, checked on the code itself (docs/architecture.md explains it).

Read statically with ``ast``: imports at module level (outside ``if TYPE_CHECKING:``) form the
import graph; imports inside functions are listed separately. Tests and benchmarks are not
production code and are not checked.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.cli.generate import stale

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*ROOT.glob("shared/**/*.py"), *ROOT.glob("functions/*.py"), ROOT / "function_app.py"])

#: project imports inside a function, each with the reason it must stay lazy
LAZY_PROJECT_IMPORTS = {
    ("functions/servicebus.py", "shared.runtime"): "the runtime is built on the first message, not at import",
    ("functions/http.py", "shared.api"): "the API pulls in the runtime; loaded on the first request",
    ("functions/http.py", "shared.studio"): "Studio's pages (jinja2, the runtime) load on the first request",
}
#: the only module that builds Azure clients from settings
AZURE_CLIENTS = "shared/adapters/azure/clients.py"


@dataclass(frozen=True)
class Import:
    source: str  # path relative to the repository root
    module: str  # the imported module (absolute)
    line: int
    in_function: bool
    type_only: bool


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(ROOT).as_posix()

    def visit(node: ast.AST, in_function: bool, type_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(rel, alias.name, child.lineno, in_function, type_only)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                yield Import(rel, child.module, child.lineno, in_function, type_only)
                for alias in child.names:  # `from package import module` imports package.module
                    candidate = f"{child.module}.{alias.name}"
                    if _project_module_path(candidate) is not None:
                        yield Import(rel, candidate, child.lineno, in_function, type_only)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from visit(child, True, type_only)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                yield from visit(child, in_function, True)
            else:
                yield from visit(child, in_function, type_only)

    yield from visit(tree, False, False)


def _project_module_path(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


ALL_IMPORTS = [imp for path in SOURCES for imp in imports_of(path)]


def _project(imp: Import) -> bool:
    return imp.module.split(".")[0] in ("shared", "functions", "function_app")


ENV_NAMES = ("environ", "getenv", "environb", "putenv")


def _reads_environment(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    attributes = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in ENV_NAMES]
    from_os = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "os"
               and any(a.name in ENV_NAMES for a in n.names)]
    return attributes + from_os


def test_trigger_modules_import_no_azure_sdk_but_azure_functions() -> None:
    bad = [f"{i.source}:{i.line} imports {i.module}" for i in ALL_IMPORTS
           if (i.source.startswith("functions/") or i.source == "function_app.py")
           and i.module.startswith("azure") and not i.module.startswith("azure.functions")]
    assert bad == []


def test_only_settings_reads_the_environment() -> None:
    bad = [f"{p.relative_to(ROOT)}:{line}" for p in SOURCES if p != ROOT / "shared" / "settings.py"
           for line in _reads_environment(p)]
    assert bad == [], "read settings through shared.settings.Settings instead"


def test_skills_coordinators_and_the_pipeline_import_no_adapter() -> None:
    inner = ("shared/mesh/", "shared/handling/", "shared/product/", "shared/scaffold/", "shared/generators/",
             "shared/contracts/", "shared/ports/")
    bad = [f"{i.source}:{i.line} imports {i.module}" for i in ALL_IMPORTS
           if i.source.startswith(inner) and i.module.startswith("shared.adapters")]
    assert bad == []


def test_only_the_composition_root_imports_adapters() -> None:
    bad = [f"{i.source}:{i.line} imports {i.module}" for i in ALL_IMPORTS
           if i.module.startswith("shared.adapters") and not i.source.startswith("shared/adapters/")
           and i.source != "shared/bootstrap.py"]
    assert bad == []


def test_an_adapter_imports_ports_records_and_its_own_technology_only() -> None:
    bad = []
    for i in ALL_IMPORTS:
        if not i.source.startswith("shared/adapters/") or not i.module.startswith("shared"):
            continue
        parts = i.source.split("/")
        technology = parts[2] if len(parts) > 3 else None
        allowed = i.module.startswith("shared.ports") or i.module in ("shared.adapters.records", "shared.adapters")
        allowed |= technology is not None and i.module.startswith(f"shared.adapters.{technology}")
        allowed |= i.source == AZURE_CLIENTS and i.type_only and i.module == "shared.settings"
        if not allowed:
            bad.append(f"{i.source}:{i.line} imports {i.module}")
    assert bad == []


def test_no_project_module_is_imported_inside_a_function_except_the_documented_lazy_ones() -> None:
    found = {(i.source, i.module.split(".")[0] + "." + i.module.split(".")[1] if "." in i.module else i.module)
             for i in ALL_IMPORTS if i.in_function and _project(i)}
    assert found <= set(LAZY_PROJECT_IMPORTS), sorted(found - set(LAZY_PROJECT_IMPORTS))


def test_the_project_has_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {module_name(p): set() for p in SOURCES}
    for i in ALL_IMPORTS:
        if i.in_function or i.type_only or not _project(i):
            continue
        target = i.module
        while target not in graph and "." in target:
            target = target.rsplit(".", 1)[0]
        source = module_name(ROOT / i.source)
        # a package's __init__ importing its own submodules is how packages re-export: not a cycle
        if target in graph and target != source and not (source and target.startswith(source + ".")
                                                          and (ROOT / i.source).name == "__init__.py"):
            graph[source].add(target)
    cycles = _strongly_connected(graph)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(sorted(c)) for c in cycles)


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


@pytest.mark.parametrize("rule", [
    test_trigger_modules_import_no_azure_sdk_but_azure_functions,
    test_only_the_composition_root_imports_adapters,
])
def test_the_rules_catch_a_violation(rule: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule that cannot fail proves nothing: plant one violation and expect it to be reported."""
    planted = Import("functions/agents.py", "azure.servicebus", 1, False, False) \
        if rule is test_trigger_modules_import_no_azure_sdk_but_azure_functions \
        else Import("shared/mesh/handlers.py", "shared.adapters.sqlite.bus", 1, False, False)
    monkeypatch.setattr(f"{__name__}.ALL_IMPORTS", [*ALL_IMPORTS, planted])
    with pytest.raises(AssertionError):
        rule()  # type: ignore[operator]


def test_the_cycle_finder_reports_a_cycle() -> None:
    assert _strongly_connected({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [{"a", "b"}]


def test_files_derived_from_contracts_are_up_to_date() -> None:
    assert stale(ROOT) == [], "run `factory generate` and commit the result"


def test_the_environment_detector_sees_the_reads_in_settings() -> None:
    assert _reads_environment(ROOT / "shared" / "settings.py") != []
