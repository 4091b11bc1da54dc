"""Conditional content (``#if`` blocks, flags, MSBuild ``Condition`` attributes) by file type, as
``dotnet new`` processes it by default (``OperationConfigDefault``, ``ConditionalConfig``,
``Core/Operations/Conditional.cs``, ``SetFlag.cs``, ``InlineMarkupConditional.cs``).

Each file type has a comment style; a directive token may sit anywhere on a line: the line is
then a directive (what precedes the token on that line is dropped, the rest of the line is the
condition). Styles (tokens are case-sensitive):

* ``//`` line comments (``.js .ts .json`` ... and every file type not listed): ``//#if (c)``
  ``//#elseif`` / ``//#elif`` ``//#else`` ``//#endif``; *actionable* ``////#if`` ... whose taken
  branch is uncommented (``////`` -> ``//``, ``//`` -> nothing).
* no comment (``.cs .fs .c .cpp .h .hpp .cake`` ...): ``#if`` ``#elseif`` ``#elif`` ``#else`` ``#endif``.
* ``#`` (``.sh .yml .yaml .sln Dockerfile .gitignore`` ...): ``#if`` ... and actionable ``##if``.
* ``rem `` (``.bat .cmd``), ``-#`` (``.haml``): like ``//``.
* block comments: XML ``<!--#if (c) -->`` / ``#endif -->`` (``.xml .html .md .xaml .resx``
  ``.config`` ... and MSBuild files), ``/*#if */`` (``.css``), ``@*#if *@`` (``.cshtml .razor``),
  ``{/*#if */}`` (``.jsx .tsx``); every branch is actionable (a pseudo comment end such as
  ``-- >`` becomes ``-->``).
* VB (``.vb .bas``): ``#If`` ``#ElseIf`` ``#Else`` ``#End If`` with the VB evaluator.
* MSBuild (``.*proj .props .targets`` ...): the XML style plus ``Condition="..."`` attributes
  evaluated with ``$(name)``: true removes the attribute, false removes the element; a condition
  that cannot be evaluated (for example a symbol without a value) leaves the element untouched.

Flags: ``<prefix>-:cnd`` turns conditional processing off until ``<prefix>+:cnd`` (the marker
lines stay); ``-:cnd:noEmit`` / ``+:cnd:noEmit`` do the same and remove the markers. Likewise
``:replacements`` (symbol replacements). The prefix is ``//`` for C-like files, ``#-`` / ``#--``
for hash files, ``'`` for VB, ``<!--/`` for MSBuild, ``<!--`` for XML, ``rem --:`` for batch.

A template can replace the style of a glob with ``specialCustomOperations`` (``conditional``
operations of style ``line``, ``block`` or ``custom``, ``replacement`` operations).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any

from shared.scaffold.expressions import ExpressionError, evaluate_faulted


class ConditionalError(ValueError):
    """A condition that cannot be evaluated; names file and line."""


@dataclass(frozen=True)
class Style:
    """One conditional operation: its tokens, evaluator and actionable operations."""

    if_: tuple[str, ...] = ()
    elseif: tuple[str, ...] = ()
    else_: tuple[str, ...] = ()
    endif: tuple[str, ...] = ()
    a_if: tuple[str, ...] = ()
    a_elseif: tuple[str, ...] = ()
    a_else: tuple[str, ...] = ()
    actions: tuple[tuple[str, str], ...] = ()  # replacements active in actionable branches
    evaluator: str = "C++"
    whole_line: bool = True
    trim: bool = True


def line_style(token: str, prefix: str = "#", evaluator: str = "C++",
               keywords: Mapping[str, Sequence[str]] | None = None) -> Style:
    """``ConditionalLineCommentConfig``: ``<token><prefix>if`` ..., actionable ``<token><token><prefix>if``."""
    kw = {"if": ("if",), "elseif": ("elseif", "elif"), "else": ("else",), "endif": ("endif",),
          **{k: tuple(v) for k, v in (keywords or {}).items()}}

    def tok(kind: str, double: bool = False) -> tuple[str, ...]:
        lead = token + token if double else token
        return tuple(f"{lead}{prefix}{k}" for k in kw[kind])

    actions = ((token + token, token), (token, "")) if token else ()
    return Style(if_=tok("if"), elseif=tok("elseif"), else_=tok("else"),
                 endif=tok("endif") + tok("endif", True), a_if=tok("if", True), a_elseif=tok("elseif", True),
                 a_else=tok("else", True), actions=actions, evaluator=evaluator)


def block_style(start: str, end: str, pseudo_end: str | None = None, prefix: str = "#",
                evaluator: str = "C++", keywords: Mapping[str, Sequence[str]] | None = None) -> Style:
    """``ConditionalBlockCommentConfig``: ``<start>#if``; every branch actionable (pseudo end fixed)."""
    kw = {"if": ("if",), "elseif": ("elseif", "elif"), "else": ("else",), "endif": ("endif",),
          **{k: tuple(v) for k, v in (keywords or {}).items()}}
    if pseudo_end is None and len(end) >= 2:
        pseudo_end = end[:-1] + " " + end[-1]

    def both(kind: str) -> tuple[str, ...]:
        return tuple(t for k in kw[kind] for t in (f"{prefix}{k}", f"{start}{prefix}{k}"))

    return Style(endif=both("endif"), a_if=tuple(f"{start}{prefix}{k}" for k in kw["if"]),
                 a_elseif=both("elseif"), a_else=both("else"),
                 actions=((pseudo_end, end),) if pseudo_end else (), evaluator=evaluator)


