"""The composition root: the only place adapters are chosen (from settings) and wired.

Every argument can be overridden (tests pass fakes); anything not given is built from
``Settings``, which defaults to the embedded adapters (SQLite bus and state, artifacts on disk).
The Azure SDKs are imported by their adapters on first use, so the embedded runtime never
loads them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from shared.adapters.azure.clients import (
    blob_artifact_store,
    cosmos_state_store,
    openai_token_provider,
    servicebus_dead_letter_queue,
    servicebus_publisher,
    sessions_test_runner,
)
from shared.adapters.filesystem.artifacts import FilesystemArtifactStore
from shared.adapters.filesystem.hosts import hosts, registered_host
from shared.adapters.filesystem.keys import SigningKeyFileError, home_secret, home_signing_key
from shared.adapters.memory.spans import MemorySpanStore
from shared.adapters.openai.chat import OpenAIChatModel
from shared.adapters.process.sandbox import SandboxedTestRunner, refusal
from shared.adapters.process.service_host import JailedServiceHost
from shared.adapters.process.session_server import SessionServer
from shared.adapters.recorded.answers import RecordingModel, ReplayModel
from shared.adapters.sqlite.bus import SqliteBus
from shared.adapters.sqlite.integrity import DatabaseCorruptError, inspect_database, repair_database
from shared.adapters.sqlite.spans import SqliteSpanStore
from shared.adapters.sqlite.state import SqliteStateStore
from shared.contracts.envelope import Envelope
from shared.contracts.manifests import Consumer, all_subscriptions, load_consumers
from shared.contracts.registry import Registry, default_registry
from shared.handling.context import HandlingContext
from shared.handling.decisions import Handler, Settlement
from shared.handling.pipeline import Pipeline, PipelineConfig
from shared.handling.publishing import EventPublisher
from shared.handling.settlement import BusSettlement, RecordAndCompleteSettlement, RecordedDeadLetters
from shared.handling.telemetry import Metrics, Tracer, configure_azure_monitor
from shared.mesh.coordinators.flow import FlowDefinition, load_flows
from shared.mesh.gate import project_gate
from shared.mesh.handlers import build_handlers
from shared.ports import (
    ArtifactStore,
    Bus,
    Clock,
    DeadLetterQueue,
    MessagePublisher,
    MessageReceiver,
    SpanSink,
    StateStore,
    SystemClock,
)
from shared.ports.model import ModelAccess, ModelClient, Price
from shared.ports.service_host import ServiceHost
from shared.ports.test_runner import TestRunner
from shared.scaffold.catalog import TemplateCatalog, default_roots
from shared.settings import ArtifactKind, BusKind, GateRunnerKind, ModelProvider, Settings, StateKind, load_settings

log = logging.getLogger("factory.bootstrap")

#: what a start can refuse with (the CLI prints them without a traceback)
__all__ = ["DatabaseCorruptError", "SigningKeyFileError"]


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
    #: the bus's own dead-letter queues (embedded bus, or Service Bus's sub-queues); None without a bus
    dead_letter_queue: DeadLetterQueue | None = None
    #: hosts a generated service for its smoke test before the release (the local deployment)
    service_host: ServiceHost | None = None
    #: the HMAC key events are signed and checked with (``signing_key_of(settings)``)
    key: bytes = b""
    #: the model the model-backed skills may ask; None: the deterministic skills answer (the default)
    model: ModelAccess | None = None
    pipeline: Pipeline = field(init=False)

    def __post_init__(self) -> None:
        if not self.key:
            self.key = signing_key_of(self.settings)
        self.pipeline = self.pipeline_with(self.handlers)

    @property
    def recorded_dead_letters(self) -> RecordedDeadLetters:
        """Dead letters recorded in the state store by ``RecordAndCompleteSettlement`` (on Azure)."""
        return RecordedDeadLetters(
            self.state, self.bus, clock=self.clock, tracer=self.tracer,
            duplicate_detection_window=timedelta(seconds=self.settings.duplicate_detection_window_seconds))

    @property
    def signing_key(self) -> bytes:
        return self.key

    def handling_context(self, event: Envelope, consumer: str) -> HandlingContext:
        """The context of one handling: reads through this runtime's stores, scratch under ``scratch_path``."""
        return HandlingContext(event, consumer, clock=self.clock, state=self.state, artifacts=self.artifacts,
                               test_runner=self.test_runner, service_host=self.service_host,
                               scratch_root=self.settings.scratch_path / "work" / consumer,
                               model=self.model, mask=self.registry.mask)

    def model_description(self) -> str:
        """Which model the skills ask, for people (the CLI, Studio, /api/health)."""
        if self.model is None:
            return ("none: no model is configured (FACTORY_MODEL_PROVIDER), so the deterministic skills answer "
                    "and a free-text intent gets only a skeleton draft")
        return self.model.client.describe()

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
            context=self.handling_context, gate=project_gate(self.state),
        )

    def close(self) -> None:
        for part in (self.bus, self.receiver, self.state, self.dead_letter_queue, self.test_runner):
            close = getattr(part, "close", None)
            if close:
                close()


