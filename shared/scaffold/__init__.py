"""The scaffold engine: template.json as ``dotnet new`` evaluates it, overlays, composition, provenance, update.

Public API (see ``shared/scaffold/README.md``)::

    TemplateCatalog(roots=[Path("templates")]).get("python-library", version=None) -> TemplateEntry
    render(source, parameters, RenderOptions(seed=..., execution_id=..., trace_id=..., now=...,
                                             deterministic=False, bindings={}))
        -> RenderResult(files, manifest)
    write_result(result, out_dir, source); commit_tree(out_dir, message, author) -> commit id
    update(out_dir, to_version=None, params=None, catalog=...) -> UpdateResult
    diff(out_dir, catalog=...) -> DiffReport
    compose(batch, catalog) -> RenderResult
    steps: validate_step, generate_step, commit_step -> StepOutcome
"""

from shared.scaffold.catalog import TemplateCatalog, TemplateEntry
from shared.scaffold.compose import compose
from shared.scaffold.errors import (
    CompositionError,
    ParameterError,
    Problem,
    ScaffoldError,
    TemplateNotFoundError,
    UnsafePathError,
    UnsupportedTemplateError,
    UpdateError,
)
from shared.scaffold.output import commit_tree, write_result
from shared.scaffold.render import RenderOptions, RenderResult, TemplateSource, render
from shared.scaffold.update import diff, update

__all__ = [
    "CompositionError", "ParameterError", "Problem", "RenderOptions", "RenderResult", "ScaffoldError",
    "TemplateCatalog", "TemplateEntry", "TemplateNotFoundError", "TemplateSource", "UnsafePathError",
    "UnsupportedTemplateError", "UpdateError", "commit_tree", "compose", "diff", "render", "update",
    "write_result",
]
