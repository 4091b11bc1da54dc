"""``.template.config/template.json`` (the ``dotnet new`` format), parsed into typed settings.

Read with ``json5`` (comments, trailing commas). Keys are case-insensitive; symbol names, form
names and paths are case-sensitive. A key outside the language, or inside it but left out of
this engine (``constraints``, ``baselines``, post-action *execution*), is refused **by name**
with an ``UnsupportedTemplateError`` -- nothing that would change the output is ignored. See
``shared/scaffold/README.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import json5
import semver

from shared.scaffold.errors import Problem, UnsupportedTemplateError
from shared.scaffold.expressions import EVALUATORS
from shared.scaffold.forms import Form, parse_forms
from shared.scaffold.values import DATATYPES

CONFIG_DIR = ".template.config"
CONFIG_PATH = f"{CONFIG_DIR}/template.json"
NAME = "name"

#: top-level keys that are understood (lower-cased); metadata keys do not change the output
_TOP_KEYS = {
    "$schema", "author", "classifications", "description", "identity", "name", "shortname",
    "sourcename", "defaultname", "version", "groupidentity", "tags", "symbols", "sources",
    "primaryoutputs", "postactions", "guids", "prefernamedirectory", "precedence",
    "thirdpartynotices", "generatorversions", "preferdefaultname", "forms", "placeholderfilename",
    "customoperations", "specialcustomoperations",
}
#: keys that are part of the language but deliberately not implemented, and why
_REFUSED_TOP = {
    "constraints": "template constraints (os, host, sdk-version, workload, project-capability) are not "
                   "checked by this engine; remove the constraint or render with dotnet new",
    "baselines": "baselines are not supported; set the parameter values with --param instead",
}
_COMMON = {"type", "datatype", "description", "displayname", "replaces", "filerename", "forms", "onlyif"}
_SYMBOL_KEYS: dict[str, set[str]] = {
    "parameter": _COMMON | {"defaultvalue", "isrequired", "choices", "defaultifoptionwithoutvalue",
                            "allowmultiplevalues", "enablequotelessliterals", "isenabled", "enabledcondition",
                            "precedence", "tags"},
    "computed": _COMMON | {"value", "evaluator"},
    "derived": _COMMON | {"valuesource", "valuetransform", "defaultvalue"},
    "generated": _COMMON | {"generator", "parameters"},
    "bind": _COMMON | {"binding", "defaultvalue"},
}
_SOURCE_KEYS = {"source", "target", "include", "exclude", "copyonly", "rename", "modifiers", "condition"}
_MODIFIER_KEYS = {"condition", "include", "exclude", "copyonly", "rename"}
GENERATORS: dict[str, set[str]] = {
    "constant": {"value"},
    "guid": {"defaultformat", "format"},
    "port": {"low", "high", "fallback"},
    "now": {"format", "utc"},
    "random": {"low", "high"},
    "coalesce": {"sourcevariablename", "fallbackvariablename", "defaultvalue"},
    "casing": {"source", "tolower"},
    "join": {"symbols", "separator", "removeemptyvalues"},
    "regex": {"source", "steps"},
    "regexmatch": {"source", "pattern"},
    "switch": {"evaluator", "datatype", "cases"},
    "evaluate": {"action", "evaluator"},
}

DEFAULT_INCLUDE = ("**/*",)
#: upstream's default excludes; a source that gives its own ``exclude`` replaces them
DEFAULT_EXCLUDE = ("**/[Bb]in/**", "**/[Oo]bj/**", "**/*.filelist", "**/*.user", "**/*.lock.json")
#: never rendered, whatever the template says (tool caches, VCS data, our provenance)
ALWAYS_EXCLUDE = (".template.config/**", "**/.template.config/**", ".git/**", ".factory/**",
                  "**/__pycache__/**", "**/*.pyc")
DEFAULT_COPY_ONLY = ("**/node_modules/**",)
DEFAULT_PLACEHOLDERS = ("-.-", "_._")


@dataclass(frozen=True)
class Choice:
    choice: str
    description: str = ""
    display_name: str = ""


@dataclass(frozen=True)
class Symbol:
    name: str
    type: str  # parameter | computed | derived | generated | bind
    datatype: str = "string"  # bool | choice | string | integer | float | hex
    description: str = ""
    display_name: str = ""
    default: Any = None  # raw, as written (converted by datatype when used)
    default_if_no_value: Any = None
    required: bool | str = False  # or a condition
    enabled: str | None = None  # isEnabled condition
    replaces: str | None = None
    file_rename: str | None = None
    forms: tuple[str, ...] = ("identity",)
    only_if: tuple[tuple[str, str], ...] = ()  # (after, before)
    choices: tuple[Choice, ...] = ()
    multiple: bool = False
    quoteless: bool = False
    value: str | None = None  # computed expression
    evaluator: str = "C++2"
    value_source: str | None = None
    value_transform: str | None = None
    generator: str | None = None
    generator_params: Mapping[str, Any] = field(default_factory=dict)
    binding: str | None = None
    datatype_given: bool = False


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
class CustomOperation:
    """One entry of ``customOperations.operations`` (types ``conditional`` and ``replacement``)."""

    type: str
    condition: str | None
    configuration: Mapping[str, Any]


@dataclass(frozen=True)
class CustomOperations:
    operations: tuple[CustomOperation, ...] = ()
    flag_prefix: str | None = None
    condition: str | None = None


@dataclass(frozen=True)
class TemplateConfig:
    identity: str
    name: str
    short_names: tuple[str, ...]
    version: str
    description: str = ""
    source_name: str | None = None
    default_name: str | None = None
    prefer_name_directory: bool = False
    prefer_default_name: bool = False
    symbols: Mapping[str, Symbol] = field(default_factory=dict)
    forms: Mapping[str, Form] = field(default_factory=dict)
    sources: tuple[SourceSpec, ...] = (SourceSpec(),)
    guids: tuple[str, ...] = ()
    primary_outputs: tuple[Mapping[str, Any], ...] = ()
    post_actions: tuple[Mapping[str, Any], ...] = ()
    placeholders: tuple[str, ...] = DEFAULT_PLACEHOLDERS
    custom_operations: CustomOperations = field(default_factory=CustomOperations)
    special_operations: tuple[tuple[str, CustomOperations], ...] = ()

    @property
    def short_name(self) -> str:
        return self.short_names[0] if self.short_names else self.identity

    @property
    def name_symbol(self) -> Symbol:
        """The built-in ``name`` symbol (always present, as in ``dotnet new``)."""
        declared = self.symbols.get(NAME)
        if declared is not None and declared.type == "parameter":
            return declared
        what = (f"replaces '{self.source_name}' in file names and, in the forms identity, safe_name, "
                "lower_safe_name, safe_namespace and lower_safe_namespace, in content"
                if self.source_name else "the name of what is generated (the CLI uses the output folder's name when "
                "none is given)")
        return Symbol(NAME, "parameter", "string", description=f"The name: {what}", default=self.default_name)

    def parameters(self) -> dict[str, Symbol]:
        """Symbols a caller may set: type ``parameter`` and the built-in ``name``."""
        out = {n: s for n, s in self.symbols.items() if s.type == "parameter"}
        out.setdefault(NAME, self.name_symbol)
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
        problems.append(Problem(f"unsupported {what} '{key}': it is not part of the template.json language "
                                "this engine implements and could change the output, so the template is refused",
                                path=f"{where}.{key}", allowed=sorted(allowed)))


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _forms_list(raw: Any, where: str, problems: list[Problem]) -> tuple[str, ...]:
    if raw is None:
        return ("identity",)
    if isinstance(raw, list):
        data: Any = {"global": raw}
    else:
        data = _ci(raw, where, problems)
        _unknown(set(data), {"global"}, where, problems, "forms key")
    items = data.get("global", [])
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        problems.append(Problem("must be a list of form names", path=f"{where}.global"))
        return ("identity",)
    return tuple(items) or ("identity",)


def _only_if(raw: Any, where: str, problems: list[Problem]) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    entries = raw if isinstance(raw, list) else [raw]
    out: list[tuple[str, str]] = []
    for i, entry in enumerate(entries):
        data = _ci(entry, f"{where}[{i}]", problems)
        _unknown(set(data), {"after", "before"}, f"{where}[{i}]", problems, "onlyIf key")
        out.append((str(data.get("after") or ""), str(data.get("before") or "")))
    return tuple(out)


def _symbol(name: str, raw: Any, problems: list[Problem]) -> Symbol | None:
    where = f"symbols.{name}"
    data = _ci(raw, where, problems)
    kind = str(data.get("type", "")).lower()
    if kind not in _SYMBOL_KEYS:
        problems.append(Problem(f"unknown symbol type '{data.get('type')}'", path=f"{where}.type",
                                allowed=sorted(_SYMBOL_KEYS)))
        return None
    _unknown(set(data), _SYMBOL_KEYS[kind], where, problems, "symbol key")
    default_dt = {"computed": "bool", "parameter": "string"}.get(kind, "string")
    raw_dt = str(data.get("datatype") or default_dt).lower()
    datatype = DATATYPES.get(raw_dt, "string")  # upstream: any other datatype is a string
    choices: list[Choice] = []
    if kind == "parameter" and datatype == "choice":
        raw_choices = data.get("choices")
        if not isinstance(raw_choices, list) or not raw_choices:
            problems.append(Problem("a choice parameter needs a non-empty 'choices' list", path=f"{where}.choices"))
        else:
            for i, item in enumerate(raw_choices):
                c = _ci(item, f"{where}.choices[{i}]", problems)
                _unknown(set(c), {"choice", "description", "displayname"}, f"{where}.choices[{i}]",
                         problems, "choice key")
                if not isinstance(c.get("choice"), str):
                    problems.append(Problem("each choice needs a string 'choice'", path=f"{where}.choices[{i}]"))
                    continue
                choices.append(Choice(c["choice"], str(c.get("description") or ""),
                                      str(c.get("displayname") or "")))
    generator = None
    gen_params: dict[str, Any] = {}
    if kind == "generated":
        generator = str(data.get("generator", "")).lower()
        if generator not in GENERATORS:
            problems.append(Problem(f"unknown generator '{data.get('generator')}'", path=f"{where}.generator",
                                    allowed=sorted(GENERATORS)))
            generator = None
        else:
            gen_params = _ci(data.get("parameters", {}), f"{where}.parameters", problems)
            _unknown(set(gen_params), GENERATORS[generator], f"{where}.parameters", problems,
                     f"'{generator}' generator parameter")
            evaluator = gen_params.get("evaluator")
            if evaluator is not None and str(evaluator).upper() not in EVALUATORS:
                problems.append(Problem(f"unknown evaluator {evaluator!r}", path=f"{where}.parameters.evaluator",
                                        allowed=list(EVALUATORS)))
    if kind == "computed" and not isinstance(data.get("value"), str):
        problems.append(Problem("a computed symbol needs a string 'value' expression", path=f"{where}.value"))
    evaluator = str(data.get("evaluator") or "C++2")
    if evaluator.upper() not in EVALUATORS:
        problems.append(Problem(f"unknown evaluator {evaluator!r}", path=f"{where}.evaluator",
                                allowed=list(EVALUATORS)))
    if kind == "derived":
        for key in ("valuesource", "valuetransform"):
            if not isinstance(data.get(key), str) or not data.get(key):
                problems.append(Problem(f"a derived symbol needs a string '{key}'", path=f"{where}.{key}"))
    if kind == "bind" and (not isinstance(data.get("binding"), str) or not data["binding"].strip()):
        problems.append(Problem("a bind symbol needs a string 'binding' (host:NAME, env:NAME or NAME)",
                                path=f"{where}.binding"))
    for key in ("replaces", "filerename"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            problems.append(Problem("must be a string", path=f"{where}.{key}"))
    required: bool | str = False
    raw_required = data.get("isrequired", False)
    if isinstance(raw_required, bool):
        required = raw_required
    elif isinstance(raw_required, str):
        low = raw_required.strip().lower()
        required = low == "true" if low in ("true", "false") else raw_required
    enabled_raw = data.get("isenabled", data.get("enabledcondition"))
    enabled: str | None = None
    if isinstance(enabled_raw, bool):
        enabled = None if enabled_raw else "false"
    elif isinstance(enabled_raw, str):
        enabled = None if enabled_raw.strip().lower() == "true" else enabled_raw
    return Symbol(
        name=name, type=kind, datatype=datatype, description=str(data.get("description") or ""),
        display_name=str(data.get("displayname") or ""),
        default=data.get("defaultvalue"), default_if_no_value=data.get("defaultifoptionwithoutvalue"),
        required=required, enabled=enabled,
        replaces=data.get("replaces") or None, file_rename=data.get("filerename") or None,
        forms=_forms_list(data.get("forms"), f"{where}.forms", problems),
        only_if=_only_if(data.get("onlyif"), f"{where}.onlyIf", problems),
        choices=tuple(choices), multiple=_flag(data.get("allowmultiplevalues")),
        quoteless=_flag(data.get("enablequotelessliterals")),
        value=data.get("value"), evaluator="C++2" if evaluator.upper() == "C++2" else evaluator.upper(),
        value_source=data.get("valuesource"), value_transform=data.get("valuetransform"),
        generator=generator, generator_params=gen_params, binding=data.get("binding"),
        datatype_given="datatype" in data,
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
            condition=_text(m.get("condition")), include=_globs(m.get("include"), mwhere + ".include", problems),
            exclude=_globs(m.get("exclude"), mwhere + ".exclude", problems),
            copy_only=_globs(m.get("copyonly"), mwhere + ".copyOnly", problems),
            rename=_rename(m.get("rename"), mwhere + ".rename", problems)))
    return SourceSpec(
        source=str(data.get("source") or "./"), target=str(data.get("target") or "./"),
        condition=_text(data.get("condition")),
        include=(_globs(data["include"], where + ".include", problems) if "include" in data else DEFAULT_INCLUDE),
        exclude=(_globs(data["exclude"], where + ".exclude", problems) if "exclude" in data else DEFAULT_EXCLUDE),
        copy_only=(_globs(data["copyonly"], where + ".copyOnly", problems)
                   if "copyonly" in data else DEFAULT_COPY_ONLY),
        rename=_rename(data.get("rename"), where + ".rename", problems),
        modifiers=tuple(modifiers),
    )


_OPERATION_TYPES = {"conditional", "replacement"}


def _custom_operations(raw: Any, where: str, problems: list[Problem]) -> CustomOperations:
    data = _ci(raw, where, problems)
    _unknown(set(data), {"operations", "flagprefix", "condition", "variableformat"}, where, problems,
             "custom operations key")
    if data.get("variableformat") not in (None, {}):
        problems.append(Problem("variableFormat (variable expansion) is not supported", path=f"{where}.variableFormat"))
    ops: list[CustomOperation] = []
    for i, item in enumerate(data.get("operations") or []):
        op = _ci(item, f"{where}.operations[{i}]", problems)
        _unknown(set(op), {"type", "condition", "configuration"}, f"{where}.operations[{i}]", problems,
                 "operation key")
        kind = str(op.get("type", "")).lower()
        if kind not in _OPERATION_TYPES:
            problems.append(Problem(f"operation type {op.get('type')!r} is not supported (only conditional and "
                                    "replacement)", path=f"{where}.operations[{i}].type",
                                    allowed=sorted(_OPERATION_TYPES)))
            continue
        ops.append(CustomOperation(kind, _text(op.get("condition")),
                                   _ci(op.get("configuration") or {}, f"{where}.operations[{i}].configuration",
                                       problems)))
    prefix = data.get("flagprefix")
    return CustomOperations(tuple(ops), str(prefix) if prefix is not None else None, _text(data.get("condition")))


def parse_config(text: str | bytes, origin: str = CONFIG_PATH) -> TemplateConfig:
    """Parse template.json text into a ``TemplateConfig`` or raise ``UnsupportedTemplateError``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig")
    try:
        try:
            raw = json.loads(text)  # fast path; json5 reads comments and trailing commas
        except ValueError:
            raw = json5.loads(text)
    except ValueError as exc:
        raise UnsupportedTemplateError(
            [Problem(f"is not valid JSON/JSON5: {exc}", path=origin)], "cannot read template.json") from exc
    problems: list[Problem] = []
    data = _ci(raw, "template.json", problems)
    for key, why in _REFUSED_TOP.items():
        if key in data:
            problems.append(Problem(f"'{key}' is not supported: {why}", path=f"template.json.{key}"))
    _unknown(set(data) - set(_REFUSED_TOP), _TOP_KEYS, "template.json", problems, "top-level key")
    if not isinstance(data.get("identity"), str) or not data.get("identity"):
        problems.append(Problem("'identity' is required and must be a non-empty string", path="identity"))
    short = data.get("shortname", [])
    short_names = (short,) if isinstance(short, str) else tuple(str(s) for s in short or [])
    version = str(data.get("version", "0.0.0"))
    if not semver.Version.is_valid(version):
        problems.append(Problem(f"'{version}' is not a semantic version (MAJOR.MINOR.PATCH)", path="version"))
    symbols: dict[str, Symbol] = {}
    raw_symbols = data.get("symbols") or {}
    if not isinstance(raw_symbols, Mapping):
        problems.append(Problem("must be an object of symbols", path="symbols"))
        raw_symbols = {}
    for name, sraw in raw_symbols.items():
        sym = _symbol(str(name), sraw, problems)
        if sym is not None:
            symbols[str(name)] = sym
    form_problems: list[tuple[str, str]] = []
    forms = parse_forms(_ci(data.get("forms") or {}, "forms", problems) and dict(data.get("forms") or {}),
                        form_problems)
    problems.extend(Problem(msg, path=path) for path, msg in form_problems)
    source_name = data.get("sourcename")
    if source_name is not None and (not isinstance(source_name, str) or not source_name):
        problems.append(Problem("must be a non-empty string", path="sourceName"))
    guids = data.get("guids", [])
    if not isinstance(guids, list) or not all(isinstance(g, str) for g in guids):
        problems.append(Problem("must be a list of GUID strings", path="guids"))
        guids = []
    raw_sources = data.get("sources")
    sources = (tuple(_source(s, i, problems) for i, s in enumerate(raw_sources))
               if isinstance(raw_sources, list) and raw_sources else (SourceSpec(),))

    def _entries(key: str, label: str) -> tuple[Mapping[str, Any], ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            problems.append(Problem("must be a list of objects", path=label))
            return ()
        return tuple(dict(v) for v in value)

    primary, post = _entries("primaryoutputs", "primaryOutputs"), _entries("postactions", "postActions")
    placeholder = data.get("placeholderfilename")
    placeholders = (str(placeholder),) if placeholder else DEFAULT_PLACEHOLDERS
    custom = (_custom_operations(data["customoperations"], "customOperations", problems)
              if "customoperations" in data else CustomOperations())
    special: list[tuple[str, CustomOperations]] = []
    raw_special = data.get("specialcustomoperations") or {}
    if not isinstance(raw_special, Mapping):
        problems.append(Problem("must be an object {glob: {operations: [...]}}", path="specialCustomOperations"))
        raw_special = {}
    for glob, spec in raw_special.items():
        special.append((str(glob), _custom_operations(spec, f"specialCustomOperations.{glob}", problems)))
    if problems:
        raise UnsupportedTemplateError(problems, f"template {data.get('identity', origin)!s} is not supported")
    return TemplateConfig(
        identity=data["identity"], name=str(data.get("name") or data["identity"]), short_names=short_names,
        version=version, description=str(data.get("description", "")), source_name=source_name,
        default_name=data.get("defaultname"), prefer_name_directory=_flag(data.get("prefernamedirectory")),
        prefer_default_name=_flag(data.get("preferdefaultname")), symbols=symbols, forms=forms,
        sources=sources, guids=tuple(guids), primary_outputs=primary, post_actions=post,
        placeholders=placeholders, custom_operations=custom, special_operations=tuple(special),
    )
