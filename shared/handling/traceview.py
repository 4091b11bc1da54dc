"""The causation tree of one trace: events (who emitted what, caused by what) and the
handlings (spans) each event triggered, with durations and outcomes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.ports import SpanRecord


@dataclass
class TraceNode:
    event: dict[str, Any]
    spans: list[SpanRecord] = field(default_factory=list)
    children: list[TraceNode] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.event["id"], "type": self.event["type"], "source": self.event.get("source"),
            "time": self.event.get("time"),
            "handlings": [{"consumer": s.consumer, "outcome": s.outcome,
                           "durationMs": round((s.end - s.start).total_seconds() * 1000, 3),
                           "deliveryCount": s.attributes.get("deliveryCount")} for s in self.spans],
            "children": [c.to_dict() for c in self.children],
        }


def build_tree(events: Sequence[dict[str, Any]], spans: Sequence[SpanRecord]) -> list[TraceNode]:
    nodes = {e["id"]: TraceNode(e) for e in events}
    by_event: dict[str, list[SpanRecord]] = defaultdict(list)
    for s in spans:
        if s.event_id:
            by_event[s.event_id].append(s)
    roots: list[TraceNode] = []
    for e in events:
        node = nodes[e["id"]]
        node.spans = sorted(by_event.get(e["id"], []), key=lambda s: (s.start, s.consumer))
        parent = nodes.get(e.get("causationId") or "")
        (parent.children if parent else roots).append(node)
    return roots


def render_tree(roots: Sequence[TraceNode], trace_id: str) -> Any:
    from rich.tree import Tree

    tree = Tree(f"[bold]trace {trace_id}[/]")

    def add(branch: Any, node: TraceNode) -> None:
        e = node.event
        label = f"[cyan]{e['type']}[/] [dim]{e['id'][:8]} from {e.get('source')}[/]"
        sub = branch.add(label)
        for s in node.spans:
            ms = (s.end - s.start).total_seconds() * 1000
            colour = {"completed": "green", "duplicate": "yellow"}.get(s.outcome, "red")
            sub.add(f"[{colour}]{s.consumer}[/] {s.outcome} {ms:.1f} ms"
                    + (f" (delivery {s.attributes.get('deliveryCount')})"
                       if int(str(s.attributes.get("deliveryCount") or 1)) > 1 else ""))
        for child in node.children:
            add(sub, child)

    for root in roots:
        add(tree, root)
    return tree
