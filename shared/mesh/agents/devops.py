"""devops-engineer: the release gate, the local deployment smoke test, and the release itself.

The gate runs the generated tests *and* ``ruff check`` in the sandbox: a lint failure blocks the
release like a failing test. The test report ``reports/<service>-tests.json`` is deterministic:
counts, exit code, per-test outcomes with project paths normalised and the ruff result, no
timings and no raw pytest output, so equal runs store equal bytes (and the same
``reportDigest``). ``reports/<service>-tests.junit.xml`` is pytest's own XML and carries timings
and a timestamp, so it differs from run to run. ``durationMs`` travels only in the event.

After the tests pass, ``deploy_locally`` hosts the service on a local port (the embedded stand-in
for a deployment), checks ``/api/health`` and creates, reads and lists an item of each entity over
HTTP, and announces ``ServiceDeployed`` with the URL; the release manager waits for it.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from shared.generators.service.smoke import smoke_checks
from shared.mesh.agents.project import (
    all_events,
    find_service,
    latest,
    load_json,
    manifest_files,
    project_blueprint,
    required,
    service_relative,
)
from shared.ports.service_host import ServiceHostError
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillError, SkillResult
from shared.ports.test_runner import TestRunnerError

RELEASE_VERSION = "0.1.0"
GATE_TIMEOUT_S = 240.0
SMOKE_TIMEOUT_S = 60.0


def _safe_relative(path: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise SkillError(f"refusing to write {path!r} outside the project folder", permanent=True)
    return rel


def gather_service_files(ctx: SkillContext, service: str, tests: list[Mapping[str, Any]]) -> dict[str, str]:
    """Service-relative path -> digest: scaffold manifest, then generated code, then tests (later wins)."""
    scaffold = latest(ctx, "MicroserviceScaffolded", service=service)
    manifest = load_json(
        ctx, str(required(scaffold, "manifestDigest", "MicroserviceScaffolded")), "scaffold manifest"
    )
    files = {service_relative(p, service): d for p, d in manifest_files(manifest).items()}
    code = latest(ctx, "CodeGenerated", service=service)
    prefix = f"services/{service}/"
    for ref in [*code.get("artifacts", []), *tests]:
        if str(ref["path"]).startswith(prefix):  # repository-root files are not part of the service
            files[service_relative(str(ref["path"]), service)] = str(ref["digest"])
    return dict(sorted(files.items()))


def materialize(ctx: SkillContext, files: Mapping[str, str], target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for path, digest in files.items():
        destination = target / _safe_relative(path)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            destination.write_bytes(ctx.load_artifact(digest))
        except (KeyError, FileNotFoundError) as exc:
            raise SkillError(f"{path} ({digest}) is not in the artifact store; retry when it is") from exc
    return target


def run_test_gate(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    service = str(required(event.data, "service", event.type))
    files = gather_service_files(ctx, service, list(event.data.get("artifacts", [])))
    project = materialize(ctx, files, Path(ctx.work_dir) / "test-gate" / service)
    try:
        report = ctx.run_tests(project, timeout_s=GATE_TIMEOUT_S, lint=True)
    except TestRunnerError as exc:
        raise SkillError(f"the test sandbox could not run for {service}: {exc}", permanent=exc.permanent) from exc
    lint = {"tool": "ruff check", "exitCode": report.lint_exit_code, "output": report.lint_output[-4000:]}
    body = {"service": service, **report.to_dict(deterministic=True), "lint": lint}
    report_json = Artifact.json(f"reports/{service}-tests.json", body)
    artifacts = [report_json]
    if report.junit_xml:
        artifacts.append(Artifact(f"reports/{service}-tests.junit.xml", report.junit_xml, "application/xml"))
    payload: dict[str, Any] = {
        "projectId": ctx.project_id,
        "service": service,
        "passed": report.passed,
        "failed": report.failed,
        "errors": report.errors,
        "durationMs": report.duration_ms,
        "reportDigest": report_json.digest,
    }
    if report.ok:
        return SkillResult(events=[Emit("TestsPassed", payload)], artifacts=artifacts)
    payload["reason"] = report.reason()
    return SkillResult(events=[Emit("TestsFailed", payload)], artifacts=artifacts)


def deploy_locally(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    """TestsPassed -> host the service locally, smoke-test it over HTTP -> ServiceDeployed."""
    service_name = str(required(event.data, "service", event.type))
    blueprint, _ = project_blueprint(ctx)
    service = find_service(blueprint, service_name)
    files = gather_service_files(ctx, service_name, [])
    project = materialize(ctx, files, Path(ctx.work_dir) / "deploy" / service_name)
    checks = smoke_checks(blueprint, service)
    try:
        report = ctx.smoke_test(project, checks, timeout_s=SMOKE_TIMEOUT_S)
    except ServiceHostError as exc:
        raise SkillError(f"{service_name} could not be hosted locally: {exc}", permanent=exc.permanent) from exc
    if not report.ok:
        raise SkillError(f"the local smoke test of {service_name} at {report.url} failed: {report.reason()}. "
                         f"Host output: {report.output[-1000:]}", permanent=True)
    health = report.results[0]
    payload: dict[str, Any] = {
        "projectId": ctx.project_id,
        "service": service_name,
        "environment": "local",
        "url": report.url,
        "healthCheck": {"path": health.path, "status": health.status, "passed": health.passed},
        "checks": [{"name": r.name, "method": r.method, "path": r.path, "expected": r.expected,
                    "status": r.status, "passed": r.passed} for r in report.results],
        "eventsPublished": report.published,
    }
    return SkillResult(events=[Emit("ServiceDeployed", payload)])


def provenance(ctx: SkillContext, service: str) -> list[dict[str, Any]]:
    """Every artifact of the project: path, digest, and the event that produced it."""
    entries: dict[tuple[str, str], dict[str, Any]] = {}

    def add(path: str, digest: str, envelope: Mapping[str, Any]) -> None:
        # one file named by several events: the same one whatever order the events were logged in
        event = {"id": envelope.get("id"), "type": envelope.get("type")}
        known = entries.get((path, digest))
        if known is None or (str(event["type"]), str(event["id"])) < (str(known["event"]["type"]),
                                                                        str(known["event"]["id"])):
            entries[(path, digest)] = {"path": path, "digest": digest, "event": event}

    for envelope in all_events(ctx):
        data = envelope.get("data") or {}
        for ref in data.get("artifacts", []) or []:
            if isinstance(ref, Mapping) and "path" in ref and "digest" in ref:
                add(str(ref["path"]), str(ref["digest"]), envelope)
        if envelope.get("type") == "MicroserviceScaffolded" and data.get("service") == service:
            digest = str(data.get("manifestDigest", ""))
            manifest = load_json(ctx, digest, "scaffold manifest")
            add(f"services/{service}/scaffold-manifest.json", digest, envelope)
            for path, file_digest in manifest_files(manifest).items():
                add(f"services/{service}/{service_relative(path, service)}", file_digest, envelope)
        if envelope.get("type") in ("TestsPassed", "TestsFailed") and data.get("service") == service:
            add(f"reports/{service}-tests.json", str(data.get("reportDigest", "")), envelope)
    return sorted(entries.values(), key=lambda e: (e["path"], e["digest"]))


def release_findings(ctx: SkillContext, service: str) -> dict[str, Any]:
    """What the gates found, committed with the release: tests and ruff, security review, infrastructure policies."""
    tests = latest(ctx, "TestsPassed", service=service)
    review = latest(ctx, "SecurityReviewCompleted", service=service)
    infra = latest(ctx, "InfrastructureBlueprintCreated", service=service)
    report = load_json(ctx, str(required(tests, "reportDigest", "TestsPassed")), "test report")
    return {
        "service": service,
        "tests": {"passed": tests.get("passed"), "failed": tests.get("failed"), "errors": tests.get("errors"),
                  "report": f"reports/{service}-tests.json", "reportDigest": tests.get("reportDigest")},
        "lint": {"tool": "ruff check", "exitCode": (report.get("lint") or {}).get("exitCode")},
        "security": {"highestSeverity": review.get("highestSeverity"), "findings": list(review.get("findings", []))},
        "infrastructure": {"environment": infra.get("environment"), "blueprintVersion": infra.get("blueprintVersion"),
                           "findings": list(infra.get("findings", []))},
    }


def render_release_notes(
    service: str, product: str, data: Mapping[str, Any], items: list[dict[str, Any]], findings: Mapping[str, Any]
) -> str:
    kinds: dict[str, int] = {}
    for item in items:
        top = item["path"].split("/", 1)[0]
        kinds[top] = kinds.get(top, 0) + 1
    tests, security, infra = findings["tests"], findings["security"], findings["infrastructure"]
    lines = [
        f"# {service} {RELEASE_VERSION} — release notes",
        "",
        f"First release of **{service}** ({product}), built by the software factory.",
        "",
        "## Gates",
        "",
        f"- Tests: {tests['passed']} passed, {tests['failed']} failed, {tests['errors']} errors "
        f"(`{tests['report']}`, `{data['testsReportDigest']}`); `ruff check` exit code {findings['lint']['exitCode']}",
        f"- Security review: highest severity {security['highestSeverity']}, {len(security['findings'])} finding(s) "
        f"(`{data['securityReviewDigest']}`)",
        f"- Infrastructure ({infra['environment']}, {infra['blueprintVersion']}): "
        f"{len(infra['findings'])} policy finding(s)",
        "",
        f"Every finding is in `release/{service}-findings.json`.",
        "",
        "## Contents",
        "",
        "| Area | Files |",
        "|---|---|",
    ]
    lines += [f"| {kind} | {count} |" for kind, count in sorted(kinds.items())]
    lines += [
        "",
        f"The provenance manifest `release/{service}-provenance.json` lists every file, its "
        "SHA-256 digest and the event that produced it.",
        "",
    ]
    return "\n".join(lines)


def trigger_release(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    data = event.data
    service = str(required(data, "service", event.type))
    tests_digest = str(required(data, "testsReportDigest", event.type))
    security_digest = str(required(data, "securityReviewDigest", event.type))
    items = provenance(ctx, service)
    product = str(latest(ctx, "ProjectInitialized").get("productName", service))
    findings = release_findings(ctx, service)
    manifest = {
        "service": service,
        "version": RELEASE_VERSION,
        "projectId": ctx.project_id,
        "traceId": ctx.trace_id,
        "approvedBy": {"eventId": event.id, "type": event.type},
        "testsReportDigest": tests_digest,
        "securityReviewDigest": security_digest,
        "artifacts": items,
    }
    artifacts = [
        Artifact.text(
            f"release/{service}-release-notes.md",
            render_release_notes(service, product, data, items, findings),
            "text/markdown; charset=utf-8",
        ),
        Artifact.json(f"release/{service}-findings.json", findings),
        Artifact.json(f"release/{service}-provenance.json", manifest),
    ]
    payload = {
        "projectId": ctx.project_id,
        "service": service,
        "version": RELEASE_VERSION,
        "artifacts": [a.ref() for a in artifacts],
        "testsReportDigest": tests_digest,
        "securityReviewDigest": security_digest,
    }
    return SkillResult(events=[Emit("ReleaseTriggered", payload)], artifacts=artifacts)
