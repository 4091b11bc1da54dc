"""The mesh as a graph: who emits and who consumes each event, from manifests and flows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from shared.contracts.manifests import RETRY_COMMAND, Consumer
from shared.mesh.coordinators.flow import FlowDefinition, emitted_events

#: events that enter from outside the mesh (CLI, HTTP API, operator) or end it
EXTERNAL_SOURCES = {"ProjectInitialized", "FlowControlRequested", "TemplateExecutionRequested",
                    "ReleaseApprovalGranted", "ReleaseApprovalRejected", "IntentSubmitted"}
TERMINAL_EVENTS = {"ProjectCompleted", "DeadLetterRecorded", "InfrastructureBlueprintRolledBack",
                   # for people and for the record: a draft waits for a person; model usage is reported
                   "IntentDrafted", "SkillUsed", "SkillDegraded", "BudgetExceeded"}


@dataclass
class TopologyReport:
    mermaid: str
    warnings: list[str] = field(default_factory=list)
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (emitter, event, consumer)


@dataclass(frozen=True)
class AccessList:
    """Who may emit an event type and who consumes it (a schema's ``x-event`` access policy)."""

    emitters: tuple[str, ...]
    consumers: tuple[str, ...]


def access_lists(consumers: Sequence[Consumer], flows: Mapping[str, FlowDefinition],
                 entrypoints: Mapping[str, Sequence[str]]) -> dict[str, AccessList]:
    """event type -> access list, from the manifests, the flows and ``contracts/entrypoints.yaml``.

    Emitters are the consumers whose manifest (or flow) emits the type plus the entry points
    allowed to publish it; consumers are the subscribers (every agent also takes retry commands).
    """
    emitted_by, consumed_by = _wiring(consumers, flows)
    for source, types in entrypoints.items():
        for e in types:
            emitted_by[e].add(source)
    return {e: AccessList(tuple(sorted(emitted_by.get(e, ()))), tuple(sorted(consumed_by.get(e, ()))))
            for e in sorted(set(emitted_by) | set(consumed_by))}


def _wiring(consumers: Sequence[Consumer], flows: Mapping[str, FlowDefinition]
            ) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    flow_emits = {name: emitted_events(flow) for name, flow in flows.items()}
    emitted_by: dict[str, set[str]] = defaultdict(set)
    consumed_by: dict[str, set[str]] = defaultdict(set)
    for c in consumers:
        for e in (flow_emits.get(c.name, set()) if c.kind == "coordinator" else set(c.emits)):
            emitted_by[e].add(c.name)
        for e in c.subscribes_to:
            consumed_by[e].add(c.name)
        if c.kind == "agent":
            consumed_by[RETRY_COMMAND].add(c.name)
    return emitted_by, consumed_by


def analyse(consumers: Sequence[Consumer], flows: Mapping[str, FlowDefinition]) -> TopologyReport:
    emitted_by, consumed_by = _wiring(consumers, flows)
    warnings = []
    for e in sorted(set(emitted_by) - set(consumed_by) - TERMINAL_EVENTS):
        warnings.append(f"{e} is emitted by {sorted(emitted_by[e])} but no consumer subscribes to it")
    for e in sorted(set(consumed_by) - set(emitted_by) - EXTERNAL_SOURCES):
        warnings.append(f"{e} is consumed by {sorted(consumed_by[e])} but nothing emits it")
    graph: dict[str, set[str]] = defaultdict(set)
    edges = []
    for e, sources in emitted_by.items():
        for s in sources:
            for t in consumed_by.get(e, ()):
                edges.append((s, e, t))
                graph[s].add(t)
    kinds = {c.name: c.kind for c in consumers}
    for cycle in _cycles({k: v for k, v in graph.items() if kinds.get(k) == "agent"}, kinds):
        warnings.append("cycle between agents: " + " -> ".join(cycle))
    lines = ["flowchart LR"]
    for c in consumers:
        shape = {"agent": ("([", "])"), "coordinator": ("{{", "}}"), "step": ("[", "]")}[c.kind]
        lines.append(f"  {c.name.replace('-', '_')}{shape[0]}\"{c.name}\"{shape[1]}")
    for s, e, t in sorted(set(edges)):
        if e in ("CoordinatorStateChanged", "FlowTimeout"):
            continue
        lines.append(f"  {s.replace('-', '_')} -- {e} --> {t.replace('-', '_')}")
    return TopologyReport("\n".join(lines), warnings, sorted(set(edges)))


def _cycles(graph: dict[str, set[str]], kinds: Mapping[str, str]) -> list[list[str]]:
    found: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if kinds.get(nxt) != "agent":
                continue
            if nxt in path:
                cyc = [*path[path.index(nxt):], nxt]
                key = tuple(sorted(set(cyc)))
                if key not in seen and len(set(cyc)) > 1:
                    seen.add(key)
                    found.append(cyc)
                continue
            visit(nxt, [*path, nxt])

    for start in sorted(graph):
        visit(start, [start])
    return found
