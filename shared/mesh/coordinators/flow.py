"""Coordinators as finite-state machines defined in ``contracts/flows/*.yaml``.

A flow definition names states, the events that move between them (optionally guarded),
eventless ``always`` transitions evaluated on entry, state timeouts (scheduled ``FlowTimeout``
messages; a late timeout for a state that moved on is a no-op), agent supervision (on
``AgentFailed`` retry the agent up to ``retry.maxAttempts`` with back-off, then go to
``retry.onExhausted``), and manual control (``FlowControlRequested``: skip, force, retry,
cancel), each change emitting ``CoordinatorStateChanged`` as the audit trail.

This module holds the definition model, its parser and its validation; ``guards.py`` the named
guards and actions, ``engine.py`` how an event moves an instance.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from shared.contracts import CONTRACTS_DIR
from shared.contracts.manifests import RETRY_COMMAND
from shared.mesh.coordinators.guards import ACTIONS, CANCELLED, GUARDS, probe_instance, run_action

CONTROL_EVENTS = ("FlowTimeout", "FlowControlRequested", "AgentFailed")


class FlowDefinitionError(ValueError):
    """A flow YAML is inconsistent. The message names the file, the state and what to fix."""


class FlowVersionError(ValueError):
    """A stored instance or event log cannot be explained by the current flow definition."""


# ----------------------------------------------------------------------------- definition


@dataclass(frozen=True)
class Transition:
    event: str
    target: str | None  # None: stay (record only)
    guard: str | None = None
    otherwise: str | None = None  # target when the guard is false (None: stay)
    when: tuple[str, ...] = ()  # event types that must have been seen
    actions: tuple[str, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class State:
    name: str
    on: Mapping[str, Transition] = field(default_factory=dict)
    always: tuple[Transition, ...] = ()
    timeout_seconds: float | None = None
    on_timeout: str | None = None
    terminal: bool = False
    actions: tuple[str, ...] = ()  # on entry
    next: str | None = None  # where `skip` goes


@dataclass(frozen=True)
class FlowDefinition:
    id: str
    version: str
    description: str
    initial: str
    states: Mapping[str, State]
    subscribes_to: tuple[str, ...]
    supervises: tuple[str, ...] = ()
    max_attempts: int = 2
    backoff_seconds: float = 1.0
    on_exhausted: str = "failed"
    source_file: str = ""
    #: "service": one instance per (project, service) — events carry ``data.service``; None: one per project
    instance_per: str | None = None

    @property
    def handled_events(self) -> set[str]:
        found = {e for s in self.states.values() for e in s.on}
        found |= {"FlowControlRequested"}
        if any(s.timeout_seconds for s in self.states.values()):
            found.add("FlowTimeout")
        if self.supervises:
            found.add("AgentFailed")
        return found


def _transition(event: str, spec: Any, where: str) -> Transition:
    if spec is None or isinstance(spec, str):
        return Transition(event, spec)
    if not isinstance(spec, dict):
        raise FlowDefinitionError(f"{where}: transition on '{event}' must be a state name or a mapping")
    unknown = set(spec) - {"target", "guard", "else", "when", "actions", "reason"}
    if unknown:
        raise FlowDefinitionError(f"{where}: transition on '{event}' has unknown keys {sorted(unknown)}")
    return Transition(event, spec.get("target"), spec.get("guard"), spec.get("else"),
                      tuple(spec.get("when", ())), tuple(spec.get("actions", ())), spec.get("reason"))


def parse_flow(doc: Mapping[str, Any], source: str = "<flow>", known_events: set[str] | None = None
               ) -> FlowDefinition:
    where = source
    for key in ("id", "version", "initial", "states", "subscribesTo"):
        if key not in doc:
            raise FlowDefinitionError(f"{where}: missing required field '{key}'")
    if doc.get("instancePer") not in (None, "service"):
        raise FlowDefinitionError(f"{where}: instancePer must be 'service' (or absent for one instance per project)")
    states: dict[str, State] = {}
    for name, spec in (doc["states"] or {}).items():
        spec = dict(spec or {})
        if True in spec:  # YAML 1.1 reads a bare `on:` key as the boolean true
            spec["on"] = spec.pop(True)
        sw = f"{where}: state '{name}'"
        unknown = set(spec) - {"on", "always", "timeoutSeconds", "onTimeout", "terminal", "actions", "next",
                               "description"}
        if unknown:
            raise FlowDefinitionError(f"{sw} has unknown keys {sorted(unknown)}")
        on = {ev: _transition(ev, t, sw) for ev, t in (spec.get("on") or {}).items()}
        always = tuple(_transition("<always>", t, sw) for t in spec.get("always", []))
        states[name] = State(name, on, always, spec.get("timeoutSeconds"), spec.get("onTimeout"),
                             bool(spec.get("terminal", False)), tuple(spec.get("actions", ())), spec.get("next"))
    states.setdefault(CANCELLED, State(CANCELLED, terminal=True))
    retry = doc.get("retry") or {}
    flow = FlowDefinition(
        id=doc["id"], version=str(doc["version"]), description=str(doc.get("description", "")).strip(),
        initial=doc["initial"], states=states, subscribes_to=tuple(doc["subscribesTo"]),
        supervises=tuple(doc.get("supervises", ())), max_attempts=int(retry.get("maxAttempts", 2)),
        backoff_seconds=float(retry.get("backoffSeconds", 1.0)),
        on_exhausted=retry.get("onExhausted", "failed"), source_file=source, instance_per=doc.get("instancePer"),
    )
    validate_flow(flow, known_events)
    return flow


def validate_flow(flow: FlowDefinition, known_events: set[str] | None = None) -> None:
    where = flow.source_file
    if flow.initial not in flow.states:
        raise FlowDefinitionError(f"{where}: initial state '{flow.initial}' is not defined; "
                                  f"defined states: {sorted(flow.states)}")
    edges: dict[str, set[str]] = {n: set() for n in flow.states}
    for s in flow.states.values():
        targets = [t.target for t in s.on.values()] + [t.otherwise for t in s.on.values()]
        targets += [t.target for t in s.always] + [s.on_timeout, s.next]
        if flow.supervises:
            targets.append(flow.on_exhausted)
        for t in targets:
            if t is None:
                continue
            if t not in flow.states:
                raise FlowDefinitionError(f"{where}: state '{s.name}' goes to undefined state '{t}'; "
                                          f"defined states: {sorted(flow.states)}")
            edges[s.name].add(t)
        for tr in [*s.on.values(), *s.always]:
            if tr.guard and tr.guard not in GUARDS:
                raise FlowDefinitionError(f"{where}: state '{s.name}' uses unknown guard '{tr.guard}'; "
                                          f"known guards: {sorted(GUARDS)}")
            for a in tr.actions:
                if a not in ACTIONS:
                    raise FlowDefinitionError(f"{where}: unknown action '{a}'; known: {sorted(ACTIONS)}")
        for a in s.actions:
            if a not in ACTIONS:
                raise FlowDefinitionError(f"{where}: state '{s.name}' has unknown action '{a}'")
        if s.timeout_seconds and not s.on_timeout:
            raise FlowDefinitionError(f"{where}: state '{s.name}' has timeoutSeconds but no onTimeout state")
    seen, queue = {flow.initial, CANCELLED}, deque([flow.initial])
    while queue:
        for nxt in edges[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    unreachable = sorted(set(flow.states) - seen)
    if unreachable:
        raise FlowDefinitionError(f"{where}: states {unreachable} can never be reached from "
                                  f"'{flow.initial}'; add a transition into them or remove them")
    subscribed = set(flow.subscribes_to)
    handled = flow.handled_events
    if handled - subscribed:
        raise FlowDefinitionError(f"{where}: transitions use events {sorted(handled - subscribed)} that are "
                                  "missing from subscribesTo (the subscription would never deliver them)")
    if subscribed - handled:
        raise FlowDefinitionError(f"{where}: subscribesTo lists {sorted(subscribed - handled)} but no "
                                  "state handles them")
    if known_events is not None:
        undefined = sorted(subscribed - known_events)
        if undefined:
            raise FlowDefinitionError(f"{where}: events {undefined} have no contract in contracts/events "
                                      "or contracts/commands")


@cache
def load_flows(known_events: frozenset[str], contracts_dir: Path = CONTRACTS_DIR) -> dict[str, FlowDefinition]:
    """Every flow in ``contracts/flows/``, validated against the event types that have a contract."""
    flows = {}
    for path in sorted((contracts_dir / "flows").glob("*.yaml")):
        flows[path.stem] = parse_flow(yaml.safe_load(path.read_text(encoding="utf-8")), str(path), set(known_events))
    return flows


def emitted_events(flow: FlowDefinition) -> set[str]:
    """Every event type the flow can emit: audit, timeouts, retries and its actions' events."""
    out = {"CoordinatorStateChanged"}
    if any(s.timeout_seconds for s in flow.states.values()):
        out.add("FlowTimeout")
    if flow.supervises:
        out.add(RETRY_COMMAND)
    actions = {a for s in flow.states.values() for a in s.actions}
    actions |= {a for s in flow.states.values() for t in [*s.on.values(), *s.always] for a in t.actions}
    return out | {e.type for a in actions for e in run_action(a, probe_instance())}
