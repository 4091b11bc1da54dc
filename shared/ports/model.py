"""The model port: a chat model that answers a prompt with JSON for a schema.

A model-backed skill never calls a model itself: it asks through ``SkillContext.model`` (a
:class:`ModelAccess`: the client, the price table, the project's budget and the values to mask),
and ``shared/mesh/agents/assist.py`` validates the answer against the same pydantic model the
deterministic skill returns, runs a bounded repair round, and falls back to the deterministic skill.

Adapters: ``shared/adapters/openai/`` (Azure OpenAI through the ``openai`` SDK's Azure client with an
Entra ID token, or any OpenAI-compatible endpoint) and ``shared/adapters/recorded/`` (records answers
to a folder, or replays them with no network). ``request_key`` is the one definition of which
recorded answer belongs to which request: the hash of (skill, model, prompt).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class ModelRequest:
    """One call: who asks (``agent``, ``skill``), the conversation, and the JSON schema of the answer."""

    agent: str
    skill: str
    messages: tuple[ChatMessage, ...]
    schema_name: str
    schema: Mapping[str, Any]
    max_tokens: int = 4096

    def prompt(self) -> dict[str, Any]:
        """What the model is sent besides the model name: the messages and the answer's schema."""
        return {"messages": [asdict(m) for m in self.messages],
                "responseFormat": {"name": self.schema_name, "schema": dict(self.schema)},
                "maxTokens": self.max_tokens}


def request_key(request: ModelRequest, model: str) -> str:
    """The hash of (skill, model, prompt): the name of a recorded answer. Same request, same key."""
    canonical = json.dumps({"skill": request.skill, "model": model, "prompt": request.prompt()},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ModelUsage:
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float


@dataclass(frozen=True)
class ModelAnswer:
    """The model's reply: the message content (JSON text when all went well) and what it cost."""

    content: str
    model: str
    usage: ModelUsage
    finish_reason: str = "stop"


ModelFailure = Literal["refused", "content-filter", "permanent", "transient", "not-recorded"]


class ModelError(Exception):
    """A call that produced no usable answer. ``permanent``: asking again cannot help.

    ``kind``: ``refused`` (the model declined), ``content-filter`` (the service's filter blocked the prompt
    or the answer), ``permanent`` (authentication, a missing deployment, a bad request, no quota),
    ``transient`` (rate limits, 5xx, timeouts: retried with back-off, then reported),
    ``not-recorded`` (a replay has no answer for this request). ``usage`` is set when the call was billed.
    """

    def __init__(self, message: str, *, kind: ModelFailure, usage: ModelUsage | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.usage = usage

    @property
    def permanent(self) -> bool:
        return self.kind != "transient"


class ModelClient(Protocol):
    """A chat model that answers with JSON (structured outputs)."""

    @property
    def model(self) -> str:
        """The model (or Azure deployment) name: the price table's key and part of a recording's key."""
        ...

    def describe(self) -> str:
        """One line for people: which model, where (no secrets)."""
        ...

    def complete(self, request: ModelRequest) -> ModelAnswer:
        """Answer ``request``; raise :class:`ModelError` when no answer can be had."""
        ...


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input_per_million: float
    output_per_million: float

    def cost(self, usage: ModelUsage) -> float:
        return round(usage.prompt_tokens * self.input_per_million / 1e6
                     + usage.completion_tokens * self.output_per_million / 1e6, 8)


@dataclass(frozen=True)
class ModelAccess:
    """What a skill's context offers for model calls (``None`` on the context: no model configured).

    ``skills``: the skills allowed to use the model (empty: all). ``sensitive``: values of this handling's
    inputs that the contracts declare sensitive; they are masked in what is sent and what is stored.
    """

    client: ModelClient
    prices: Mapping[str, Price] = field(default_factory=dict)
    budget_usd: float | None = None
    repair_rounds: int = 1
    max_tokens: int = 4096
    skills: frozenset[str] = frozenset()
    sensitive: tuple[str, ...] = ()

    def enabled_for(self, skill: str) -> bool:
        return not self.skills or skill in self.skills

    def price(self) -> Price | None:
        return self.prices.get(self.client.model)
