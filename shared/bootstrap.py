"""The composition root: the only place adapters are chosen (from settings) and wired.

Every argument can be overridden (tests pass fakes); anything not given is built from
``Settings``, which defaults to the embedded adapters (SQLite bus and state, artifacts on disk).
The Azure SDKs are imported by their adapters on first use, so the embedded runtime never
loads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from shared.adapters.azure.clients import blob_artifact_store, cosmos_state_store, servicebus_publisher
from shared.adapters.filesystem.artifacts import FilesystemArtifactStore
from shared.adapters.memory.spans import MemorySpanStore
from shared.adapters.process.runner import SubprocessTestRunner
from shared.adapters.sqlite.bus import SqliteBus
from shared.adapters.sqlite.spans import SqliteSpanStore
from shared.adapters.sqlite.state import SqliteStateStore
from shared.contracts.envelope import Envelope
from shared.contracts.manifests import Consumer, load_consumers
from shared.contracts.registry import Registry, default_registry
from shared.handling.context import HandlingContext
from shared.handling.decisions import Handler, Settlement
from shared.handling.pipeline import Pipeline, PipelineConfig
from shared.handling.publishing import EventPublisher
from shared.handling.settlement import BusSettlement, RecordAndCompleteSettlement
from shared.handling.telemetry import Metrics, Tracer, configure_azure_monitor
from shared.mesh.coordinators.flow import FlowDefinition, load_flows
from shared.mesh.handlers import build_handlers
from shared.ports import (
    ArtifactStore,
    Bus,
    Clock,
    MessagePublisher,
    MessageReceiver,
    SpanSink,
    StateStore,
    SystemClock,
)
from shared.ports.test_runner import TestRunner
from shared.scaffold.catalog import TemplateCatalog, default_roots
from shared.settings import ArtifactKind, BusKind, Settings, StateKind, load_settings


@dataclass
class Runtime:
    """Everything one process needs, built once by ``bootstrap`` and handed on typed."""

    settings: Settings
    clock: Clock
    registry: Registry
    consumers: tuple[Consumer, ...]
    flows: dict[str, FlowDefinition]
    bus: MessagePublisher
    receiver: MessageReceiver | None
    state: StateStore
    artifacts: ArtifactStore
    tracer: Tracer
    metrics: Metrics
    settlement: Settlement
    test_runner: TestRunner
    catalog: TemplateCatalog
    publisher: EventPublisher
    handlers: Mapping[str, Handler]
    pipeline: Pipeline = field(init=False)

    def __post_init__(self) -> None:
        self.pipeline = self.pipeline_with(self.handlers)

    @property
    def signing_key(self) -> bytes:
        return self.settings.signing_key.get_secret_value().encode()

    def handling_context(self, event: Envelope, consumer: str) -> HandlingContext:
        """The context of one handling: reads through this runtime's stores, scratch under FACTORY_HOME."""
        return HandlingContext(event, consumer, clock=self.clock, state=self.state, artifacts=self.artifacts,
                               test_runner=self.test_runner,
                               scratch_root=self.settings.factory_home / "work" / consumer)

    def pipeline_with(self, handlers: Mapping[str, Handler]) -> Pipeline:
        """A handling pipeline over this runtime's parts for ``handlers`` (the mesh's, or a test's)."""
        settings = self.settings
        return Pipeline(
            handlers,
            config=PipelineConfig(signing_key=self.signing_key, require_signature=settings.require_signature,
                                  max_message_bytes=settings.max_message_bytes,
                                  max_delivery_count=settings.max_delivery_count),
            registry=self.registry, publisher=self.publisher, state=self.state, artifacts=self.artifacts,
            settlement=self.settlement, tracer=self.tracer, metrics=self.metrics, clock=self.clock,
            context=self.handling_context,
        )

    def close(self) -> None:
        for part in (self.bus, self.receiver, self.state):
            close = getattr(part, "close", None)
            if close:
                close()


# ----------------------------------------------------------------------------- adapters from settings
# Importing an adapter module loads no SDK: the Azure adapters import theirs when first used.


def _bus(settings: Settings, clock: Clock) -> MessagePublisher:
    if settings.factory_bus is BusKind.servicebus:
        return servicebus_publisher(settings)
    settings.factory_home.mkdir(parents=True, exist_ok=True)
    return SqliteBus(settings.factory_home / "bus.db", topic=settings.topic_name, clock=clock,
                     duplicate_detection_window=timedelta(seconds=settings.duplicate_detection_window_seconds),
                     default_ttl=timedelta(seconds=settings.message_ttl_seconds))


def _state(settings: Settings, clock: Clock) -> StateStore:
    if settings.factory_state is StateKind.cosmos:
        return cosmos_state_store(settings, clock=clock)
    settings.factory_home.mkdir(parents=True, exist_ok=True)
    return SqliteStateStore(settings.factory_home / "state.db", clock=clock)


def _artifacts(settings: Settings) -> ArtifactStore:
    if settings.factory_artifacts is ArtifactKind.blob:
        return blob_artifact_store(settings)
    return FilesystemArtifactStore(settings.artifacts_path)


def _spans(settings: Settings) -> SpanSink:
    if settings.applicationinsights_connection_string is not None:
        return MemorySpanStore()
    settings.factory_home.mkdir(parents=True, exist_ok=True)
    return SqliteSpanStore(settings.factory_home / "traces.db")


def _test_runner(settings: Settings) -> TestRunner:
    return SubprocessTestRunner(base_env=settings.process_environment())


def _settlement(receiver: MessageReceiver | None, state: StateStore, clock: Clock) -> Settlement:
    return BusSettlement(receiver) if receiver is not None else RecordAndCompleteSettlement(state, clock)


# ----------------------------------------------------------------------------- the root


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    bus: MessagePublisher | None = None,
    receiver: MessageReceiver | None = None,
    state: StateStore | None = None,
    artifacts: ArtifactStore | None = None,
    spans: SpanSink | None = None,
    registry: Registry | None = None,
    settlement: Settlement | None = None,
    test_runner: TestRunner | None = None,
    catalog: TemplateCatalog | None = None,
) -> Runtime:
    settings = settings or load_settings()
    clock = clock or SystemClock()
    registry = registry or default_registry()
    consumers = load_consumers()
    flows = load_flows(frozenset(registry.types()))
    bus = bus or _bus(settings, clock)
    if receiver is None and isinstance(bus, Bus):
        receiver = bus
    state = state or _state(settings, clock)
    artifacts = artifacts or _artifacts(settings)
    otel = False
    if settings.applicationinsights_connection_string is not None:
        otel = configure_azure_monitor(settings.applicationinsights_connection_string.get_secret_value())
    tracer = Tracer(spans or _spans(settings), otel=otel)
    metrics = Metrics()
    settlement = settlement or _settlement(receiver, state, clock)
    test_runner = test_runner or _test_runner(settings)
    catalog = catalog or TemplateCatalog(roots=default_roots())
    signing_key = settings.signing_key.get_secret_value().encode()
    publisher = EventPublisher(bus=bus, state=state, registry=registry, signing_key=signing_key, clock=clock,
                               metrics=metrics)
    handlers = build_handlers(consumers, flows=flows, catalog=catalog,
                              scaffolds_dir=settings.factory_home / "scaffolds", clock=clock)
    return Runtime(
        settings=settings, clock=clock, registry=registry, consumers=consumers, flows=flows, bus=bus,
        receiver=receiver, state=state, artifacts=artifacts, tracer=tracer, metrics=metrics,
        settlement=settlement, test_runner=test_runner, catalog=catalog, publisher=publisher, handlers=handlers,
    )
