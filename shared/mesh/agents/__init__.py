"""The agents' skills. Each agent manifest (``contracts/agents/<id>.yaml``) maps the event types it
subscribes to onto skill names ``<module>.<function>``: ``vision.write_vision`` is
``write_vision`` in ``shared/mesh/agents/vision.py``. Adding an agent is its manifest and its
skill module; nothing else names it.

Skills are pure: same input, same bytes. They read through the ``SkillContext`` and return events
and artifacts; the pipeline does every write.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from shared.contracts.manifests import SKILL_NAME, Consumer, ManifestError
from shared.ports.skills import Skill


def resolve_skill(name: str, *, where: str = "") -> Skill:
    """The function a skill name names; ``ManifestError`` says what is missing and where to add it."""
    if not SKILL_NAME.fullmatch(name):
        raise ManifestError(f"{where}{name!r} is not a skill name; write module.function")
    module_name, function = name.split(".")
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")  # a skill module is found by its name
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{module_name}":
            raise
        raise ManifestError(f"{where}skill {name!r}: there is no module shared/mesh/agents/{module_name}.py") from exc
    skill = getattr(module, function, None)
    if not callable(skill):
        raise ManifestError(f"{where}skill {name!r}: shared/mesh/agents/{module_name}.py has no function {function}")
    return skill  # type: ignore[no-any-return]


def skills_of(agent: Consumer) -> dict[str, Skill]:
    """Incoming event type -> skill, for one agent, every name resolved (fails at start, not mid-run)."""
    return {event: resolve_skill(name, where=f"{agent.source_file}: subscribesTo.{event}: ")
            for event, name in agent.skills.items()}


def skill_table(consumers: Iterable[Consumer]) -> dict[str, dict[str, Skill]]:
    """agent id -> (event type -> skill) for every agent among ``consumers``."""
    return {c.name: skills_of(c) for c in consumers if c.kind == "agent"}
