"""The local host: runs ``function_app``'s own registered triggers on the embedded bus.

It imports the app, discovers every Service Bus–triggered function through the
``azure.functions`` decorators' metadata (topic, subscription, connection, with ``%SETTING%``
placeholders resolved from ``local.settings.json`` and the environment), creates the matching
embedded subscriptions (filters generated from the manifests), and invokes each function with
a real ``azure.functions.ServiceBusMessage``. Outcomes are settled like the Functions host:
normal return → complete; exception → abandon (Service Bus redelivers, then dead-letters after
``maxDeliveryCount``); a message the pipeline dead-lettered is left settled. Concurrency and
lock renewal follow ``host.json`` (``maxConcurrentCalls``, ``maxAutoLockRenewalDuration``).
Stopping (Ctrl-C) stops receiving, lets in-flight handlings finish and loses nothing: anything
not completed stays on the bus and its lock expires.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import repeat
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions._abc import TraceContext
from azure.functions.servicebus import ServiceBusMessage as WorkerServiceBusMessage

import function_app
from shared.bootstrap import Runtime, sweep_leftovers
from shared.contracts.manifests import all_subscriptions
from shared.handling.decisions import InfrastructureError
from shared.handling.settlement import BusSettlement
from shared.handling.telemetry import Metrics
from shared.ports import Clock, LockLostError, MessageReceiver, ReceivedMessage, SubscriptionSpec, SystemClock
from shared.product.projects import ProjectStatus, project_status
from shared.runtime import set_runtime
from shared.settings import binding_values

log = logging.getLogger("factory.host")

_PLACEHOLDER = re.compile(r"%([A-Za-z0-9_:.\-]+)%")


class HostConfigError(RuntimeError):
    """The app or its settings cannot be hosted. The message says which setting to fix."""


@dataclass(frozen=True)
class ServiceBusFunction:
    name: str
    topic: str
    subscription: str
    connection: str
    arg_name: str
    call: Callable[..., Any]
    takes_context: bool = False  # a ``context`` parameter: the worker passes the invocation's ``func.Context``


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: str
    methods: tuple[str, ...]
    arg_name: str
    call: Callable[..., Any]


@dataclass
class HostOptions:
    max_concurrent_calls: int = 16
    max_auto_lock_renewal: timedelta = timedelta(minutes=5)
    batch_size: int = 32
    #: messages a subscription may hold beyond ``max_concurrent_calls`` (received ahead, waiting for a
    #: worker): what lets the local host receive and settle in full batches. host.json's
    #: ``prefetchCount`` replaces it when above 0 (0 there is the Azure SDK default, no prefetch)
    prefetch_count: int = 32
    max_delivery_count: int = 10
    lock_duration: timedelta = timedelta(seconds=60)


@dataclass
class Delivery:
    """What the host observed for one invocation (shown live by the CLI)."""

    function: str
    subscription: str
    message_id: str
    event_type: str | None
    delivery_count: int
    outcome: str  # completed | abandoned | dead-lettered | lock-lost
    duration_ms: float
    error: str | None = None


def _warn_lock_lost(message_id: str) -> None:
    log.warning("lock on %s was lost before settling; it will be redelivered and the inbox "
                "makes the redelivery a no-op", message_id)


def load_local_settings(path: Path = Path("local.settings.json")) -> dict[str, str]:
    """``Values`` of local.settings.json (as ``func start`` reads them), if the file exists."""
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise HostConfigError(f"{path} is not valid JSON ({exc}); fix it or delete it") from exc
    values = doc.get("Values", {})
    return {str(k): str(v) for k, v in values.items()}


def resolve(value: str, settings: Mapping[str, str]) -> str:
    """Resolve ``%NAME%`` binding expressions like the Functions host does (``settings`` comes from
    ``shared.settings.binding_values``: the environment over local.settings.json)."""

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in settings:
            return settings[key]
        raise HostConfigError(f"binding expression %{key}% has no value: set {key} in the environment or in "
                              "local.settings.json Values")

    return _PLACEHOLDER.sub(sub, value)


def load_host_options(path: Path = Path("host.json"), *, max_delivery_count: int = 10,
                      lock_duration: timedelta = timedelta(seconds=60)) -> HostOptions:
    opts = HostOptions(max_delivery_count=max_delivery_count, lock_duration=lock_duration)
    if path.exists():
        sb = json.loads(path.read_text(encoding="utf-8")).get("extensions", {}).get("serviceBus", {})
        opts.max_concurrent_calls = int(sb.get("maxConcurrentCalls", opts.max_concurrent_calls))
        opts.prefetch_count = int(sb.get("prefetchCount") or opts.prefetch_count)
        renewal = sb.get("maxAutoLockRenewalDuration")
        if renewal:
            h, m, s = (float(x) for x in renewal.split(":"))
            opts.max_auto_lock_renewal = timedelta(hours=h, minutes=m, seconds=s)
    return opts


_INDEXED: dict[int, tuple[func.FunctionApp, list[Any]]] = {}


def indexed_functions(app: func.FunctionApp) -> list[Any]:
    """``app.get_functions()`` once per app, as the Python worker indexes it (a second call raises)."""
    cached = _INDEXED.get(id(app))
    if cached is None or cached[0] is not app:
        cached = (app, app.get_functions())
        _INDEXED[id(app)] = cached
    return cached[1]


def discover(app: func.FunctionApp, settings: Mapping[str, str]) -> tuple[list[ServiceBusFunction],
                                                                           list[HttpFunction]]:
    """Service Bus and HTTP functions of the app, from the decorators' own metadata."""
    sb: list[ServiceBusFunction] = []
    http: list[HttpFunction] = []
    for fn in indexed_functions(app):
        trigger = fn.get_trigger()
        if trigger is None:
            continue
        kind = trigger.get_binding_name()
        data = trigger.get_dict_repr()
        if kind == "serviceBusTrigger" and data.get("topicName"):
            sb.append(ServiceBusFunction(
                name=fn.get_function_name(), topic=resolve(data["topicName"], settings),
                subscription=resolve(data["subscriptionName"], settings),
                connection=data.get("connection", ""), arg_name=data["name"], call=fn.get_user_function(),
                takes_context="context" in inspect.signature(fn.get_user_function()).parameters))
        elif kind == "httpTrigger":
            methods = tuple(str(getattr(m, "value", m)).upper() for m in (data.get("methods") or ["GET", "POST"]))
            http.append(HttpFunction(name=fn.get_function_name(), route=data.get("route") or fn.get_function_name(),
                                     methods=methods, arg_name=data["name"], call=fn.get_user_function()))
    return sb, http


