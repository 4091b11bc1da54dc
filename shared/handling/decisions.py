"""What a handler is and what it returns: the types the pipeline and the mesh share.

A handler is a pure decision over one event: it names where its effect commits (``Route``) and
returns a ``Decision`` (new state, events to emit, artifacts to store). The pipeline does all I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from shared.contracts.envelope import Envelope
from shared.contracts.manifests import Consumer
from shared.ports import Document
from shared.ports.skills import Artifact, Emit, SkillContext


class PermanentMessageError(Exception):
    """The message can never be handled: dead-letter it at once with ``reason``."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(f"{reason}: {description}")
        self.reason = reason
        self.description = description


class TransientHandlingError(Exception):
    """Handling failed but may succeed on redelivery: the host abandons the message."""


class InfrastructureError(TransientHandlingError):
    """The handling failed in the machinery, not in the handler's logic: an I/O error, a full disk, a read-only
    or size-limited file, a database error. The host backs off before it abandons the message; at the last
    delivery the pipeline escalates it (``AgentFailed``, a failed flow) and dead-letters it with the reason."""


class PermanentHandlerError(Exception):
    """The handler can never succeed on this event (bad input it cannot act on)."""


@dataclass
class Decision:
    """What a handler decided: the new state (``None`` = unchanged), events and artifacts."""

    state: dict[str, Any] | None = None
    emits: list[Emit] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    delete_state: bool = False


@dataclass(frozen=True)
class Route:
    """Where a handling commits: one partition, optionally one state document in it."""

    partition: str
    state_id: str | None = None


class HandlerContext(SkillContext, Protocol):
    """What a handler reads during a handling (a ``SkillContext`` plus the handling's clock)."""

    @property
    def now(self) -> datetime: ...


class Handler(Protocol):
    """One consumer's decision function. ``subject`` maps a command (a retry) to the event it stands for."""

    consumer: Consumer

    def subject(self, event: Envelope) -> Envelope: ...

    def route(self, event: Envelope) -> Route: ...

    def decide(self, event: Envelope, state: Document | None, ctx: HandlerContext) -> Decision: ...


class FailingHandler(Handler, Protocol):
    """A handler that can record its own failure (a coordinator fails its flow with the reason)."""

    def fail(self, event: Envelope, state: Document | None, reason: str, ctx: HandlerContext) -> Decision: ...


@dataclass(frozen=True)
class Outcome:
    status: Literal["completed", "duplicate", "dead-lettered", "failed"]
    consumer: str
    event_id: str | None = None
    event_type: str | None = None
    emitted: tuple[str, ...] = ()
    reason: str = ""


class MessageView(Protocol):
    """The slice of ``azure.functions.ServiceBusMessage`` the pipeline reads."""

    @property
    def message_id(self) -> str: ...

    @property
    def application_properties(self) -> dict[str, Any]: ...

    @property
    def delivery_count(self) -> int | None: ...

    @property
    def enqueued_time_utc(self) -> datetime | None: ...

    def get_body(self) -> bytes: ...


class Settlement(Protocol):
    """How a permanently failed message is dead-lettered (bus-native or record-and-complete)."""

    def dead_letter(self, consumer: str, message: MessageView, reason: str, description: str) -> None: ...
