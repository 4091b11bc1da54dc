"""The schema registry: lookup by exact version, validation, masking, envelope, CLI helpers."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from shared.contracts import CONTRACTS_DIR
from shared.contracts.errors import (
    ContractError,
    EmitterNotAllowedError,
    EnvelopeInvalidError,
    PayloadInvalidError,
    RetiredVersionError,
    UnknownTypeError,
    UnknownVersionError,
)
from shared.contracts.lint import check_schemas, list_rows, validate_file
from shared.contracts.manifests import load_consumers
from shared.contracts.registry import CATEGORIES, Registry, default_registry

#: every consumer id a contract may name as emitter or consumer
KNOWN_CONSUMERS = {
    # agents
    "vision-architect", "product-manager", "solution-architect", "api-designer", "backend-developer",
    "qa-engineer", "infrastructure-engineer", "security-engineer", "devops-engineer",
    "documentation-writer", "intent-drafter",
    # scaffold steps
    "scaffold-validate", "scaffold-generate", "scaffold-commit",
    # coordinators
    "project-lifecycle", "microservice-assembly", "release-manager", "documentation",
    # people and entry points
    "cli", "http-api", "operator",
}

D = "sha256:" + "ab" * 32
ART = [{"path": "docs/vision.md", "digest": D, "mediaType": "text/markdown", "size": 120}]
FINDING = {"id": "F1", "severity": "high", "message": "hard-coded secret", "file": "app.py", "line": 3,
           "ruleId": "SEC001"}
TREE = "0123456789abcdef0123456789abcdef01234567"
ENVELOPE: dict[str, Any] = {
    "id": "0b8c7c1e-6a0f-4f7a-9a53-0c3f4f0e9e11",
    "type": "ProjectInitialized",
    "version": "1.1.0",
    "source": "cli",
    "time": "2024-05-01T12:00:00Z",
    "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
    "tenantId": "t1",
    "projectId": "p1",
    "data": {"projectId": "p1", "productName": "Todo", "intent": {"purpose": "track tasks"}},
}

#: one payload per type at its latest version, shaped like what the producers emit
SAMPLES: dict[str, dict[str, Any]] = {
    "ProjectInitialized": {"projectId": "p1", "productName": "Todo", "intent": {"entities": []},
                           "intentDigest": D, "ownerEmail": "ada@example.com"},
    "VisionDocumentCreated": {"projectId": "p1", "artifacts": ART, "summary": "A todo app"},
    "ProductPlanCreated": {"projectId": "p1", "artifacts": ART, "featureCount": 3, "storyCount": 9},
    "BlueprintCreated": {"projectId": "p1", "artifacts": ART, "blueprintDigest": D, "services": ["tasks"]},
    "ApiContractDefined": {"projectId": "p1", "service": "tasks", "artifacts": ART, "openapiDigest": D,
                           "endpointCount": 5},
    "DocumentationGenerated": {"projectId": "p1", "artifacts": ART},
    "MicroserviceScaffolded": {"projectId": "p1", "service": "tasks", "executionId": "x1",
                               "manifestDigest": D, "treeHash": TREE, "artifacts": ART},
    "CodeGenerated": {"projectId": "p1", "service": "tasks", "artifacts": ART, "fileCount": 7},
    "TestSuiteGenerated": {"projectId": "p1", "service": "tasks", "artifacts": ART, "testCount": 12},
    "TestsPassed": {"projectId": "p1", "service": "tasks", "passed": 12, "failed": 0, "errors": 0,
                    "durationMs": 812.5, "reportDigest": D},
    "TestsFailed": {"projectId": "p1", "service": "tasks", "passed": 10, "failed": 2, "errors": 0,
                    "durationMs": 900, "reportDigest": D, "reason": "2 tests failed"},
    "AgentFailed": {"agent": "qa-engineer", "failedEventId": "e1", "failedEventType": "CodeGenerated",
                    "reason": "timeout", "attempt": 2, "permanent": False, "errorType": "TimeoutError"},
    "InfrastructureBlueprintCreated": {"projectId": "p1", "service": "tasks", "blueprintVersion": 3,
                                       "contentHash": D, "environment": "dev", "artifacts": ART,
                                       "findings": [FINDING]},
    "InfrastructureBlueprintRolledBack": {"service": "tasks", "environment": "dev", "fromVersion": 3,
                                          "toVersion": 2, "actor": "ops@example.com", "reason": "bad SKU"},
    "ReleaseTriggered": {"projectId": "p1", "service": "tasks", "version": "0.1.0", "artifacts": ART,
                         "testsReportDigest": D, "securityReviewDigest": D},
    "ServiceDeployed": {"projectId": "p1", "service": "tasks", "environment": "local", "url": "http://127.0.0.1:7072",
                        "healthCheck": {"path": "/api/health", "status": 200, "passed": True}, "checks": [],
                        "eventsPublished": 1},
    "SecurityReviewCompleted": {"projectId": "p1", "service": "tasks", "findings": [FINDING],
                                "highestSeverity": "high", "artifacts": ART},
    "CoordinatorStateChanged": {"flow": "project-lifecycle", "flowVersion": 1, "instanceId": "p1",
                                "from": "planning", "to": "designing", "trigger": "ProductPlanCreated"},
    "TemplateExecutionRequested": {"idempotencyKey": "k1", "templateId": "python-functions",
                                   "parameters": {"serviceName": "tasks"}, "requestedBy": "backend-developer",
                                   "projectId": "p1", "service": "tasks", "commit": False},
    "GenerateScaffold": {"idempotencyKey": "k1", "templateId": "python-functions", "templateVersion": "1.0.0",
                         "parameters": {"serviceName": "tasks"}, "requestedBy": "cli"},
    "TemplateExecutionValidated": {"executionId": "x1", "idempotencyKey": "k1",
                                   "templateId": "python-functions", "templateVersion": "1.0.0",
                                   "parameters": {"serviceName": "tasks"},
                                   "requestedBy": "cli", "commit": True},
    "TemplateExecutionRejected": {"executionId": "x1", "templateId": "python-functions", "requestedBy": "cli",
                                  "errors": [{"parameter": "runtime", "message": "unknown runtime",
                                              "allowed": ["python3.11"]}]},
    "TemplateExecutionFailed": {"executionId": "x1", "templateId": "python-functions", "requestedBy": "cli",
                                "reason": "disk full"},
    "ScaffoldGenerated": {"executionId": "x1", "templateId": "python-functions", "templateVersion": "1.0.0",
                          "manifestDigest": D, "treeHash": TREE, "fileCount": 14, "requestedBy": "cli",
                          "commit": True},
    "TemplateExecuted": {"executionId": "x1", "templateId": "python-functions", "templateVersion": "1.0.0",
                         "manifestDigest": D, "treeHash": TREE, "commitId": TREE, "requestedBy": "cli"},
    "ProjectCompleted": {"projectId": "p1", "outcome": "released"},
    "DeadLetterRecorded": {"consumer": "qa-engineer", "eventId": "e1", "eventType": "CodeGenerated",
                           "reason": "MaxDeliveryCountExceeded", "description": "failed 10 times"},
    "AgentRetryRequested": {"agent": "qa-engineer", "attempt": 2, "originalEvent": ENVELOPE},
    "ReleaseApproved": {"projectId": "p1", "service": "tasks", "testsReportDigest": D,
                        "securityReviewDigest": D},
    "ReleaseApprovalGranted": {"projectId": "p1", "environment": "prod", "actor": "alice", "reason": "reviewed"},
    "ReleaseApprovalRejected": {"projectId": "p1", "environment": "prod", "actor": "bob", "reason": "not today"},
    "FlowTimeout": {"flow": "release-manager", "instanceId": "p1/tasks", "state": "gating",
                    "stateVersion": 4},
    "FlowControlRequested": {"flow": "project-lifecycle", "instanceId": "p1", "action": "force",
                             "targetState": "released", "actor": "ada@example.com"},
    "IntentSubmitted": {"projectId": "p1", "text": "A booking app for dentists", "ownerEmail": "ada@example.com"},
    "IntentDrafted": {"projectId": "p1", "intent": {"entities": []}, "valid": False, "problems": ["purpose: missing"],
                      "openQuestions": ["Who uses it?"], "assumptions": [], "draftedBy": "model", "artifacts": ART},
    "SkillUsed": {"projectId": "p1", "agent": "vision-architect", "skill": "vision.write_vision",
                  "model": "gpt-4o-mini", "round": 0, "outcome": "valid", "promptTokens": 812,
                  "completionTokens": 230, "costUsd": 0.00026, "latencyMs": 1830.5, "key": "a" * 64,
                  "artifacts": ART},
    "SkillDegraded": {"projectId": "p1", "agent": "vision-architect", "skill": "vision.write_vision",
                      "model": "gpt-4o-mini", "rounds": 2, "reason": "no valid VisionDocument in 2 rounds"},
    "BudgetExceeded": {"projectId": "p1", "agent": "product-manager", "skill": "plan.write_plan",
                       "model": "gpt-4o-mini", "budgetUsd": 0.05, "spentUsd": 0.051, "calls": 3,
                       "byAgent": {"vision-architect": 0.051}, "summary": "the model budget is spent"},
}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return default_registry()


def _mini_contracts(tmp_path: Path, *schemas: dict[str, Any]) -> Path:
    """A contracts dir with the real envelope and common defs plus the given event schemas."""
    root = tmp_path / "contracts"
    root.mkdir()
    for name in ("envelope.v1.json", "common.v1.json"):
        shutil.copy(CONTRACTS_DIR / name, root / name)
    for schema in schemas:
        meta = schema["x-event"]
        path = root / "events" / meta["category"] / f"{meta['name']}.v{meta['version'][0]}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema))
    return root


def _event(name: str, version: str = "1.0.0", status: str = "stable", **extra: Any) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://factory.local/contracts/events/domain/{name}.v{version[0]}.json",
        "type": "object",
        "properties": {"projectId": {"type": "string"}},
        "required": ["projectId"],
        "x-event": {"name": name, "version": version, "category": "domain", "status": status,
                    "emitters": ["cli"], "consumers": ["operator"], "sensitive": []},
        **extra,
    }


# --------------------------------------------------------------------------- loading and lookup


def test_registry_loads_every_contract_with_its_kind_and_category(registry: Registry) -> None:
    assert set(registry.types()) == set(SAMPLES)
    for info in registry.all():
        assert info.category in CATEGORIES
        assert info.kind == ("command" if info.path.parent.name == "commands" else "event")
    assert registry.get("GenerateScaffold", "1.0.0").kind == "command"


def test_every_schema_is_a_valid_2020_12_schema(registry: Registry) -> None:
    assert check_schemas(registry) == []


def test_unknown_type_error_names_the_known_types(registry: Registry) -> None:
    with pytest.raises(UnknownTypeError) as exc:
        registry.get("ProjectInitialised", "1.0.0")
    assert "ProjectInitialized" in str(exc.value) and "AgentFailed" in str(exc.value)


def test_unknown_version_error_lists_the_available_versions(registry: Registry) -> None:
    with pytest.raises(UnknownVersionError) as exc:
        registry.get("ProjectInitialized", "1.9.0")
    assert "1.0.0, 1.1.0, 1.2.0" in str(exc.value)
    assert isinstance(exc.value, ContractError)


def test_exact_version_resolves_live_file_or_history_snapshot(registry: Registry) -> None:
    live = registry.get("ProjectInitialized", "1.2.0")
    old = registry.get("ProjectInitialized", "1.0.0")
    assert live.live and live.path.name == "ProjectInitialized.v1.json"
    assert not old.live and old.path.parts[-3:] == ("history", "ProjectInitialized", "1.0.0.json")
    assert "ownerEmail" in live.schema["properties"] and "ownerEmail" not in old.schema["properties"]
    assert old.schema_uri.endswith("/history/ProjectInitialized/1.0.0.json")


def test_latest_picks_newest_usable_version_overall_and_per_major(registry: Registry) -> None:
    assert registry.latest("ProjectInitialized").version == "1.2.0"
    assert registry.latest("AgentFailed").version == "2.1.0"
    assert registry.latest("AgentFailed", 1).version == "1.0.0"
    with pytest.raises(UnknownVersionError):
        registry.latest("AgentFailed", 7)


def test_versions_are_sorted_by_semver(registry: Registry) -> None:
    assert registry.versions("AgentFailed") == ["1.0.0", "2.0.0", "2.1.0"]


# --------------------------------------------------------------------------- payload validation


@pytest.mark.parametrize("type_", sorted(SAMPLES))
def test_producer_shaped_payload_validates_at_latest_version(registry: Registry, type_: str) -> None:
    info = registry.latest(type_)
    assert registry.validate(type_, info.version, SAMPLES[type_]) == []


def test_invalid_payload_reports_every_error_with_its_path(registry: Registry) -> None:
    bad = {"projectId": "p1", "service": "tasks", "findings": [{"id": "F1", "severity": "severe"}],
           "highestSeverity": "urgent", "artifacts": [{"path": "a", "digest": "md5:1", "mediaType": "x",
                                                       "size": -1, "extra": 1}]}
    with pytest.raises(PayloadInvalidError) as exc:
        registry.validate("SecurityReviewCompleted", "1.0.0", bad)
    errors = exc.value.errors
    assert any(e.startswith("/findings/0/severity:") and '"critical"' in e for e in errors)
    assert "/findings/0/message: required field is missing" in errors
    assert any(e.startswith("/highestSeverity:") and "allowed values" in e and '"none"' in e for e in errors)
    assert any(e.startswith("/artifacts/0/digest:") and "pattern" in e for e in errors)
    assert any(e.startswith("/artifacts/0/size:") and "minimum" in e for e in errors)
    assert any(e.startswith("/artifacts/0/extra: unexpected field") for e in errors)
    assert len(errors) == 6
    assert "SecurityReviewCompleted@1.0.0" in str(exc.value) and "Fix the producer" in str(exc.value)


def test_required_field_missing_is_reported_per_field(registry: Registry) -> None:
    with pytest.raises(PayloadInvalidError) as exc:
        registry.validate("TestsFailed", "1.0.0", {"projectId": "p1", "service": "s", "passed": "3"})
    assert "/reason: required field is missing" in exc.value.errors
    assert "/reportDigest: required field is missing" in exc.value.errors
    assert any(e.startswith("/passed: expected integer, got string") for e in exc.value.errors)


def test_format_is_checked(registry: Registry) -> None:
    data = {**SAMPLES["ProjectInitialized"], "ownerEmail": "not-an-email"}
    with pytest.raises(PayloadInvalidError, match="/ownerEmail"):
        registry.validate("ProjectInitialized", "1.1.0", data)


def test_older_minor_validates_with_its_own_schema(registry: Registry) -> None:
    data = {"projectId": "p1", "productName": "Todo", "intent": {}}
    assert registry.validate("ProjectInitialized", "1.0.0", data) == []


def test_deprecated_version_validates_with_a_warning(registry: Registry, caplog: Any) -> None:
    data = {"agent": "qa-engineer", "failedEventId": "e1", "failedEventType": "CodeGenerated", "reason": "x"}
    with caplog.at_level(logging.WARNING, logger="shared.contracts.registry"):
        warnings = registry.validate("AgentFailed", "1.0.0", data)
    assert len(warnings) == 1 and "deprecated" in warnings[0] and "AgentFailed@2.1.0" in warnings[0]
    assert "deprecated" in caplog.text


def test_retired_version_is_rejected(tmp_path: Path) -> None:
    registry = Registry.load(_mini_contracts(tmp_path, _event("OldThing", status="retired"),
                                             _event("OldThing", "2.0.0")))
    with pytest.raises(RetiredVersionError, match=r"OldThing@1.0.0 is retired.*OldThing@2.0.0"):
        registry.validate("OldThing", "1.0.0", {"projectId": "p1"})
    assert registry.latest("OldThing").version == "2.0.0"
    with pytest.raises(UnknownVersionError, match="retired"):
        registry.latest("OldThing", 1)


def test_live_major_status_applies_to_its_released_minors(tmp_path: Path) -> None:
    root = _mini_contracts(tmp_path, _event("Thing", "1.1.0", status="deprecated"))
    snap = _event("Thing", "1.0.0")
    (root / "history" / "Thing").mkdir(parents=True)
    (root / "history" / "Thing" / "1.0.0.json").write_text(json.dumps(snap))
    registry = Registry.load(root)
    assert registry.get("Thing", "1.0.0").status == "deprecated"


def test_misplaced_contract_file_is_reported_with_where_it_belongs(tmp_path: Path) -> None:
    root = _mini_contracts(tmp_path, _event("Thing"))
    (root / "events" / "domain" / "Thing.v1.json").rename(root / "events" / "domain" / "Other.v1.json")
    with pytest.raises(ContractError, match=r"move it to events/domain/Thing.v1.json"):
        Registry.load(root)


# --------------------------------------------------------------------------- masking


def test_mask_replaces_sensitive_fields_and_leaves_input_untouched(registry: Registry) -> None:
    data = SAMPLES["ProjectInitialized"]
    masked = registry.mask("ProjectInitialized", "1.1.0", data)
    assert masked["ownerEmail"] == "***"
    assert masked["productName"] == "Todo"
    assert data["ownerEmail"] == "ada@example.com"


def test_mask_of_older_minor_uses_sensitive_fields_of_its_major(registry: Registry) -> None:
    masked = registry.mask("ProjectInitialized", "1.0.0", {"projectId": "p1", "ownerEmail": "a@b.c"})
    assert masked == {"projectId": "p1", "ownerEmail": "***"}


def test_mask_reaches_into_an_embedded_envelope(registry: Registry) -> None:
    inner = {**ENVELOPE, "data": SAMPLES["ProjectInitialized"]}
    masked = registry.mask("AgentRetryRequested", "1.0.0", {**SAMPLES["AgentRetryRequested"],
                                                             "originalEvent": inner})
    assert masked["originalEvent"]["data"]["ownerEmail"] == "***"
    assert masked["originalEvent"]["data"]["productName"] == "Todo"


def test_mask_supports_dotted_paths_and_wildcards(tmp_path: Path) -> None:
    schema = _event("Thing")
    schema["x-event"]["sensitive"] = ["owner.email", "/keys/*/secret"]
    registry = Registry.load(_mini_contracts(tmp_path, schema))
    masked = registry.mask("Thing", "1.0.0", {"owner": {"email": "a@b.c", "name": "A"},
                                              "keys": [{"secret": "s1", "id": 1}, {"id": 2}]})
    assert masked == {"owner": {"email": "***", "name": "A"}, "keys": [{"secret": "***", "id": 1}, {"id": 2}]}


def test_every_sensitive_path_names_a_declared_property(registry: Registry) -> None:
    for info in (i for i in registry.all() if i.live):
        for path in info.sensitive:
            schema = registry.resolved_schema(info.name, info.version)
            for part in path.strip("/").replace(".", "/").split("/"):
                if part == "*":
                    schema = schema.get("items") or schema.get("additionalProperties") or {}
                    continue
                assert part in schema.get("properties", {}), f"{info.ref}: sensitive {path!r} is not declared"
                schema = schema["properties"][part]


# --------------------------------------------------------------------------- envelope


def test_envelope_as_emitted_validates(registry: Registry) -> None:
    registry.validate_envelope(ENVELOPE)


def test_invalid_envelope_lists_every_problem(registry: Registry) -> None:
    bad = {**ENVELOPE, "traceId": "XYZ", "time": "yesterday", "id": "not-a-uuid", "colour": "red"}
    del bad["tenantId"]
    with pytest.raises(EnvelopeInvalidError) as exc:
        registry.validate_envelope(bad)
    paths = sorted(e.split(":")[0] for e in exc.value.errors)
    assert paths == ["/colour", "/id", "/tenantId", "/time", "/traceId"]


def test_envelope_schema_fields_match_the_agreed_names() -> None:
    schema = json.loads((CONTRACTS_DIR / "envelope.v1.json").read_text())
    assert list(schema["properties"]) == [
        "id", "type", "version", "source", "time", "traceId", "causationId", "correlationId", "tenantId",
        "projectId", "componentTag", "schemaUri", "deduplicationKey", "scope", "signature", "data"]


# --------------------------------------------------------------------------- access policy


def test_every_emitter_and_consumer_is_a_known_consumer_id(registry: Registry) -> None:
    for info in registry.all():
        unknown = (set(info.emitters) | set(info.consumers)) - KNOWN_CONSUMERS
        assert not unknown, f"{info.ref} names unknown consumer ids {sorted(unknown)}"


def test_manifests_only_emit_and_subscribe_to_what_contracts_allow(registry: Registry) -> None:
    for consumer in load_consumers():
        if consumer.kind == "coordinator":
            continue  # flows are checked by the flow engine's own tests
        for type_ in consumer.emits:
            assert consumer.name in registry.latest(type_).emitters, f"{consumer.name} emits {type_}"
        for type_ in consumer.subscribes_to:
            assert consumer.name in registry.latest(type_).consumers, f"{consumer.name} reads {type_}"


def test_check_emitter_rejects_a_source_outside_the_policy(registry: Registry) -> None:
    registry.check_emitter("VisionDocumentCreated", "1.0.0", "vision-architect")
    with pytest.raises(EmitterNotAllowedError, match="allowed emitters: vision-architect"):
        registry.check_emitter("VisionDocumentCreated", "1.0.0", "qa-engineer")


# --------------------------------------------------------------------------- CLI helpers


def test_list_rows_has_one_row_per_resolvable_version(registry: Registry) -> None:
    rows = list_rows(registry)
    refs = {(r["name"], r["version"]) for r in rows}
    assert ("ProjectInitialized", "1.0.0") in refs and ("ProjectInitialized", "1.1.0") in refs
    row = next(r for r in rows if r["name"] == "AgentFailed" and r["version"] == "1.0.0")
    assert row["status"] == "deprecated" and row["category"] == "agent" and row["kind"] == "event"


def test_validate_file_accepts_a_valid_envelope_in_yaml(registry: Registry, tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "event.yaml"
    doc = {**ENVELOPE, "time": "PLACEHOLDER"}
    path.write_text(yaml.safe_dump(doc).replace("PLACEHOLDER", "2024-05-01T12:00:00Z"))
    assert validate_file(registry, path) == []


def test_validate_file_reports_envelope_and_payload_problems(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({**ENVELOPE, "source": "qa-engineer", "traceId": "nope",
                                "data": {"projectId": "p1", "intent": {}}}))
    problems = validate_file(registry, path)
    assert any(p.startswith("envelope /traceId") for p in problems)
    assert "data /productName: required field is missing" in problems
    assert any(p.startswith("/source: 'qa-engineer' may not emit") for p in problems)
    assert len(problems) == 3


def test_validate_file_accepts_type_version_data_form(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "payload.json"
    path.write_text(json.dumps({"type": "ProjectCompleted", "version": "1.0.0", "data": {"projectId": "p"}}))
    assert validate_file(registry, path) == ["data /outcome: required field is missing"]
    path.write_text(json.dumps({"type": "ProjectCompleted", "version": "9.0.0", "data": {}}))
    assert "available versions: 1.0.0" in validate_file(registry, path)[0]


def test_validate_file_flags_a_source_that_may_not_emit(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({**ENVELOPE, "source": "qa-engineer"}))
    assert [p.split(":")[0] for p in validate_file(registry, path)] == ["/source"]


def test_validate_file_explains_unreadable_input(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    assert "cannot read it as JSON or YAML" in validate_file(registry, path)[0]
