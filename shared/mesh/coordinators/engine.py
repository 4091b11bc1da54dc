"""The coordinator engine: ``apply`` one event to one flow instance document, ``replay`` a log.

``apply`` is pure: (definition, instance document, event, history lookup) -> (document, emits).
Timeouts are scheduled ``FlowTimeout`` messages carrying the state version, so a late timeout is
a no-op; ``AgentFailed`` retries the agent up to ``retry.maxAttempts`` with back-off, then takes
``retry.onExhausted``; ``FlowControlRequested`` (skip, force, retry, cancel) is audited as
``CoordinatorStateChanged`` like every other move.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.contracts.manifests import RETRY_COMMAND, TIMEOUT_TARGET
from shared.mesh.coordinators.flow import FlowDefinition, FlowDefinitionError, FlowVersionError, Transition
from shared.mesh.coordinators.guards import CANCELLED, GUARDS, run_action
from shared.ports.skills import Emit


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
    if isinstance(data.get("service"), str):  # per service too: guards count services, actions read their data
        inst.setdefault("byService", {}).setdefault(etype, {})[data["service"]] = {
            "id": event["id"], "data": _compact(data)}
    if etype == "AgentFailed" and etype not in state.on:
        return _agent_failed(flow, inst, data, now, find_event, emits)
    transition = state.on.get(etype)
    if transition is not None:
        emits += _take(flow, inst, transition, data, etype, now)
        failed_now = inst["state"] != state.name and flow.states[inst["state"]].terminal and inst.get("failure")
        if failed_now and event.get("source") in flow.supervises:
            # a supervised agent's result failed the flow (TestsFailed): `flow retry` re-runs that agent step
            inst["lastFailure"] = {"agent": event["source"], "eventId": event.get("causationId"),
                                   "reason": inst.get("failure")}
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
    emits = [e for a in t.actions for e in run_action(a, inst)]
    if target is not None and target != inst["state"]:
        # a person's decision (an approval event) carries who and why: both go into the audit trail
        actor = str(data["actor"]) if data.get("actor") else None
        reason = t.reason or data.get("reason")
        if actor and t.reason and data.get("reason"):
            reason = f"{t.reason} by {actor}: {data['reason']}"
        if flow.states[target].terminal and reason:
            inst["failure"] = reason
            inst["failedFrom"] = inst["state"]  # `flow retry` re-opens the flow here
        emits += _move(flow, inst, target, trigger, now, reason=reason, actor=actor)
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
    emits = [e for a in state.actions for e in run_action(a, inst)]
    if state.timeout_seconds:
        # addressed to this flow's subscription only (``targetFlow``), not to every coordinator
        emits.append(Emit("FlowTimeout", {"flow": flow.id, "instanceId": inst["instanceId"], "state": target,
                                          "stateVersion": inst["version"]}, delay_seconds=state.timeout_seconds,
                          properties={TIMEOUT_TARGET: flow.id}))
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
        target = str(data.get("targetState"))
        if target not in flow.states:
            raise FlowDefinitionError(f"cannot force {flow.id} to '{target}': defined states are "
                                      f"{sorted(flow.states)}")
        return Step(inst, _move(flow, inst, target, "FlowControlRequested", now, reason=reason, actor=actor))
    if action == "skip":
        skip_to = state.next or next((t.target for t in state.on.values() if t.target), None)
        if skip_to is None:
            raise FlowDefinitionError(f"state '{state.name}' of {flow.id} has no next state to skip to")
        return Step(inst, _move(flow, inst, skip_to, "FlowControlRequested", now, reason=reason, actor=actor))
    if action == "retry":
        last = inst.get("lastFailure")
        original = find_event(str(last["eventId"])) if last else None
        if original is not None and original.get("type") == RETRY_COMMAND:  # the failure came from a retry
            original = original.get("data", {}).get("originalEvent")
        reopen = state.terminal and state.name != CANCELLED and bool(inst.get("failedFrom"))
        if not reopen and (not last or original is None):
            raise FlowDefinitionError(f"{flow.id}/{inst['instanceId']} has no failed step to retry (it is in "
                                      f"'{state.name}')")
        emits = []
        if reopen:
            emits += _move(flow, inst, inst["failedFrom"], "FlowControlRequested", now, reason=reason, actor=actor)
        inst["failure"] = None
        if last and original is not None:
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