# ----------------------------------------------------------------------------- adapters from settings


def signing_key_of(settings: Settings) -> bytes:
    """FACTORY_SIGNING_KEY when set (on Azure: a Key Vault reference), else the home's random key file."""
    if settings.signing_key is not None:
        return settings.signing_key.get_secret_value().encode()
    return home_signing_key(settings.signing_key_path)
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
    # with Application Insights (the trace store there) or the Azure state (no local folder), in memory only
    if settings.applicationinsights_connection_string is not None or settings.factory_state is StateKind.cosmos:
        return MemorySpanStore()
    settings.factory_home.mkdir(parents=True, exist_ok=True)
    return SqliteSpanStore(settings.factory_home / "traces.db")


def _local_test_runner(settings: Settings) -> SandboxedTestRunner:
    return SandboxedTestRunner(base_env=settings.process_environment(), allow_unsafe=settings.allow_unsafe_sandbox)


def _service_host(settings: Settings) -> ServiceHost:
    return JailedServiceHost(base_env=settings.process_environment(), allow_unsafe=settings.allow_unsafe_sandbox)


def _test_runner(settings: Settings) -> TestRunner:
    if settings.test_runner is GateRunnerKind.sessions:
        return sessions_test_runner(settings)
    return _local_test_runner(settings)


def api_token_of(settings: Settings) -> str:
    """The home's local API token (random, created on first use, in ``FACTORY_HOME/api.token``)."""
    return home_secret(settings.api_token_path).decode()


#: the embedded databases of a home: file name -> store kind
HOME_DATABASES = {"bus.db": "bus", "state.db": "state", "traces.db": "traces"}


