"""Catalog (versions, lookup, describe), base + *.extend.json overlays, batch composition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.scaffold.catalog import TemplateCatalog
from shared.scaffold.compose import compose
from shared.scaffold.errors import UnsafePathError, UnsupportedTemplateError
from shared.scaffold.overlays import apply_overlay, deep_merge, load_recipe
from shared.scaffold.render import render
from tests.scaffold.memory_templates import REPO, base_config, make_source


def test_catalog_finds_every_version_and_returns_the_newest_by_default() -> None:
    catalog = TemplateCatalog([REPO / "templates"])
    assert catalog.errors == []
    assert [e.version for e in catalog.versions("python-library")] == ["1.0.0", "1.1.0"]
    assert catalog.get("factory.python-library").version == "1.1.0"
    assert catalog.get("python-library", "1.0.0").location.endswith("python-library@1.0.0")
    assert "factory.docs-site" in [e.identity for e in catalog.list()]
    assert not any(e.identity.endswith("-base") for e in catalog.list())


def test_show_describes_parameters_with_types_defaults_and_choices() -> None:
    info = TemplateCatalog([REPO / "templates"]).get("python-library").describe()
    params = {p["name"]: p for p in info["parameters"]}
    assert params["license"]["type"] == "choice"
    assert [c["choice"] for c in params["license"]["choices"]] == ["MIT", "Apache-2.0", "Proprietary"]
    assert params["includeCli"] == {**params["includeCli"], "type": "bool", "default": True}
    assert info["parameterSchema"]["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_a_recipe_applies_overlays_in_order() -> None:
    source = load_recipe(REPO / "templates/docs-site/recipe.json")
    cfg = json.loads(source.files[".template.config/template.json"])
    assert cfg["identity"] == "factory.docs-site" and "includeTopology" in cfg["symbols"]
    assert "owner" in cfg["symbols"]
    assert "docs/getting-started.md" not in source.files and "docs/topology.md" in source.files
    site = json.loads(source.files["site.json"])
    assert site["theme"] == {"name": "plain", "accent": "teal"}


def test_a_recipe_renders_and_its_overlay_symbols_apply() -> None:
    source = TemplateCatalog([REPO / "templates"]).get("docs-site").source
    without = render(source, {"name": "Order Hub", "includeTopology": False})
    assert "docs/topology.md" not in without.files
    assert "topology" not in without.files["docs/index.md"].decode()


def test_overlay_deep_merge_deletes_with_null_and_replaces_lists() -> None:
    assert deep_merge({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"c": None, "d": 3}, "l": [2]}) == {
        "a": {"b": 1, "d": 3}, "l": [2]}


def test_an_overlay_with_an_unknown_key_is_refused_by_name() -> None:
    with pytest.raises(UnsupportedTemplateError) as info:
        apply_overlay({}, {"patch": {}}, {}, "x.extend.json")
    assert info.value.problems[0].path == "x.extend.json.patch"


def test_a_recipe_base_outside_the_templates_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "root/r").mkdir(parents=True)
    (tmp_path / "root/r/recipe.json").write_text('{"base": "../../elsewhere"}')
    with pytest.raises(UnsafePathError):
        load_recipe(tmp_path / "root/r/recipe.json")


def _two() -> TemplateCatalog:
    a = make_source(base_config(identity="a"),
                    {"README.md": "from a\n", "cfg.json": '{"x": 1, "o": {"p": 1}}', "only-a.txt": "a"})
    b = make_source(base_config(identity="b"),
                    {"README.md": "from b\n", "cfg.json": '{"y": 2, "o": {"q": 2}}'})
    return TemplateCatalog(sources=[a, b])


def test_composition_applies_declared_merge_strategies() -> None:
    result = compose({"templates": [{"template": "a"}, {"template": "b", "as": "bee"}],
                      "merge": {"README.md": "concat", "cfg.json": "json-merge"}}, _two())
    assert result.files["README.md"] == b"from a\nfrom b\n"
    assert json.loads(result.files["cfg.json"]) == {"x": 1, "y": 2, "o": {"p": 1, "q": 2}}
    assert [m["as"] for m in result.manifest["members"]] == ["a", "bee"]


def test_composition_prefer_takes_the_named_members_file_and_targets_place_members() -> None:
    result = compose({"templates": [{"template": "a"}, {"template": "b", "target": "sub"},
                                    {"template": "b", "as": "b2"}],
                      "merge": {"README.md": {"prefer": "b2"}, "cfg.json": "json-merge"}}, _two())
    assert result.files["README.md"] == b"from b\n"
    assert "sub/README.md" in result.files and "only-a.txt" in result.files
