"""security-engineer: a static review of the generated service.

Rules (``ruleId``): SEC001 secrets in code, SEC002 anonymous routes other than health,
SEC003 write handlers without pydantic validation, SEC004 ``eval``/``exec``, SEC005 shell
commands (``shell=True``, ``os.system``), SEC006 debug flags. Python files are parsed with
``ast`` so comments and strings do not trigger the code rules; the secret rules look at text.
SEC003 follows one call: a handler that calls a function of the service which validates with
pydantic (``crud.create_item``) counts as validating.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.mesh.agents.assist import assist, prompt_json
from shared.mesh.agents.project import latest, load_json, manifest_files, required, service_relative
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillError, SkillResult

AGENT = "security-engineer"
SKILL = "security.review_code"

SEVERITY_ORDER = ("none", "info", "low", "medium", "high", "critical")
WRITE_METHODS = {"POST", "PUT", "PATCH"}
VALIDATORS = {"model_validate", "model_validate_json", "validate_python", "validate_json", "parse_obj"}

_SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an Azure storage/Cosmos account key", re.compile(r"AccountKey=[A-Za-z0-9+/]{20,}={0,2}")),
    ("a Service Bus / Event Hubs shared access key", re.compile(r"SharedAccessKey=[A-Za-z0-9+/]{20,}={0,2}")),
    ("a private key", re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH )?PRIVATE KEY-----")),
    ("an AWS access key id", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    (
        "a hard-coded password or key",
        re.compile(
            r"""(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?key|token|client[_-]?secret)\b"""
            r"""["']?\s*[:=]\s*["'][^"'\s]{8,}["']"""
        ),
    ),
)


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str
    message: str
    file: str
    line: int
    ruleId: str  # the payload's field name


def _finding(rule: str, severity: str, message: str, file: str, line: int) -> Finding:
    return Finding(
        id=f"{rule}:{file}:{line}", severity=severity, message=message, file=file, line=line, ruleId=rule
    )


def scan_text(path: str, text: str) -> list[Finding]:
    findings: list[Finding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for what, pattern in _SECRET_PATTERNS:
            if pattern.search(line):
                findings.append(
                    _finding(
                        "SEC001",
                        "high",
                        f"{what} is written in the code; move it to an app setting backed by Key Vault",
                        path,
                        number,
                    )
                )
                break
        if re.search(r"(?i)\"?\bdebug\"?\s*[:=]\s*(true|\"true\")", line):
            findings.append(
                _finding(
                    "SEC006",
                    "medium",
                    "a debug flag is switched on; remove it or read it from settings",
                    path,
                    number,
                )
            )
    return findings


def _call_name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _route_info(call: ast.Call) -> tuple[str, set[str], str] | None:
    """``(route, methods, auth level)`` of a ``*.route(...)`` call, else None."""
    if _call_name(call.func) != "route":
        return None
    kw = {k.arg: k.value for k in call.keywords if k.arg}
    route_node = kw.get("route") or (call.args[0] if call.args else None)
    route = (
        route_node.value if isinstance(route_node, ast.Constant) and isinstance(route_node.value, str) else ""
    )
    methods: set[str] = set()
    if isinstance(kw.get("methods"), ast.List | ast.Tuple):
        for elt in kw["methods"].elts:  # type: ignore[attr-defined]
            if isinstance(elt, ast.Constant):
                methods.add(str(elt.value).upper())
            elif isinstance(elt, ast.Attribute):
                methods.add(elt.attr.upper())
    auth = _call_name(kw["auth_level"]).upper() if "auth_level" in kw else ""
    return route, methods, auth


def _validates(fn: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and _call_name(n.func) in VALIDATORS for n in ast.walk(fn))


def validating_functions(files: Mapping[str, bytes]) -> set[str]:
    """Names of the functions in ``files`` that validate a body with a pydantic model."""
    names: set[str] = set()
    for path, body in files.items():
        if not path.endswith(".py"):
            continue
        try:
            tree = ast.parse(body.decode("utf-8"), filename=path)
        except (SyntaxError, UnicodeDecodeError):
            continue
        names |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                  and _validates(n)}
    return names