def home_report(settings: Settings) -> dict[str, Any]:
    """What ``factory doctor`` shows: each database's health and schema version, locks on the bus (held by
    hosts that may be gone), and leftovers of killed processes."""
    home = settings.factory_home
    databases = []
    for name, kind in HOME_DATABASES.items():
        r = inspect_database(home / name, kind=kind)
        databases.append({"path": str(r.path), "kind": kind, "exists": r.exists, "size": r.size,
                          "healthy": r.healthy or not r.exists, "problem": r.problem if r.exists else None,
                          "schemaVersion": r.schema_version})
    notes: list[str] = []
    bus_ok = next(d for d in databases if d["kind"] == "bus")
    if bus_ok["exists"] and bus_ok["healthy"]:
        bus = SqliteBus(home / "bus.db", topic=settings.topic_name)
        try:
            counts = bus.describe()
        finally:
            bus.close()
        locked = sum(c.locked for c in counts.values())
        dead = sum(c.dead_lettered for c in counts.values())
        running = [h for h in hosts(home / "hosts") if h["alive"] is not False]
        if locked:
            whose = (f"by {len(running)} running host(s) (pid {', '.join(str(h['pid']) for h in running)})" if running
                     else "by hosts that are gone")
            notes.append(f"{locked} message(s) are locked {whose}; a dead host's come back when their locks expire "
                         f"(FACTORY_LOCK_DURATION_SECONDS={settings.lock_duration_seconds:g})")
        if dead:
            notes.append(f"{dead} dead-lettered message(s): `factory dlq list`")
    for h in hosts(home / "hosts"):
        if h["alive"] is False:
            notes.append(f"host pid {h['pid']} was killed or crashed (its record {h['path']} remains; the next start "
                         "of a host removes it)")
    partial = list(settings.artifacts_path.glob("sha256/*/.*.tmp"))
    if partial:
        notes.append(f"{len(partial)} partial artifact file(s) (.tmp) from killed writers: the next host start sweeps "
                     "them")
    work = settings.scratch_path / "work"
    leftovers = [p for p in work.glob("*/*") if p.is_dir()] if work.exists() else []
    if leftovers:
        notes.append(f"{len(leftovers)} handling folder(s) under {work} (killed handlings, or ones running now)")
    return {"home": str(home), "databases": databases, "notes": notes}


def repair_home(settings: Settings) -> list[str]:
    """Repair every broken database of the home; one line per file saying what was done."""
    lines = []
    for name, kind in HOME_DATABASES.items():
        r = repair_database(settings.factory_home / name, kind=kind)
        if r.moved_to is None:
            continue
        kept = ", ".join(f"{t}: {n}" for t, n in r.salvaged.items()) or "no rows"
        lost = "; ".join(f"{t}: {why}" for t, why in r.lost.items())
        lines.append(f"{r.path}: {r.note}; moved to {r.moved_to}; kept {kept}" + (f"; lost {lost}" if lost else ""))
    return lines


def host_registration(settings: Settings) -> contextlib.AbstractContextManager[Path]:
    """``FACTORY_HOME/hosts/<pid>.json`` while a ``factory host`` runs (``factory doctor`` tells dead ones)."""
    return registered_host(settings.factory_home / "hosts")


def sweep_leftovers(runtime: Runtime) -> list[str]:
    """What a killed process left behind and nothing else uses: partial artifact files (``.tmp``, unlocked) and
    the records of hosts that are gone. A host calls it at start; the test sandbox sweeps its own
    ``factory-sandbox-*`` folders before its first run."""
    sweep = getattr(runtime.artifacts, "sweep_partial", None)
    removed = [str(p) for p in sweep()] if callable(sweep) else []
    if runtime.settings.factory_state is StateKind.sqlite:
        for h in hosts(runtime.settings.factory_home / "hosts"):
            if h["alive"] is False:
                Path(h["path"]).unlink(missing_ok=True)
                removed.append(h["path"])
    if removed:
        log.info("swept %d partial artifact file(s) a killed writer left", len(removed))
    return removed


def sandbox_check(settings: Settings | None = None) -> tuple[bool, str]:
    """Whether this machine's test sandbox works, and what it is or why not (``factory sandbox check``)."""
    verdict = _local_test_runner(settings or load_settings()).verdict()
    return verdict.usable, verdict.describe() if verdict.usable else refusal(verdict)


def session_server_app(settings: Settings | None = None, *, on_exit: Callable[[], None] | None = None,
                       isolation: str = "Azure Container Apps dynamic session (Hyper-V)") -> SessionServer:
    """The WSGI app the test-runner image serves inside a dynamic session (``factory sandbox serve``)."""
    settings = settings or load_settings()
    runner = _local_test_runner(settings)
    return SessionServer(runner, settings.factory_home / "session-runs", isolation=isolation, on_exit=on_exit,
                         close_runner=runner.close)


