"""The supported subset of ``.template.config/template.json`` (the ``dotnet new`` format).

Parsed leniently with ``json5`` (comments, trailing commas); keys are case-insensitive.
Everything outside the subset that could change the output is refused **by name** with an
``UnsupportedTemplateError`` -- nothing is silently ignored. See ``shared/scaffold/README.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import json5
import semver

from shared.scaffold.errors import Problem, UnsupportedTemplateError

CONFIG_PATH = ".template.config/template.json"

#: top-level keys that are understood (lower-cased)
_TOP_KEYS = {
    "$schema", "author", "classifications", "description", "identity", "name", "shortname",
    "sourcename", "defaultname", "version", "groupidentity", "tags", "symbols", "sources",
    "primaryoutputs", "postactions", "guids", "prefernamedirectory", "precedence",
    "thirdpartynotices", "generatorversions", "preferdefaultname",
}
#: keys a symbol may carry, per symbol type (lower-cased); "common" apply to all
_SYMBOL_KEYS: dict[str, set[str]] = {
    "common": {"type", "datatype", "description", "displayname", "replaces", "filerename"},
    "parameter": {"defaultvalue", "isrequired", "choices", "defaultifoptionwithoutvalue"},
    "computed": {"value"},
    "generated": {"generator", "parameters"},
}
_DATATYPES = {"bool": "bool", "boolean": "bool", "choice": "choice", "string": "string",
              "text": "string", "int": "integer", "integer": "integer"}
_SOURCE_KEYS = {"source", "target", "include", "exclude", "copyonly", "rename", "modifiers", "condition"}
_MODIFIER_KEYS = {"condition", "include", "exclude", "copyonly", "rename"}
GENERATORS: dict[str, set[str]] = {
    "constant": {"value"},
    "guid": {"defaultformat", "format"},
    "port": {"low", "high", "fallback"},
    "now": {"format", "utc"},
    "coalesce": {"sourcevariablename", "fallbackvariablename"},
    "casing": {"source", "tolower"},
}

DEFAULT_INCLUDE = ("**/*",)
#: default excludes; a source's own ``exclude`` adds to them (it does not replace them)
DEFAULT_EXCLUDE = ("**/[Bb]in/**", "**/[Oo]bj/**", "**/*.filelist", "**/*.user", "**/*.lock.json",
                   "**/__pycache__/**", "**/*.pyc", "**/.DS_Store", "*.nuspec")
#: always excluded, whatever the template says
ALWAYS_EXCLUDE = (".template.config/**", ".git/**", ".factory/**")
DEFAULT_COPY_ONLY = ("**/node_modules/**",)


@dataclass(frozen=True)
class Choice:
    choice: str
    description: str = ""


@dataclass(frozen=True)
class Symbol:
    name: str
    type: str  # parameter | computed | generated
    datatype: str = "string"  # bool | choice | string | integer
    description: str = ""
    default: Any = None
    required: bool = False
    replaces: str | None = None
    file_rename: str | None = None
    choices: tuple[Choice, ...] = ()
    value: str | None = None  # computed expression
    generator: str | None = None
    generator_params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Modifier:
    condition: str | None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    copy_only: tuple[str, ...] = ()
    rename: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceSpec:
    source: str = "./"
    target: str = "./"
    condition: str | None = None
    include: tuple[str, ...] = DEFAULT_INCLUDE
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    copy_only: tuple[str, ...] = DEFAULT_COPY_ONLY
    rename: Mapping[str, str] = field(default_factory=dict)
    modifiers: tuple[Modifier, ...] = ()


@dataclass(frozen=True)
class TemplateConfig:
    identity: str
    name: str
    short_names: tuple[str, ...]
    version: str
    description: str = ""
    source_name: str | None = None
    default_name: str | None = None
    symbols: Mapping[str, Symbol] = field(default_factory=dict)
    sources: tuple[SourceSpec, ...] = (SourceSpec(),)
    guids: tuple[str, ...] = ()
    primary_outputs: tuple[Mapping[str, Any], ...] = ()
    post_actions: tuple[Mapping[str, Any], ...] = ()

    @property
    def short_name(self) -> str:
        return self.short_names[0] if self.short_names else self.identity

    def parameters(self) -> dict[str, Symbol]:
        """Symbols a caller may set (type ``parameter``), plus ``name`` when sourceName is set."""
        out = {n: s for n, s in self.symbols.items() if s.type == "parameter"}
        if self.source_name and "name" not in out:
            out["name"] = Symbol("name", "parameter", "string",
                                 description=f"replaces '{self.source_name}' (in all its casing forms)",
                                 default=self.default_name, required=self.default_name is None)
        return out


def _ci(obj: Any, where: str, problems: list[Problem]) -> dict[str, Any]:
    if not isinstance(obj, Mapping):
        problems.append(Problem(f"must be an object, got {type(obj).__name__}", path=where))
        return {}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        low = str(key).lower()
        if low in out:
            problems.append(Problem(f"key '{key}' given twice (keys are case-insensitive)", path=where))
        out[low] = value
    return out


def _globs(value: Any, where: str, problems: list[Problem]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    problems.append(Problem("must be a glob string or a list of glob strings", path=where))
    return ()


def _rename(value: Any, where: str, problems: list[Problem]) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str)
                                          for k, v in value.items()):
        return {k[2:] if k.startswith("./") else k: v for k, v in value.items()}
    problems.append(Problem("must be an object mapping source paths to target paths", path=where))
    return {}


def _unknown(keys: set[str], allowed: set[str], where: str, problems: list[Problem], what: str) -> None:
    for key in sorted(keys - allowed):
        problems.append(Problem(f"unsupported {what} '{key}': it is outside the supported template.json "
                                "subset and would change the output, so the template is refused",
                                path=f"{where}.{key}", allowed=sorted(allowed)))


def _coerce_default(datatype: str, value: Any) -> Any:
    if value is None:
        return None
    if datatype == "bool" and isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    if datatype == "integer" and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    return value


def _symbol(name: str, raw: Any, problems: list[Problem]) -> Symbol | None:
    where = f"symbols.{name}"
    data = _ci(raw, where, problems)
    kind = str(data.get("type", "")).lower()
    if kind not in ("parameter", "computed", "generated"):
        problems.append(Problem(f"unsupported symbol type '{data.get('type')}'", path=f"{where}.type",
                                allowed=["parameter", "computed", "generated"]))
        return None
    _unknown(set(data), _SYMBOL_KEYS["common"] | _SYMBOL_KEYS[kind], where, problems, "symbol key")
    raw_dt = str(data.get("datatype", "bool" if kind == "computed" else "string")).lower()
    datatype = _DATATYPES.get(raw_dt)
    if datatype is None:
        problems.append(Problem(f"unsupported datatype '{raw_dt}'", path=f"{where}.datatype",
                                allowed=sorted(_DATATYPES)))
        datatype = "string"
    choices: list[Choice] = []
    if kind == "parameter" and datatype == "choice":
        raw_choices = data.get("choices")
        if not isinstance(raw_choices, list) or not raw_choices:
            problems.append(Problem("a choice parameter needs a non-empty 'choices' list",
                                    path=f"{where}.choices"))
        else:
            for i, item in enumerate(raw_choices):
                c = _ci(item, f"{where}.choices[{i}]", problems)
                _unknown(set(c), {"choice", "description", "displayname"}, f"{where}.choices[{i}]",
                         problems, "choice key")
                if not isinstance(c.get("choice"), str):
                    problems.append(Problem("each choice needs a string 'choice'",
                                            path=f"{where}.choices[{i}]"))
                    continue
                choices.append(Choice(c["choice"], str(c.get("description", ""))))
    generator = None
    gen_params: dict[str, Any] = {}
    if kind == "generated":
        generator = str(data.get("generator", "")).lower()
        if generator not in GENERATORS:
            problems.append(Problem(f"unsupported generator '{data.get('generator')}'",
                                    path=f"{where}.generator", allowed=sorted(GENERATORS)))
            generator = None
        else:
            gen_params = _ci(data.get("parameters", {}), f"{where}.parameters", problems)
            _unknown(set(gen_params), GENERATORS[generator], f"{where}.parameters", problems,
                     f"'{generator}' generator parameter")
    if kind == "computed" and not isinstance(data.get("value"), str):
        problems.append(Problem("a computed symbol needs a string 'value' expression", path=f"{where}.value"))
    for key in ("replaces", "filerename"):
        if key in data and not isinstance(data[key], str):
            problems.append(Problem("must be a string", path=f"{where}.{key}"))
    required = data.get("isrequired", False)
    if isinstance(required, str):
        required = required.lower() == "true"
    return Symbol(
        name=name, type=kind, datatype=datatype, description=str(data.get("description", "")),
        default=_coerce_default(datatype, data.get("defaultvalue")), required=bool(required),
        replaces=data.get("replaces") or None, file_rename=data.get("filerename") or None,
        choices=tuple(choices), value=data.get("value"), generator=generator,
        generator_params=gen_params,
    )


def _source(raw: Any, i: int, problems: list[Problem]) -> SourceSpec:
    where = f"sources[{i}]"
    data = _ci(raw, where, problems)
    _unknown(set(data), _SOURCE_KEYS, where, problems, "source key")
    modifiers = []
    for j, mraw in enumerate(data.get("modifiers") or []):
        mwhere = f"{where}.modifiers[{j}]"
        m = _ci(mraw, mwhere, problems)
        _unknown(set(m), _MODIFIER_KEYS, mwhere, problems, "modifier key")
        modifiers.append(Modifier(
            condition=m.get("condition"), include=_globs(m.get("include"), mwhere + ".include", problems),
            exclude=_globs(m.get("exclude"), mwhere + ".exclude", problems),
            copy_only=_globs(m.get("copyonly"), mwhere + ".copyOnly", problems),
            rename=_rename(m.get("rename"), mwhere + ".rename", problems)))
    return SourceSpec(
        source=str(data.get("source", "./")), target=str(data.get("target", "./")),
        condition=data.get("condition"),
        include=(_globs(data["include"], where + ".include", problems)
                 if "include" in data else DEFAULT_INCLUDE),
        exclude=DEFAULT_EXCLUDE + _globs(data.get("exclude"), where + ".exclude", problems),
        copy_only=(_globs(data["copyonly"], where + ".copyOnly", problems)
                   if "copyonly" in data else DEFAULT_COPY_ONLY),
        rename=_rename(data.get("rename"), where + ".rename", problems),
        modifiers=tuple(modifiers),
    )


def parse_config(text: str | bytes, origin: str = CONFIG_PATH) -> TemplateConfig:
    """Parse template.json text into a ``TemplateConfig`` or raise ``UnsupportedTemplateError``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig")
    try:
        raw = json5.loads(text)
    except ValueError as exc:
        raise UnsupportedTemplateError(
            [Problem(f"is not valid JSON/JSON5: {exc}", path=origin)], "cannot read template.json") from exc
    problems: list[Problem] = []
    data = _ci(raw, "template.json", problems)
    _unknown(set(data), _TOP_KEYS, "template.json", problems, "top-level key")
    for key in ("identity", "name"):
        if not isinstance(data.get(key), str) or not data.get(key):
            problems.append(Problem(f"'{key}' is required and must be a non-empty string", path=key))
    short = data.get("shortname", [])
    short_names = (short,) if isinstance(short, str) else tuple(str(s) for s in short or [])
    version = str(data.get("version", "0.0.0"))
    if not semver.Version.is_valid(version):
        problems.append(Problem(f"'{version}' is not a semantic version (MAJOR.MINOR.PATCH)", path="version"))
    symbols: dict[str, Symbol] = {}
    for name, sraw in (_ci(data.get("symbols", {}), "symbols", problems) and data.get("symbols", {})).items():
        sym = _symbol(name, sraw, problems)
        if sym is not None:
            symbols[name] = sym
    source_name = data.get("sourcename")
    if source_name is not None and (not isinstance(source_name, str) or not source_name):
        problems.append(Problem("must be a non-empty string", path="sourceName"))
    guids = data.get("guids", [])
    if not isinstance(guids, list) or not all(isinstance(g, str) for g in guids):
        problems.append(Problem("must be a list of GUID strings", path="guids"))
        guids = []
    raw_sources = data.get("sources")
    sources = (tuple(_source(s, i, problems) for i, s in enumerate(raw_sources))
               if isinstance(raw_sources, list) else (SourceSpec(),))

    def _entries(key: str, label: str) -> tuple[Mapping[str, Any], ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            problems.append(Problem("must be a list of objects", path=label))
            return ()
        return tuple(dict(v) for v in value)

    primary, post = _entries("primaryoutputs", "primaryOutputs"), _entries("postactions", "postActions")
    if problems:
        raise UnsupportedTemplateError(
            problems, f"template {data.get('identity', origin)!s} is not supported")
    return TemplateConfig(
        identity=data["identity"], name=data["name"], short_names=short_names, version=version,
        description=str(data.get("description", "")), source_name=source_name,
        default_name=data.get("defaultname"), symbols=symbols, sources=sources, guids=tuple(guids),
        primary_outputs=primary, post_actions=post,
    )
