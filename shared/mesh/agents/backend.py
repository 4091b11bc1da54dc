"""backend-developer: asks the scaffold engine for the skeleton, then writes the domain code into it."""

from __future__ import annotations

from shared.generators.service.code import render_catalog, render_local_settings, render_models, render_routes
from shared.mesh.agents.project import find_service, project_blueprint, required
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillError, SkillResult

AGENT = "backend-developer"
TEMPLATE_ID = "python-functions-service"


def _scaffold_command(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    service_name = required(event.data, "service", event.type)
    blueprint, _ = project_blueprint(ctx)
    service = find_service(blueprint, service_name)
    parameters = {
        "name": service.package,
        "serviceName": service.name,
        "packageName": service.package,
        "description": f"HTTP API of {service.name} ({blueprint.product}).",
        "includeCosmos": "cosmos" in service.storage,
        "logLevel": "Information",
    }
    command = {
        "idempotencyKey": f"{ctx.project_id}:{service.name}:scaffold",
        "templateId": TEMPLATE_ID,
        "parameters": parameters,
        "requestedBy": AGENT,
        "projectId": ctx.project_id,
        "service": service.name,
        "commit": False,
    }
    return SkillResult(events=[Emit("GenerateScaffold", command)])


def _service_of(event: IncomingEvent, ctx: SkillContext) -> str:
    service = event.data.get("service")
    if service:
        return str(service)
    blueprint, _ = project_blueprint(ctx)
    if len(blueprint.services) == 1:
        return blueprint.services[0].name
    raise SkillError(
        f"{event.type} names no service and the blueprint has several; the scaffold engine "
        "must echo the service of the GenerateScaffold command",
        permanent=True,
    )


def request_scaffold(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    """ApiContractDefined -> GenerateScaffold; TemplateExecuted -> MicroserviceScaffolded; rejections fail."""
    if event.type == "ApiContractDefined":
        return _scaffold_command(event, ctx)
    if event.data.get("requestedBy") != AGENT:
        return SkillResult()  # another agent's scaffold
    if event.type == "TemplateExecuted":
        payload = {
            "projectId": ctx.project_id,
            "service": _service_of(event, ctx),
            "executionId": required(event.data, "executionId", event.type),
            "manifestDigest": required(event.data, "manifestDigest", event.type),
            "treeHash": required(event.data, "treeHash", event.type),
            "artifacts": [],
        }
        return SkillResult(events=[Emit("MicroserviceScaffolded", payload)])
    if event.type in ("TemplateExecutionRejected", "TemplateExecutionFailed"):
        reason = (
            event.data.get("reason") or "; ".join(str(e) for e in event.data.get("errors", [])) or "no reason"
        )
        raise SkillError(
            f"the scaffold of {event.data.get('service', '?')} was "
            f"{'rejected' if event.type.endswith('Rejected') else 'not generated'} "
            f"(execution {event.data.get('executionId', '?')}): {reason}. Fix the template or the "
            "parameters, then replay ApiContractDefined",
            permanent=True,
        )
    raise SkillError(f"backend.request_scaffold does not handle {event.type}", permanent=True)


def generate_code(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    """MicroserviceScaffolded -> models, catalog and routes over the scaffold's placeholders."""
    service_name = required(event.data, "service", event.type)
    blueprint, _ = project_blueprint(ctx)
    service = find_service(blueprint, service_name)
    root = f"services/{service.name}"
    python = "text/x-python; charset=utf-8"
    artifacts = [
        Artifact.text(f"{root}/{service.package}/models.py", render_models(blueprint, service), python),
        Artifact.text(f"{root}/{service.package}/catalog.py", render_catalog(blueprint, service), python),
        Artifact.text(f"{root}/{service.package}/routes.py", render_routes(blueprint, service), python),
        Artifact.text(f"{root}/local.settings.json.example", render_local_settings(blueprint, service),
                      "application/json"),
    ]
    payload = {
        "projectId": ctx.project_id,
        "service": service.name,
        "artifacts": [a.ref() for a in artifacts],
        "fileCount": len(artifacts),
    }
    return SkillResult(events=[Emit("CodeGenerated", payload)], artifacts=artifacts)
