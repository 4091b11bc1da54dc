"""Consumers of the topic, read from the manifests in ``contracts/``.

Three kinds of consumer each get one Service Bus subscription and one triggered function:
agents (``contracts/agents/*.yaml``), coordinators (``contracts/flows/*.yaml``) and scaffold
steps (``contracts/steps/*.yaml``). An agent's ``lanes`` give some of its event types a
subscription and function of their own (Azure's priority-queue pattern): work that finishes a
project is then not queued behind work that starts the next one. The subscriptions' SQL filters
are generated here, so the Bicep, the Service Bus emulator config, the embedded bus and the
function registrations all agree by construction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Literal

import yaml

from shared.contracts import CONTRACTS_DIR

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: manifests load at import


ConsumerKind = Literal["agent", "coordinator", "step"]

#: every agent also takes retry commands addressed to it by a coordinator
RETRY_COMMAND = "AgentRetryRequested"

#: a flow's timeouts carry its name in this application property; each coordinator's subscription
#: takes only its own (every coordinator taking every timeout cost a delivery, a function execution
#: and Cosmos DB reads and writes per coordinator, for nothing)
TIMEOUT_EVENT = "FlowTimeout"
TIMEOUT_TARGET = "targetFlow"


#: a skill's name in an agent manifest: ``<module>.<function>`` of ``shared/mesh/agents/``
SKILL_NAME = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")
#: a lane's name in an agent manifest (its subscription is ``<agent>-<lane>``)
LANE_NAME = re.compile(r"[a-z][a-z0-9]*")
#: Service Bus limit on a subscription name
MAX_SUBSCRIPTION_NAME = 50


class ManifestError(ValueError):
    """A manifest in contracts/ is malformed. The message names the file and the field."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff_seconds: float = 5.0


@dataclass(frozen=True)
class Consumer:
    """One subscriber on the topic: its subscription name, what it takes and what it emits."""

    name: str
    kind: ConsumerKind
    subscribes_to: tuple[str, ...]
    emits: tuple[str, ...] = ()
    #: agents only: incoming event type -> skill name (``module.function`` in ``shared/mesh/agents/``)
    skills: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    timeout_seconds: float = 120.0
    max_concurrency: int = 4
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    tenant_scope: str | None = None
    source_file: str = ""
    #: agents only: lane name -> the event types that lane's own subscription takes (in ``subscribes_to`` order)
    lanes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def subscription(self) -> str:
        """The main Service Bus subscription's name (≤ 50 chars, same as the consumer name)."""
        return self.name

    @property
    def function_name(self) -> str:
        return f"{self.kind}_{self.name.replace('-', '_')}"

    @property
    def sql_filter(self) -> str:
        """The Service Bus SQL filter of this consumer's main subscription."""
        return self.subscriptions[0].sql_filter

    @cached_property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """The main subscription (every event type no lane takes, and retry commands), then one per lane."""
        laned = {t for types in self.lanes.values() for t in types}
        main = tuple(t for t in self.subscribes_to if t not in laned)
        subs = [Subscription(self.subscription, self, main, self.function_name, self._filter(main, addressed=True))]
        for lane, types in self.lanes.items():
            subs.append(Subscription(f"{self.name}-{lane}", self, types, f"{self.function_name}_{lane}",
                                     self._filter(types, addressed=False), lane))
        return tuple(subs)

    def _filter(self, event_types: Sequence[str], *, addressed: bool) -> str:
        """``type IN (...)`` for ``event_types``; on the main subscription also what is addressed to this
        consumer by name (an agent's retry commands, a coordinator's own timeouts)."""
        timeouts = addressed and self.kind == "coordinator" and TIMEOUT_EVENT in event_types
        types = ", ".join(f"'{t}'" for t in sorted(event_types) if not (timeouts and t == TIMEOUT_EVENT))
        expr = f"type IN ({types})"
        if addressed and self.kind == "agent":
            expr = f"({expr} OR (type = '{RETRY_COMMAND}' AND targetAgent = '{self.name}'))"
        elif timeouts:
            expr = f"({expr} OR (type = '{TIMEOUT_EVENT}' AND {TIMEOUT_TARGET} = '{self.name}'))"
        if self.tenant_scope:
            expr = f"{expr} AND tenantId = '{self.tenant_scope}'"
        return expr


