"""Golden tests: one fixture template per template.json subset feature, compared file by file.

Regenerate after an intended change with ``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/scaffold``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from shared.scaffold.render import RenderOptions, TemplateSource, render
from shared.scaffold.tree import read_tree
from tests.scaffold.memory_templates import FIXTURES, GOLDEN

CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "template").is_dir())
OPTIONS = RenderOptions(seed="golden-seed", execution_id="00000000-0000-0000-0000-000000000001",
                        trace_id="trace-golden")


def _render(case: str) -> tuple[dict[str, bytes], dict]:
    source = TemplateSource(read_tree(FIXTURES / case / "template"), case)
    params = json.loads((FIXTURES / case / "parameters.json").read_text())
    result = render(source, params, OPTIONS)
    return result.files, result.manifest


@pytest.mark.parametrize("case", CASES)
def test_render_matches_golden_output(case: str) -> None:
    files, manifest = _render(case)
    golden = GOLDEN / case
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(golden, ignore_errors=True)
        for rel, data in files.items():
            (golden / "files" / rel).parent.mkdir(parents=True, exist_ok=True)
            (golden / "files" / rel).write_bytes(data)
        (golden / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    assert files == read_tree(golden / "files")
    assert manifest == json.loads((golden / "manifest.json").read_text())


def test_sourcename_is_replaced_in_dotnet_forms_in_content_and_as_is_in_file_names() -> None:
    files, _ = _render("sourcename-casing")
    # file names: the identity form only; content: identity, safe_name, lower_safe_name, safe_namespace and
    # lower_safe_namespace, the last registered form winning when two give the same token
    assert set(files) == {"src/Billing Engine.cs", "config/sample_app.yaml"}
    text = files["src/Billing Engine.cs"].decode()
    assert text == 'namespace Billing_Engine;\nclass Billing_Engine { string l = "billing_engine"; ' \
                   'string kept = "sample-app"; }\n'


def test_conditionals_follow_the_comment_style_of_each_file_type() -> None:
    files, _ = _render("conditionals")
    assert files["app.js"].decode() == ("const a = 1;\nconst db = 'cosmos';\nconst nested = 'cosmos+jwt';\n"
                                        "const actionable = 'uncommented';\n")
    assert files["settings.yaml"].decode() == "name: x\nauth: jwt\n"
    assert files["index.html"].decode() == ("<body>\n<p>cosmos</p>\n<p>shown only for jwt: the block comment is the "
                                            "content</p>\n</body>\n")
    assert files["style.css"].decode() == "body {}\n.banner { color: red; }\n"
    assert files["notes.md"].decode() == "cosmos notes\n"
    assert files["Program.cs"].decode() == 'var store = "cosmos";\n#if DEBUG\nvar debug = true;\n#endif\n'
    assert files["App.vb"].decode() == 'Dim store = "cosmos"\n'
    assert files["App.csproj"].decode() == ('<Project>\n  <ItemGroup>\n    <PackageReference Include='
                                            '"Microsoft.Azure.Cosmos" />\n  </ItemGroup>\n</Project>\n')


def test_computed_and_generated_symbols_resolve_in_dependency_order() -> None:
    _, manifest = _render("computed-and-generated")
    values = manifest["parameters"]
    assert values["isPro"] is True and values["paid"] is True
    assert values["displayOwner"] == "ada" and values["ownerUpper"] == "ADA"
    assert 8000 <= values["httpPort"] <= 8999
    assert len(values["instanceId"]) == 32 and values["instanceId"] == values["instanceId"].upper()


def test_guids_are_replaced_in_each_format_with_one_new_guid() -> None:
    files, _ = _render("guids")
    text = files["Project.sln"].decode()
    assert "5ee6d3a2" not in text.lower()
    upper, lower, nodash = (re.findall(r"[0-9A-Fa-f-]{32,36}", line)[0] for line in text.splitlines())
    assert upper.lower() == lower and lower.replace("-", "") == nodash


def test_sources_apply_include_exclude_copy_only_rename_and_modifiers() -> None:
    files, manifest = _render("sources")
    # the source's own exclude replaces the default one (bin/, *.user), as in dotnet new
    assert set(files) == {".gitignore", "billing.txt", "raw/keep.txt", "app.user", "bin/Debug/out.txt"}
    assert files["raw/keep.txt"] == (FIXTURES / "sources/template/content/raw/keep.txt").read_bytes()
    assert manifest["primaryOutputs"] == [{"path": "billing.txt"}]
    assert manifest["postActions"][0]["description"] == "restore"


def test_binary_files_are_copied_byte_for_byte() -> None:
    files, manifest = _render("binary-files")
    src = FIXTURES / "binary-files/template/assets"
    assert files["assets/Gadget.png"] == (src / "Widget.png").read_bytes()
    assert files["assets/data.bin"] == (src / "data.bin").read_bytes()
    assert files["README.md"] == b"Gadget docs\n"
    assert {f["path"] for f in manifest["files"] if f["binary"]} == {"assets/Gadget.png", "assets/data.bin"}


def test_golden_folders_exist_for_every_fixture() -> None:
    assert CASES and all((GOLDEN / case / "manifest.json").is_file() for case in CASES)
    assert Path(GOLDEN).is_dir()
