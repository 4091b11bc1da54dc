"""``factory flow``: coordinator flows, status and manual control (audited).

Every control command is tried on the flow's current instance first (the engine's ``apply`` is pure),
so a target state that does not exist, a step that has nothing to retry, or a finished flow is refused
at once (exit 2, nothing published) instead of being dead-lettered later by the coordinator.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from shared.bootstrap import Runtime
from shared.cli.common import BAD_INPUT, did_you_mean, fail, open_runtime, require_project
from shared.cli.output import esc, json_to_stdout, say, write_json
from shared.cli.report import FAILED_STATES
from shared.contracts.errors import ContractError
from shared.mesh.coordinators.engine import apply
from shared.mesh.coordinators.flow import FlowDefinitionError, FlowVersionError
from shared.ports.skills import Emit
from shared.product.projects import ProjectStatus

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  help="Coordinator flows: status and manual control (audited).")

ProjectArg = Annotated[str, typer.Argument(help="project id (= the flow instance id)", metavar="PROJECT_ID")]
FlowOpt = Annotated[str, typer.Option(help="flow id, e.g. microservice-assembly; of one service of several: "
                                           "flow/service (`factory flow status` lists them)", metavar="FLOW")]
ActorOpt = Annotated[str, typer.Option("--as", help="who asks (recorded in the audit trail)", metavar="NAME")]
ReasonOpt = Annotated[str | None, typer.Option(help="why (recorded in the audit trail)", metavar="TEXT")]


def _dry_run(rt: Runtime, st: ProjectStatus, key: str, data: dict[str, Any]) -> str | None:
    """Why the coordinator would refuse this control (None: it would apply it). ``key`` is the flow as
    ``project_status`` names it: ``flow`` or, for a flow with one instance per service, ``flow/service``."""
    definition = rt.flows[data["flow"]]
    by_id = {e["id"]: e for e in st.events}
    event = {"id": "dry-run", "type": "FlowControlRequested", "data": data, "source": "operator"}
    try:
        step = apply(definition, st.flows[key], event, now=datetime.now(UTC).isoformat(),
                     instance_id=data["instanceId"], find_event=by_id.get)
    except (FlowDefinitionError, FlowVersionError) as exc:
        return str(exc)
    if step.instance is None:
        return f"{key} is already in '{st.flows[key]['state']}', so there is nothing to {data['action']}"
    return None


def _data(action: str, project: str, key: str, reason: str | None, actor: str) -> dict[str, Any]:
    """The FlowControlRequested payload for flow ``key`` (``flow`` or ``flow/service``) of ``project``."""
    name, _, service = key.partition("/")
    return {"flow": name, "instanceId": f"{project}/{service}" if service else project, "action": action,
            "actor": actor, **({"reason": reason} if reason else {})}


def _publish(rt: Runtime, st: ProjectStatus, flow: str, data: dict[str, Any]) -> None:
    why = _dry_run(rt, st, flow, data)
    if why is not None:
        raise fail(f"cannot {data['action']} {flow} of {st.project_id}", why,
                   f"see the flow with `factory flow status {st.project_id}`", BAD_INPUT)
    try:
        env = rt.publisher.publish_new(Emit("FlowControlRequested", data), source="operator",
                                       tenant_id=st.events[0]["tenantId"], trace_id=st.trace_id,
                                       project_id=st.project_id)
    except ContractError as exc:
        raise fail(f"cannot {data['action']} {flow} of {st.project_id}", str(exc),
                   "check --as NAME (letters, digits, '-', '_', '.') and --reason", BAD_INPUT) from exc
    say(f"requested {esc(data['action'])} of {esc(flow)} in {esc(st.project_id)} (event {esc(env.id)}); a running "
        "`factory host` applies it, or rerun the project's `factory run` command")


def _instance(rt: Runtime, st: ProjectStatus, flow: str) -> str:
    """The project's instance of ``flow`` (``flow`` or ``flow/service``), or an error naming what exists."""
    name = flow.partition("/")[0]
    if name not in rt.flows:
        raise fail(f"no flow named {name!r}", f"the flows are {', '.join(sorted(rt.flows))}",
                   did_you_mean(name, rt.flows, "flows"), BAD_INPUT)
    per_service = sorted(key for key in st.flows if key.startswith(f"{name}/"))
    if flow not in st.flows and flow == name and len(per_service) == 1:
        return per_service[0]  # a flow with one instance per service, and the project has one service
    if flow not in st.flows:
        why = f"this project has {', '.join(sorted(st.flows)) or 'none'}"
        fix = (f"name one of its services: {', '.join(per_service)}" if per_service
               else did_you_mean(flow, st.flows, "flows of this project"))
        raise fail(f"no {flow} instance for {st.project_id}", why, fix + f" (`factory flow status {st.project_id}`)",
                   BAD_INPUT)
    return flow