@dataclass(frozen=True)
class Subscription:
    """One Service Bus subscription and its triggered function: a consumer's main one, or one lane of an agent."""

    name: str
    consumer: Consumer
    event_types: tuple[str, ...]
    function_name: str
    sql_filter: str
    lane: str | None = None

    @property
    def max_concurrency(self) -> int:
        """Each subscription of a consumer may run as many handlings at once as its manifest's ``concurrency``."""
        return self.consumer.max_concurrency

    def takes(self, event_type: str, application_properties: Mapping[str, Any]) -> bool:
        """Whether this subscription's filter takes an event of ``event_type`` (what ``sql_filter`` says,
        for the properties it reads: ``targetAgent``, ``targetFlow`` and ``tenantId``)."""
        c = self.consumer
        if c.tenant_scope and application_properties.get("tenantId") != c.tenant_scope:
            return False
        if self.lane is None and c.kind == "agent" and event_type == RETRY_COMMAND:
            return application_properties.get("targetAgent") == c.name
        if event_type not in self.event_types:
            return False
        if self.lane is None and c.kind == "coordinator" and event_type == TIMEOUT_EVENT:
            return application_properties.get(TIMEOUT_TARGET) == c.name
        return True


def all_subscriptions(consumers: Iterable[Consumer]) -> list[Subscription]:
    """Every subscription of ``consumers``: each consumer's main one, then its lanes'."""
    return [s for c in consumers for s in c.subscriptions]


def _require(doc: dict[str, Any], key: str, path: Path) -> Any:
    if key not in doc:
        raise ManifestError(f"{path}: missing required field '{key}'")
    return doc[key]


def _names(doc: dict[str, Any], key: str, path: Path) -> tuple[str, ...]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ManifestError(f"{path}: '{key}' must be a list of event type names")
    return tuple(value)


def _skill_table(value: Any, path: Path) -> dict[str, str]:
    """An agent's ``subscribesTo``: a mapping of event type to the skill that handles it."""
    if not isinstance(value, dict) or not value:
        raise ManifestError(
            f"{path}: an agent's 'subscribesTo' maps each event type to its skill, e.g. "
            "'subscribesTo: {{ProjectInitialized: vision.write_vision}}'")
    table: dict[str, str] = {}
    for event, skill in value.items():
        if not isinstance(event, str) or not isinstance(skill, str) or not SKILL_NAME.fullmatch(skill):
            raise ManifestError(
                f"{path}: subscribesTo.{event}: {skill!r} is not a skill name; write module.function, "
                "e.g. vision.write_vision for write_vision in shared/mesh/agents/vision.py")
        table[event] = skill
    return table


def _lanes(value: Any, kind: ConsumerKind, name: str, subscribes: tuple[str, ...], path: Path
           ) -> dict[str, tuple[str, ...]]:
    """An agent's ``lanes``: lane name -> event types of its ``subscribesTo`` that get their own subscription."""
    if value is None:
        return {}
    example = "'lanes: {gate: [TestSuiteGenerated]}'"
    if kind != "agent":
        raise ManifestError(f"{path}: only agents have lanes")
    if not isinstance(value, dict) or not value:
        raise ManifestError(f"{path}: 'lanes' maps a lane name to event types of subscribesTo, e.g. {example}")
    lanes: dict[str, tuple[str, ...]] = {}
    laned: set[str] = set()
    for lane, types in value.items():
        if not isinstance(lane, str) or not LANE_NAME.fullmatch(lane):
            raise ManifestError(f"{path}: lane name {lane!r} must be lower-case letters and digits, e.g. {example}")
        if len(f"{name}-{lane}") > MAX_SUBSCRIPTION_NAME:
            raise ManifestError(f"{path}: lane {lane!r} makes the subscription name '{name}-{lane}' longer than "
                                f"{MAX_SUBSCRIPTION_NAME} characters (Service Bus limit); shorten the lane name")
        if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
            raise ManifestError(f"{path}: lanes.{lane} must be a non-empty list of event types, e.g. {example}")
        for t in types:
            if t not in subscribes:
                raise ManifestError(f"{path}: lanes.{lane}: {t} is not in subscribesTo; a lane takes some of the "
                                    "agent's own event types")
            if t in laned:
                raise ManifestError(f"{path}: lanes.{lane}: {t} is already in another lane")
            laned.add(t)
        lanes[lane] = tuple(t for t in subscribes if t in types)
    if laned >= set(subscribes):
        raise ManifestError(f"{path}: every event type is in a lane; leave at least one to the main subscription")
    return lanes