def to_functions_message(m: ReceivedMessage) -> func.ServiceBusMessage:
    """A real ``azure.functions`` Service Bus message, the class the Python worker builds."""
    props = dict(m.application_properties)
    return WorkerServiceBusMessage(
        body=m.body,
        trigger_metadata={"MessageId": m.message_id, "DeliveryCount": m.delivery_count,
                          "SequenceNumber": m.sequence_number, "LockToken": m.lock_token},
        application_properties=props,
        content_type=m.content_type,
        correlation_id=m.correlation_id,
        delivery_count=m.delivery_count,
        enqueued_sequence_number=m.sequence_number,
        enqueued_time_utc=m.enqueued_time,
        expires_at_utc=m.expires_at,
        label=m.subject,
        locked_until=m.locked_until,
        lock_token=m.lock_token,
        message_id=m.message_id,
        scheduled_enqueue_time_utc=m.scheduled_enqueue_time,
        sequence_number=m.sequence_number,
        subject=m.subject,
        time_to_live=m.time_to_live,
        user_properties=dict(props),
    )


class _NoHostSpan(TraceContext):
    """The local host records no span of its own for an invocation (the Functions host does): empty."""

    trace_parent = ""
    trace_state = ""
    attributes: dict[str, str] = {}


class LocalInvocationContext(func.Context):
    """The ``func.Context`` the Python worker passes to a function that takes ``context``."""

    def __init__(self, function_name: str) -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return str(Path(function_app.__file__).resolve().parent)

    @property
    def trace_context(self) -> TraceContext:
        return _NoHostSpan()

    @property
    def retry_context(self) -> Any:
        return None


@dataclass(eq=False)
class _Batch:
    """Messages of one receive: the function they go to, when they were received, which are unfinished."""

    function: ServiceBusFunction
    started: float
    pending: set[str]
    renewed_until: float = 0.0


_Item = tuple[_Batch, ReceivedMessage]

#: how long received messages may wait for a busy worker before idle workers are woken to take them
_HELP_AFTER = 0.0005
#: how long ``run`` lets the workers take a received batch before it pumps again
_HANDOFF_WAIT = 0.002
#: a function whose last handling took less runs on the thread that received it (``run``), with no hand-off
_INLINE_MAX = 0.001
#: how long a handling may hold ``run``'s thread before the watchdog gives its messages to the workers and
#: receives, settles and renews locks in its place until it is back
_RESCUE_AFTER = 0.005
#: the watchdog looks this often while handlings run on ``run``'s thread; doubling up to ``_WATCHDOG_IDLE``
#: while none do
_WATCHDOG_TICK = 0.005
_WATCHDOG_IDLE = 0.05
_ONE_MS = timedelta(milliseconds=1)
#: how long ``drive`` goes on handling what is due once its project completed
_TRAILING_GRACE = 5.0