def scan_python(path: str, text: str, validating: set[str] | frozenset[str] = frozenset()) -> list[Finding]:
    findings: list[Finding] = []
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        return [
            _finding(
                "SEC000",
                "medium",
                f"file does not parse ({exc.msg}); it cannot be reviewed",
                path,
                exc.lineno or 1,
            )
        ]
    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    handlers: list[tuple[ast.Call, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _call_name(node.func)
            if name in ("eval", "exec") and isinstance(node.func, ast.Name):
                findings.append(
                    _finding(
                        "SEC004",
                        "high",
                        f"{name}() runs arbitrary code; parse the input instead",
                        path,
                        node.lineno,
                    )
                )
            if name == "system" and isinstance(node.func, ast.Attribute):
                findings.append(
                    _finding(
                        "SEC005",
                        "high",
                        "os.system runs a shell; use subprocess with an argument list",
                        path,
                        node.lineno,
                    )
                )
            if any(
                k.arg == "shell" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in node.keywords
            ):
                findings.append(
                    _finding(
                        "SEC005",
                        "high",
                        "shell=True lets input reach a shell; pass an argument list",
                        path,
                        node.lineno,
                    )
                )
            # bp.route(...)(handler): registration by call
            if isinstance(node.func, ast.Call) and _route_info(node.func) and node.args:
                handlers.append((node.func, _call_name(node.args[0])))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and _route_info(deco):
                    handlers.append((deco, node.name))
    for call, handler in handlers:
        info = _route_info(call)
        assert info is not None
        route, methods, auth = info
        if auth == "ANONYMOUS" and "health" not in route.lower():
            findings.append(
                _finding(
                    "SEC002",
                    "high",
                    f"route {route!r} ({handler}) is anonymous; use "
                    "AuthLevel.FUNCTION or put it behind authentication",
                    path,
                    call.lineno,
                )
            )
        fn = functions.get(handler)
        if methods & WRITE_METHODS and fn is not None:
            validated = _validates(fn) or any(
                isinstance(n, ast.Call) and _call_name(n.func) in validating for n in ast.walk(fn)
            )
            if not validated:
                findings.append(
                    _finding(
                        "SEC003",
                        "medium",
                        f"{handler} accepts {'/'.join(sorted(methods))} "
                        "without validating the body with a pydantic model",
                        path,
                        fn.lineno,
                    )
                )
    return findings


def review(files: Mapping[str, bytes]) -> list[Finding]:
    findings: list[Finding] = []
    validating = validating_functions(files)
    for path, body in sorted(files.items()):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            continue
        findings += scan_text(path, text)
        if path.endswith(".py"):
            findings += scan_python(path, text, validating)
    return sorted(findings, key=lambda f: (f.file, f.line, f.ruleId))


def highest(findings: list[Finding]) -> str:
    return max((f.severity for f in findings), key=SEVERITY_ORDER.index, default="none")


def service_files(
    ctx: SkillContext, service: str, code_artifacts: list[Mapping[str, Any]]
) -> dict[str, bytes]:
    """The scaffold's files with the generated code over them, keyed by service-relative path."""
    scaffold = latest(ctx, "MicroserviceScaffolded", service=service)
    manifest = load_json(
        ctx, str(required(scaffold, "manifestDigest", "MicroserviceScaffolded")), "scaffold manifest"
    )
    files: dict[str, bytes] = {}
    for path, digest in manifest_files(manifest).items():
        files[service_relative(path, service)] = _load(ctx, digest, path)
    for ref in code_artifacts:
        files[service_relative(str(ref["path"]), service)] = _load(ctx, str(ref["digest"]), str(ref["path"]))
    return files


def _load(ctx: SkillContext, digest: str, path: str) -> bytes:
    try:
        return ctx.load_artifact(digest)
    except (KeyError, FileNotFoundError) as exc:
        raise SkillError(
            f"{path} ({digest}) is not in the artifact store; retry when it is replicated"
        ) from exc


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Explanation(_Model):
    finding_id: str = Field(alias="findingId", description="the id of one finding, exactly")
    explanation: str = Field(min_length=1, max_length=800, description="why it is a risk in this code")
    remediation: str = Field(min_length=1, max_length=800, description="what to change, concretely")


class ReviewNotes(_Model):
    """Explanations of the review's findings for people. The findings themselves always come from the rules
    above; the deterministic notes are empty (each finding's message says what to do)."""

    explanations: list[Explanation] = Field(default_factory=list)


def notes_problems(findings: list[Finding], notes: ReviewNotes) -> list[str]:
    wanted = [f.id for f in findings]
    got = [e.finding_id for e in notes.explanations]
    problems = []
    if sorted(got) != sorted(wanted):
        problems.append(f"explain every finding exactly once, by id: {wanted} (got {got})")
    if any(line.lstrip().startswith(("#", "|", "```")) for e in notes.explanations
           for line in f"{e.explanation}\n{e.remediation}".splitlines()):
        problems.append("plain text only: no headings, tables or code blocks")
    return problems


def _excerpt(files: Mapping[str, bytes], finding: Finding, radius: int = 3) -> str:
    """The lines around a finding; none for a secret (it is not sent anywhere)."""
    if finding.ruleId == "SEC001" or finding.file not in files:
        return ""
    lines = files[finding.file].decode("utf-8", "replace").splitlines()
    low, high = max(0, finding.line - 1 - radius), min(len(lines), finding.line + radius)
    return "\n".join(f"{n + 1}: {lines[n]}" for n in range(low, high))


REVIEW_INSTRUCTIONS = """The static review of a generated service found the findings given as JSON (with the code
around each, except for secrets). For each finding, by its exact id, explain in plain text why it is a risk
in this code and what to change, concretely and briefly. Do not add findings and do not judge severities."""


def render_report(service: str, findings: list[Finding], notes: ReviewNotes | None = None) -> str:
    lines = [f"# Security review — {service}", "", f"Highest severity: **{highest(findings)}**", ""]
    if not findings:
        return "\n".join([*lines, "No findings.", ""])
    lines += ["| Severity | Rule | File | Line | Finding |", "|---|---|---|---|---|"]
    lines += [f"| {f.severity} | {f.ruleId} | `{f.file}` | {f.line} | {f.message} |" for f in findings]
    if notes is not None and notes.explanations:
        lines += ["", "## Explanations", ""]
        for e in sorted(notes.explanations, key=lambda e: e.finding_id):
            lines += [f"### `{e.finding_id}`", "", e.explanation.strip(), "", f"**Fix:** {e.remediation.strip()}", ""]
        lines.pop()
    return "\n".join([*lines, ""])


def review_code(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    service = str(required(event.data, "service", event.type))
    files = service_files(ctx, service, list(event.data.get("artifacts", [])))
    findings = review(files)
    events: list[Emit] = []
    extra: list[Artifact] = []
    notes = ReviewNotes()
    if findings:  # nothing to explain otherwise: no model call
        assisted = assist(ctx, agent=AGENT, skill=SKILL, output=ReviewNotes, instructions=REVIEW_INSTRUCTIONS,
                          prompt=prompt_json({"service": service, "findings": [
                              {**asdict(f), "code": _excerpt(files, f)} for f in findings]}),
                          fallback=ReviewNotes, check=lambda n: notes_problems(findings, n))
        notes, events, extra = assisted.value, assisted.events, assisted.artifacts
    report: dict[str, Any] = {
        "service": service,
        "highestSeverity": highest(findings),
        "filesReviewed": sorted(files),
        "findings": [asdict(f) for f in findings],
    }
    if notes.explanations:
        report["explanations"] = [e.model_dump(by_alias=True) for e in notes.explanations]
    artifacts = [
        Artifact.json(f"security/{service}-review.json", report),
        Artifact.text(
            f"security/{service}-review.md", render_report(service, findings, notes), "text/markdown; charset=utf-8"
        ),
    ]
    payload = {
        "projectId": ctx.project_id,
        "service": service,
        "findings": report["findings"],
        "highestSeverity": report["highestSeverity"],
        "artifacts": [a.ref() for a in artifacts],
    }
    return SkillResult(events=[*events, Emit("SecurityReviewCompleted", payload)], artifacts=[*extra, *artifacts])
