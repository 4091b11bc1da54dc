"""The composition root: the only place adapters are chosen (from settings) and wired.

Every argument can be overridden (tests pass fakes); anything not given is built from
``Settings``, which defaults to the embedded adapters (SQLite bus and state, artifacts on disk).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.handling.publishing import EventPublisher
from shared.handling.telemetry import Metrics, Tracer, configure_azure_monitor
from shared.ports import ArtifactStore, Clock, MessagePublisher, MessageReceiver, SpanSink, StateStore, SystemClock
from shared.settings import ArtifactKind, BusKind, Settings, StateKind, load_settings


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    registry: Any
    bus: MessagePublisher
    receiver: MessageReceiver | None
    state: StateStore
    artifacts: ArtifactStore
    tracer: Tracer
    metrics: Metrics
    settlement: Any
    signing_key: bytes
    publisher: EventPublisher = field(init=False)
    _pipeline: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.publisher = EventPublisher(bus=self.bus, state=self.state, registry=self.registry,
                                        signing_key=self.signing_key, clock=self.clock, metrics=self.metrics)

    @property
    def pipeline(self) -> Any:
        if self._pipeline is None:
            from shared.handling.pipeline import Pipeline
            from shared.mesh.handlers import build_handlers

            self._pipeline = Pipeline(self, build_handlers())
        return self._pipeline

    def close(self) -> None:
        for part in (self.bus, self.receiver, self.state):
            close = getattr(part, "close", None)
            if close:
                close()


def _bus(settings: Settings, clock: Clock) -> MessagePublisher:
    if settings.factory_bus is BusKind.servicebus:
        from shared.adapters.azure.servicebus_publisher import ServiceBusPublisher

        return ServiceBusPublisher.from_settings(settings)
    from datetime import timedelta

    from shared.adapters.sqlite.bus import SqliteBus

    settings.factory_home.mkdir(parents=True, exist_ok=True)
    return SqliteBus(settings.factory_home / "bus.db", topic=settings.topic_name, clock=clock,
                     duplicate_detection_window=timedelta(seconds=settings.duplicate_detection_window_seconds),
                     default_ttl=timedelta(seconds=settings.message_ttl_seconds))


def _state(settings: Settings, clock: Clock) -> StateStore:
    if settings.factory_state is StateKind.cosmos:
        from shared.adapters.azure.cosmos_state import CosmosStateStore

        return CosmosStateStore.from_settings(settings, clock=clock)
    from shared.adapters.sqlite.state import SqliteStateStore

    settings.factory_home.mkdir(parents=True, exist_ok=True)
    return SqliteStateStore(settings.factory_home / "state.db", clock=clock)


def _artifacts(settings: Settings) -> ArtifactStore:
    if settings.factory_artifacts is ArtifactKind.blob:
        from shared.adapters.azure.blob_artifacts import BlobArtifactStore

        return BlobArtifactStore.from_settings(settings)
    from shared.adapters.filesystem.artifacts import FilesystemArtifactStore

    return FilesystemArtifactStore(settings.artifacts_path)


def _spans(settings: Settings) -> SpanSink:
    from shared.adapters.sqlite.spans import MemorySpanStore, SqliteSpanStore

    if settings.applicationinsights_connection_string is not None:
        return MemorySpanStore()
    settings.factory_home.mkdir(parents=True, exist_ok=True)
    return SqliteSpanStore(settings.factory_home / "traces.db")


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    bus: MessagePublisher | None = None,
    receiver: MessageReceiver | None = None,
    state: StateStore | None = None,
    artifacts: ArtifactStore | None = None,
    spans: SpanSink | None = None,
    registry: Any = None,
    settlement: Any = None,
) -> Runtime:
    settings = settings or load_settings()
    clock = clock or SystemClock()
    if registry is None:
        from shared.contracts.registry import default_registry

        registry = default_registry()
    bus = bus or _bus(settings, clock)
    if receiver is None and hasattr(bus, "receive"):
        receiver = bus  # type: ignore[assignment]
    state = state or _state(settings, clock)
    artifacts = artifacts or _artifacts(settings)
    otel = False
    if settings.applicationinsights_connection_string is not None:
        otel = configure_azure_monitor(settings.applicationinsights_connection_string.get_secret_value())
    tracer = Tracer(spans or _spans(settings), otel=otel)
    if settlement is None:
        from shared.handling.settlement import BusSettlement, RecordAndCompleteSettlement

        settlement = BusSettlement(receiver) if receiver is not None else RecordAndCompleteSettlement(state, clock)
    return Runtime(
        settings=settings, clock=clock, registry=registry, bus=bus, receiver=receiver, state=state,
        artifacts=artifacts, tracer=tracer, metrics=Metrics(), settlement=settlement,
        signing_key=settings.signing_key.get_secret_value().encode(),
    )