def _model_client(settings: Settings) -> ModelClient | None:
    """The model from settings: a replay (no network), a recording around the live model, the live model, or none."""
    options = {"timeout_s": settings.model_timeout_seconds, "max_attempts": settings.model_max_attempts,
               "max_backoff_s": settings.model_max_backoff_seconds}
    live: ModelClient | None = None
    if settings.model_provider is ModelProvider.azure_openai:
        live = OpenAIChatModel.azure(endpoint=str(settings.model_endpoint), deployment=str(settings.model_deployment),
                                     api_version=settings.model_api_version,
                                     token_provider=openai_token_provider(settings), **options)
    elif settings.model_provider is ModelProvider.openai:
        key = settings.model_api_key.get_secret_value() if settings.model_api_key else None
        live = OpenAIChatModel.compatible(base_url=str(settings.model_endpoint), model=str(settings.model_name),
                                          api_key=key, **options)
    if settings.model_replay_dir is not None:
        return ReplayModel(settings.model_replay_dir, model=settings.configured_model)
    if settings.model_record_dir is not None and live is not None:
        return RecordingModel(live, settings.model_record_dir)
    return live


def _model_access(settings: Settings, client: ModelClient | None) -> ModelAccess | None:
    if client is None:
        return None
    prices = {name: Price(p.input, p.output) for name, p in settings.model_prices.items()}
    if settings.model_budget_usd is not None and client.model not in prices:
        raise ValueError(f"FACTORY_MODEL_BUDGET_USD needs the price of model {client.model!r}: add it to "
                         "FACTORY_MODEL_PRICES (USD per million tokens of input and output)")
    return ModelAccess(client=client, prices=prices, budget_usd=settings.model_budget_usd,
                       repair_rounds=settings.model_repair_rounds, max_tokens=settings.model_max_tokens,
                       skills=frozenset(settings.model_skills))


def _dead_letter_queue(settings: Settings, receiver: MessageReceiver | None, consumers: tuple[Consumer, ...],
                       clock: Clock) -> DeadLetterQueue | None:
    if receiver is not None:  # the embedded bus keeps its own
        return receiver
    if settings.factory_bus is BusKind.servicebus:
        return servicebus_dead_letter_queue(settings, [s.name for s in all_subscriptions(consumers)],
                                            clock=clock)
    return None


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
    service_host: ServiceHost | None = None,
    model: ModelClient | None = None,
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
    exporting = False
    if settings.applicationinsights_connection_string is not None:
        exporting = configure_azure_monitor(settings.applicationinsights_connection_string.get_secret_value(),
                                            sampling_ratio=settings.trace_sampling_ratio,
                                            logger_name=settings.telemetry_logger)
    tracer = Tracer(spans or _spans(settings), exporting=exporting, topic=settings.topic_name)
    metrics = Metrics()
    settlement = settlement or _settlement(receiver, state, clock)
    test_runner = test_runner or _test_runner(settings)
    catalog = catalog or TemplateCatalog(roots=default_roots())
    signing_key = signing_key_of(settings)
    publisher = EventPublisher(bus=bus, state=state, registry=registry, signing_key=signing_key, clock=clock,
                               metrics=metrics, tracer=tracer, max_message_bytes=settings.max_message_bytes)
    handlers = build_handlers(consumers, flows=flows, catalog=catalog,
                              scaffolds_dir=settings.scaffolds_path, clock=clock)
    return Runtime(
        settings=settings, clock=clock, registry=registry, consumers=consumers, flows=flows, bus=bus,
        receiver=receiver, state=state, artifacts=artifacts, tracer=tracer, metrics=metrics,
        settlement=settlement, test_runner=test_runner, catalog=catalog, publisher=publisher, handlers=handlers,
        dead_letter_queue=_dead_letter_queue(settings, receiver, consumers, clock),
        service_host=service_host or _service_host(settings), key=signing_key,
        model=_model_access(settings, model or _model_client(settings)),
    )