def _load_consumer(path: Path, kind: ConsumerKind) -> Consumer:
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ManifestError(f"{path}: expected a mapping at the top level")
    name = _require(doc, "id", path)
    if name != path.name.split(".")[0]:
        raise ManifestError(f"{path}: id '{name}' must equal the file name '{path.stem}'")
    if len(name) > MAX_SUBSCRIPTION_NAME:
        raise ManifestError(f"{path}: id '{name}' is longer than {MAX_SUBSCRIPTION_NAME} characters "
                            "(Service Bus limit)")
    skills: dict[str, str] = {}
    if kind == "agent":
        skills = _skill_table(doc.get("subscribesTo"), path)
        subscribes = tuple(skills)
    else:
        subscribes = _names(doc, "subscribesTo", path)
    if not subscribes:
        raise ManifestError(f"{path}: 'subscribesTo' must name at least one event type")
    retry = doc.get("retry") or {}
    return Consumer(
        name=name,
        kind=kind,
        subscribes_to=subscribes,
        emits=_names(doc, "emits", path),
        skills=skills,
        description=str(doc.get("description", "")).strip(),
        timeout_seconds=float(doc.get("timeoutSeconds", 120)),
        max_concurrency=int(doc.get("concurrency", 4)),
        retry=RetryPolicy(
            max_attempts=int(retry.get("maxAttempts", 3)),
            backoff_seconds=float(retry.get("backoffSeconds", 5)),
        ),
        tenant_scope=doc.get("tenantScope"),
        source_file=str(path),
        lanes=_lanes(doc.get("lanes"), kind, name, subscribes, path),
    )


_DIRS: dict[ConsumerKind, str] = {"agent": "agents", "coordinator": "flows", "step": "steps"}


@cache
def load_consumers(contracts_dir: Path = CONTRACTS_DIR) -> tuple[Consumer, ...]:
    """All consumers, sorted by kind then name. Cached: manifests are read once per process."""
    found: list[Consumer] = []
    for kind, sub in _DIRS.items():
        folder = contracts_dir / sub
        if folder.is_dir():
            found.extend(_load_consumer(p, kind) for p in sorted(folder.glob("*.yaml")))
    names = [c.name for c in found]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ManifestError(f"consumer names must be unique across agents, flows and steps: {dupes}")
    subs = [s.name for s in all_subscriptions(found)]
    clash = sorted({n for n in subs if subs.count(n) > 1})
    if clash:
        raise ManifestError(f"subscription names must be unique (a lane '<agent>-<lane>' may not be another "
                            f"consumer's name): {clash}")
    return tuple(found)


def consumer(name: str, contracts_dir: Path = CONTRACTS_DIR) -> Consumer:
    for c in load_consumers(contracts_dir):
        if c.name == name:
            return c
    known = ", ".join(c.name for c in load_consumers(contracts_dir))
    raise ManifestError(f"unknown consumer '{name}'. Known consumers: {known}")


@cache
def load_entrypoints(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, tuple[str, ...]]:
    """``contracts/entrypoints.yaml``: publishers outside the mesh (cli, http-api, operator) and what
    each may publish."""
    path = contracts_dir / "entrypoints.yaml"
    if not path.exists():
        return {}
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ManifestError(f"{path}: expected a mapping of source name to the event types it may publish")
    return {str(source): _names(doc, source, path) for source in doc}


#: the triggers ``functions/servicebus.py`` registers, derived from the manifests by ``factory generate``
#: (read with ``json`` at import: ``import function_app`` loads neither YAML nor this module)
TRIGGER_INDEX = Path("functions") / "triggers.json"


def render_trigger_index(consumers: Sequence[Consumer]) -> str:
    """The content of ``functions/triggers.json``: one entry per subscription, in manifest order."""
    doc = {
        "generatedBy": "factory generate (from contracts/agents, contracts/flows, contracts/steps); do not edit",
        "triggers": [{"kind": s.consumer.kind, "name": s.consumer.name, "subscription": s.name,
                      "functionName": s.function_name, "description": _description(s)}
                     for s in all_subscriptions(consumers)],
    }
    return json.dumps(doc, indent=2) + "\n"


def _description(s: Subscription) -> str:
    c = s.consumer
    text = c.description or f"{c.kind} {c.name}"
    return text if s.lane is None else f"{text} (lane {s.lane}: {', '.join(s.event_types)})"