CNO_COMMENTS = Style(if_=("#if",), elseif=("#elseif", "#elif"), else_=("#else",), endif=("#endif",))
VB_STYLE = Style(if_=("#If",), elseif=("#ElseIf",), else_=("#Else",), endif=("#End If",), evaluator="VB")
XML_STYLE = block_style("<!--", "-->")


@dataclass(frozen=True)
class Replacement:
    """A literal replacement (``customOperations`` of type ``replacement``), optionally ``onlyIf``."""

    original: str
    replacement: str
    only_if: tuple[tuple[str, str], ...] = ()  # (after, before) contexts


@dataclass(frozen=True)
class FileOps:
    """The operations applied to one file."""

    styles: tuple[Style, ...]
    flag_prefix: str
    msbuild: bool = False
    replacements: tuple[Replacement, ...] = ()


# glob, flag prefix, style name; order as upstream (first match wins)
_DEFAULTS: tuple[tuple[str, str, str], ...] = (
    *((f"*.{e}", "//", "line//") for e in (
        "js", "es", "es6", "ts", "json", "jsonld", "hjson", "json5", "geojson", "topojson", "bowerrc", "npmrc",
        "job", "postcssrc", "babelrc", "csslintrc", "eslintrc", "jade-lintrc", "pug-lintrc", "jshintrc",
        "stylelintrc", "yarnrc")),
    ("*.css.min", "/*", "css"), ("*.css", "/*", "css"),
    ("*.cshtml", "@*", "razor"), ("*.razor", "@*", "razor"), ("*.vbhtml", "@*", "razor-vb"),
    *((f"*.{e}", "//", "cnocomments") for e in ("cs", "fs", "c", "cpp", "cxx", "h", "hpp", "hxx", "cake")),
    *((g, "<!--/", "msbuild") for g in ("*.*proj", "*.*proj.user", "*.pubxml", "*.pubxml.user", "*.msbuild",
                                       "*.targets", "*.props")),
    *((g, "<!--", "xml") for g in ("*.svg", "*.*htm", "*.*html", "*.md", "*.jsp", "*.asp", "*.aspx", "app.config",
                                  "web.config", "web.*.config", "packages.config", "nuget.config", "*.nuspec",
                                  "*.xslt", "*.xsd", "*.vsixmanifest", "*.vsct", "*.storyboard", "*.axml",
                                  "*.plist", "*.xib", "*.strings")),
    ("*.bat", "rem --:", "rem"), ("*.cmd", "rem --:", "rem"),
    ("nginx.conf", "#--", "hash"), ("robots.txt", "#--", "hash"), ("*.sh", "#--", "hash"),
    ("*.haml", "-#", "haml"), ("*.jsx", "{/*", "jsx"), ("*.tsx", "{/*", "jsx"),
    ("*.xml", "<!--", "xml"), ("*.resx", "<!--", "xml"), ("*.bas", "'", "vb"), ("*.vb", "'", "vb"),
    ("*.xaml", "<!--", "xml"),
    *((g, "#-", "hash") for g in ("*.sln", "*.yaml", "*.yml", "Dockerfile", ".editorconfig", ".gitattributes",
                                 ".gitignore", ".dockerignore")),
)
STYLES: dict[str, Style] = {
    "line//": line_style("//"),
    "css": block_style("/*", "*/"),
    "razor": block_style("@*", "*@"),
    "razor-vb": block_style("@*", "*@", evaluator="VB"),
    "cnocomments": CNO_COMMENTS,
    "msbuild": XML_STYLE,
    "xml": XML_STYLE,
    "rem": line_style("rem "),
    "hash": line_style("#", prefix=""),
    "haml": line_style("-#"),
    "jsx": block_style("{/*", "*/}"),
    "vb": VB_STYLE,
}
DEFAULT_OPS = FileOps((STYLES["line//"],), "//")


