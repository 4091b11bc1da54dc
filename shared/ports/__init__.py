"""Typed ports: what the application needs from the outside world.

One module per port (clock, bus, state, artifacts, spans, skills, test runner); this package
re-exports their names so callers write ``from shared.ports import StateStore``. Adapters live
in ``shared/adapters/<technology>/`` and import nothing but these ports and
``shared/adapters/records.py``; only ``shared/bootstrap.py`` chooses them. Every port has one
abstract contract test case in ``tests/contract`` subclassed per adapter.
"""

from shared.ports.artifacts import ArtifactCorruptedError, ArtifactNotFoundError, ArtifactRef, ArtifactStore
from shared.ports.bus import (
    Bus,
    DeadLetter,
    DeadLetterQueue,
    LockLostError,
    MessagePublisher,
    MessageReceiver,
    OutgoingMessage,
    PropertyValue,
    ReceivedMessage,
    ResubmitTooEarlyError,
    SubscriptionSpec,
)
from shared.ports.clock import Clock, FakeClock, SystemClock
from shared.ports.spans import SpanRecord, SpanSink
from shared.ports.state import (
    ConflictError,
    Document,
    NotFoundError,
    OutboxRecord,
    PreconditionFailedError,
    StateError,
    StateStore,
    UnitOfWork,
    Write,
)

__all__ = [
    "ArtifactCorruptedError", "ArtifactNotFoundError", "ArtifactRef", "ArtifactStore", "Bus", "Clock",
    "ConflictError", "DeadLetter", "DeadLetterQueue", "Document", "FakeClock", "LockLostError", "MessagePublisher",
    "MessageReceiver", "NotFoundError", "OutboxRecord", "OutgoingMessage", "PreconditionFailedError", "PropertyValue",
    "ReceivedMessage", "ResubmitTooEarlyError",
    "SpanRecord", "SpanSink", "StateError", "StateStore", "SubscriptionSpec", "SystemClock", "UnitOfWork", "Write",
]
