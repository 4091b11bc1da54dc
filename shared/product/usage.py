"""A project's model usage, read from its events: calls, tokens, cost by agent, degradations, budget.

Every model call emits ``SkillUsed`` (``shared/mesh/agents/assist.py``); this sums them for people: the
``factory run`` summary, ``GET /api/projects/{id}`` and Studio's project page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def model_usage(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``{calls, promptTokens, completionTokens, costUsd, byAgent, models, degraded, budgetExceeded}``."""
    calls = prompt = completion = 0
    cost = 0.0
    priced = True
    by_agent: dict[str, dict[str, Any]] = {}
    models: set[str] = set()
    degraded: list[dict[str, Any]] = []
    budget: str | None = None
    for event in events:
        data = event.get("data") or {}
        if event.get("type") == "SkillUsed":
            calls += 1
            prompt += int(data.get("promptTokens", 0))
            completion += int(data.get("completionTokens", 0))
            models.add(str(data.get("model")))
            if data.get("costUsd") is None:
                priced = False
            cost += float(data.get("costUsd") or 0.0)
            row = by_agent.setdefault(str(data.get("agent")), {"calls": 0, "costUsd": 0.0, "invalid": 0})
            row["calls"] += 1
            row["costUsd"] = round(row["costUsd"] + float(data.get("costUsd") or 0.0), 8)
            row["invalid"] += data.get("outcome") != "valid"
        elif event.get("type") == "SkillDegraded":
            degraded.append({"agent": data.get("agent"), "skill": data.get("skill"), "reason": data.get("reason")})
        elif event.get("type") == "BudgetExceeded":
            budget = str(data.get("summary"))
    return {"calls": calls, "promptTokens": prompt, "completionTokens": completion,
            "costUsd": round(cost, 6) if priced else None, "byAgent": by_agent, "models": sorted(models),
            "degraded": degraded, "budgetExceeded": budget}
