"""The project gate every handling passes before its handler decides: tenancy and cancellation.

* A project belongs to the tenant that started it (recorded on its ``project-lifecycle`` instance). An event
  for that project from another tenant is refused and dead-lettered (``TenantBoundaryViolation``), whatever its
  signature: a tenant may only act on its own projects.
* A cancelled project (``project-lifecycle`` in ``cancelled``) publishes nothing further: every later handling
  for it completes without effect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.contracts.envelope import Envelope
from shared.mesh.coordinators.guards import CANCELLED, project_of
from shared.ports import StateStore

LIFECYCLE_FLOW = "project-lifecycle"


@dataclass(frozen=True)
class GateVerdict:
    """``refuse``: dead-letter with ``reason``; ``skip``: complete without effect (the project was cancelled)."""

    action: str  # refuse | skip
    reason: str


ProjectGate = Callable[[Envelope], GateVerdict | None]


def lifecycle_partition(project_id: str) -> str:
    return f"{LIFECYCLE_FLOW}:{project_id}"


def project_owner(state: StateStore, project_id: str) -> tuple[str | None, str | None]:
    """(tenant, lifecycle state) of a project, as its lifecycle instance records them (None: not known yet)."""
    doc = state.get(lifecycle_partition(project_id), "instance")
    if doc is None:
        return None, None
    tenant = doc.body.get("tenantId")
    return (str(tenant) if tenant else None), str(doc.body.get("state"))


def project_gate(state: StateStore) -> ProjectGate:
    def gate(event: Envelope) -> GateVerdict | None:
        instance = event.data.get("instanceId")
        project_ids = {p for p in (event.project_id, project_of(instance) if isinstance(instance, str) else None)
                       if isinstance(p, str) and p}
        for project_id in sorted(project_ids):
            tenant, lifecycle = project_owner(state, project_id)
            if tenant is not None and tenant != event.tenant_id:
                return GateVerdict("refuse", f"{event.type} {event.id} is from tenant '{event.tenant_id}' but project "
                                             f"'{project_id}' belongs to another tenant: refused")
            if lifecycle == CANCELLED:
                return GateVerdict("skip", f"project '{project_id}' was cancelled: {event.type} has no effect")
        return None

    return gate
