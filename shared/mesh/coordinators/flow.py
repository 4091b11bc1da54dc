"""Coordinators as finite-state machines defined in ``contracts/flows/*.yaml``.

A flow definition names states, the events that move between them (optionally guarded),
eventless ``always`` transitions evaluated on entry, state timeouts (scheduled ``FlowTimeout``
messages; a late timeout for a state that moved on is a no-op), agent supervision (on
``AgentFailed`` retry the agent up to ``retry.maxAttempts`` with back-off, then go to
``retry.onExhausted``), and manual control (``FlowControlRequested``: skip, force, retry,
cancel), each change emitting ``CoordinatorStateChanged`` as the audit trail.

``apply`` is pure: (definition, instance document, event, history lookup) -> (document, emits).
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from shared.contracts.manifests import CONTRACTS_DIR, RETRY_COMMAND
from shared.ports.skills import Emit

CONTROL_EVENTS = ("FlowTimeout", "FlowControlRequested", "AgentFailed")
CANCELLED = "cancelled"


class FlowDefinitionError(ValueError):
    """A flow YAML is inconsistent. The message names the file, the state and what to fix."""


class FlowVersionError(ValueError):
    """A stored instance or event log cannot be explained by the current flow definition."""


# ----------------------------------------------------------------------------- guards & actions

Guard = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]  # (event data, instance) -> bool
Action = Callable[[Mapping[str, Any]], Emit]  # instance -> event to emit

SEVERE = {"high", "critical"}


def _no_high_findings(data: Mapping[str, Any], inst: Mapping[str, Any]) -> bool:
    severity = data.get("highestSeverity") or _seen_data(inst, "SecurityReviewCompleted").get("highestSeverity")
    return str(severity or "none") not in SEVERE


def _is_other_flow_failed(data: Mapping[str, Any], inst: Mapping[str, Any]) -> bool:
    return data.get("flow") != inst.get("flow") and data.get("to") in ("failed", CANCELLED)


def _seen_data(inst: Mapping[str, Any], event_type: str) -> Mapping[str, Any]:
    seen = inst.get("seen", {}).get(event_type)
    return seen.get("data", {}) if seen else {}


def _release_approved(inst: Mapping[str, Any]) -> Emit:
    tests = _seen_data(inst, "TestsPassed")
    review = _seen_data(inst, "SecurityReviewCompleted")
    review_digest = next((a["digest"] for a in review.get("artifacts", []) if a["path"].endswith(".json")),
                         (review.get("artifacts") or [{"digest": ""}])[0]["digest"])
    return Emit("ReleaseApproved", {
        "projectId": inst["instanceId"],
        "service": tests.get("service", review.get("service", "")),
        "testsReportDigest": tests.get("reportDigest", ""),
        "securityReviewDigest": review_digest,
    })


def _project_released(inst: Mapping[str, Any]) -> Emit:
    return Emit("ProjectCompleted", {"projectId": inst["instanceId"], "outcome": "released"})


def _project_failed(inst: Mapping[str, Any]) -> Emit:
    reason = inst.get("failure") or "a flow of this project failed"
    return Emit("ProjectCompleted", {"projectId": inst["instanceId"], "outcome": "failed", "reason": reason})


GUARDS: dict[str, Guard] = {
    "noHighFindings": _no_high_findings,
    "otherFlowFailed": _is_other_flow_failed,
}
ACTIONS: dict[str, Action] = {
    "approveRelease": _release_approved,
    "projectReleased": _project_released,
    "projectFailed": _project_failed,
}


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
        on_exhausted=retry.get("onExhausted", "failed"), source_file=source,
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
        for t in [*s.on.values(), *s.always]:
            if t.guard and t.guard not in GUARDS:
                raise FlowDefinitionError(f"{where}: state '{s.name}' uses unknown guard '{t.guard}'; "
                                          f"known guards: {sorted(GUARDS)}")
            for a in t.actions:
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
def load_flows(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, FlowDefinition]:
    from shared.contracts.registry import default_registry

    known = set(default_registry().types())
    flows = {}
    for path in sorted((contracts_dir / "flows").glob("*.yaml")):
        flows[path.stem] = parse_flow(yaml.safe_load(path.read_text(encoding="utf-8")), str(path), known)
    return flows


# ----------------------------------------------------------------------------- engine


@dataclass
class Step:
    """The result of applying one event: the new document (None = no change) and emits."""

    instance: dict[str, Any] | None
    emits: list[Emit] = field(default_factory=list)


def new_instance(flow: FlowDefinition, instance_id: str, now: str) -> dict[str, Any]:
    return {"flow": flow.id, "flowVersion": flow.version, "instanceId": instance_id, "state": flow.initial,
            "version": 0, "enteredAt": now, "seen": {}, "attempts": {}, "history": [], "failure": None}


def apply(flow: FlowDefinition, instance: Mapping[str, Any] | None, event: Mapping[str, Any], *,
          now: str, instance_id: str, find_event: Callable[[str], Mapping[str, Any] | None] = lambda _i: None
          ) -> Step:
    """Apply one event (an envelope as a dict) to an instance document."""
    etype, data = event["type"], event.get("data", {})
    if instance is None:
        if etype in ("FlowTimeout", "FlowControlRequested"):
            return Step(None)
        inst: dict[str, Any] = new_instance(flow, instance_id, now)
        emits: list[Emit] = _enter(flow, inst, flow.initial, now)
    else:
        if instance.get("flowVersion", "").split(".")[0] != flow.version.split(".")[0]:
            raise FlowVersionError(
                f"instance {instance_id} was created by {flow.id}@{instance.get('flowVersion')}, the "
                f"definition is {flow.version}: migrate the instance or run the matching definition")
        inst, emits = copy.deepcopy(dict(instance)), []
    state = flow.states[inst["state"]]
    if etype == "FlowTimeout":
        return _timeout(flow, inst, data, now, emits)
    if etype == "FlowControlRequested":
        return _control(flow, inst, data, now, find_event)
    if state.terminal:
        return Step(inst if instance is None else None, emits)
    inst["seen"][etype] = {"id": event["id"], "data": _compact(data)}
    if etype == "AgentFailed" and etype not in state.on:
        return _agent_failed(flow, inst, data, now, find_event, emits)
    transition = state.on.get(etype)
    if transition is not None:
        emits += _take(flow, inst, transition, data, etype, now)
    elif etype not in inst.setdefault("deferred", []):
        # arrived before the state that handles it (events of one flow are handled concurrently):
        # keep it and apply it when such a state is entered
        inst["deferred"].append(etype)
    emits += _settle(flow, inst, now)
    return Step(inst, emits)


def _compact(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("intent", "originalEvent")}


def _take(flow: FlowDefinition, inst: dict[str, Any], t: Transition, data: Mapping[str, Any], trigger: str,
          now: str) -> list[Emit]:
    if t.when and not all(w in inst["seen"] for w in t.when):
        return []
    target = t.target
    if t.guard and not GUARDS[t.guard](data, inst):
        target = t.otherwise
        if target is None:
            return []
    emits = [ACTIONS[a](inst) for a in t.actions]
    if target is not None and target != inst["state"]:
        if flow.states[target].terminal and (t.reason or data.get("reason")):
            inst["failure"] = t.reason or data.get("reason")
        emits += _move(flow, inst, target, trigger, now, reason=t.reason or data.get("reason"))
    return emits


def _settle(flow: FlowDefinition, inst: dict[str, Any], now: str) -> list[Emit]:
    """Follow eventless ``always`` transitions whose conditions now hold, and apply deferred
    events (seen earlier, in a state that did not handle them) that the current state handles."""
    emits: list[Emit] = []
    for _ in range(4 * len(flow.states)):
        state = flow.states[inst["state"]]
        if state.terminal:
            break
        taken = next((t for t in state.always if all(w in inst["seen"] for w in t.when)), None)
        if taken is not None:
            before = (inst["state"], len(inst["history"]))
            emits += _take(flow, inst, taken, {}, "always", now)
            if (inst["state"], len(inst["history"])) != before:
                continue
        deferred = next((e for e in inst.get("deferred", []) if e in state.on), None)
        if deferred is None:
            break
        inst["deferred"].remove(deferred)
        emits += _take(flow, inst, state.on[deferred], inst["seen"][deferred]["data"], deferred, now)
    return emits


def _move(flow: FlowDefinition, inst: dict[str, Any], target: str, trigger: str, now: str, *,
          reason: str | None = None, actor: str | None = None) -> list[Emit]:
    before = inst["state"]
    inst["history"].append({"from": before, "to": target, "trigger": trigger, "at": now,
                            **({"actor": actor} if actor else {})})
    change: dict[str, Any] = {"flow": flow.id, "flowVersion": flow.version, "instanceId": inst["instanceId"],
                              "from": before, "to": target, "trigger": trigger}
    if reason:
        change["reason"] = reason
    if actor:
        change["actor"] = actor
    return [Emit("CoordinatorStateChanged", change), *_enter(flow, inst, target, now)]


def _enter(flow: FlowDefinition, inst: dict[str, Any], target: str, now: str) -> list[Emit]:
    inst["state"] = target
    inst["version"] = int(inst.get("version", 0)) + 1
    inst["enteredAt"] = now
    state = flow.states[target]
    emits = [ACTIONS[a](inst) for a in state.actions]
    if state.timeout_seconds:
        emits.append(Emit("FlowTimeout", {"flow": flow.id, "instanceId": inst["instanceId"], "state": target,
                                          "stateVersion": inst["version"]}, delay_seconds=state.timeout_seconds))
    return emits


def _timeout(flow: FlowDefinition, inst: dict[str, Any], data: Mapping[str, Any], now: str,
             emits: list[Emit]) -> Step:
    state = flow.states[inst["state"]]
    if data.get("state") != inst["state"] or int(data.get("stateVersion", -1)) != inst["version"]:
        return Step(None)  # late timeout for a state that moved on: no-op
    if not state.on_timeout:
        return Step(None)
    inst["failure"] = f"timed out in state '{state.name}' after {state.timeout_seconds:g}s"
    return Step(inst, emits + _move(flow, inst, state.on_timeout, "FlowTimeout", now, reason=inst["failure"]))


def _agent_failed(flow: FlowDefinition, inst: dict[str, Any], data: Mapping[str, Any], now: str,
                  find_event: Callable[[str], Mapping[str, Any] | None], emits: list[Emit]) -> Step:
    agent = str(data.get("agent"))
    if agent not in flow.supervises:
        return Step(inst, emits)
    key = f"{agent}:{data.get('failedEventId')}"
    attempts = int(inst["attempts"].get(key, 0))
    original = find_event(str(data.get("failedEventId")))
    if not data.get("permanent") and attempts < flow.max_attempts and original is not None:
        inst["attempts"][key] = attempts + 1
        inst["lastFailure"] = {"agent": agent, "eventId": data.get("failedEventId"), "reason": data.get("reason")}
        retry = Emit(RETRY_COMMAND, {"agent": agent, "attempt": attempts + 1, "originalEvent": dict(original)},
                     properties={"targetAgent": agent},
                     delay_seconds=flow.backoff_seconds * (2 ** attempts) if flow.backoff_seconds else None)
        return Step(inst, [*emits, retry])
    why = "permanent failure" if data.get("permanent") else f"{attempts} retries exhausted"
    inst["failure"] = f"agent {agent} failed on {data.get('failedEventType')} ({why}): {data.get('reason')}"
    inst["failedFrom"] = inst["state"]
    inst["lastFailure"] = {"agent": agent, "eventId": data.get("failedEventId"), "reason": data.get("reason")}
    return Step(inst, emits + _move(flow, inst, flow.on_exhausted, "AgentFailed", now, reason=inst["failure"]))


def _control(flow: FlowDefinition, inst: dict[str, Any], data: Mapping[str, Any], now: str,
             find_event: Callable[[str], Mapping[str, Any] | None]) -> Step:
    action, actor = data.get("action"), str(data.get("actor", "operator"))
    reason = data.get("reason") or f"{action} by {actor}"
    state = flow.states[inst["state"]]
    if action == "cancel":
        if state.terminal:
            return Step(None)
        return Step(inst, _move(flow, inst, CANCELLED, "FlowControlRequested", now, reason=reason, actor=actor))
    if action == "force":
        target = data.get("targetState")
        if target not in flow.states:
            raise FlowDefinitionError(f"cannot force {flow.id} to '{target}': defined states are "
                                      f"{sorted(flow.states)}")
        return Step(inst, _move(flow, inst, target, "FlowControlRequested", now, reason=reason, actor=actor))
    if action == "skip":
        target = state.next or next((t.target for t in state.on.values() if t.target), None)
        if target is None:
            raise FlowDefinitionError(f"state '{state.name}' of {flow.id} has no next state to skip to")
        return Step(inst, _move(flow, inst, target, "FlowControlRequested", now, reason=reason, actor=actor))
    if action == "retry":
        last = inst.get("lastFailure")
        original = find_event(str(last["eventId"])) if last else None
        if not last or original is None:
            raise FlowDefinitionError(f"{flow.id}/{inst['instanceId']} has no failed agent step to retry")
        emits = []
        if state.terminal and inst.get("failedFrom"):
            emits += _move(flow, inst, inst["failedFrom"], "FlowControlRequested", now, reason=reason, actor=actor)
        inst["failure"] = None
        emits.append(Emit(RETRY_COMMAND, {"agent": last["agent"], "attempt": 0, "originalEvent": dict(original)},
                          properties={"targetAgent": last["agent"]}))
        return Step(inst, emits)
    raise FlowDefinitionError(f"unknown control action '{action}'; use skip, force, retry or cancel")


def replay(flow: FlowDefinition, events: Sequence[Mapping[str, Any]], instance_id: str) -> dict[str, Any] | None:
    """Rebuild an instance from its event log; raises FlowVersionError when the log recorded
    transitions (CoordinatorStateChanged of this flow) the current definition does not produce."""
    inst: dict[str, Any] | None = None
    by_id = {e["id"]: e for e in events}
    recorded = [e["data"] for e in events if e["type"] == "CoordinatorStateChanged"
                and e["data"].get("flow") == flow.id and e["data"].get("instanceId") == instance_id]
    produced: list[dict[str, Any]] = []
    for event in events:
        if event["type"] not in flow.subscribes_to:
            continue
        step = apply(flow, inst, event, now=str(event.get("time", "")), instance_id=instance_id,
                     find_event=by_id.get)
        if step.instance is not None:
            inst = step.instance
        produced += [dict(e.data) for e in step.emits if e.type == "CoordinatorStateChanged"]
    for want, got in zip(recorded, produced, strict=False):
        if (want.get("from"), want.get("to")) != (got.get("from"), got.get("to")):
            raise FlowVersionError(
                f"the log of {flow.id}/{instance_id} was written by {flow.id}@{want.get('flowVersion')} and "
                f"moved {want.get('from')} -> {want.get('to')}; definition {flow.version} moves "
                f"{got.get('from')} -> {got.get('to')} at that point")
    if len(recorded) > len(produced):
        extra = recorded[len(produced)]
        raise FlowVersionError(
            f"the log of {flow.id}/{instance_id} has transition {extra.get('from')} -> {extra.get('to')} "
            f"(written by {flow.id}@{extra.get('flowVersion')}) that definition {flow.version} cannot explain")
    return inst


def _probe_instance() -> dict[str, Any]:
    """A minimal instance for asking an action which event type it emits (topology)."""
    return {"instanceId": "probe", "seen": {}, "failure": None}
