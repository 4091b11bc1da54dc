"""The model-backed skills with a model: what the model may write (prose, stories, contexts, descriptions,
overviews, explanations), what it may not (anything the templates own), and the deterministic skill as the
fallback. The chain runs in-process (``ProjectSimulation``); the model is the local server with the fixture
answers in ``tests/ai/fixtures/answers`` or a scripted answer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.mesh.agents import architecture, docs, security, vision
from shared.mesh.agents.project import project_blueprint
from shared.ports.skills import SkillResult
from shared.product.intent import intent_from_mapping
from tests.ai.conftest import access_to
from tests.ai.model_server import FIXTURES, ModelServer, Reply, fixture_answer
from tests.skills.simulation import FakeEvent, ProjectSimulation


def fixture(name: str) -> Any:
    return yaml.safe_load((FIXTURES / f"{name}.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def sim(tmp_path: Path, server: ModelServer) -> ProjectSimulation:
    """The Dental Bookings intent (the drafter's fixture answer), its chain asking the fixture model."""
    intent_file = tmp_path / "dental.yaml"
    intent_file.write_text(yaml.safe_dump(fixture("IntentDraft")["intent"]), encoding="utf-8")
    simulation = ProjectSimulation(intent_file, tmp_path / "work")
    simulation.ctx.model = access_to(server, repair_rounds=1)
    return simulation


def artifact(result: SkillResult, path: str) -> str:
    return next(a.content.decode() for a in result.artifacts if a.path == path)


def types(result: SkillResult) -> list[str]:
    return [e.type for e in result.events]


def test_the_vision_prose_is_the_models_and_scope_and_constraints_stay_the_intents(
        sim: ProjectSimulation, server: ModelServer) -> None:
    result = sim.run_agent("vision-architect", sim.run_until("ProjectInitialized"))
    doc = artifact(result, "docs/vision.md")

    assert types(result) == ["SkillUsed", "VisionDocumentCreated"]
    assert "Booking a dental appointment today means phoning the practice" in doc
    assert "- receptionists at the front desk, who keep the day's schedule accurate" in doc
    assert "| dental-bookings | Appointment | `appointments` |" in doc  # the scope table: from the intent
    assert "- Availability target: not stated in the intent" in doc
    assert server.seen[0].schema_name == "VisionDocument"


def test_a_vision_that_invents_a_feature_is_repaired_then_replaced_by_the_deterministic_one(
        sim: ProjectSimulation, server: ModelServer) -> None:
    invented = {**fixture("VisionDocument"),
                "outcomes": [*fixture("VisionDocument")["outcomes"], {"name": "Payments", "description": "Pay."}]}
    server.reply(Reply(content=json.dumps(invented)), Reply(content=json.dumps(invented)))
    result = sim.run_agent("vision-architect", sim.run_until("ProjectInitialized"))

    assert types(result) == ["SkillUsed", "SkillUsed", "SkillDegraded", "VisionDocumentCreated"]
    assert "outcomes must name the intent's features exactly" in server.seen[1].messages[-1]["content"]
    assert artifact(result, "docs/vision.md") == vision.render_vision(sim.intent)  # the deterministic document


def test_the_plan_takes_the_models_stories_for_the_intents_features_and_the_templates_for_the_entities(
        sim: ProjectSimulation, server: ModelServer) -> None:
    sim.run_until("VisionDocumentCreated")
    result = sim.run_agent("product-manager", sim.run_until("VisionDocumentCreated"))
    plan = json.loads(artifact(result, "plan/product-plan.json"))

    assert types(result) == ["SkillUsed", "ProductPlanCreated"]
    assert [f["name"] for f in plan["features"]] == ["Book appointments", "Manage bookings", "Reminders",
                                                     "Manage patients", "Manage appointments"]
    assert plan["features"][2]["stories"][0]["acceptanceCriteria"][0]["when"] == \
        "I GET /api/appointments?reminderSent=false"
    assert plan["features"][3]["entity"] == "Patient"  # the service's contract: from the template


def test_the_architect_may_split_contexts_only_as_the_intents_rules_allow(
        sim: ProjectSimulation, server: ModelServer) -> None:
    restrict = {"contexts": [{"name": "patients", "entities": ["Patient"]},
                             {"name": "scheduling", "entities": ["Appointment"]}], "descriptions": []}
    sim.intent = intent_from_mapping({**sim.intent.to_payload(), "entities": [
        *sim.intent.to_payload()["entities"][:1],
        {**sim.intent.to_payload()["entities"][1], "relations": [
            {"name": "patient", "target": "Patient", "required": True, "onDelete": "restrict"}]}]})
    planned = sim.run_until("ProductPlanCreated")
    server.reply(Reply(content=json.dumps(restrict)),
                 Reply(content=json.dumps({**restrict, "contexts": []})))
    result = sim.run_agent("solution-architect", planned)

    repair = server.seen[-1].messages[-1]["content"]
    assert "points at Patient in context 'patients'" in repair and "use cascade" in repair
    created = next(e for e in result.events if e.type == "BlueprintCreated")
    assert created.data["services"] == ["dental-bookings"]


def test_bounded_contexts_and_descriptions_from_the_model_shape_the_blueprint_and_the_openapi_spec(
        sim: ProjectSimulation, server: ModelServer) -> None:
    split = {"contexts": [{"name": "patients", "description": "Who the practice treats.", "entities": ["Patient"]},
                          {"name": "scheduling", "entities": ["Appointment"]}],
             "descriptions": fixture("ArchitectureProposal")["descriptions"]}
    server.answer = lambda schema, messages: (json.dumps(split) if schema == "ArchitectureProposal"
                                              else fixture_answer(schema, messages))
    sim.run_until("BlueprintCreated")
    blueprint, _ = project_blueprint(sim.ctx)

    assert [s.name for s in blueprint.services] == ["dental-bookings-patients", "dental-bookings-scheduling"]
    patient = blueprint.services[0].entities[0]
    assert patient.description == "A person treated at the practice, who books appointments."
    assert patient.field("fullName").description == "The patient's name as the front desk addresses them."  # type: ignore[union-attr]
    contract = sim.run_until("ApiContractDefined", "dental-bookings-patients")
    spec = next(sim.ctx.artifacts[a["digest"]] for a in contract.data["artifacts"] if a["path"].endswith(".json"))
    assert b"The patient's name as the front desk addresses them." in spec


def test_the_service_readme_gets_the_models_overview_and_everything_else_from_the_blueprint(
        sim: ProjectSimulation, server: ModelServer) -> None:
    sim.run_until("BlueprintCreated")
    released = sim.ctx.record("ReleaseTriggered", {"projectId": sim.ctx.project_id, "service": "dental-bookings",
                                                   "version": "0.1.0"})
    result = docs.write_docs(released, sim.ctx)
    readme = artifact(result, "services/dental-bookings/README.md")

    assert types(result) == ["SkillUsed", "DocumentationGenerated"]
    overview = fixture("ServiceGuide")["byService"]["dental-bookings"]["overview"]
    assert f"keeps Patient, Appointment items.\n\n{overview}\n\n## Run the tests" in readme
    blueprint, _ = project_blueprint(sim.ctx)
    assert readme.replace(f"\n\n{overview}", "") == docs.render_readme(blueprint, blueprint.services[0], "0.1.0")


def unsafe_code(sim: ProjectSimulation) -> FakeEvent:
    """A CodeGenerated whose code has a route that evaluates its input: a finding for the reviewer."""
    code = sim.run_until("CodeGenerated")
    body = (b"import azure.functions as func\nbp = func.Blueprint()\n\n\n"
            b"@bp.route(route='calc', methods=['GET'], auth_level=func.AuthLevel.FUNCTION)\n"
            b"def calc(req):\n    return func.HttpResponse(str(eval(req.params['x'])))\n")
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    sim.ctx.artifacts[digest] = body
    refs = [*code.data["artifacts"], {"path": "services/dental-bookings/calc.py", "digest": digest,
                                      "mediaType": "text/x-python", "size": len(body)}]
    return sim.ctx.record("CodeGenerated", {**code.data, "artifacts": refs})


def explain(findings_prompt: str, skip: int = 0) -> str:
    findings = json.loads(findings_prompt)["findings"]
    return json.dumps({"explanations": [
        {"findingId": f["id"], "explanation": f"eval runs whatever the caller sends ({f['ruleId']}).",
         "remediation": "Parse the number with int() or a pydantic model instead of evaluating it."}
        for f in findings[skip:]]})


def test_the_security_reviewer_asks_for_explanations_of_its_own_findings_only(
        sim: ProjectSimulation, server: ModelServer) -> None:
    event = unsafe_code(sim)
    server.answer = lambda _schema, messages: explain(messages[-1]["content"])
    result = security.review_code(event, sim.ctx)
    report = json.loads(artifact(result, "security/dental-bookings-review.json"))
    markdown = artifact(result, "security/dental-bookings-review.md")

    [finding] = [f for f in report["findings"] if f["ruleId"] == "SEC004"]
    assert types(result) == ["SkillUsed", "SecurityReviewCompleted"]
    assert report["explanations"][0]["findingId"] == finding["id"]
    assert "## Explanations" in markdown and "**Fix:** Parse the number with int()" in markdown
    sent = json.loads(server.seen[-1].messages[-1]["content"])
    assert "eval(req.params['x'])" in sent["findings"][0]["code"]  # the reviewer sees the code around it


def test_explanations_that_skip_a_finding_are_not_accepted(sim: ProjectSimulation, server: ModelServer) -> None:
    event = unsafe_code(sim)
    server.answer = lambda _schema, messages: explain(messages[1]["content"], skip=1)  # always misses one
    result = security.review_code(event, sim.ctx)

    assert types(result) == ["SkillUsed", "SkillUsed", "SkillDegraded", "SecurityReviewCompleted"]
    assert "explain every finding exactly once" in server.seen[-1].messages[-1]["content"]
    assert "## Explanations" not in artifact(result, "security/dental-bookings-review.md")


def test_without_a_model_no_skill_calls_one_and_no_usage_is_emitted(sim: ProjectSimulation,
                                                                    server: ModelServer) -> None:
    sim.ctx.model = None
    sim.run_until("BlueprintCreated")
    assert server.seen == []
    assert not [e for e in sim.ctx.events if e["type"] in ("SkillUsed", "SkillDegraded")]
    assert architecture.propose(sim.intent).contexts == []
