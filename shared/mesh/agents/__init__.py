"""The agents' deterministic skills, by the names used in ``contracts/agents/*.yaml``.

``SKILLS`` maps a skill name to its function; ``skill_for(agent_id, event_type)`` picks the
skill an agent runs for an incoming event type. Skills are pure: same input, same bytes.
"""

from __future__ import annotations

from shared.mesh.agents import api, architecture, backend, devops, docs, infra, plan, qa, security, vision
from shared.ports.skills import Skill, SkillError

SKILLS: dict[str, Skill] = {
    "vision.write_vision": vision.write_vision,
    "plan.write_plan": plan.write_plan,
    "architecture.design_blueprint": architecture.design_blueprint,
    "api.design_openapi": api.design_openapi,
    "backend.request_scaffold": backend.request_scaffold,
    "backend.generate_code": backend.generate_code,
    "qa.write_tests": qa.write_tests,
    "infra.design_infrastructure": infra.design_infrastructure,
    "security.review_code": security.review_code,
    "devops.run_test_gate": devops.run_test_gate,
    "devops.trigger_release": devops.trigger_release,
    "docs.write_docs": docs.write_docs,
}

#: (agent id, incoming event type) -> skill name
DISPATCH: dict[tuple[str, str], str] = {
    ("vision-architect", "ProjectInitialized"): "vision.write_vision",
    ("product-manager", "VisionDocumentCreated"): "plan.write_plan",
    ("solution-architect", "ProductPlanCreated"): "architecture.design_blueprint",
    ("api-designer", "BlueprintCreated"): "api.design_openapi",
    ("backend-developer", "ApiContractDefined"): "backend.request_scaffold",
    ("backend-developer", "TemplateExecuted"): "backend.request_scaffold",
    ("backend-developer", "TemplateExecutionRejected"): "backend.request_scaffold",
    ("backend-developer", "TemplateExecutionFailed"): "backend.request_scaffold",
    ("backend-developer", "MicroserviceScaffolded"): "backend.generate_code",
    ("qa-engineer", "CodeGenerated"): "qa.write_tests",
    ("infrastructure-engineer", "BlueprintCreated"): "infra.design_infrastructure",
    ("security-engineer", "CodeGenerated"): "security.review_code",
    ("devops-engineer", "TestSuiteGenerated"): "devops.run_test_gate",
    ("devops-engineer", "ReleaseApproved"): "devops.trigger_release",
    ("documentation-writer", "ReleaseTriggered"): "docs.write_docs",
}


def skill_for(agent_id: str, event_type: str) -> Skill:
    """The skill ``agent_id`` runs for ``event_type``; a permanent SkillError if it has none."""
    name = DISPATCH.get((agent_id, event_type))
    if name is None:
        handled = sorted(t for (a, t) in DISPATCH if a == agent_id)
        raise SkillError(
            f"agent {agent_id!r} has no skill for {event_type!r} (it handles: "
            f"{', '.join(handled) or 'nothing'}); check contracts/agents/{agent_id}.yaml",
            permanent=True,
        )
    return SKILLS[name]


__all__ = ["DISPATCH", "SKILLS", "skill_for"]
