"""Base-template folders with ``*.extend.json`` overlays, applied in the order a recipe lists.

A recipe (``recipe.json``, JSON5) names a base folder and overlays, paths relative to itself::

    {"base": "../_bases/python-base", "overlays": ["cli.extend.json", "docs.extend.json"]}

An overlay file ``<name>.extend.json`` holds any of these keys, applied in this order:

``remove``  list of globs (gitignore style): matching files are removed
``copy``    folder (relative to the overlay file): its files are added, replacing same paths
``files``   ``{path: text}``: files added or replaced inline
``merge``   ``{path: object}``: deep-merged into the JSON/JSON5 file at ``path`` (objects merge
            key by key, ``null`` deletes a key, everything else -- lists too -- replaces)

Unknown keys are refused by name. The result is an ordinary template source tree, so a recipe
renders through the same engine (an overlay may merge new symbols into template.json).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import json5
import pathspec

from shared.scaffold.errors import Problem, UnsafePathError, UnsupportedTemplateError
from shared.scaffold.render import TemplateSource
from shared.scaffold.tree import DEFAULT_MAX_FILE_SIZE, read_tree, unsafe_reason

RECIPE_FILE = "recipe.json"
_OVERLAY_KEYS = {"remove", "copy", "files", "merge", "description"}


def deep_merge(base: Any, patch: Any) -> Any:
    """Merge ``patch`` into ``base`` (returns a new value): dicts recurse, ``None`` deletes."""
    if not isinstance(base, Mapping) or not isinstance(patch, Mapping):
        return patch
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = deep_merge(out.get(key), value)
    return out


def apply_overlay(files: Mapping[str, bytes], overlay: Mapping[str, Any], copied: Mapping[str, bytes],
                  name: str = "<overlay>") -> dict[str, bytes]:
    """Apply one parsed overlay to a tree. ``copied`` is the tree of its ``copy`` folder (or empty)."""
    problems: list[Problem] = []
    for key in sorted(set(overlay) - _OVERLAY_KEYS):
        problems.append(Problem(f"unsupported overlay key '{key}'", path=f"{name}.{key}",
                                allowed=sorted(_OVERLAY_KEYS)))
    out = dict(files)
    removed = pathspec.PathSpec.from_lines("gitignore", list(overlay.get("remove", [])))
    out = {p: d for p, d in out.items() if not removed.match_file(p)}
    inline = {p: str(t).encode("utf-8") for p, t in dict(overlay.get("files", {})).items()}
    for path in sorted({**copied, **inline}):
        reason = unsafe_reason(path)
        if reason:
            problems.append(Problem(reason, path=f"{name}: {path}"))
    out.update(copied)
    out.update(inline)
    for path, patch in sorted(dict(overlay.get("merge", {})).items()):
        if path not in out:
            problems.append(Problem("merge target does not exist in the base", path=f"{name}: {path}"))
            continue
        try:
            current = json5.loads(out[path].decode("utf-8-sig"))
        except ValueError as exc:
            problems.append(Problem(f"merge target is not JSON: {exc}", path=f"{name}: {path}"))
            continue
        merged = deep_merge(current, patch)
        out[path] = (json.dumps(merged, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if problems:
        raise UnsupportedTemplateError(problems, f"cannot apply overlay {name}")
    return dict(sorted(out.items()))


def _load_json(path: Path) -> dict[str, Any]:
    try:
        value = json5.loads(path.read_text("utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise UnsupportedTemplateError([Problem(f"cannot read: {exc}", path=str(path))]) from exc
    if not isinstance(value, dict):
        raise UnsupportedTemplateError([Problem("must be a JSON object", path=str(path))])
    return value


def _inside(root: Path, base: Path, rel: str, where: str) -> Path:
    target = (base / rel).resolve()
    if Path(rel).is_absolute() or not target.is_relative_to(root.resolve()):
        raise UnsafePathError([Problem(f"{rel!r} points outside {root}", path=where)],
                              "recipe paths must stay inside the templates root")
    return target


def load_recipe(recipe_file: Path, max_file_size: int = DEFAULT_MAX_FILE_SIZE,
                boundary: Path | None = None) -> TemplateSource:
    """Compose base + overlays of ``recipe_file`` into a template source tree.

    Paths may not leave ``boundary`` (default: the recipe's parent's parent, i.e. the templates root).
    """
    recipe = _load_json(recipe_file)
    for key in sorted(set(recipe) - {"base", "overlays", "description"}):
        raise UnsupportedTemplateError([Problem(f"unsupported recipe key '{key}'", path=str(recipe_file),
                                                allowed=["base", "overlays", "description"])])
    here = recipe_file.parent
    boundary = boundary or here.parent
    if not isinstance(recipe.get("base"), str):
        raise UnsupportedTemplateError([Problem("'base' (a folder) is required", path=str(recipe_file))])
    base = _inside(boundary, here, recipe["base"], str(recipe_file))
    files = read_tree(base, max_file_size)
    for rel in recipe.get("overlays", []):
        overlay_path = _inside(boundary, here, rel, str(recipe_file))
        overlay = _load_json(overlay_path)
        copied: dict[str, bytes] = {}
        if "copy" in overlay:
            folder = _inside(boundary, overlay_path.parent, str(overlay["copy"]), str(overlay_path))
            copied = read_tree(folder, max_file_size)
        files = apply_overlay(files, overlay, copied, overlay_path.name)
    return TemplateSource(files, str(recipe_file))
