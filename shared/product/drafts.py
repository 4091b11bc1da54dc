"""Free-text intents: submit a description, read the draft the intent drafter wrote, confirm it.

``submit_text`` publishes ``IntentSubmitted`` under a project id derived from the text (the same text and
run id are the same project); the intent-drafter agent answers with ``IntentDrafted``. ``confirm_draft``
starts the project from the draft (or from a person's edited version of it) under the same project and
trace ids, so one trace runs from the words to the release. The CLI (``factory run "TEXT"``,
``factory intent``), the HTTP API (``POST /api/projects`` with ``text/plain``) and Studio share these.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from shared.contracts.envelope import Envelope, make_envelope
from shared.product.intent import Intent, intent_from_mapping
from shared.product.projects import ProjectRuntime, ReleaseTarget, StartedProject, start_project

DRAFT_NAMESPACE = uuid.UUID("9a3c1f0e-2b7d-4e55-8c1a-6f4b2d9e7a31")
DRAFTER = "intent-drafter"
MAX_TEXT = 20_000

_STOP = {"a", "an", "the", "for", "of", "and", "or", "with", "to", "app", "application", "service", "system",
         "that", "which", "in", "on", "my", "our", "i", "we", "want", "need", "build", "me", "us", "please"}


class DraftError(ValueError):
    """The draft cannot be submitted or confirmed. ``status`` is the HTTP status that fits (404, 409, 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def product_slug(text: str) -> str:
    """A product name from free text: its first three significant words as a slug (``booking-dentists``)."""
    words = [w for w in re.findall(r"[a-z][a-z0-9]*", text.lower()) if w not in _STOP]
    slug = "-".join(words[:3])[:40].strip("-")
    return slug if len(slug) >= 3 else "product"


def normalized(text: str) -> str:
    return " ".join(text.split())


def draft_identity(text: str, run_id: str = "") -> tuple[str, str]:
    """Deterministic project and trace ids for a text (and run id): submitting it again is the same draft."""
    digest = hashlib.sha256(f"{normalized(text)}\0{run_id}".encode()).hexdigest()
    return f"{product_slug(text)}-{digest[:10]}", hashlib.sha256(f"trace:draft:{digest}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SubmittedText:
    project_id: str
    trace_id: str
    event: Envelope


def submit_text(runtime: ProjectRuntime, text: str, *, run_id: str = "", source: str = "cli",
                release: ReleaseTarget | None = None, owner_email: str | None = None,
                tenant_id: str = "default") -> SubmittedText:
    """Publish ``IntentSubmitted`` for a description in free text, on behalf of ``tenant_id``."""
    text = text.strip()
    if not text:
        raise DraftError(422, "describe the product in a sentence or more (the text is empty)")
    if len(text) > MAX_TEXT:
        raise DraftError(422, f"the description is {len(text)} characters; at most {MAX_TEXT} are read — shorten it "
                              "or write the intent as YAML (examples/*.yaml)")
    project_id, trace_id = draft_identity(text, run_id)
    data: dict[str, Any] = {"projectId": project_id, "text": text}
    if release is not None:
        data["release"] = {"environment": release.environment, "approvalRequired": release.approval_required}
    if owner_email:
        data["ownerEmail"] = owner_email
    info = runtime.registry.latest("IntentSubmitted")
    runtime.registry.validate("IntentSubmitted", info.version, data)
    env = make_envelope(
        "IntentSubmitted", info.version, data, source=source, tenant_id=tenant_id, trace_id=trace_id,
        time=runtime.clock.now(), id=str(uuid.uuid5(DRAFT_NAMESPACE, project_id)), project_id=project_id,
        correlation_id=project_id, schema_uri=info.schema_uri,
    ).signed(runtime.signing_key)
    runtime.publisher.publish_envelopes([env])
    return SubmittedText(project_id, trace_id, env)


@dataclass
class DraftStatus:
    """Where a free-text intent stands: drafting, drafted (waiting for a person), failed, or confirmed."""

    project_id: str
    trace_id: str
    text: str
    tenant_id: str
    state: str  # drafting | drafted | failed | confirmed
    draft: dict[str, Any] | None = None  # the IntentDrafted data
    failure: str | None = None
    release: ReleaseTarget | None = None
    owner_email: str | None = None
    usage: list[dict[str, Any]] = field(default_factory=list)  # SkillUsed data of the drafting

    @property
    def settled(self) -> bool:
        return self.state != "drafting"


def draft_status(runtime: ProjectRuntime, project_id: str) -> DraftStatus | None:
    """The draft of ``project_id``, or None when no text was submitted under that id."""
    events = runtime.state.events_for_project(project_id)
    submitted = next((e for e in events if e["type"] == "IntentSubmitted"), None)
    if submitted is None:
        return None
    data = submitted["data"]
    release = data.get("release")
    status = DraftStatus(project_id, submitted["traceId"], str(data["text"]), submitted.get("tenantId") or "default",
                         "drafting",
                         release=ReleaseTarget(release["environment"], bool(release["approvalRequired"]))
                         if release else None, owner_email=data.get("ownerEmail"))
    status.usage = [dict(e["data"]) for e in events if e["type"] == "SkillUsed"
                    and e["data"].get("agent") == DRAFTER]
    drafted = next((e for e in reversed(events) if e["type"] == "IntentDrafted"), None)
    failed = next((e for e in reversed(events) if e["type"] == "AgentFailed" and e["data"].get("agent") == DRAFTER),
                  None)
    if any(e["type"] == "ProjectInitialized" for e in events):
        status.state = "confirmed"
    elif drafted is not None:
        status.state = "drafted"
    elif failed is not None:
        status.state, status.failure = "failed", str(failed["data"].get("reason"))
    if drafted is not None:
        status.draft = dict(drafted["data"])
    return status


def confirm_draft(runtime: ProjectRuntime, project_id: str, *, intent: Intent | None = None,
                  source: str = "cli") -> StartedProject:
    """Start the project from its draft, or from ``intent`` (a person's edit of it), under the draft's ids."""
    status = draft_status(runtime, project_id)
    if status is None:
        raise DraftError(404, f"no draft '{project_id}'; submit a description first (`factory intent draft TEXT` or "
                              "POST /api/projects with text/plain)")
    if status.state == "confirmed":
        raise DraftError(409, f"the draft '{project_id}' is already confirmed; its project runs under the same id")
    if status.state == "failed":
        raise DraftError(409, f"drafting '{project_id}' failed ({status.failure}); confirm an intent of your own "
                              "with --edit FILE, or submit the text again with another run id")
    if intent is None:
        if status.draft is None:
            raise DraftError(409, f"the draft '{project_id}' is not written yet; wait for IntentDrafted "
                                  f"(`factory intent show {project_id}`)")
        if not status.draft.get("valid"):
            problems = "; ".join(status.draft.get("problems") or [])
            raise DraftError(422, f"the draft '{project_id}' is not a valid intent ({problems}); confirm an edited "
                                  "version of it (`factory intent confirm ID --edit FILE`, or send it in the body)")
        intent = intent_from_mapping(status.draft["intent"], source=f"the draft of {project_id}")
    if status.tenant_id != "default" and intent.tenant.tenant_id != status.tenant_id:
        # a tenant's draft starts that tenant's project (the operator's drafts keep the tenant the intent names)
        intent = intent.model_copy(update={"tenant": intent.tenant.model_copy(update={"tenant_id": status.tenant_id})})
    if status.owner_email and not intent.owner_email:
        intent = intent.model_copy(update={"owner_email": status.owner_email})
    return start_project(runtime, intent, source=source, release=status.release, project_id=project_id,
                         trace_id=status.trace_id)
