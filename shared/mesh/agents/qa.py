"""qa-engineer: the generated service's pytest suite (rendered by ``shared.generators.service.tests``).

The tests call the generated functions directly with ``azure.functions.HttpRequest`` objects
and ``ServiceBusMessage`` objects (no Functions host) and assert status codes, RFC 9457 problem
bodies and the events published; see ``shared/generators/service/tests.py`` for what they cover.
The suite also carries ``<package>/samples.py`` (valid bodies and builders) and, at the
repository root, the files that test every service together.
"""

from __future__ import annotations

import re

from shared.generators.service.tests import (
    render_entity_tests,
    render_event_tests,
    render_fuzz_tests,
    render_registration_tests,
    render_repository_files,
    render_samples,
)
from shared.mesh.agents.project import find_service, project_blueprint, required
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillResult

PYTHON = "text/x-python; charset=utf-8"


def _count_tests(text: str) -> int:
    """Test functions in a generated module (pytest runs more cases: parametrized ones once per case)."""
    return len(re.findall(r"^def test_", text, flags=re.MULTILINE))


def write_tests(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    service_name = required(event.data, "service", event.type)
    blueprint, _ = project_blueprint(ctx)
    service = find_service(blueprint, service_name)
    root = f"services/{service.name}"
    files = {f"{root}/tests/test_{entity.collection}_api.py": render_entity_tests(blueprint, service, entity)
             for entity in service.entities}
    files[f"{root}/tests/test_routes_registered.py"] = render_registration_tests(blueprint, service)
    files[f"{root}/tests/test_fuzz.py"] = render_fuzz_tests(blueprint, service)
    events_in = render_event_tests(blueprint, service)
    if events_in is not None:
        files[f"{root}/tests/test_events_in.py"] = events_in
    tests = list(files)
    files[f"{root}/{service.package}/samples.py"] = render_samples(blueprint, service)
    files.update(render_repository_files(blueprint))
    artifacts = [Artifact.text(path, text, PYTHON if path.endswith(".py") else "text/plain; charset=utf-8")
                 for path, text in files.items()]
    payload = {
        "projectId": ctx.project_id,
        "service": service.name,
        "artifacts": [a.ref() for a in artifacts],
        "testCount": sum(_count_tests(files[path]) for path in tests),
    }
    return SkillResult(events=[Emit("TestSuiteGenerated", payload)], artifacts=artifacts)