def default_ops(path: str) -> FileOps:
    """The operations ``dotnet new`` applies by default to the file at ``path`` (matched by name)."""
    return _default_ops_by_name(path.rsplit("/", 1)[-1])


@lru_cache(maxsize=4096)
def _default_ops_by_name(name: str) -> FileOps:
    for glob, prefix, style in _DEFAULTS:
        if fnmatchcase(name, glob):
            return FileOps((STYLES[style],), prefix, msbuild=style == "msbuild")
    return DEFAULT_OPS


def default_glob_style(glob: str) -> tuple[str, FileOps] | None:
    """The default operations of a ``**/<pattern>`` glob, if it is one of upstream's defaults."""
    pattern = glob[3:] if glob.startswith("**/") else glob
    for g, prefix, style in _DEFAULTS:
        if g == pattern:
            return g, FileOps((STYLES[style],), prefix, msbuild=style == "msbuild")
    return None


# ------------------------------------------------------------------------------------------------

_KIND_ORDER = ("if", "elseif", "else", "endif", "a_if", "a_elseif", "a_else")


@dataclass
class _Frame:
    style: Style
    taken: bool  # a branch of this block has been taken
    active: bool  # the current branch is being emitted
    actionable: bool  # actionable operations on in the current branch
    line: int


@dataclass
class _Scanner:
    regex: re.Pattern[str]  # every token
    structural: re.Pattern[str]  # conditional and flag tokens (actions only matter in actionable branches)
    own: tuple[re.Pattern[str], ...]  # per style: its conditional tokens (what a skipped branch looks for)
    table: dict[str, tuple[str, Any]]  # token -> (kind, payload)


def _alternation(tokens: Iterable[str]) -> re.Pattern[str]:
    keys = sorted(set(tokens), key=lambda t: (-len(t), t))
    return re.compile("|".join(re.escape(k) for k in keys)) if keys else re.compile(r"(?!x)x")


@lru_cache(maxsize=64)
def _scanner(ops: FileOps) -> _Scanner:
    table: dict[str, tuple[str, Any]] = {}
    own: list[list[str]] = []
    for index, style in enumerate(ops.styles):
        mine: list[str] = []
        for kind in _KIND_ORDER:
            for tok in getattr(style, kind if kind not in ("if", "else") else kind + "_"):
                table.setdefault(tok, ("cond", (index, kind)))
                if table[tok] == ("cond", (index, kind)):
                    mine.append(tok)
        own.append(mine)
        for old, _new in style.actions:
            table.setdefault(old, ("action", (index, old)))
    p = ops.flag_prefix
    for flag, name in ((":cnd", "conditional"), (":replacements", "replacements"), (":vars", "vars"),
                       (":include", "include")):
        for sign, on in (("+", True), ("-", False)):
            table.setdefault(f"{p}{sign}{flag}", ("flag", (name, on, True)))
            table.setdefault(f"{p}{sign}{flag}:noEmit", ("flag", (name, on, False)))
    table.setdefault(f"{p}+:flags", ("flag", ("flags", True, True)))
    table.setdefault(f"{p}+:flags:noEmit", ("flag", ("flags", True, False)))
    return _Scanner(_alternation(table), _alternation(t for t, (k, _) in table.items() if k != "action"),
                    tuple(_alternation(m) for m in own), table)


@dataclass
class Processed:
    """The output of conditional processing: text chunks and whether replacements apply to each."""

    chunks: list[tuple[str, bool]] = field(default_factory=list)

    def add(self, text: str, replace: bool) -> None:
        if not text:
            return
        if self.chunks and self.chunks[-1][1] == replace:
            self.chunks[-1] = (self.chunks[-1][0] + text, replace)
        else:
            self.chunks.append((text, replace))

    def drop_line_prefix(self) -> None:
        """Remove what was emitted on the current line (upstream ``SeekBackUntil(lineEndings)``)."""
        while self.chunks:
            text, flag = self.chunks[-1]
            cut = max(text.rfind("\n"), text.rfind("\r"))
            if cut >= 0:
                self.chunks[-1] = (text[:cut + 1], flag)
                return
            self.chunks.pop()

    def drop_last_newline(self) -> None:
        if self.chunks:
            text, flag = self.chunks[-1]
            for eol in ("\r\n", "\n", "\r"):
                if text.endswith(eol):
                    self.chunks[-1] = (text[: -len(eol)], flag)
                    if not self.chunks[-1][0]:
                        self.chunks.pop()
                    return

    @property
    def text(self) -> str:
        return "".join(t for t, _ in self.chunks)


