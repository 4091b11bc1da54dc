"""Consumers of the topic, read from the manifests in ``contracts/``.

Three kinds of consumer each get one Service Bus subscription and one triggered function:
agents (``contracts/agents/*.yaml``), coordinators (``contracts/flows/*.yaml``) and scaffold
steps (``contracts/steps/*.yaml``). The subscription's SQL filter is generated here, so the
Bicep, the Service Bus emulator config, the embedded bus and the function registrations all
agree by construction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
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

    @property
    def subscription(self) -> str:
        """Service Bus subscription name (≤ 50 chars, same as the consumer name)."""
        return self.name

    @property
    def function_name(self) -> str:
        return f"{self.kind}_{self.name.replace('-', '_')}"

    @property
    def sql_filter(self) -> str:
        """The Service Bus SQL filter for this consumer's subscription."""
        addressed = self.kind == "coordinator" and TIMEOUT_EVENT in self.subscribes_to
        types = ", ".join(f"'{t}'" for t in sorted(self.subscribes_to) if not (addressed and t == TIMEOUT_EVENT))
        expr = f"type IN ({types})"
        if self.kind == "agent":
            expr = f"({expr} OR (type = '{RETRY_COMMAND}' AND targetAgent = '{self.name}'))"
        elif addressed:
            expr = f"({expr} OR (type = '{TIMEOUT_EVENT}' AND {TIMEOUT_TARGET} = '{self.name}'))"
        if self.tenant_scope:
            expr = f"{expr} AND tenantId = '{self.tenant_scope}'"
        return expr


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
    if len(name) > 50:
        raise ManifestError(f"{path}: id '{name}' is longer than 50 characters (Service Bus limit)")
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
    """The content of ``functions/triggers.json``: one entry per consumer, in manifest order."""
    doc = {
        "generatedBy": "factory generate (from contracts/agents, contracts/flows, contracts/steps); do not edit",
        "triggers": [{"kind": c.kind, "name": c.name, "subscription": c.subscription,
                      "functionName": c.function_name, "description": c.description or f"{c.kind} {c.name}"}
                     for c in consumers],
    }
    return json.dumps(doc, indent=2) + "\n"