@dataclass
class LocalHost:
    """Feeds the app's Service Bus triggers from an embedded bus.

    One pump thread (the caller of ``run``/``pump_once``) receives and settles; up to
    ``max_concurrent_calls`` worker threads call the functions. The pump receives in batches (up to
    ``batch_size`` while a subscription holds fewer than ``max_concurrent_calls + prefetch_count``
    messages), queues them, and completes what the workers finished in one transaction per pump:
    the transaction of its first receive when the bus has ``complete_and_receive``.

    Fast functions run where they were received: in ``run``, a function whose last handling took under
    ``_INLINE_MAX`` is called by the pump thread itself, between two pumps, with no hand-off to a worker
    (the hand-off cost more than a no-op handling). A handling that turns out slow does not stall the
    host: a watchdog thread notices within ``_RESCUE_AFTER`` (plus one tick), gives the pump's other
    received messages to the workers, and receives, settles and renews locks until the pump thread is
    back; that function then goes to the workers until a handling of it is fast again.

    Thread hand-offs are what a Python host pays most for, so the pool wakes lazily: received
    messages go to a worker that is already running, or wake one idle worker; only when messages
    wait longer than ``_HELP_AFTER`` (the running workers are busy with slow handlings) are more
    workers woken, up to the concurrency limit. Whoever watches for that: the pump while it waits
    for the workers (``_await``), otherwise one idle worker standing by. ``run`` lets the workers
    take a batch before it pumps again, so receiving and handling do not fight over the interpreter
    message by message.
    """

    receiver: MessageReceiver
    functions: list[ServiceBusFunction]
    filters: Mapping[str, str]
    options: HostOptions = field(default_factory=HostOptions)
    settled: set[str] = field(default_factory=set)  # lock tokens the pipeline dead-lettered itself
    on_delivery: Callable[[Delivery], None] | None = None
    clock: Callable[[], float] = time.monotonic
    metrics: Metrics | None = None
    wall_clock: Clock | None = None
    #: per subscription, the most messages it may have in flight (the manifests' ``concurrency``);
    #: one without an entry may hold ``max_concurrent_calls + prefetch_count``
    concurrency: Mapping[str, int] = field(default_factory=dict)
    #: back-off after an infrastructure failure: first delay, doubled per delivery, capped below the lock duration
    backoff_first: float = 0.1
    backoff_cap: float = 30.0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._work_cv = threading.Condition(self._lock)  # idle workers wait here
        self._standby_cv = threading.Condition(self._lock)  # the stand-by worker waits here
        self._progress = threading.Condition(self._lock)  # drain() and run() wait here for the workers
        self._progress_waiters = 0
        self._ready: deque[_Item] = deque()  # received, waiting for a worker
        # received by ``run``'s own pump for fast functions: run by that thread after the pump (see ``_run_inline``)
        self._mine: deque[_Item] = deque()
        self._fast: set[str] = set()  # functions whose last handling took under _INLINE_MAX
        self._pump_inline = False  # ``run``'s thread is pumping: fast functions' messages go to ``_mine``
        self._pump_lock = threading.Lock()  # one pump at a time: ``run``'s thread or the watchdog
        self._inline_since = 0.0  # when the handling running on ``run``'s thread started (0: none)
        self._inline_runs = 0  # handlings started on ``run``'s thread (the watchdog ticks faster while they grow)
        self._batches: dict[int, _Batch] = {}  # unfinished batches by id (lock renewal, drain)
        self._held: dict[str, int] = {}  # per subscription: received and not yet finished
        self._workers: list[threading.Thread] = []
        self._active = 0  # workers running a handling (or about to take the next message)
        self._idle = 0  # workers waiting for work
        self._waking = 0  # idle workers notified that have not run yet
        self._standby = False  # one worker waits _HELP_AFTER to help if messages linger
        self._taken = 0  # messages taken by workers so far (a stand-by watches it for progress)
        self._watching = 0  # the pump watches for slow handlings (``_await``), so no worker stands by
        self._help_wanted = 0  # idle workers woken by the watching pump to take a message at once
        self._closing = False
        self._inflight_count = 0
        self.deliveries = 0
        # completions are settled in batches (one transaction) when the bus supports it
        self._complete_many = getattr(self.receiver, "complete_many", None)
        # completions settled in the transaction of the next receive, when the bus can (one commit for both)
        self._complete_and_receive = (getattr(self.receiver, "complete_and_receive", None)
                                      if self._complete_many is not None else None)
        self._completions: list[tuple[str, Delivery | None]] = []  # (lock token, report sent once settled)
        self._last_renewal_check: float | None = None
        # woken by an in-process publish or by workers, instead of sleeping between polls
        self._wake = threading.Event()
        add_listener = getattr(self.receiver, "add_publish_listener", None)
        if add_listener is not None:
            add_listener(self._wake.set)
        self._due = getattr(self.receiver, "due_subscriptions", None)
        # infrastructure failures waiting out their back-off (still locked): (abandon at, message)
        self._backing_off: list[tuple[float, ReceivedMessage]] = []
        self._bus_failures = 0  # consecutive failures of the bus itself (receive, settle)
        # the real clock: the delivery latency is computed on floats (half the cost of datetimes, per message)
        self._system_wall = isinstance(self.wall_clock, SystemClock)
        self.last_bus_error: str | None = None

    # ------------------------------------------------------------------ setup

    def ensure_subscriptions(self) -> None:
        for fn in self.functions:
            self.receiver.ensure_subscription(SubscriptionSpec(
                name=fn.subscription, sql_filter=self.filters.get(fn.subscription, "1=1"),
                max_delivery_count=self.options.max_delivery_count, lock_duration=self.options.lock_duration))

    # ------------------------------------------------------------------ running

    def stop(self) -> None:
        """Stop receiving; in-flight handlings finish and are settled, received ones not started are abandoned."""
        self._stop.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def pump_once(self) -> int:
        """Settle what finished, then receive what is due on every subscription and queue it for the workers.

        Returns the number of messages received and queued."""
        dispatched = 0
        if self._stop.is_set():
            self.flush_completions()
            return 0
        self._abandon_backed_off()
        # settle what finished before receiving more: while the workers run what is received next, the
        # pump then has no bus call left to make, and two threads do not trade the interpreter lock
        # on every SQLite step (settling after receiving cost ~10 % of the host's CPU time in the bench).
        # Where the bus can, the completions ride in the transaction of the first receive (one commit).
        settled = self._complete_and_receive is None
        if settled:
            self.flush_completions()
        due = self._due() if self._due is not None else None
        batch = max(1, self.options.batch_size)
        limit = max(1, self.options.max_concurrent_calls) + max(0, self.options.prefetch_count)
        for fn in self.functions:
            sub = fn.subscription
            if due is not None and sub not in due:
                continue
            cap = self.concurrency.get(sub)
            room = min(batch, (min(cap, limit) if cap else limit) - self._held.get(sub, 0))
            if room <= 0:
                continue
            settle = [] if settled else self._take_completions()
            settled = True
            if settle and self._complete_and_receive is not None:
                try:
                    lost, received = self._complete_and_receive([token for token, _ in settle], sub, room)
                except BaseException:
                    self._put_back(settle)
                    raise
                self._report_completions(settle, lost)
            else:
                received = self.receiver.receive(sub, max_messages=room)
            if received:
                self._dispatch(fn, received)
                dispatched += len(received)
            if self._stop.is_set():
                break
        if not settled:  # nothing was received to carry them
            self.flush_completions()
        self._renew_locks()
        return dispatched

    def _dispatch(self, fn: ServiceBusFunction, messages: list[ReceivedMessage]) -> None:
        if not self._workers:
            self._start_workers()
        batch = _Batch(fn, self.clock(), {m.lock_token for m in messages})
        with self._lock:
            self._batches[id(batch)] = batch
            self._held[fn.subscription] = self._held.get(fn.subscription, 0) + len(messages)
            self._inflight_count += len(messages)
            if self._pump_inline and fn.name in self._fast:
                self._mine.extend(zip(repeat(batch), messages))  # ``run``'s thread calls them next
                return
            self._ready.extend(zip(repeat(batch), messages))
            if self._idle > self._waking and not self._waking and (
                    not self._active or not (self._standby or self._watching)):
                # an idle worker runs them (and recruits a stand-by), or stands by to help if the
                # running ones are slow
                self._notify_idle()

    def _start_workers(self) -> None:
        for i in range(max(1, self.options.max_concurrent_calls)):
            worker = threading.Thread(target=self._work, name=f"factory-fn-{i}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def _work(self) -> None:
        item: _Item | None = None
        delivered, completion = False, None
        while True:
            with self._lock:
                if item is not None:
                    self.deliveries += delivered
                    self._active -= 1
                    self._book(item, completion)
                    self._notify_progress()
                item = self._take()
            if item is None:
                return
            started = time.perf_counter()
            delivered, completion = self._invoke_logged(item)
            # how fast it was decides where the next messages of its function run (see ``_run_inline``)
            if time.perf_counter() - started < _INLINE_MAX:
                self._fast.add(item[0].function.name)
            else:
                self._fast.discard(item[0].function.name)

    def _invoke_logged(self, item: _Item) -> tuple[bool, tuple[str, Delivery | None] | None]:
        """``_invoke``, never raising an ``Exception``: the thread must outlive it, or the message is never booked."""
        try:
            return self._invoke(item)
        except Exception as exc:
            # the bus failed while settling (a full or failing disk): the lock expires and the message is
            # delivered again, so nothing is lost; the host goes on and can still stop
            log.error("could not settle %s on %s: %s: %s; it is delivered again when its lock expires",
                      item[1].message_id, item[0].function.subscription, type(exc).__name__, exc)
            return False, None

    def _run_inline(self) -> None:
        """Call the fast functions' messages that ``run``'s own pump received, on this thread (no hand-off).

        Booked in one go at the end, or at once after a slow handling (the watchdog may be pumping meanwhile).
        Should the thread be interrupted (Ctrl-C), what it had not started goes to the workers, which give it
        back to the bus as the host stops."""
        mine = self._mine
        if not mine:
            return
        done: list[tuple[_Item, tuple[bool, tuple[str, Delivery | None] | None]]] = []
        item: _Item | None = None
        invoke, clock = self._invoke_logged, time.perf_counter
        self._inline_runs += 1
        with self._lock:
            self._active += 1  # a running handling, for the workers' stand-by rules
        try:
            while True:
                try:
                    item = mine.popleft()
                except IndexError:
                    item = None
                    break
                started = self._inline_since = clock()
                try:
                    done.append((item, invoke(item)))
                except BaseException:  # Ctrl-C in the function: settled as it failed, or its lock expires
                    done.append((item, (False, None)))
                    raise
                finally:
                    item = None
                    self._inline_since = 0.0
                if clock() - started >= _INLINE_MAX:  # slow: its next messages go to the workers
                    self._fast.discard(done[-1][0][0].function.name)
                    self._book_inline(done)
                    done = []
        finally:
            self._book_inline(done, leftover=item, ended=True)

    def _book_inline(self, done: list[tuple[_Item, tuple[bool, tuple[str, Delivery | None] | None]]], *,
                     leftover: _Item | None = None, ended: bool = False) -> None:
        """Book what ``_run_inline`` finished. Once it ``ended`` it is no longer a running handling, and what it
        did not start (``leftover`` and ``_mine``) goes to the workers."""
        with self._lock:
            for item, (delivered, completion) in done:
                self.deliveries += delivered
                self._book(item, completion)
            if ended:
                self._active -= 1
                self._mine_to_workers(leftover)
            if done:
                self._notify_progress()

    def _mine_to_workers(self, first: _Item | None = None) -> None:
        """Give the workers what ``run``'s thread received for itself and has not started (``first``, then
        ``_mine``), ahead of the messages waiting for them, and wake one to take them at once (lock held)."""
        rest = [first] if first is not None else []
        while self._mine:
            rest.append(self._mine.popleft())
        if not rest:
            return
        self._ready.extendleft(reversed(rest))
        if self._idle > self._waking:
            self._help_wanted += 1
            self._notify_idle()

    def _take(self) -> _Item | None:
        """The next message for this worker (called with the lock held); ``None`` when closing.

        A worker that just finished takes the next message at once; a woken worker takes one when no
        worker is running. Otherwise it stands by: if nobody takes a message for ``_HELP_AFTER`` (the
        running handlings are slow), it takes one itself and the next idle worker stands by. So the
        pool widens one worker per ``_HELP_AFTER`` of no progress, and fast handlings stay on one thread.
        """
        take_now = True
        while not self._closing:
            if self._ready and (take_now or not self._active):
                self._active += 1
                self._taken += 1
                item = self._ready.popleft()
                if not self._ready:
                    if self._progress_waiters:
                        self._progress.notify_all()
                elif self._idle > self._waking and not self._standby and not self._waking and not self._watching:
                    self._notify_idle()  # someone stands by for the rest (unless the pump watches)
                return item
            if self._ready and not self._standby:
                self._standby = True
                seen, deadline = self._taken, time.perf_counter() + _HELP_AFTER
                while self._ready and self._taken == seen and not self._closing:
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        break
                    self._standby_cv.wait(left)
                self._standby = False
                take_now = self._taken == seen  # no progress while standing by: help
                continue
            self._idle += 1
            self._work_cv.wait()
            self._idle -= 1
            self._waking = max(0, self._waking - 1)
            take_now = self._help_wanted > 0  # woken by the watching pump: help at once
            self._help_wanted = max(0, self._help_wanted - 1)
        return None

    def _notify_idle(self) -> None:
        """Wake one idle worker (called with the lock held); counted until it runs, so it is woken once."""
        self._waking += 1
        self._work_cv.notify()

    def _book(self, item: _Item, completion: tuple[str, Delivery | None] | None) -> None:
        """Account for a finished message (called with the lock held; then ``_notify_progress``)."""
        batch, m = item
        self._inflight_count -= 1
        pending = batch.pending
        pending.discard(m.lock_token)
        if not pending:
            del self._batches[id(batch)]
        self._held[batch.function.subscription] -= 1
        if completion is not None:
            self._completions.append(completion)

    def _notify_progress(self) -> None:
        """Messages finished (called with the lock held): once no received one waits, the pump may receive more
        and settle what finished."""
        if not self._ready:
            if self._progress_waiters:
                self._progress.notify_all()
            self._wake.set()

    def _invoke(self, item: _Item) -> tuple[bool, tuple[str, Delivery | None] | None]:
        """Run one message: (whether the function ran, its completion when that is batched).

        The per-message path of the host: locals instead of repeated attribute lookups, no report
        object or timing when nobody listens (``on_delivery``), the completion batched without a call."""
        batch, m = item
        fn = batch.function
        if self._stop.is_set():  # received but never started: give it back at once
            with contextlib.suppress(LockLostError):
                self.receiver.abandon(m.lock_token)
            return False, None
        metrics = self.metrics
        if metrics is not None and self.wall_clock is not None:
            start_at, enqueued = m.scheduled_enqueue_time, m.enqueued_time
            if start_at is None or start_at < enqueued:
                start_at = enqueued
            metrics.delivery_latency(fn.subscription, (time.time() - start_at.timestamp()) * 1000.0
                                     if self._system_wall else (self.wall_clock.now() - start_at) / _ONE_MS)
        on_delivery = self.on_delivery
        t0 = time.perf_counter() if on_delivery is not None else 0.0
        error: str | None = None
        interrupted: KeyboardInterrupt | None = None
        try:
            message = to_functions_message(m)
            if fn.takes_context:
                fn.call(**{fn.arg_name: message, "context": LocalInvocationContext(fn.name)})
            else:
                fn.call(**{fn.arg_name: message})
            if self._complete_many is not None and m.lock_token not in self.settled:
                # completed in the next batch (``flush_completions``), reported once the completion took
                if on_delivery is None:
                    return True, (m.lock_token, None)
                outcome: str | None = None
            else:
                outcome = self._settle(m, ok=True)
        except BaseException as exc:  # the Functions host abandons on any exception (a worker thread lives on)
            error = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, InfrastructureError):
                # the machinery failed (I/O, disk full, read-only): keep the lock for a back-off, then abandon
                delay = min(self.backoff_first * 2 ** max(0, m.delivery_count - 1), self.backoff_cap,
                            self.options.lock_duration.total_seconds() / 2)
                with self._lock:
                    self._backing_off.append((self.clock() + delay, m))
                outcome = "backing-off"
            else:
                outcome = self._settle(m, ok=False)
            if isinstance(exc, KeyboardInterrupt):  # Ctrl-C while ``run``'s thread ran it: reported, then stop
                self._stop.set()
                interrupted = exc
        if on_delivery is None:
            if interrupted is not None:
                raise interrupted
            return True, None
        delivery = Delivery(
            fn.name, fn.subscription, m.message_id, str(m.application_properties.get("type") or m.subject or ""),
            m.delivery_count, outcome or "completed", (time.perf_counter() - t0) * 1000.0, error)
        if outcome is None:  # completed in the next batch: reported once the completion took
            return True, (m.lock_token, delivery)
        on_delivery(delivery)
        if interrupted is not None:
            raise interrupted
        return True, None

    def _settle(self, m: ReceivedMessage, *, ok: bool) -> str | None:
        """Settle one message; ``None`` when its completion is batched (see ``flush_completions``)."""
        if m.lock_token in self.settled:
            self.settled.discard(m.lock_token)
            return "dead-lettered"
        if ok and self._complete_many is not None:
            return None
        try:
            if ok:
                self.receiver.complete(m.lock_token)
                return "completed"
            self.receiver.abandon(m.lock_token)
            return "abandoned"
        except LockLostError:
            _warn_lock_lost(m.message_id)
            return "lock-lost"

    def _abandon_backed_off(self, *, all_now: bool = False) -> None:
        """Abandon the infrastructure failures whose back-off has passed (they are redelivered)."""
        now = self.clock()
        with self._lock:
            due = [m for at, m in self._backing_off if all_now or at <= now]
            self._backing_off = [(at, m) for at, m in self._backing_off if not (all_now or at <= now)]
        for m in due:
            with contextlib.suppress(LockLostError):  # expired meanwhile: redelivered all the same
                self.receiver.abandon(m.lock_token)

    def next_backoff_in(self) -> float | None:
        """Seconds until the next backed-off message is abandoned (None: none waits)."""
        with self._lock:
            times = [at for at, _m in self._backing_off]
        return max(0.0, min(times) - self.clock()) if times else None

    def flush_completions(self) -> None:
        """Complete every handled message in one transaction (a lost lock only means a no-op redelivery)."""
        batch = self._take_completions()
        if batch and self._complete_many is not None:
            try:
                lost = self._complete_many([token for token, _ in batch])
            except BaseException:
                self._put_back(batch)
                raise
            self._report_completions(batch, lost)

    def _take_completions(self) -> list[tuple[str, Delivery | None]]:
        with self._lock:
            if not self._completions:
                return []
            batch, self._completions = self._completions, []
            return batch

    def _put_back(self, batch: list[tuple[str, Delivery | None]]) -> None:
        """A settle that failed rolled back: its completions go first into the next one (or their locks expire)."""
        with self._lock:
            self._completions[:0] = batch

    def _report_completions(self, batch: list[tuple[str, Delivery | None]], lost: list[str]) -> None:
        """Warn about the completions whose lock was lost, and report the settled deliveries."""
        if lost:
            gone = set(lost)
            for token, delivery in batch:
                if token in gone:
                    _warn_lock_lost(delivery.message_id if delivery else token)
                    if delivery is not None:
                        delivery.outcome = "lock-lost"
        if self.on_delivery is not None:
            for _, delivery in batch:
                if delivery is not None:
                    self.on_delivery(delivery)

    def _renew_locks(self) -> None:
        now = self.clock()
        half = self.options.lock_duration.total_seconds() / 2
        # a renewal is due within half a lock duration: looking a few times per half is enough
        if self._last_renewal_check is not None and now - self._last_renewal_check < min(1.0, half / 4):
            return
        self._last_renewal_check = now
        limit = self.options.max_auto_lock_renewal.total_seconds()
        with self._lock:
            due = [(b, list(b.pending)) for b in self._batches.values()
                   if now - b.started <= limit and now - max(b.started, b.renewed_until) >= half]
        for batch, tokens in due:
            for token in tokens:
                with contextlib.suppress(LockLostError):
                    self.receiver.renew_lock(token)
            batch.renewed_until = now

    def inflight(self) -> int:
        """Messages received and not yet finished (running or waiting for a worker)."""
        with self._lock:
            return self._inflight_count

    def idle(self) -> bool:
        """Nothing in flight or backing off, nothing due now on any subscription, and no message locked by
        another (maybe dead) host: such a message comes back when its lock expires, so a host that stops
        before is not idle."""
        if self.inflight() or self.next_backoff_in() is not None:
            return False
        self.flush_completions()
        for fn in self.functions:
            due = self.receiver.next_due(fn.subscription)
            if due is not None and (self.wall_clock is None or due <= self.wall_clock.now()):
                return False
        return self.locked_elsewhere() == 0

    def locked_elsewhere(self) -> int:
        """Messages locked on this host's subscriptions while this host holds none: another host's, or a dead
        one's until their locks expire (0 when the bus cannot tell)."""
        counts = getattr(self.receiver, "counts", None)
        if counts is None or self.inflight() or self._backing_off:
            return 0
        return sum(int(counts(fn.subscription).locked) for fn in self.functions)

    def _bus_failed(self, exc: Exception) -> float:
        """The bus itself failed (receive, settle): log it, and how long to back off before trying again."""
        self._bus_failures += 1
        text = f"{type(exc).__name__}: {exc}"
        if text != self.last_bus_error:
            log.error("the bus failed (%s); retrying with back-off, nothing is lost: unsettled messages come back "
                      "when their locks expire", text)
        self.last_bus_error = text
        return float(min(self.backoff_first * 2 ** min(self._bus_failures, 16), self.backoff_cap))

    def _pump_guarded(self, *, inline: bool = False, until: threading.Event | None = None) -> int:
        """``pump_once``, with a failing bus (disk full, I/O, a file-size limit) backed off instead of raised.

        ``inline``: the caller runs the fast functions' messages itself afterwards (``_run_inline``).
        ``until``: what ends a back-off early (default: ``stop()``)."""
        try:
            with self._pump_lock:
                self._pump_inline = inline
                try:
                    dispatched = self.pump_once()
                finally:
                    self._pump_inline = False
        except Exception as exc:
            (until or self._stop).wait(self._bus_failed(exc))
            return 0
        if self._bus_failures:
            log.warning("the bus works again after %d failed attempts", self._bus_failures)
            self._bus_failures, self.last_bus_error = 0, None
        return dispatched

    def next_due_in(self) -> float | None:
        """Seconds until the next scheduled message on any subscription (None: nothing queued)."""
        if self.wall_clock is None:
            return None
        self.flush_completions()
        dues = [d for fn in self.functions if (d := self.receiver.next_due(fn.subscription)) is not None]
        if not dues:
            return None
        return max(0.0, (min(dues) - self.wall_clock.now()).total_seconds())

    def run(self, *, until: Callable[[], bool] | None = None, idle_wait: float = 0.002,
            max_idle_wait: float = 0.05) -> None:
        """Pump until ``until()`` is true or ``stop()`` is called; then drain in-flight work.

        Between pumps it waits for a wake-up (an in-process publish or a worker with news), and
        polls with a short back-off for publishes from other processes on the same bus file.
        """
        wait = idle_wait
        self._watch()  # the pump looks after slow handlings between its pumps (see ``_await``)
        finished = threading.Event()
        watchdog = threading.Thread(target=self._watchdog, args=(finished,), name="factory-host-watchdog",
                                    daemon=True)
        watchdog.start()
        try:
            while not self._stop.is_set():
                if until is not None and until():
                    break
                self._wake.clear()
                dispatched = self._pump_guarded(inline=True)
                if self._mine:
                    self._unwatch()  # busy handling: a stand-by worker looks after the others meanwhile
                    try:
                        self._run_inline()
                    finally:
                        self._watch()
                if dispatched:
                    wait = idle_wait
                    if self._ready:
                        self._await(lambda: not self._ready, _HANDOFF_WAIT)
                    continue
                self._unwatch()  # asleep: a stand-by worker looks after them meanwhile
                try:
                    wait = idle_wait if self._wake.wait(wait) else min(max_idle_wait, wait * 2)
                finally:
                    self._watch()
        finally:
            finished.set()
            watchdog.join()
            self._unwatch()
            self.drain()

    def _watchdog(self, finished: threading.Event) -> None:
        """While ``run`` runs: should a handling hold its thread for ``_RESCUE_AFTER``, stand in for it."""
        tick = _WATCHDOG_TICK
        seen = self._inline_runs
        while not finished.wait(tick):
            since = self._inline_since
            if since:
                left = _RESCUE_AFTER - (time.perf_counter() - since)
                if left <= 0:
                    self._stand_in(since, finished)
                    tick = _WATCHDOG_TICK
                else:
                    tick = max(0.001, left)
            elif self._inline_runs != seen:
                tick = _WATCHDOG_TICK
            else:
                tick = min(_WATCHDOG_IDLE, tick * 2)
            seen = self._inline_runs

    def _stand_in(self, since: float, finished: threading.Event) -> None:
        """``run``'s thread is in a slow handling: hand what it received to the workers, then receive, settle
        and renew locks in its place until that handling ends (its messages go to the workers meanwhile)."""
        with self._lock:
            self._mine_to_workers()
        log.debug("a handling has held the host's pump for over %.0f ms; the watchdog pumps meanwhile",
                  _RESCUE_AFTER * 1000)
        while self._inline_since == since and not finished.is_set() and not self._stop.is_set():
            self._wake.clear()
            if self._pump_guarded(until=finished):  # ``run`` ending does not wait out a back-off
                if self._ready:
                    self._await(lambda: not self._ready, _HANDOFF_WAIT)
            else:
                self._wake.wait(_WATCHDOG_TICK)

    def run_until_idle(self, *, max_seconds: float | None = None) -> None:
        """Pump until no message is due and nothing is in flight (scheduled ones may remain)."""
        deadline = None if max_seconds is None else self.clock() + max_seconds
        while not self._stop.is_set():
            dispatched = self._pump_guarded()
            if not dispatched:
                self._wait_inflight(0.005)
                try:
                    if self.idle():
                        break
                except Exception as exc:  # the bus cannot even be read: back off, never die
                    self._stop.wait(self._bus_failed(exc))
                    continue
                if not self.inflight():
                    # another host's locks, or a back-off: wait for them, without spinning
                    self._stop.wait(min(0.02, self.next_backoff_in() or 0.02))
            if deadline is not None and self.clock() > deadline:
                break
        self.drain()

    def _watch(self) -> None:
        with self._lock:
            self._watching += 1

    def _unwatch(self) -> None:
        """The pump stops watching: if messages wait while a worker runs, recruit the stand-by it stood for."""
        with self._lock:
            self._watching -= 1
            if (not self._watching and self._ready and self._active and not self._standby
                    and self._idle > self._waking and not self._waking):
                self._notify_idle()

    def _await(self, done: Callable[[], bool], timeout: float | None) -> None:
        """Wait (real time) until ``done()`` holds, checked whenever a worker makes progress.

        Meanwhile the pump stands by for the workers: when received messages wait and no worker took one
        for ``_HELP_AFTER`` (the running handlings are slow), it wakes an idle worker to take one at once.
        So no worker has to stand by (a thread woken, and timing out, per batch) while the pump watches."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        with self._progress:
            self._progress_waiters += 1
            self._watching += 1
            try:
                seen = self._taken
                while not done():
                    left = None if deadline is None else deadline - time.perf_counter()
                    if left is not None and left <= 0:
                        break
                    step = left if left is not None else 0.1
                    self._progress.wait(min(step, _HELP_AFTER) if self._ready else step)
                    if (self._ready and self._taken == seen and not self._standby
                            and self._idle > self._waking and not self._waking):
                        self._help_wanted += 1
                        self._notify_idle()
                    seen = self._taken
            finally:
                self._progress_waiters -= 1
        self._unwatch()

    def _wait_inflight(self, timeout: float) -> None:
        """Wait until a handling finishes (or ``timeout`` seconds), if any is in flight."""
        count = self.inflight()
        if count:
            self._await(lambda: self._inflight_count < count, timeout)

    def drain(self) -> None:
        """Wait for every received message to finish, then settle the completions."""
        self._await(lambda: not self._inflight_count, None)
        # a stopping host hands its backed-off messages back now; a failing bus: they come back when their
        # locks expire, nothing is lost
        with contextlib.suppress(Exception):
            self._abandon_backed_off(all_now=True)
        with contextlib.suppress(Exception):
            self.flush_completions()

    def close(self) -> None:
        self._stop.set()
        self.drain()
        with self._lock:
            self._closing = True
            self._work_cv.notify_all()
            self._standby_cv.notify_all()
        for worker in self._workers:
            worker.join()
        self._workers.clear()


def build_host(runtime: Runtime, app: func.FunctionApp | None = None, *, project_dir: Path = Path("."),
               on_delivery: Callable[[Delivery], None] | None = None,
               extra_filters: Mapping[str, str] | None = None) -> tuple[LocalHost, list[HttpFunction]]:
    """Wire a local host for ``function_app`` (or ``app``) on the runtime's embedded bus."""
    if runtime.receiver is None:
        raise HostConfigError("the local host needs the embedded bus (FACTORY_BUS=sqlite); on Azure the "
                              "Functions host receives from Service Bus itself")
    topic = runtime.settings.topic_name
    values = binding_values({"FACTORY_TOPIC": topic, **load_local_settings(project_dir / "local.settings.json")})
    sb, http = discover(app or function_app.app, values)
    wrong = sorted({f.topic for f in sb} - {topic})
    if wrong:
        raise HostConfigError(f"functions listen on topic(s) {wrong} but the embedded bus topic is "
                              f"'{topic}' (FACTORY_TOPIC)")
    subscriptions = all_subscriptions(runtime.consumers)
    filters = {s.name: s.sql_filter for s in subscriptions}
    filters.update(extra_filters or {})
    options = load_host_options(project_dir / "host.json", max_delivery_count=runtime.settings.max_delivery_count,
                                lock_duration=timedelta(seconds=runtime.settings.lock_duration_seconds))
    settled = runtime.settlement.settled if isinstance(runtime.settlement, BusSettlement) else set()
    host = LocalHost(runtime.receiver, sb, filters, options, settled=settled, on_delivery=on_delivery,
                     metrics=runtime.metrics, wall_clock=runtime.clock,
                     concurrency={s.name: s.max_concurrency for s in subscriptions})
    host.ensure_subscriptions()
    sweep_leftovers(runtime)
    set_runtime(runtime)
    return host, http


