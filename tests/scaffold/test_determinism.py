"""Same inputs -> byte-identical files and manifest, in one process and across processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from shared.scaffold.catalog import TemplateCatalog
from shared.scaffold.render import RenderOptions, TemplateSource, render
from tests.scaffold.memory_templates import REPO

RENDER_SCRIPT = """
import json, sys
from pathlib import Path
from shared.scaffold.catalog import TemplateCatalog
from shared.scaffold.render import RenderOptions, render
entry = TemplateCatalog([Path("templates")]).get("python-library")
result = render(entry.source, {"name": "det-check", "license": "MIT"}, RenderOptions(seed="fixed"))
print(json.dumps({"tree": result.tree_hash, "manifest": result.manifest_bytes.decode()}))
"""


def _library() -> TemplateSource:
    return TemplateCatalog([REPO / "templates"]).get("python-library").source


def test_rendering_twice_gives_identical_bytes_and_manifest() -> None:
    source = _library()
    a = render(source, {"name": "det-check", "license": "MIT"}, RenderOptions(seed="fixed"))
    b = render(source, {"license": "MIT", "name": "det-check"}, RenderOptions(seed="fixed"))
    assert a.files == b.files and a.manifest_bytes == b.manifest_bytes


def test_rendering_in_separate_processes_gives_the_same_overall_hash() -> None:
    outputs = []
    for hash_seed in ("1", "2"):
        proc = subprocess.run([sys.executable, "-c", RENDER_SCRIPT], cwd=REPO, capture_output=True, text=True,
                              timeout=60, env={"PYTHONHASHSEED": hash_seed, "PATH": "/usr/bin:/bin"},
                              check=True)
        outputs.append(json.loads(proc.stdout))
    local = render(_library(), {"name": "det-check", "license": "MIT"}, RenderOptions(seed="fixed"))
    assert outputs[0] == outputs[1]
    assert outputs[0]["tree"] == local.tree_hash


def test_the_seed_drives_generated_values_and_nothing_else_varies() -> None:
    source = _library()
    a = render(source, {}, RenderOptions(seed="one"))
    b = render(source, {}, RenderOptions(seed="two"))
    assert a.manifest["parameters"]["libraryId"] != b.manifest["parameters"]["libraryId"]
    assert a.files["src/example_library/core.py"] == b.files["src/example_library/core.py"]


def test_the_manifest_records_provenance() -> None:
    source = _library()
    m = render(source, {"name": "x"}, RenderOptions(seed="s", execution_id="e", trace_id="t")).manifest
    assert m["template"] == {"identity": "factory.python-library", "name": "Python library",
                             "shortName": "python-library", "version": "1.1.0",
                             "contentHash": source.content_hash}
    assert (m["executionId"], m["seed"], m["traceId"]) == ("e", "s", "t")
    assert m["inputParameters"] == {"name": "x"} and m["parameters"]["openSource"] is True
    assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in m["files"])
    assert m["primaryOutputs"] == [{"path": "src/x/__init__.py"}] and len(m["postActions"]) == 1


def test_the_template_content_hash_ignores_file_system_order(tmp_path: Path) -> None:
    files = {"b.txt": b"b", "a.txt": b"a", ".template.config/template.json": b"{}"}
    reordered = dict(reversed(list(files.items())))
    assert TemplateSource(files).content_hash == TemplateSource(reordered).content_hash
