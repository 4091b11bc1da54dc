"""template.json features that no upstream snapshot covers, each checked against its documented
``dotnet new`` behaviour (docs/Reference-for-template.json.md and the C# source named inline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from shared.cli.templates import register
from shared.scaffold.errors import ParameterError
from shared.scaffold.output import write_result
from shared.scaffold.parameters import validate_parameters
from shared.scaffold.render import RenderOptions, render
from shared.scaffold.update import update
from tests.scaffold.memory_templates import base_config, make_source

runner = CliRunner()


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_is_enabled_removes_a_parameter_and_is_required_can_be_a_condition() -> None:
    cfg = base_config(symbols={
        "db": {"type": "parameter", "datatype": "choice", "defaultValue": "none",
               "choices": [{"choice": "none"}, {"choice": "sql"}]},
        "conn": {"type": "parameter", "datatype": "string", "isEnabled": "db == \"sql\"",
                 "isRequired": "db == \"sql\"", "replaces": "%CONN%"}})
    source = make_source(cfg, {"a.txt": "%CONN%"})
    assert render(source, {}).files["a.txt"] == b"%CONN%"  # disabled: no value, nothing replaced
    with pytest.raises(ParameterError) as info:
        render(source, {"db": "sql"})
    assert [(p.parameter, p.message) for p in info.value.problems] == [("conn", "is required and has no default")]
    assert render(source, {"db": "sql", "conn": "Server=x"}).files["a.txt"] == b"Server=x"
    with pytest.raises(ParameterError, match="disabled by its isEnabled"):
        render(source, {"conn": "Server=x"})


def test_flags_turn_replacements_off_and_on() -> None:
    cfg = base_config(symbols={"v": {"type": "parameter", "defaultValue": "new", "replaces": "old"}})
    text = "old\n//-:replacements:noEmit\nold\n//+:replacements:noEmit\nold\n"
    assert render(make_source(cfg, {"a.txt": text})).files["a.txt"] == b"new\nold\nnew\n"


def test_special_custom_operations_give_a_glob_its_own_conditional_style_and_replacements() -> None:
    cfg = base_config(
        symbols={"on": {"type": "parameter", "datatype": "bool", "defaultValue": "true"}},
        specialCustomOperations={"**/*.py": {"operations": [
            {"type": "conditional", "configuration": {"style": "line", "token": "#", "keywordPrefix": ""}},
            {"type": "replacement", "configuration": {"original": "VALUE", "replacement": "42",
                                                      "onlyIf": [{"after": "x = "}]}}]}})
    files = {"m.py": "#if (on)\nx = VALUE\n#else\nx = 0\n#endif\ny = VALUE\n", "m.txt": "#if (on)\nVALUE\n"}
    out = render(make_source(cfg, files)).files
    assert out["m.py"] == b"x = 42\ny = VALUE\n"
    assert out["m.txt"] == b"#if (on)\nVALUE\n"  # other files keep upstream's default (// style)


def test_razor_jsx_and_batch_files_use_their_own_comment_styles() -> None:
    cfg = base_config(symbols={"on": {"type": "parameter", "datatype": "bool", "defaultValue": "false"}})
    files = {"v.cshtml": "@*#if (on) *@\n<p>on</p>\n@*#else *@\n<p>off</p>\n@*#endif *@\n",
             "v.jsx": "{/*#if (on) */}\n<On />\n{/*#else */}\n<Off />\n{/*#endif */}\n",
             "v.cmd": "rem #if (on)\necho on\nrem #else\necho off\nrem #endif\n"}
    out = render(make_source(cfg, files)).files
    assert (out["v.cshtml"], out["v.jsx"], out["v.cmd"]) == (b"<p>off</p>\n", b"<Off />\n", b"echo off\n")


def test_cli_takes_an_option_without_a_value_repeated_multi_choice_and_bind(tmp_path: Path) -> None:
    cfg = base_config(symbols={
        "flag": {"type": "parameter", "datatype": "bool", "defaultValue": "false", "replaces": "%FLAG%"},
        "mode": {"type": "parameter", "datatype": "string", "defaultIfOptionWithoutValue": "fast",
                 "replaces": "%MODE%"},
        "os": {"type": "parameter", "datatype": "choice", "allowMultipleValues": True,
               "choices": [{"choice": "linux"}, {"choice": "windows"}, {"choice": "mac"}], "replaces": "%OS%"},
        "who": {"type": "bind", "binding": "env:WHO", "replaces": "%WHO%"}})
    root = tmp_path / "templates" / "t"
    (root / ".template.config").mkdir(parents=True)
    (root / ".template.config/template.json").write_text(json.dumps(cfg))
    (root / "a.txt").write_text("%FLAG% %MODE% %OS% %WHO%\n")
    out = tmp_path / "out"
    ran = runner.invoke(_cli(), ["run", "test", "--root", str(tmp_path / "templates"), "--out", str(out),
                                 "-p", "flag", "-p", "mode", "-p", "os=linux", "-p", "os=mac",
                                 "--bind", "env:WHO=ada"])
    assert ran.exit_code == 0, ran.output
    assert (out / "a.txt").read_text() == "True fast linux|mac ada\n"


def test_cli_prints_post_actions_it_does_not_run_and_names_the_output_folder(tmp_path: Path) -> None:
    cfg = base_config(sourceName="Demo", preferNameDirectory=True, postActions=[
        {"actionId": "3A7C4B45-1F5D-4A30-959A-51B88E82B5D2", "description": "restore packages",
         "manualInstructions": [{"text": "run dotnet restore"}]}])
    root = tmp_path / "templates" / "t"
    (root / ".template.config").mkdir(parents=True)
    (root / ".template.config/template.json").write_text(json.dumps(cfg))
    (root / "Demo.txt").write_text("Demo\n")
    ran = runner.invoke(_cli(), ["run", "test", "--root", str(tmp_path / "templates"), "-p", "name=shop",
                                 "--out", str(tmp_path / "o")])
    assert ran.exit_code == 0, ran.output
    assert "postActions[0] (restore packages) is not executed" in ran.output and "dotnet restore" in ran.output
    assert (tmp_path / "o" / "shop.txt").read_text() == "shop\n"
    named = runner.invoke(_cli(), ["run", "test", "--root", str(tmp_path / "templates"), "--out",
                                   str(tmp_path / "folder-name")])
    assert named.exit_code == 0 and (tmp_path / "folder-name" / "folder-name.txt").is_file()


def test_update_rebuilds_a_deterministic_render_with_its_bindings(tmp_path: Path) -> None:
    cfg = base_config(symbols={"id": {"type": "generated", "generator": "guid", "replaces": "%ID%"},
                               "who": {"type": "bind", "binding": "host:Who", "replaces": "%WHO%"}})
    source = make_source(cfg, {"a.txt": "%ID% %WHO%\n"})
    options = RenderOptions(seed="s", deterministic=True, bindings={"host:Who": "ada"})
    result = render(source, {}, options)
    assert result.files["a.txt"] == b"12345678-1234-1234-1234-1234567890AB ada\n"  # default format D
    write_result(result, tmp_path / "o", source)
    assert update(tmp_path / "o").plan.write == {}


def test_validation_reports_a_conditionally_required_parameter_before_rendering() -> None:
    cfg = base_config(symbols={
        "db": {"type": "parameter", "datatype": "choice", "defaultValue": "none",
               "choices": [{"choice": "none"}, {"choice": "sql"}]},
        "conn": {"type": "parameter", "isRequired": "db == \"sql\""}})
    problems = validate_parameters(make_source(cfg).config, {"db": "sql"})
    assert [(p.parameter, p.message) for p in problems] == [("conn", "is required and has no default")]