_EOL = re.compile(r"\r\n|\n|\r")


def _line_end(text: str, pos: int) -> tuple[int, int]:
    """(end of the line's content, position after its line ending) from ``pos``."""
    m = _EOL.search(text, pos)
    return (m.start(), m.end()) if m else (len(text), len(text))


def _split_lines(text: str) -> list[tuple[str, str]]:
    """(content, line ending) pairs; the last may have an empty ending."""
    out: list[tuple[str, str]] = []
    for raw in text.splitlines(keepends=True):
        if raw.endswith("\r\n"):
            out.append((raw[:-2], "\r\n"))
        elif raw.endswith(("\n", "\r")):
            out.append((raw[:-1], raw[-1]))
        else:
            out.append((raw, ""))
    return out


def process(text: str, ops: FileOps, variables: Mapping[str, Any], path: str = "<text>",
            warn: Callable[[str], None] | None = None,
            memo: dict[tuple[str, str], tuple[bool, str | None]] | None = None) -> Processed:
    """Resolve the conditional blocks and flags of ``text`` with ``variables``.

    Emulates upstream's token stream: a directive consumes its whole line (what precedes the token on
    that line is dropped, the rest of the line is the condition); a skipped branch is scanned only for
    the tokens of its own block; else/endif tokens outside a block are emitted as written.
    """
    scanner = _scanner(ops)
    out = Processed()
    if scanner.structural.search(text) is None:
        out.add(text, True)
        return out
    flags = {"conditional": True, "replacements": True, "flags": True, "vars": True, "include": True}
    stack: list[_Frame] = []
    skipping: _Frame | None = None  # the block whose current branch is being skipped
    skip_depth = 0  # nested blocks inside the skipped branch
    taken_skip = False  # skipping the remaining branches of a block whose branch was taken

    def line_no(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    def evaluate(style: Style, expr: str, pos: int) -> bool:
        key = (expr, style.evaluator)
        found = memo.get(key) if memo is not None else None
        if found is None:
            found = evaluate_faulted(expr, variables, style.evaluator)
            if memo is not None:
                memo[key] = found
        value, fault = found
        if fault is not None:
            if style.evaluator.upper() == "C++":
                raise ConditionalError(f"{path}:{line_no(pos)}: {fault}")
            if warn is not None:
                warn(f"{path}:{line_no(pos)}: {fault} (treated as false, as dotnet new does)")
        return value

    pos = 0
    while pos < len(text):
        if skipping is not None:
            m = scanner.own[ops.styles.index(skipping.style)].search(text, pos)
            if m is None:
                break
            kind = scanner.table[m.group(0)][1][1]
            pos = m.end()
            if kind in ("if", "a_if"):
                skip_depth += 1
                continue
            if skip_depth > 0:
                skip_depth -= kind == "endif"
                continue
            frame = skipping
            content_end, after = _line_end(text, m.end())
            if kind == "endif":
                stack.pop()
                skipping = None
                if taken_skip:  # upstream keeps the line end after an #endif reached this way
                    out.add(text[content_end:after], flags["replacements"])
                taken_skip = False
                pos = after
                continue
            if taken_skip:
                continue
            parent = stack[-2].actionable if len(stack) > 1 else False
            if kind in ("elseif", "a_elseif"):
                if evaluate(frame.style, text[m.end():content_end], m.start()):
                    frame.taken = frame.active = True
                    frame.actionable = kind == "a_elseif" or parent
                    skipping = None
            else:
                frame.taken = frame.active = True
                frame.actionable = kind == "a_else" or parent
                skipping = None
            pos = after
            continue
        actionable = bool(stack) and stack[-1].actionable
        m = (scanner.regex if actionable else scanner.structural).search(text, pos)
        if m is None:
            out.add(text[pos:], flags["replacements"])
            break
        out.add(text[pos:m.start()], flags["replacements"])
        token = m.group(0)
        pos = m.end()
        what, payload = scanner.table[token]
        if what == "action":
            index, old = payload
            style = ops.styles[index]
            on = any(f.style is style for f in stack)
            out.add(dict(style.actions)[old] if on else token, flags["replacements"])
            continue
        if what == "flag":
            name, on, emit = payload
            if flags["flags"]:
                flags[name] = on
            elif name == "flags" and on:
                flags["flags"] = True
            if emit or not flags["flags"]:
                out.add(token, flags["replacements"])
            else:
                pos = _line_end(text, pos)[1]
            continue
        index, kind = payload
        style = ops.styles[index]
        if not flags["conditional"]:
            out.add(token, flags["replacements"])
            continue
        content_end, after = _line_end(text, pos)
        if kind in ("if", "a_if"):
            out.drop_line_prefix()
            value = evaluate(style, text[pos:content_end], m.start())
            frame = _Frame(style, value, value, value and (kind == "a_if" or actionable), line_no(m.start()))
            stack.append(frame)
            if not value:
                skipping, skip_depth, taken_skip = frame, 0, False
            pos = after
            continue
        if not stack or stack[-1].style is not style:
            out.add(token, flags["replacements"])  # unbalanced: emitted as written
            continue
        out.drop_line_prefix()
        pos = after
        if kind == "endif":
            stack.pop()
            continue
        # an elseif/else after the taken branch: skip to the matching endif
        stack[-1].active = False
        skipping, skip_depth, taken_skip = stack[-1], 0, True
        out.drop_last_newline()
    if warn is not None:
        for frame in stack:
            warn(f"{path}:{frame.line}: #if is never closed (the rest of the file belongs to it, as in dotnet new)")
    return out


# ------------------------------------------------------------------------------ MSBuild attributes

_CONDITION = re.compile(r'(\s*)Condition="([^"]*)"')
_STRUCT = re.compile(r"<!--|-->|</|/>|<|>")


def msbuild_conditions(text: str, variables: Mapping[str, Any]) -> str:
    """Evaluate ``Condition="..."`` attributes (MSBuild evaluator, ``$(name)`` references)."""
    if 'Condition="' not in text:
        return text
    out: list[str] = []
    pos = 0
    while True:
        m = _CONDITION.search(text, pos)
        if m is None:
            out.append(text[pos:])
            return "".join(out)
        value, fault = evaluate_faulted(m.group(2), variables, "MSBUILD")
        if fault is not None:
            out.append(text[pos:m.end()])
            pos = m.end()
            continue
        if value:
            out.append(text[pos:m.start()])
            pos = m.end()
            continue
        # false: drop the element (from its '<' to its end) and, if it was alone on its line, the line
        before = text[pos:m.start()]
        lt = before.rfind("<")
        if lt < 0:
            emitted = "".join(out)
            lt_all = emitted.rfind("<")
            out = [emitted[:lt_all]] if lt_all >= 0 else [emitted]
            before = ""
        else:
            before = before[:lt]
        end = _element_end(text, m.end())
        head = "".join(out) + before
        line_start = max(head.rfind("\n"), head.rfind("\r")) + 1
        tail_nl = re.match(r"[ \t]*(\r\n|\n|\r|$)", text[end:])
        if head[line_start:].strip() == "" and tail_nl is not None:
            head = head[:line_start]
            end += tail_nl.end()
        out = [head]
        pos = end


def _element_end(text: str, pos: int) -> int:
    depth, in_element, in_comment = 1, True, False
    for m in _STRUCT.finditer(text, pos):
        tok = m.group(0)
        if in_comment:
            in_comment = tok != "-->"
            continue
        if tok == "<!--":
            in_comment = True
        elif tok == "<":
            depth += 1
            in_element = True
        elif tok == "/>":
            depth -= 1
            in_element = False
        elif tok == ">":
            if in_element:
                in_element = False
            else:
                depth -= 1
        elif tok == "</":
            in_element = False
        if depth == 0:
            return m.end()
    return len(text)


def check_expression(expr: str, variables: Mapping[str, Any], evaluator: str) -> bool:
    """Evaluate a template-level condition; C++ errors are raised as ``ExpressionError``."""
    value, fault = evaluate_faulted(expr, variables, evaluator)
    if fault is not None and evaluator.upper() == "C++":
        raise ExpressionError(fault)
    return value


def directive_conditions(text: str, ops: FileOps) -> list[tuple[int, str, str]]:
    """(line number, evaluator, condition) of every ``#if`` / ``#elseif`` directive and MSBuild
    ``Condition`` attribute in ``text`` (for explaining what a parameter drives)."""
    scanner = _scanner(ops)
    out: list[tuple[int, str, str]] = []
    if scanner.regex.search(text) is None and not (ops.msbuild and 'Condition="' in text):
        return out
    for number, (content, _eol) in enumerate(_split_lines(text), start=1):
        for m in scanner.regex.finditer(content):
            what, payload = scanner.table[m.group(0)]
            if what == "cond" and payload[1] in ("if", "a_if", "elseif", "a_elseif"):
                out.append((number, ops.styles[payload[0]].evaluator, content[m.end():].strip()))
                break
        if ops.msbuild:
            out.extend((number, "MSBUILD", c.group(2)) for c in _CONDITION.finditer(content))
    return out