def _control(action: str, project: str, flow: str, target: str | None, reason: str | None, actor: str) -> None:
    rt = open_runtime()
    st = require_project(rt, project)
    key = _instance(rt, st, flow)
    definition = rt.flows[key.partition("/")[0]]
    if target is not None and target not in definition.states:
        states = list(definition.states)
        raise fail(f"{definition.id} has no state {target!r}", f"its states are {', '.join(states)}",
                   did_you_mean(target, states, "states"), BAD_INPUT)
    data = _data(action, project, key, reason, actor)
    if target:
        data["targetState"] = target
    _publish(rt, st, key, data)


@app.command("status")
def flow_status(
    project: ProjectArg,
    json_out: Annotated[str | None, typer.Option("--json", help="write JSON to FILE (- for stdout) instead of text",
                                                 metavar="FILE|-")] = None,
) -> None:
    """Each flow's state for a project, with its history (who moved it, and why)."""

    st = require_project(open_runtime(), project)
    if json_out:
        write_json(st.flows, json_out)
        if json_to_stdout(json_out):
            return
    for name, doc in st.flows.items():
        say(f"[bold]{esc(name)}[/] {esc(doc['state'])} (v{doc['version']})"
            + (f" [red]{esc(doc['failure'])}[/]" if doc.get("failure") else ""))
        for h in doc.get("history", []):
            by = f" by {h['actor']}" if h.get("actor") else ""
            say(f"   {esc(h['from'])} → {esc(h['to'])} on {esc(h['trigger'])}{esc(by)}")


@app.command("skip")
def flow_skip(project: ProjectArg, flow: FlowOpt = "microservice-assembly", reason: ReasonOpt = None,
              actor: ActorOpt = "operator") -> None:
    """Move the flow to its next state."""
    _control("skip", project, flow, None, reason, actor)


@app.command("force")
def flow_force(project: ProjectArg, to: Annotated[str, typer.Option(help="target state (checked now)",
                                                                    metavar="STATE")],
               flow: FlowOpt = "microservice-assembly", reason: ReasonOpt = None,
               actor: ActorOpt = "operator") -> None:
    """Force the flow into a state (refused at once when the flow has no such state)."""
    _control("force", project, flow, to, reason, actor)


@app.command("retry")
def flow_retry(project: ProjectArg,
               flow: Annotated[str | None, typer.Option(help="only this flow (default: every failed flow of the "
                                                             "project)", metavar="FLOW")] = None,
               reason: ReasonOpt = None, actor: ActorOpt = "operator") -> None:
    """Retry what failed: re-open failed flows at the state they failed in and re-run the failed agent step
    (after a failed test gate: the tests run again)."""
    if flow is not None:
        _control("retry", project, flow, None, reason, actor)
        return
    rt = open_runtime()
    st = require_project(rt, project)
    failed = [name for name, doc in st.flows.items() if doc["state"] in FAILED_STATES and doc["state"] != "cancelled"]
    if not failed:
        raise fail(f"nothing to retry in {project}", "no flow of the project has failed ("
                   + ", ".join(f"{k}: {v['state']}" for k, v in st.flows.items()) + ")",
                   f"see `factory status {project}`", BAD_INPUT)
    problems = {name: _dry_run(rt, st, name, _data("retry", project, name, reason, actor)) for name in failed}
    if all(problems.values()):
        raise fail(f"cannot retry {project}", "; ".join(f"{k}: {v}" for k, v in problems.items()),
                   f"see `factory flow status {project}`", BAD_INPUT)
    for name in failed:
        if problems[name] is None:
            _publish(rt, st, name, _data("retry", project, name, reason, actor))


@app.command("cancel")
def flow_cancel(project: ProjectArg, flow: FlowOpt = "microservice-assembly", reason: ReasonOpt = None,
                actor: ActorOpt = "operator") -> None:
    """Cancel the flow."""
    _control("cancel", project, flow, None, reason, actor)
