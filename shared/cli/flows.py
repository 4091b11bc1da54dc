"""``factory flow``: coordinator flows, status and manual control (audited)."""

from __future__ import annotations

from typing import Annotated

import typer

from shared.cli.common import console, fail, open_runtime
from shared.ports.skills import Emit
from shared.product.projects import project_status

app = typer.Typer(no_args_is_help=True, help="Coordinator flows: status and manual control (audited).")



def _control(action: str, instance: str, flow: str, target: str | None, reason: str | None,
             actor: str = "operator") -> None:

    rt = open_runtime()
    st = project_status(rt, instance)
    per_service = [key for key in st.flows if key.startswith(f"{flow}/")]
    if flow not in st.flows and len(per_service) == 1:
        flow = per_service[0]  # a flow with one instance per service, and the project has one service
    if flow not in st.flows:
        raise fail(f"no {flow} instance for {instance}", f"known flows of this project: {sorted(st.flows)}",
                    "check the project id with `factory status`; name a per-service flow as flow/service", 2)
    name, _, service = flow.partition("/")
    data = {"flow": name, "instanceId": f"{instance}/{service}" if service else instance, "action": action,
            "actor": actor}
    if target:
        data["targetState"] = target
    if reason:
        data["reason"] = reason
    env = rt.publisher.publish_new(Emit("FlowControlRequested", data), source="operator",
                                   tenant_id=st.events[0]["tenantId"], trace_id=st.trace_id, project_id=instance)
    console.print(f"requested {action} of {flow}/{instance} (event {env.id}); a running `factory host` applies it")


@app.command("status")
def flow_status(instance: str) -> None:
    """Each flow's state for a project (instance id = project id), with its history."""

    st = project_status(open_runtime(), instance)
    for name, doc in st.flows.items():
        console.print(f"[bold]{name}[/] {doc['state']} (v{doc['version']})"
                      + (f" [red]{doc['failure']}[/]" if doc.get("failure") else ""))
        for h in doc.get("history", []):
            by = f" by {h['actor']}" if h.get("actor") else ""
            console.print(f"   {h['from']} → {h['to']} on {h['trigger']}{by}")


FlowOpt = Annotated[str, typer.Option(help="flow id, e.g. microservice-assembly (of one service: flow/service)")]
ActorOpt = Annotated[str, typer.Option("--as", help="who asks (recorded in the audit trail)")]


@app.command("skip")
def flow_skip(instance: str, flow: FlowOpt = "microservice-assembly", reason: str | None = None,
              actor: ActorOpt = "operator") -> None:
    """Move the flow to its next state."""
    _control("skip", instance, flow, None, reason, actor)


@app.command("force")
def flow_force(instance: str, to: Annotated[str, typer.Option(help="target state")],
               flow: FlowOpt = "microservice-assembly", reason: str | None = None,
               actor: ActorOpt = "operator") -> None:
    """Force the flow into a state."""
    _control("force", instance, flow, to, reason, actor)


@app.command("retry")
def flow_retry(instance: str, flow: FlowOpt = "microservice-assembly", reason: str | None = None,
              actor: ActorOpt = "operator") -> None:
    """Retry the last failed agent step (re-opens a failed flow)."""
    _control("retry", instance, flow, None, reason, actor)


@app.command("cancel")
def flow_cancel(instance: str, flow: FlowOpt = "microservice-assembly", reason: str | None = None,
              actor: ActorOpt = "operator") -> None:
    """Cancel the flow."""
    _control("cancel", instance, flow, None, reason, actor)
