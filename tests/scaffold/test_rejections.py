"""Every rejection path, each with the message the user sees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.scaffold.catalog import TemplateCatalog
from shared.scaffold.compose import compose
from shared.scaffold.errors import (
    CompositionError,
    ParameterError,
    TemplateNotFoundError,
    UnsafePathError,
    UnsupportedTemplateError,
)
from shared.scaffold.render import RenderOptions, TemplateSource, render
from shared.scaffold.tree import read_tree
from tests.scaffold.memory_templates import base_config, make_source

SYMBOLS = {
    "db": {"type": "parameter", "datatype": "choice", "isRequired": True,
           "choices": [{"choice": "cosmos"}, {"choice": "sql"}]},
    "replicas": {"type": "parameter", "datatype": "integer", "defaultValue": "1"},
    "tls": {"type": "parameter", "datatype": "bool", "defaultValue": "true"},
    "module": {"type": "parameter", "datatype": "string", "defaultValue": "core", "fileRename": "MODULE"},
}


def _params_source() -> TemplateSource:
    return make_source(base_config(symbols=SYMBOLS, sourceName="App", defaultName="app"),
                       {"MODULE/App.txt": "x\n"})


def test_every_parameter_problem_is_reported_at_once_with_allowed_values() -> None:
    with pytest.raises(ParameterError) as info:
        render(_params_source(), {"replicas": "three", "tls": "yes", "colour": "red"})
    by_param = {p.parameter: p for p in info.value.problems}
    assert set(by_param) == {"db", "replicas", "tls", "colour"}
    assert by_param["db"].message == "is required and has no default"
    assert by_param["db"].allowed == ["cosmos", "sql"]
    assert by_param["replicas"].allowed == ["type integer"]
    assert by_param["tls"].allowed == ["type boolean"]
    assert by_param["colour"].message == "is not a parameter of this template"
    assert "db" in by_param["colour"].allowed


def test_a_value_outside_the_choices_names_the_choices() -> None:
    with pytest.raises(ParameterError) as info:
        render(_params_source(), {"db": "mongo"})
    (problem,) = info.value.problems
    assert (problem.parameter, problem.allowed) == ("db", ["cosmos", "sql"])
    assert "'mongo' is not one of the choices" in str(info.value)


@pytest.mark.parametrize("value", ["../escape", "/etc", "..", "x\\y"])
def test_a_parameter_value_used_in_file_names_cannot_traverse(value: str) -> None:
    with pytest.raises(UnsafePathError) as info:
        render(_params_source(), {"db": "sql", "module": value})
    assert [p.path for p in info.value.problems] == ["MODULE/App.txt"]
    assert "renders to" in info.value.problems[0].message


def test_a_file_rename_value_with_a_slash_creates_folders_as_in_dotnet_new() -> None:
    result = render(_params_source(), {"db": "sql", "module": "a/b", "name": "app"})
    assert set(result.files) == {"a/b/app.txt"}


def test_a_name_replacing_source_name_cannot_traverse() -> None:
    with pytest.raises(UnsafePathError) as info:
        render(_params_source(), {"db": "sql", "name": "../../evil"})
    assert "would escape" in info.value.problems[0].message or "'..'" in info.value.problems[0].message


def test_a_rename_that_escapes_the_output_is_rejected() -> None:
    cfg = base_config(sources=[{"rename": {"a.txt": "../../a.txt"}}])
    with pytest.raises(UnsafePathError) as info:
        render(make_source(cfg, {"a.txt": "x"}))
    assert info.value.problems[0].path == "a.txt"
    assert "'..'" in info.value.problems[0].message


def test_an_absolute_target_is_rejected() -> None:
    cfg = base_config(sources=[{"target": "/tmp/out"}])
    with pytest.raises(UnsafePathError) as info:
        render(make_source(cfg, {"a.txt": "x"}))
    assert info.value.problems[0].path == "sources[0].target"


def test_a_symlink_pointing_outside_the_template_is_rejected(tmp_path: Path) -> None:
    root = tmp_path / "tpl"
    (root / ".template.config").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", root / "leak.txt")
    with pytest.raises(UnsafePathError) as info:
        read_tree(root)
    assert info.value.problems[0].path == "leak.txt"
    assert "outside" in info.value.problems[0].message


def test_a_symlink_inside_the_template_is_followed(tmp_path: Path) -> None:
    root = tmp_path / "tpl"
    root.mkdir()
    (root / "real.txt").write_text("real")
    os.symlink(root / "real.txt", root / "alias.txt")
    assert read_tree(root)["alias.txt"] == b"real"


def test_files_over_the_size_limit_are_rejected() -> None:
    source = make_source(base_config(), {"big.txt": "x" * 2048, "small.txt": "ok"})
    with pytest.raises(UnsafePathError) as info:
        render(source, {}, RenderOptions(max_file_size=1024))
    assert [p.path for p in info.value.problems] == ["big.txt"]
    assert "over the 1024-byte limit" in info.value.problems[0].message


@pytest.mark.parametrize(("extra", "where"), [
    ({"forms": {"x": {"identifier": "nosuch"}}}, "forms.x.identifier"),
    ({"constraints": {}}, "template.json.constraints"),
    ({"baselines": {}}, "template.json.baselines"),
    ({"symbols": {"s": {"type": "nosuch"}}}, "symbols.s.type"),
    ({"symbols": {"s": {"type": "generated", "generator": "nosuch"}}}, "symbols.s.generator"),
    ({"symbols": {"s": {"type": "parameter", "colour": "red"}}}, "symbols.s.colour"),
    ({"symbols": {"s": {"type": "computed", "value": "x", "evaluator": "PYTHON"}}}, "symbols.s.evaluator"),
    ({"customOperations": {"operations": [{"type": "region"}]}}, "customOperations.operations[0].type"),
    ({"sources": [{"source": "./", "condition2": "x"}]}, "sources[0].condition2"),
    ({"version": "one"}, "version"),
])
def test_keys_outside_the_language_or_left_out_are_refused_by_name(extra: dict, where: str) -> None:
    with pytest.raises(UnsupportedTemplateError) as info:
        render(make_source(base_config(**extra), {"a.txt": "x"}))
    assert where in [p.path for p in info.value.problems]


def test_an_unknown_form_named_by_a_symbol_is_refused_by_name() -> None:
    cfg = base_config(symbols={"s": {"type": "parameter", "defaultValue": "v", "replaces": "X",
                                     "forms": {"global": ["nosuch"]}}})
    with pytest.raises(UnsupportedTemplateError, match="unknown form 'nosuch'"):
        render(make_source(cfg, {"a.txt": "X"}))


def test_a_condition_naming_an_unknown_symbol_is_false_as_in_dotnet_new() -> None:
    source = make_source(base_config(), {"a.txt": "//#if (nosuch)\nx\n//#else\ny\n//#endif\n"})
    assert render(source).files["a.txt"] == b"y\n"


def test_a_malformed_content_condition_names_file_and_line() -> None:
    source = make_source(base_config(), {"a.txt": "x\n//#if (true && )\ny\n//#endif\n"})
    with pytest.raises(UnsupportedTemplateError) as info:
        render(source)
    assert "a.txt:2:" in str(info.value) and "operand is missing" in str(info.value)


def test_an_unclosed_if_is_reported_as_a_warning_naming_file_and_line() -> None:
    source = make_source(base_config(), {"a.txt": "x\n//#if (true)\ny\n"})
    result = render(source)
    assert result.files["a.txt"] == b"x\ny\n"
    assert any("a.txt:2: #if is never closed" in w for w in result.warnings)


def test_a_missing_template_json_is_refused() -> None:
    with pytest.raises(UnsupportedTemplateError, match=r"no \.template\.config/template\.json"):
        render(TemplateSource({"a.txt": b"x"}))


def test_invalid_json_is_refused_with_the_parse_error() -> None:
    with pytest.raises(UnsupportedTemplateError, match="not valid JSON"):
        render(TemplateSource({".template.config/template.json": b"{identity: "}))


def test_an_unknown_template_lists_the_known_ones() -> None:
    catalog = TemplateCatalog(sources=[_params_source()])
    with pytest.raises(TemplateNotFoundError) as info:
        catalog.get("nope")
    assert info.value.problems[0].allowed == ["test.template@1.0.0"]


def test_two_batch_members_writing_one_path_name_both_and_the_path() -> None:
    a = make_source(base_config(identity="a"), {"README.md": "a\n"})
    b = make_source(base_config(identity="b"), {"README.md": "b\n"})
    catalog = TemplateCatalog(sources=[a, b])
    with pytest.raises(CompositionError) as info:
        compose({"templates": [{"template": "a"}, {"template": "b"}]}, catalog)
    (problem,) = info.value.problems
    assert problem.path == "README.md" and problem.message.startswith("written by a and b")
