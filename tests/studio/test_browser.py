"""Studio in real headless Chromium: submit an intent from the page, watch the flows move live, approve a
prod release, see it released, open the trace, download the test report, resubmit a dead letter; a release
held by a security finding is approved only with the override box ticked; and the pages fit a phone."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from shared.ports.skills import Emit
from tests.live import LiveFactory
from tests.security_finding import plant_security_finding
from tests.unit.test_contracts import SAMPLES


def flow_state(page: Any, flow: str) -> str:
    return str(page.get_attribute(f'[data-flow="{flow}"]', "data-state") or "")


def test_submit_watch_approve_trace_and_download_the_report(factory: LiveFactory, page: Any,
                                                            tmp_path: Path) -> None:
    page.goto(factory.studio_url)  # the link `factory host` prints: Studio keeps the token in a cookie
    page.select_option("#example", "task-tracker")
    page.fill("#runId", "browser-approve")
    page.select_option("#environment", "prod")
    page.click("button[type=submit]:has-text('Start project')")
    page.wait_for_url("**/projects/task-tracker-*")
    project_id = page.url.rsplit("/", 1)[-1]
    page.evaluate("window.__sameDocument = true")  # gone if the page were reloaded

    # nothing has run yet (the host starts pumping now): the flows move while we watch, without a reload
    assert page.text_content("#outcome") == "running"
    assert [flow_state(page, f) for f in ("project-lifecycle", "microservice-assembly", "release-manager")] == \
        ["", "", ""]
    factory.start()
    page.wait_for_selector('[data-flow="project-lifecycle"][data-state="building"]')
    page.wait_for_selector('#approval h2:has-text("waits for approval")')
    assert page.evaluate("window.__sameDocument") is True
    assert flow_state(page, "release-manager") == "awaitingApproval"
    assert page.text_content("#outcome") == "awaiting approval"
    # the state diagram is drawn and the current state is highlighted
    page.wait_for_selector('[data-flow="release-manager"] pre.mermaid[data-processed] svg')
    current = page.locator('[data-flow="release-manager"] svg g.current')
    assert current.count() == 1 and "awaitingApproval" in current.first.text_content()

    # approving needs who and why; the decision is audited
    page.fill("#actor", "Alice Example")
    page.fill("#reason", "reviewed the test report and the security review")
    page.click("button[name=decision][value=approve]")
    page.wait_for_selector('#project-live[data-outcome="released"]')
    assert page.evaluate("window.__sameDocument") is None  # the form posted (and redirected) once
    assert "approved by Alice Example" in page.text_content("#project-live")
    granted = [e for e in factory.rt.state.events_for_project(project_id) if e["type"] == "ReleaseApprovalGranted"]
    assert [(e["source"], e["data"]["actor"], e["data"]["environment"]) for e in granted] == [
        ("http-api", "Alice Example", "prod")]

    # the trace waterfall
    page.click("#trace-link")
    page.wait_for_selector("#waterfall tbody tr")
    consumers = page.locator("#waterfall tbody tr td:first-child").all_text_contents()
    assert {"vision-architect", "devops-engineer", "release-manager"} <= set(consumers)
    assert page.locator("#waterfall .bar").first.evaluate("e => e.style.width") != ""

    # download the generated tests' report
    page.go_back()
    link = page.locator('#key-artifacts a[download][href*="reports/task-tracker-tests.json"]')
    with page.expect_download() as info:
        link.click()
    saved = tmp_path / "report.json"
    info.value.save_as(saved)
    report = json.loads(saved.read_text())
    assert report["service"] == "task-tracker" and report["passed"] > 0 and report["failed"] == 0


def test_a_dead_letter_is_shown_with_its_reason_and_resubmitted(factory: LiveFactory, page: Any) -> None:
    rt = factory.rt
    factory.start()
    forged = rt.publisher.publish_new(Emit("BlueprintCreated", {**SAMPLES["BlueprintCreated"], "projectId": "forged"}),
                                      source="cli", tenant_id="t1", project_id="forged")
    assert rt.receiver is not None
    factory.wait_until(lambda: [d for d in rt.receiver.dead_letters("api-designer")  # type: ignore[union-attr]
                                if d.message_id == forged.id], what="the dead letter")
    page.goto(factory.studio_url)
    page.goto(factory.url + "/deadletters")
    item = page.locator('li[data-subscription="api-designer"]').filter(has_text="EmitterNotAllowed").first
    assert "'cli' may not emit BlueprintCreated" in item.text_content()
    item.locator("summary").click()
    assert "forged" in item.locator("pre").text_content()
    before = item.get_attribute("data-id")
    item.locator("button:has-text('Resubmit')").click()
    page.wait_for_selector("#resubmitted")
    assert f"api-designer#{before}" in page.text_content("#resubmitted")
    # redelivered: the access policy dead-letters it again, under a new sequence number
    factory.wait_until(lambda: [d for d in rt.receiver.dead_letters("api-designer")  # type: ignore[union-attr]
                                if d.message_id == forged.id and str(d.sequence_number) != before],
                       what="the redelivery")


def test_pages_fit_a_phone_and_the_keyboard_reaches_the_content(factory: LiveFactory, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone = context.new_page()
    try:
        for path in ("/", "/topology", "/templates", "/deadletters"):
            phone.goto(factory.url + path)
            overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path} scrolls sideways on a phone by {overflow}px"
        phone.goto(factory.url + "/")
        phone.keyboard.press("Tab")
        assert phone.evaluate("document.activeElement.textContent") == "Skip to content"
        for field in ("intent", "environment", "runId"):
            assert phone.locator(f'label[for="{field}"]').count() == 1
    finally:
        context.close()


def test_findings_that_hold_a_release_are_listed_and_approving_needs_the_override_box(
        factory: LiveFactory, browser: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    plant_security_finding(monkeypatch, "critical")
    factory.start()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []  # the `page` fixture's check, but the refused approval's 409 is expected here
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.set_default_timeout(60_000)
    try:
        page.goto(factory.studio_url)
        page.select_option("#example", "task-tracker")
        page.fill("#runId", "browser-held")
        page.select_option("#environment", "dev")  # no approval needed, but for the finding
        page.click("button[type=submit]:has-text('Start project')")
        page.wait_for_url("**/projects/task-tracker-*")
        project_id = page.url.rsplit("/", 1)[-1]
        page.wait_for_selector("#approval #held-findings")
        assert "critical" in page.text_content("#held-findings") and "SEC001" in page.text_content("#held-findings")
        assert page.is_checked("#overrideFindings") is False

        page.fill("#actor", "Dana Example")
        page.fill("#reason", "a throwaway key in a demo")
        page.click("button[name=decision][value=approve]")
        page.wait_for_selector("#approval-error")
        assert "held by 1 finding(s) that need an override: critical security SEC001" in page.text_content(
            "#approval-error")
        assert errors == ["Failed to load resource: the server responded with a status of 409 (CONFLICT)"]
        assert page.input_value("#actor") == "Dana Example"  # kept for the second try
        page.check("#overrideFindings")
        page.click("button[name=decision][value=approve]")
        page.wait_for_selector('#project-live[data-outcome="released"]')
        assert "approved by Dana Example" in page.text_content("#project-live")
    finally:
        context.close()
    assert len(errors) == 1, errors
    (granted,) = [e["data"] for e in factory.rt.state.events_for_project(project_id)
                  if e["type"] == "ReleaseApprovalGranted"]
    (overridden,) = granted["overriddenFindings"]
    assert re.fullmatch(r"task-tracker/SEC001:[\w/.-]+\.py:1", overridden), overridden
    assert granted["reason"] == ("a throwaway key in a demo "
                                 "(overrides findings: critical security SEC001 (task-tracker))")
