"""Conformance with ``dotnet new``: every case under ``conformance/cases`` renders like upstream.

Each case is ``cases/<id>/{template/, expected/, case.json}``; ``case.json`` names its provenance
(dotnet/templating repository, path, commit, test method) and how to compare:

* ``exact``                byte for byte;
* ``exact-normalize-eol``  byte for byte after CRLF -> LF on both sides (upstream snapshots are
                           stored with LF and the C# tests use verbatim strings whose line ends
                           depend on the checkout);
* ``trim``                 after stripping surrounding whitespace (the upstream test compares
                           ``File.ReadAllText(...).Trim()``);
* ``paths-only``           the set of output paths and the primary outputs (upstream asserts only
                           these; the content files are empty placeholders);
* ``subset``               the listed expected files byte for byte, and no other output than
                           ``expected_other_files``;
* ``guid-property``        what the upstream test asserts of GUIDs (same new GUID in every format,
                           different from the input), plus upstream's deterministic mode value.

Nothing is scrubbed except through upstream's own deterministic mode (``deterministic: true`` in
case.json). A case the engine cannot honestly match carries ``expected_divergence`` in its
case.json and is an ``xfail(strict=True)`` naming the feature -- it fails the suite if it starts
passing, and it is never skipped.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from shared.scaffold.render import RenderOptions, RenderResult, TemplateSource, render
from shared.scaffold.symbols import DETERMINISTIC_GUID
from shared.scaffold.tree import read_tree

CASES_DIR = Path(__file__).parent / "conformance" / "cases"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if (p / "case.json").is_file())


def _case(case_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CASES_DIR / case_id / "case.json").read_text(encoding="utf-8"))
    return data


def _params(case: dict[str, Any]) -> dict[str, Any]:
    params = dict(case.get("parameters") or {})
    if case.get("output_name") is not None:
        params["name"] = case["output_name"]
    return params


def _render(case_id: str, *, deterministic: bool | None = None) -> RenderResult:
    case = _case(case_id)
    files = read_tree(CASES_DIR / case_id / "template")
    source = TemplateSource(files, case_id, str(case.get("template_root") or ""))
    options = RenderOptions(seed="conformance",
                            deterministic=case.get("deterministic", False) if deterministic is None else deterministic,
                            bindings=dict(case.get("bindings") or {}))
    return render(source, _params(case), options)


def _eol(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def _diff(path: str, got: bytes, want: bytes) -> str:
    return f"{path}:\n--- expected\n{want.decode('utf-8', 'replace')}\n--- got\n{got.decode('utf-8', 'replace')}"


_GUID_SHAPES = {
    "n": r"[0-9a-f]{32}", "d": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "b": r"\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}",
    "p": r"\([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\)",
    "x": r"\{0x[0-9a-f]{8},0x[0-9a-f]{4},0x[0-9a-f]{4},\{(?:0x[0-9a-f]{2},){7}0x[0-9a-f]{2}\}\}",
}


def parse_guid(text: str, fmt: str, *, check_case: bool) -> uuid.UUID | None:
    """``Guid.TryParseExact(text, fmt)`` (case-insensitive); with ``check_case`` the text must also be in
    the case of the format letter (upper-case letter: upper-case hex), as the docs sample shows."""
    shape = _GUID_SHAPES[fmt.lower()]
    if check_case and fmt.isupper():
        shape = shape.replace("a-f", "A-F").replace("0x", "0X")
    if not re.fullmatch(shape, text if check_case else text.lower()):
        return None
    return uuid.UUID(re.sub(r"[^0-9a-fA-F]", "", text.lower().replace("0x", "")))


def _guid_blocks(result: RenderResult) -> tuple[list[set[uuid.UUID]], list[str]]:
    """The GUIDs of each block: a ``content - <f>`` file is one block-member in format ``f``; in other
    files, consecutive ``[f]: <guid>`` lines form a block (the docs sample)."""
    problems: list[str] = []
    files: set[uuid.UUID] = set()
    blocks: list[set[uuid.UUID]] = []
    for path, data in sorted(result.files.items()):
        if path.startswith("content - "):
            found = parse_guid(data.decode().strip(), path[-1], check_case=False)
            if found is None:
                problems.append(f"{path}: {data.decode()!r} is not a GUID in format {path[-1]}")
            else:
                files.add(found)
            continue
        current: set[uuid.UUID] = set()
        for line in [*data.decode().splitlines(), ""]:
            m = re.fullmatch(r"\[(\w)\]: (.*)", line)
            if m is None:
                if current:
                    blocks.append(current)
                current = set()
                continue
            found = parse_guid(m.group(2), m.group(1), check_case=True)
            if found is None:
                problems.append(f"{path}: {line!r} is not a GUID in format {m.group(1)}")
            else:
                current.add(found)
    if files:
        blocks.append(files)
    return blocks, problems


def _guid_properties(case: dict[str, Any], result: RenderResult, deterministic: bool) -> list[str]:
    config = json.loads((CASES_DIR / case["id"] / "template/.template.config/template.json").read_text())
    inputs = {uuid.UUID(g) for g in config["guids"]}
    listed = case.get("expected_property", {}).get("files")
    problems: list[str] = []
    if listed is not None and sorted(result.files) != sorted(listed):
        problems.append(f"outputs {sorted(result.files)} differ from {listed}")
    blocks, found = _guid_blocks(result)
    problems += found
    if len(blocks) != len(inputs):
        problems.append(f"{len(inputs)} input GUIDs but {len(blocks)} blocks of output GUIDs")
    for block in blocks:
        if len(block) != 1:
            problems.append(f"one input GUID became several: {sorted(map(str, block))}")
        if block & inputs:
            problems.append(f"an input GUID was left as is: {sorted(map(str, block & inputs))}")
        if deterministic and block != {DETERMINISTIC_GUID}:
            problems.append(f"deterministic mode gave {sorted(map(str, block))}, upstream {DETERMINISTIC_GUID}")
    if not deterministic and len(set().union(*blocks)) != len(blocks):
        problems.append("two input GUIDs became the same new GUID")
    return problems


def _marks(case_id: str) -> list[pytest.MarkDecorator]:
    divergence = _case(case_id).get("expected_divergence")
    if not divergence:
        return []
    return [pytest.mark.xfail(strict=True, reason=f"unsupported: {divergence['feature']} -- {divergence['reason']}")]


@pytest.mark.parametrize("case_id", [pytest.param(c, marks=_marks(c)) for c in CASES])
def test_case_renders_like_dotnet_new(case_id: str) -> None:
    case = _case(case_id)
    result = _render(case_id)
    folder = CASES_DIR / case_id / "expected"
    expected = read_tree(folder) if folder.is_dir() else {}  # git keeps no empty folder: no expected files
    mode = case.get("compare", "exact")
    if mode == "guid-property":
        problems = _guid_properties(case, result, False)
        problems += _guid_properties(case, _render(case_id, deterministic=True), True)
        assert problems == []
        return
    if mode == "paths-only":
        assert sorted(result.files) == sorted(expected)
        if case.get("expected_primary_outputs") is not None:
            got = [entry["path"] for entry in result.manifest["primaryOutputs"]]
            assert sorted(got) == sorted(case["expected_primary_outputs"])
        return
    if mode == "subset":
        extra = set(result.files) - set(expected) - set(case.get("expected_other_files", []))
        assert sorted(extra) == []
        for path, want in expected.items():
            assert path in result.files, f"{path} was not rendered"
            assert _eol(result.files[path]) == _eol(want), _diff(path, result.files[path], want)
        return
    assert sorted(result.files) == sorted(expected)
    for path, want in expected.items():
        got = result.files[path]
        if mode == "exact-normalize-eol":
            got, want = _eol(got), _eol(want)
        elif mode == "trim":
            got, want = got.strip(), want.strip()
        else:
            assert mode == "exact", f"unknown compare mode {mode!r} in {case_id}/case.json"
        assert got == want, _diff(path, got, want)


def test_every_case_names_its_upstream_source() -> None:
    for case_id in CASES:
        case = _case(case_id)
        assert case["id"] == case_id
        assert case["source"]["repo"] == "dotnet/templating", case_id
        assert case["provenance"] in {"snapshot", "expected-folder", "inline-test", "test-assert", "adapted",
                                      "docs-sample", "source-semantics"}, case_id
        assert any(case["source"].get(k) for k in ("test", "template_path", "path", "docs")), case_id
    assert len(CASES) >= 60
