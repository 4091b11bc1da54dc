"""vision, plan, blueprint, OpenAPI, infra and docs skills: what each artifact says."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from openapi_spec_validator import validate

from shared.product.blueprint import ServiceBlueprint
from tests.skills.simulation import ProjectSimulation

Completed = Callable[[str], ProjectSimulation]


def _artifact(sim: ProjectSimulation, path: str) -> bytes:
    for envelope in sim.ctx.events:
        for ref in envelope["data"].get("artifacts", []):
            if ref["path"] == path:
                return sim.ctx.load_artifact(ref["digest"])
    raise AssertionError(f"no artifact {path}")


def _data(sim: ProjectSimulation, event_type: str) -> dict[str, Any]:
    return dict(sim.by_type[event_type].data)


def test_vision_states_purpose_users_scope_and_constraints(completed: Completed) -> None:
    sim = completed("task-tracker")
    vision = _artifact(sim, "docs/vision.md").decode()

    assert sim.intent.purpose in vision
    assert "- team member" in vision
    assert "| Task | `tasks` |" in vision
    assert "Monthly budget: 50 USD" in vision
    assert _data(sim, "VisionDocumentCreated")["summary"].startswith("Task Tracker:")


def test_plan_has_intent_stories_and_crud_stories_with_given_when_then(completed: Completed) -> None:
    sim = completed("invoicing")
    plan = json.loads(_artifact(sim, "plan/product-plan.json"))
    stories = [s for f in plan["features"] for s in f["stories"]]
    data = _data(sim, "ProductPlanCreated")

    # 2 features (one story each) + 3 entities (5 CRUD stories, 1 tenancy story) + the invoice status lifecycle
    assert data["featureCount"] == len(plan["features"]) == 2 + 3
    assert data["storyCount"] == len(stories) == 2 + 3 * (5 + 1) + 1
    assert all(re.match(r"^As an? [^,]+, I want .+ so that .+\.$", s["text"]) for s in stories)
    assert all(c["given"] and c["when"] and c["then"] for s in stories for c in s["acceptanceCriteria"])
    assert "I POST it to /api/invoice-lines" in json.dumps(plan)
    assert "As a user, I want to create an Invoice so that it is recorded." in [s["text"] for s in stories]
    assert "I PATCH its status to `paid`" in json.dumps(plan)  # draft -> paid is not a transition: 409
    assert "**Given**" in _artifact(sim, "docs/product-plan.md").decode()


def test_blueprint_has_crud_endpoints_and_events_per_entity(completed: Completed) -> None:
    sim = completed("catalogue")
    blueprint = ServiceBlueprint.model_validate_json(_artifact(sim, "architecture/blueprint.json"))
    (service,) = blueprint.services

    assert _data(sim, "BlueprintCreated")["services"] == ["catalogue"]
    assert {(e.method, e.path) for e in service.endpoints if e.entity == "Category"} == {
        ("GET", "/api/categories"),
        ("POST", "/api/categories"),
        ("GET", "/api/categories/{id}"),
        ("PATCH", "/api/categories/{id}"),
        ("DELETE", "/api/categories/{id}"),
    }
    assert all(e.auth_level == "function" for e in service.endpoints)
    assert {e.name for e in service.publishes} >= {"ProductCreated", "ProductUpdated", "ProductDeleted"}
    assert service.consumes == []
    assert service.package == "catalogue"
    architecture = _artifact(sim, "docs/architecture.md").decode()
    assert "```mermaid" in architecture and "Product }o--|| Category : category" in architecture


def test_blueprint_carries_tenancy_and_non_functional_wishes(completed: Completed) -> None:
    blueprint = ServiceBlueprint.model_validate_json(_artifact(completed("invoicing"), "architecture/blueprint.json"))

    assert blueprint.tenancy == "multi"
    assert blueprint.non_functional.data_residency == "eu"
    assert blueprint.non_functional.regions == ["westeurope", "northeurope"]
    (service,) = blueprint.services
    assert "InvoiceStatusChanged" in {e.name for e in service.publishes}
    invoice = service.entity("Invoice")
    assert invoice is not None and invoice.unique == [["number"]]
    assert [(r.field_name, r.required, r.delete_rule) for r in invoice.relations] == [
        ("customerId", True, "restrict"), ("lineIds", False, "cascade")]


def test_openapi_is_valid_3_1_with_problem_json_errors_and_entity_schemas(completed: Completed) -> None:
    sim = completed("invoicing")
    spec = json.loads(_artifact(sim, "api/invoicing.openapi.json"))
    data = _data(sim, "ApiContractDefined")

    validate(spec)
    assert spec["openapi"] == "3.1.0"
    assert data["endpointCount"] == 3 * 5 + 1
    assert data["openapiDigest"] == data["artifacts"][0]["digest"]
    schemas = spec["components"]["schemas"]
    assert {"Invoice", "InvoiceCreate", "InvoiceUpdate", "InvoiceList", "common.Problem"} <= set(schemas)
    assert schemas["InvoiceCreate"]["properties"]["currency"]["enum"] == ["EUR", "USD", "GBP", "CHF"]
    assert "lineIds" in schemas["InvoiceCreate"]["properties"]
    assert "id" not in schemas["InvoiceCreate"]["properties"]
    patch = spec["paths"]["/api/invoices/{id}"]["patch"]["responses"]
    assert set(patch) == {"200", "400", "401", "404", "409", "413", "422"}
    problem = spec["components"]["responses"]["common.Problem422"]["content"]
    assert list(problem) == ["application/problem+json"]
    params = {p["name"] for p in spec["paths"]["/api/invoices"]["get"]["parameters"]}
    assert {"limit", "sort", "continuationToken", "status", "dueOn.lt", "customerId"} <= params
    assert schemas["InvoiceCreate"]["properties"]["taxRate"]["pattern"] == r"^-?\d{1,1}(\.\d{1,4})?$"
    assert {"type": "InvoiceStatusChanged", "entity": "Invoice", "trigger": "transition", "field": "status"} in (
        spec["x-events"]["publishes"])


def test_infrastructure_uses_the_generator_package_when_it_is_installed(completed: Completed) -> None:
    sim = completed("task-tracker")
    data = _data(sim, "InfrastructureBlueprintCreated")
    paths = [ref["path"] for ref in data["artifacts"]]

    assert paths[0] == "infra/task-tracker/infrastructure-request.json"
    assert len(paths) > 1 and all(p.startswith("infra/task-tracker/") for p in paths)
    assert data["environment"] == "dev"
    request = json.loads(_artifact(sim, paths[0]))
    assert request["budget"] == {"monthlyUsd": 50.0}
    assert request["storage"] == [{"kind": "cosmos", "containers": ["tasks"], "partitionKey": "/tenantId"}]
    assert request["target"] == "functions"
    assert "infra/task-tracker/dev/bicep/main.bicep" in paths
    assert not any("kubernetes" in p or "helm" in p for p in paths)  # a Functions app is not a container


def test_docs_list_every_endpoint_and_draw_the_topology(completed: Completed) -> None:
    sim = completed("catalogue")
    readme = _artifact(sim, "services/catalogue/README.md").decode()
    topology = _artifact(sim, "docs/topology.md").decode()

    assert "| GET | `/api/health` | liveness | anonymous |" in readme
    assert "| PATCH | `/api/products/{id}` | update Product | function |" in readme
    assert readme.count("| function |") == 15
    assert "pip install -r requirements-dev.txt" in readme
    assert "at most 100 characters" in readme and "at most 10000 characters (default)" in readme
    assert "flowchart LR" in topology and "catalogue_products" in topology


def test_a_document_states_only_what_the_intent_said(completed: Completed) -> None:
    sim = completed("library")  # its intent states no non-functional wishes
    vision = _artifact(sim, "docs/vision.md").decode()
    architecture = _artifact(sim, "docs/architecture.md").decode()
    request = json.loads(_artifact(sim, "infra/library-lending/infrastructure-request.json"))

    for text in (vision, architecture):
        assert "- Availability target: not stated in the intent" in text
        assert "- Monthly budget: not stated in the intent" in text
        assert not re.search(r"99\.9|westeurope|\b50 requests|200 USD", text)
    assert request["load"] == {"expectedRps": None, "availability": None}
    assert request["notStatedInTheIntent"] == ["expectedRps", "availability", "monthlyBudgetUsd", "regions",
                                               "dataResidency"]


def test_a_feature_without_stories_gets_a_grammatical_story(completed: Completed) -> None:
    plan = json.loads(_artifact(completed("library"), "plan/product-plan.json"))
    borrowing = next(f for f in plan["features"] if f["name"] == "Borrowing limit")

    assert [s["text"] for s in borrowing["stories"]] == [
        "As a user, I want the Borrowing limit feature so that members may only borrow as many books as their "
        "limit allows."]
    assert "want to borrowing" not in json.dumps(plan)


def test_the_repository_readme_names_every_service_one_test_command_and_the_reports(completed: Completed) -> None:
    readme = _artifact(completed("library"), "README.md").decode()

    assert "| library-catalog | catalog | Author, Book |" in readme
    assert "| library-lending | lending | Member, Loan |" in readme
    assert "pytest && ruff check ." in readme
    assert "reports/<service>-tests.json" in readme and "release/<service>-findings.json" in readme
    assert "**library-lending** follows `BookCreated` and `BookDeleted`" in readme


def test_the_architecture_draws_the_events_between_the_services(completed: Completed) -> None:
    architecture = _artifact(completed("library"), "docs/architecture.md").decode()

    assert "bus -- BookDeleted --> library_lending" in architecture
    assert "| `BookDeleted` | library-catalog | a Book is deleted | library-lending |" in architecture
