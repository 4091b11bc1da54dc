"""Conformance vectors transcribed from dotnet/templating's unit tests (``conformance/vectors``):
value forms, the C++ ``#if`` evaluator, MSBuild ``Condition`` attributes and the generators,
each row input -> upstream's expected output (provenance in each file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.scaffold.conditionals import CNO_COMMENTS, FileOps, msbuild_conditions, process
from shared.scaffold.forms import FormRegistry
from shared.scaffold.render import RenderOptions, render
from tests.scaffold.memory_templates import base_config, make_source

VECTORS = Path(__file__).parent / "conformance" / "vectors"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


FORMS = _load("forms.json")["forms"]
FORM_ROWS = [(form, row[0], row[1]) for form, spec in FORMS.items() for row in spec["rows"]
             if row[0] is not None and (len(row) < 3 or row[2] is None)]
CSTYLE = [v for v in _load("conditional-cstyle.json")["vectors"] if "culture" not in v or v["culture"] == "en-US"]
MSBUILD = _load("conditional-msbuild-inline.json")["vectors"]
MACROS = _load("macros.json")["macros"]


def _typed(variables: dict[str, list[Any]]) -> dict[str, Any]:
    return {name: value for name, (_kind, value) in variables.items() if value is not None}


@pytest.mark.parametrize(("form", "value", "expected"), FORM_ROWS, ids=[f"{f}:{v!r}" for f, v, _ in FORM_ROWS])
def test_value_form_gives_upstream_output(form: str, value: str, expected: str) -> None:
    assert FormRegistry().apply(form, value) == expected


def test_forms_vectors_cover_every_case_changing_form() -> None:
    assert {"kebabCase", "snakeCase", "titleCase", "firstUpperCase", "firstLowerCase", "safe_namespace",
            "lower_safe_namespace", "jsonEncode"} <= set(FORMS)
    assert len(FORM_ROWS) >= 90


@pytest.mark.parametrize("vector", CSTYLE, ids=[v["test"] for v in CSTYLE])
def test_cstyle_if_vector(vector: dict[str, Any]) -> None:
    text = vector["input"].replace("\r\n", "\n")
    out = process(text, FileOps((CNO_COMMENTS,), "//"), _typed(vector["variables"])).text
    assert out == vector["expected"].replace("\r\n", "\n")


@pytest.mark.parametrize("vector", MSBUILD, ids=[v["test"] for v in MSBUILD])
def test_msbuild_condition_attribute_vector(vector: dict[str, Any]) -> None:
    assert msbuild_conditions(vector["input"], _typed(vector["variables"])) == vector["expected"]


def test_coalesce_rows() -> None:
    for source, fallback, default, expected in MACROS["coalesce"]["rows"]:
        symbols: dict[str, Any] = {"out": {"type": "generated", "generator": "coalesce", "replaces": "%OUT%",
                                           "parameters": {"sourceVariableName": "src", "fallbackVariableName": "fb",
                                                          **({"defaultValue": default} if default is not None
                                                             else {})}}}
        params: dict[str, Any] = {}
        for name, value in (("src", source), ("fb", fallback)):
            symbols[name] = {"type": "parameter", "datatype": "string"}
            if value is not None:
                params[name] = value
        result = render(make_source(base_config(symbols=symbols), {"f.txt": "%OUT%"}), params,
                        RenderOptions(seed="v"))
        assert result.files["f.txt"].decode() == ("%OUT%" if expected is None else expected), (source, fallback)
