"""The template catalog: every template (and every version of it) found under the roots.

A template is a folder holding ``.template.config/template.json`` or a ``recipe.json`` (base +
overlays). Folders whose name starts with ``_`` are building blocks (bases, overlays, fixtures)
and are not listed. Several versions of one template are several folders with the same
``identity`` and different ``version``: by convention ``templates/<name>/`` is the current one
and each older one is kept, unchanged, as ``templates/<name>@<version>/``. ``get`` without a
version returns the highest semantic version. Rendered folders also carry a content-addressed
snapshot of the exact template source they came from (``.factory/templates/<hash>.json``), so
``update`` can rebuild an old render even when that version is gone from the catalog.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import json5
import semver

from shared.contracts import REPO_ROOT
from shared.scaffold.config import CONFIG_PATH, TemplateConfig
from shared.scaffold.errors import Problem, ScaffoldError, TemplateNotFoundError, UnsupportedTemplateError
from shared.scaffold.explain import drives
from shared.scaffold.overlays import RECIPE_FILE, load_recipe
from shared.scaffold.parameters import parameter_schema, typed_default
from shared.scaffold.render import TemplateSource
from shared.scaffold.tree import DEFAULT_MAX_FILE_SIZE, SKIPPED_DIRS, read_tree

#: where a template keeps example parameters (first found wins); used by tests and `show`
SAMPLE_PARAMETERS = (".template.config/sample-parameters.json", "sample-parameters.json")


@dataclass
class TemplateEntry:
    """One version of one template."""

    source: TemplateSource
    location: str
    kind: str  # folder | recipe | memory

    @property
    def config(self) -> TemplateConfig:
        return self.source.config

    @property
    def identity(self) -> str:
        return self.config.identity

    @property
    def version(self) -> str:
        return self.config.version

    def sample_parameters(self) -> dict[str, Any]:
        """The template's sample parameters, or ``{}`` (render with defaults)."""
        for path in SAMPLE_PARAMETERS:
            if path in self.source.files:
                value = json5.loads(self.source.files[path].decode("utf-8-sig"))
                return dict(value) if isinstance(value, dict) else {}
        return {}

    def describe(self) -> dict[str, Any]:
        cfg = self.config
        params = []
        effects = drives(cfg, self.source.files)
        for name, sym in sorted(cfg.parameters().items()):
            params.append({"name": name, "type": sym.datatype, "default": typed_default(sym),
                           "required": sym.required is True and sym.default is None,
                           "requiredWhen": sym.required if isinstance(sym.required, str) else None,
                           "enabledWhen": sym.enabled,
                           "defaultIfOptionWithoutValue": sym.default_if_no_value,
                           "allowMultipleValues": sym.multiple,
                           "description": sym.description,
                           "choices": [{"choice": c.choice, "description": c.description}
                                       for c in sym.choices] or None,
                           "drives": effects.get(name, [])})
        return {"identity": cfg.identity, "name": cfg.name, "shortName": cfg.short_name,
                "shortNames": list(cfg.short_names), "version": cfg.version, "description": cfg.description,
                "kind": self.kind, "location": self.location, "contentHash": self.source.content_hash,
                "parameters": params, "parameterSchema": parameter_schema(cfg),
                "sampleParameters": self.sample_parameters()}


@dataclass
class CatalogError:
    location: str
    error: ScaffoldError


@dataclass
class TemplateCatalog:
    roots: Sequence[Path] = ()
    sources: Sequence[TemplateSource] = ()
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    entries: list[TemplateEntry] = field(default_factory=list, init=False)
    errors: list[CatalogError] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        for source in self.sources:
            self._add(TemplateEntry(source, source.origin, "memory"))
        for root in self.roots:
            for location, kind in self._discover(Path(root)):
                try:
                    src = (load_recipe(location / RECIPE_FILE, self.max_file_size, Path(root))
                           if kind == "recipe" else TemplateSource(read_tree(location, self.max_file_size),
                                                                    str(location)))
                    self._add(TemplateEntry(src, str(location), kind))
                except ScaffoldError as exc:
                    self.errors.append(CatalogError(str(location), exc))

    @staticmethod
    def _discover(root: Path) -> Iterable[tuple[Path, str]]:
        if not root.is_dir():
            return
        for dirpath, dirnames, _ in os.walk(root):
            here = Path(dirpath)
            if (here / CONFIG_PATH).is_file():
                dirnames[:] = []
                yield here, "folder"
            elif (here / RECIPE_FILE).is_file():
                dirnames[:] = []
                yield here, "recipe"
            else:
                dirnames[:] = sorted(d for d in dirnames
                                     if not d.startswith(("_", ".")) and d not in SKIPPED_DIRS)

    def _add(self, entry: TemplateEntry) -> None:
        try:
            entry.config  # noqa: B018 - parse now so a bad template is reported at load
        except ScaffoldError as exc:
            self.errors.append(CatalogError(entry.location, exc))
            return
        for other in self.entries:
            if other.identity == entry.identity and other.version == entry.version:
                self.errors.append(CatalogError(entry.location, UnsupportedTemplateError(
                    [Problem(f"{entry.identity}@{entry.version} is also defined at {other.location}",
                             path=entry.location)], "duplicate template version")))
                return
        self.entries.append(entry)
        self.entries.sort(key=lambda e: (e.identity, semver.Version.parse(e.version)))

    def versions(self, template: str) -> list[TemplateEntry]:
        """All versions of a template (by identity or shortName), oldest first."""
        return [e for e in self.entries if template == e.identity or template in e.config.short_names]

    def get(self, template: str, version: str | None = None) -> TemplateEntry:
        found = self.versions(template)
        if version is not None:
            found = [e for e in found if e.version == version]
        if not found:
            known = sorted({f"{e.identity}@{e.version}" for e in self.entries})
            what = f"{template}@{version}" if version else template
            raise TemplateNotFoundError([Problem(f"no template {what!r} in the catalog", path=template,
                                                 allowed=known)], "template not found")
        return found[-1]

    def list(self) -> list[TemplateEntry]:
        """The newest version of each template, by identity."""
        latest: dict[str, TemplateEntry] = {}
        for entry in self.entries:
            latest[entry.identity] = entry
        return [latest[k] for k in sorted(latest)]


def default_roots() -> list[Path]:
    """The built-in ``templates/`` folder of this repository."""
    return [REPO_ROOT / "templates"]
