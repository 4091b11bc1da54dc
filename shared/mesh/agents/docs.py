"""documentation-writer: the service README (how to run, endpoints) and the Mermaid topology."""

from __future__ import annotations

from shared.mesh.agents.architecture import render_architecture
from shared.mesh.agents.project import find_service, project_blueprint, required
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillResult
from shared.product.blueprint import Service, ServiceBlueprint


def render_readme(blueprint: ServiceBlueprint, service: Service, version: str) -> str:
    lines = [
        f"# {service.name}",
        "",
        f"HTTP API of {blueprint.product}, version {version}: a Python Azure Functions app that stores "
        f"{', '.join(e.name for e in service.entities)} items.",
        "",
        "## Run the tests",
        "",
        "```bash",
        "python -m venv .venv && . .venv/bin/activate",
        "pip install -r requirements-dev.txt",
        "pytest && ruff check .",
        "```",
        "",
        "## Run locally",
        "",
        "```bash",
        "cp local.settings.json.example local.settings.json",
        "func start",
        "```",
        "",
        "Without `COSMOS_CONNECTION` the data is kept in memory. Every route except `/api/health` needs a "
        "function key in the `x-functions-key` header. Errors are RFC 9457 problem details "
        "(`application/problem+json`): 400 for a body that is not JSON, 404 for an unknown id, 422 for "
        "invalid fields (listed in `errors`).",
        "",
        "## Endpoints",
        "",
        "| Method | Path | Does | Auth |",
        "|---|---|---|---|",
        "| GET | `/api/health` | liveness | anonymous |",
        *[
            f"| {e.method} | `{e.path}` | {e.operation} {e.entity} | {e.auth_level} |"
            for e in service.endpoints
        ],
        "",
        "## Data",
        "",
    ]
    for entity in service.entities:
        lines += [
            f"### {entity.name} (`/api/{entity.plural}`)",
            "",
            "| Field | Type | Required | Rules |",
            "|---|---|---|---|",
        ]
        for f in entity.fields:
            rules = []
            if f.values:
                rules.append("one of " + ", ".join(f"`{v}`" for v in f.values))
            if f.max_length is not None:
                rules.append(f"at most {f.max_length} characters")
            if f.minimum is not None:
                rules.append(f"at least {f.minimum:g}")
            lines.append(f"| {f.name} | {f.type} | {'yes' if f.required else 'no'} | {'; '.join(rules)} |")
        lines.append("")
    if service.publishes:
        lines += [
            "## Events",
            "",
            *[f"- `{e.name}` when a {e.entity} is {e.trigger}" for e in service.publishes],
            "",
        ]
    return "\n".join(lines)


def write_docs(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    service_name = str(required(event.data, "service", event.type))
    version = str(event.data.get("version", "0.1.0"))
    blueprint, _ = project_blueprint(ctx)
    service = find_service(blueprint, service_name)
    artifacts = [
        Artifact.text(
            f"services/{service.name}/README.md",
            render_readme(blueprint, service, version),
            "text/markdown; charset=utf-8",
        ),
        Artifact.text(
            "docs/topology.md",
            render_architecture(blueprint, blueprint.product),
            "text/markdown; charset=utf-8",
        ),
    ]
    return SkillResult(
        events=[
            Emit(
                "DocumentationGenerated",
                {"projectId": ctx.project_id, "artifacts": [a.ref() for a in artifacts]},
            )
        ],
        artifacts=artifacts,
    )