def drive(runtime: Runtime, host: LocalHost, project_id: str, *, timeout: float = 900.0,
          on_tick: Callable[[ProjectStatus], None] | None = None, stall_after: float = 60.0) -> ProjectStatus:
    """Run the local host until the project completes, times out, or only far-off timers remain.

    Once the project completed, the deliveries already due (what its last events go to, e.g. the flows that
    record the outcome) are handled before it returns, for up to ``_TRAILING_GRACE`` seconds (another
    project's work on the same bus may never pause); timers scheduled for later stay on the bus.
    ``on_tick(status)`` is called about ten times a second (the CLI's live table).
    """
    started = time.perf_counter()
    last = 0.0
    quiet_since: float | None = None
    done_since: float | None = None
    status = project_status(runtime, project_id)

    def until() -> bool:
        nonlocal last, status, quiet_since, done_since
        now = time.perf_counter()
        if done_since is None:
            if now - last < 0.1:
                return False
            last = now
            status = project_status(runtime, project_id)
            if on_tick is not None:
                on_tick(status)
            if now - started > timeout:
                return True
            if not status.done:
                due = host.next_due_in()
                if host.inflight() == 0 and (due is None or due > stall_after):
                    # nothing in flight and only far-off timers left: stalled, once it stays so for a moment
                    quiet_since = quiet_since or now
                    return now - quiet_since > 2.0
                quiet_since = None
                return False
            done_since = now
        # completed: handle what is due now and in flight, then return
        due = host.next_due_in()
        return (host.inflight() == 0 and (due is None or due > 0)) or now - done_since > _TRAILING_GRACE

    host.run(until=until)
    return project_status(runtime, project_id)


def subscriptions_of(functions: Iterable[ServiceBusFunction]) -> list[str]:
    return sorted(f.subscription for f in functions)
