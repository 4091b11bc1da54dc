"""What ``factory run`` and ``factory status`` say about a project: outcome and why, the generated
tests (failing ones by name, the report's path), policy and security findings, and what to do next.

The same facts go to the terminal, to a pipe (plain ``key  value`` lines) and to ``--json``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.text import Text

from shared.api.views import held_release_findings, outcome_of
from shared.bootstrap import Runtime
from shared.cli.output import BOOKKEEPING_EVENTS, console, esc, pairs, say, say_raw
from shared.handling.traceview import TraceNode, build_tree
from shared.product.findings import SEVERITIES, findings_text
from shared.product.projects import (
    ProjectStatus,
    TestReportSummary,
    project_findings,
    project_status,
    test_report_summaries,
)
from shared.product.usage import model_usage

#: states a failed flow ends in (``blocked``: the release gate closed; ``rejected``: a person refused)
FAILED_STATES = ("failed", "blocked", "rejected", "cancelled")
_SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


@dataclass
class ProjectReport:
    """Everything a summary shows, computed once."""

    status: ProjectStatus
    outcome: str  # released | failed | cancelled | awaiting approval | running
    tests: list[TestReportSummary]  # one per generated service
    findings: list[dict[str, Any]]
    repository: Path | None = None
    commit: str | None = None
    elapsed: float | None = None
    next_steps: list[str] = field(default_factory=list)

    @property
    def project_id(self) -> str:
        return self.status.project_id

    def report_location(self, tests: TestReportSummary) -> str:
        """Where the test report is: in the exported repository, or its artifact path."""
        if self.repository is not None and self.commit:
            return str(self.repository / tests.report_path)
        return tests.report_path

    @property
    def failed_tests(self) -> list[TestReportSummary]:
        return [t for t in self.tests if t.outcome == "TestsFailed"]

    def blocking_findings(self) -> list[dict[str, Any]]:
        """The findings that hold the release for a person's audited override (a critical policy finding, a high
        or critical security finding), while the release waits for that decision."""
        return held_release_findings(self.status)

    def to_dict(self) -> dict[str, Any]:
        st = self.status
        by_service = {t.service: {**st.tests_by_service.get(t.service, st.tests or {}), "failing": list(t.failing),
                                  "report": self.report_location(t)} for t in self.tests}
        latest = str((st.tests or {}).get("service", ""))
        tests = by_service.get(latest) or (next(iter(by_service.values())) if by_service else None)
        return {
            "projectId": st.project_id, "traceId": st.trace_id, "outcome": self.outcome, "reason": st.reason,
            "repository": str(self.repository) if self.commit else None, "commit": self.commit,
            "tests": tests, "testsByService": by_service, "findings": self.findings,
            "findingCounts": dict(Counter(str(f.get("severity")) for f in self.findings)),
            "heldBy": self.blocking_findings(),
            "elapsedSeconds": round(self.elapsed, 3) if self.elapsed is not None else None,
            "events": len(st.events), "flows": {k: v["state"] for k, v in st.flows.items()},
            "failedFlows": {k: v.get("failure") for k, v in st.flows.items() if v["state"] in FAILED_STATES},
            "modelUsage": model_usage(st.events),
            "next": self.next_steps,
        }


def build_report(rt: Runtime, project_id: str, *, repository: Path | None = None, commit: str | None = None,
                 elapsed: float | None = None) -> ProjectReport:
    status = project_status(rt, project_id)
    report = ProjectReport(status, outcome_of(status), test_report_summaries(rt, status),
                           project_findings(status), repository, commit, elapsed)
    report.next_steps = advice(report)
    return report


def advice(report: ProjectReport, rerun: str | None = None) -> list[str]:
    """Commands that move this project on, in the order to try them."""
    pid, st = report.project_id, report.status
    again = f"rerun `{rerun}` (it resumes the same project)" if rerun else \
        "rerun the same `factory run` command (it resumes the same project) or keep `factory host` running"
    steps: list[str] = []
    if report.outcome == "awaiting approval":
        held = report.blocking_findings()
        if held:
            fixes = []
            if any(f.get("kind") == "policy" for f in held):
                fixes.append("fix the intent for a policy finding and run it again")
            reviews = sorted({f"security/{f.get('service')}-review.md" for f in held if f.get("kind") == "security"})
            if reviews:
                fixes.append("a security finding is in the generated code: read the review (" + ", ".join(
                    f"`factory artifacts get {pid} {r}`" for r in reviews) + ")")
            steps.append(f"the findings above hold the release: {'; '.join(fixes)}; to release it anyway, override "
                         f"them: `factory approve {pid} --override-findings --as NAME --reason TEXT` (audited), "
                         f"or end it: `factory reject {pid} --as NAME --reason TEXT`; then {again}")
        else:
            steps.append(f"`factory approve {pid} --as NAME --reason TEXT` (or `factory reject ...`), then {again}")
    elif report.outcome == "running":
        steps.append(again)
    elif report.outcome in ("failed", "cancelled"):
        if report.failed_tests:
            steps.append("read the failing tests in the report: " + "; ".join(
                f"`factory artifacts get {pid} {t.report_path}`" for t in report.failed_tests))
            steps.append(f"if the failure is the sandbox's (a time limit, a flaky test): `factory flow retry {pid}` "
                         f"reruns the test gate, then {again}")
        elif any(v["state"] in FAILED_STATES for v in st.flows.values()):
            steps.append(f"see why with `factory status {pid}` and `factory trace {st.trace_id}`")
            steps.append(f"a failed agent step can be retried: `factory flow retry {pid}`, then {again}")
        steps.append("or fix the intent and start a fresh project with `factory run INTENT --run-id NEW`")
    return steps


# ----------------------------------------------------------------------------- printing


def _findings_line(findings: Sequence[dict[str, Any]]) -> str:
    if not findings:
        return "none"
    counts = Counter(str(f.get("severity")) for f in findings)
    return ", ".join(f"{counts[s]} {s}" for s in SEVERITIES if counts.get(s))


def finding_text(f: dict[str, Any]) -> str:
    where = f.get("resource") or f.get("file") or ""
    return (f"{f.get('severity')} {f.get('ruleId') or f.get('id')} ({f.get('kind')}, {f.get('service')}"
            + (f", {where}" if where else "") + f"): {f.get('message')}")


def print_report(report: ProjectReport, *, show_next: bool = True) -> None:
    st = report.status
    rows: list[tuple[str, object]] = [
        ("project", report.project_id), ("trace", st.trace_id),
        ("outcome", Text(report.outcome, style="green" if report.outcome == "released" else "bold red")),
        ("reason", st.reason),
    ]
    failed_flows = [f"{k}: {v['state']}" + (f" ({v['failure']})" if v.get("failure") else "")
                    for k, v in st.flows.items() if v["state"] in FAILED_STATES]
    rows += [("failed flows", "; ".join(failed_flows))]
    if report.commit and report.repository is not None:
        rows.append(("repository", str(report.repository)))
    for t in report.tests:
        of = f" ({t.service})" if len(report.tests) > 1 else ""
        duration = f" in {t.duration_ms:.0f} ms" if isinstance(t.duration_ms, int | float) else ""
        rows.append((f"tests{of}", f"{t.passed} passed, {t.failed} failed, {t.errors} errors{duration}"))
        if t.failing:
            rows.append((f"failing tests{of}", ", ".join(t.failing)))
        elif t.outcome == "TestsFailed" and t.reason:
            rows.append((f"why{of}", t.reason))
        rows.append((f"test report{of}", report.report_location(t)))
    rows.append(("findings", _findings_line(report.findings)))
    if held := report.blocking_findings():
        rows.append(("held by", findings_text(held) + "; an approval must override them"))
    usage = model_usage(st.events)
    if usage["calls"]:
        cost = "cost unknown (no price for the model)" if usage["costUsd"] is None else f"{usage['costUsd']:.4f} USD"
        by_agent = ", ".join(f"{a} {r['calls']}" for a, r in sorted(usage["byAgent"].items()))
        rows.append(("model", f"{usage['calls']} call(s) to {', '.join(usage['models'])} ({by_agent}): "
                              f"{usage['promptTokens']}+{usage['completionTokens']} tokens, {cost}"))
    rows += [("degraded", f"{d['agent']} ({d['skill']}): {d['reason']}") for d in usage["degraded"]]
    if usage["budgetExceeded"]:
        rows.append(("budget exceeded", usage["budgetExceeded"]))
    if report.elapsed is not None:
        rows.append(("elapsed", f"{report.elapsed:.1f} s"))
    rows.append(("events", len(st.events)))
    pairs(rows)
    for f in report.findings:
        if f.get("severity") in ("critical", "high"):
            style = _SEVERITY_STYLE.get(str(f.get("severity")), "")
            say(f"  [{style}]{esc(f.get('severity'))}[/] {esc(finding_text(f).split(' ', 1)[1])}")
    for step in report.next_steps if show_next else []:
        say(f"[bold]next:[/] {esc(step)}")


# ----------------------------------------------------------------------------- trace tree


def visible_tree(roots: Sequence[TraceNode], *, all_events: bool) -> list[TraceNode]:
    """The tree without bookkeeping events (their visible descendants move up to the nearest shown parent)."""
    if all_events:
        return list(roots)

    def keep(nodes: Sequence[TraceNode]) -> list[TraceNode]:
        out: list[TraceNode] = []
        for node in nodes:
            children = keep(node.children)
            if node.event["type"] in BOOKKEEPING_EVENTS:
                out.extend(children)
            else:
                out.append(TraceNode(node.event, node.spans, children))
        return out

    return keep(roots)


def _node_label(node: TraceNode) -> str:
    e = node.event
    return f"{e['type']} {e['id']} from {e.get('source')}"


def _span_label(span: Any) -> str:
    ms = (span.end - span.start).total_seconds() * 1000
    count = int(str(span.attributes.get("deliveryCount") or 1))
    return f"{span.consumer} {span.outcome} {ms:.1f} ms" + (f" (delivery {count})" if count > 1 else "")


def print_trace(rt: Runtime, trace_id: str, *, all_events: bool = False) -> int:
    """Print the causation tree; returns how many bookkeeping events were hidden."""
    events = rt.state.events_for_trace(trace_id)
    roots = build_tree(events, rt.tracer.spans_for_trace(trace_id))
    shown = visible_tree(roots, all_events=all_events)
    hidden = 0 if all_events else sum(1 for e in events if e["type"] in BOOKKEEPING_EVENTS)
    if console.is_terminal:
        from rich.tree import Tree

        tree = Tree(f"[bold]trace {esc(trace_id)}[/]")

        def add(branch: Any, node: TraceNode) -> None:
            e = node.event
            sub = branch.add(f"[cyan]{esc(e['type'])}[/] [dim]{esc(e['id'])} from {esc(e.get('source'))}[/]")
            for s in node.spans:
                colour = {"completed": "green", "duplicate": "yellow"}.get(s.outcome, "red")
                sub.add(f"[{colour}]{esc(_span_label(s))}[/]")
            for child in node.children:
                add(sub, child)

        for root in shown:
            add(tree, root)
        console.print(tree)
    else:
        lines = [f"trace {trace_id}"]

        def walk(node: TraceNode, depth: int) -> None:
            lines.append("  " * depth + _node_label(node))
            lines.extend("  " * (depth + 1) + "- " + _span_label(s) for s in node.spans)
            for child in node.children:
                walk(child, depth + 1)

        for root in shown:
            walk(root, 1)
        say_raw("\n".join(lines))
    if hidden:
        say(f"[dim]({hidden} bookkeeping events hidden: CoordinatorStateChanged, FlowTimeout; "
            "`factory trace ID --all` shows them)[/]")
    return hidden
