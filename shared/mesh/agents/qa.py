"""qa-engineer: a pytest suite per entity covering every endpoint, good and bad input.

The tests call the generated functions directly with ``azure.functions.HttpRequest`` objects
(no Functions host) and assert status codes and RFC 9457 problem bodies: missing required
field, wrong type, unknown enum value, too long, below minimum, unknown field, malformed JSON,
unknown id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shared.generators.service.fieldtypes import below_minimum, other_value, relation_fields, sample_value
from shared.mesh.agents.project import find_service, project_blueprint, required
from shared.ports.skills import Artifact, Emit, IncomingEvent, SkillContext, SkillResult
from shared.product.blueprint import Entity, Service
from shared.product.intent import snake

WRONG_TYPE = {"unexpected": "object"}


@dataclass
class _Suite:
    lines: list[str] = field(default_factory=list)
    count: int = 0

    def test(self, name: str, body: list[str], cases: list[Any] | None = None, arg: str = "") -> None:
        self.lines += ["", ""]
        if cases is not None:
            if not cases:
                self.lines.pop()
                self.lines.pop()
                return
            self.lines.append(f'@pytest.mark.parametrize("{arg}", {_literal(cases)})')
            self.count += len(cases)
        else:
            self.count += 1
        signature = f"{arg}: str" if arg else ""
        self.lines += [f"def {name}({signature}) -> None:", *[f"    {line}" for line in body]]


def _literal(value: Any, indent: str = "") -> str:
    """A Python literal for a JSON value that keeps generated lines short (one item per line)."""
    if isinstance(value, dict) and value:
        inner = "".join(
            f"{indent}    {json.dumps(k)}: {_literal(v, indent + '    ')},\n" for k, v in value.items()
        )
        return "{\n" + inner + indent + "}"
    if isinstance(value, list) and len(repr(value)) > 60:
        inner = "".join(f"{indent}    {_literal(v, indent + '    ')},\n" for v in value)
        return "[\n" + inner + indent + "]"
    return repr(value)


def render_entity_tests(service: Service, entity: Entity) -> tuple[str, int]:
    pkg = service.package
    one = snake(entity.name)
    many = entity.plural.replace("-", "_")
    base = f"/api/{entity.plural}"
    valid = {f.name: sample_value(f) for f in entity.fields}
    required_fields = [f.name for f in entity.fields if f.required]
    all_fields = [f.name for f in entity.fields] + [n for n, _ in relation_fields(entity)]
    enum_fields = [f.name for f in entity.fields if f.type == "enum"]
    max_lengths = {f.name: f.max_length for f in entity.fields if f.max_length is not None}
    low_values = {f.name: v for f in entity.fields if (v := below_minimum(f)) is not None}
    changed = entity.fields[0]
    s = _Suite()
    s.lines = [
        f'"""API tests of {entity.plural} in {service.name} (generated from the service blueprint)."""',
        "",
        "import json",
        "from typing import Any",
        "",
        "import azure.functions as func",
        "import pytest",
        "",
        f"from {pkg} import routes",
        "",
        f"list_item = routes.list_{many}",
        f"create_item = routes.create_{one}",
        f"read_item = routes.read_{one}",
        f"update_item = routes.update_{one}",
        f"delete_item = routes.delete_{one}",
        "",
        f'BASE = "{base}"',
        f"VALID: dict[str, Any] = {_literal(valid)}",
        f"MAX_LENGTH: dict[str, int] = {_literal(max_lengths)}",
        f"BELOW_MINIMUM: dict[str, Any] = {_literal(low_values)}",
        "",
        "",
        "def _request(method: str, url: str, body: Any = None, *, raw: bytes | None = None,",
        "             item_id: str | None = None) -> func.HttpRequest:",
        '    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())',
        '    params = {"id": item_id} if item_id is not None else {}',
        "    return func.HttpRequest(method=method, url=url, body=data, route_params=params,",
        '                            headers={"Content-Type": "application/json"})',
        "",
        "",
        "def _json(response: func.HttpResponse) -> Any:",
        "    return json.loads(response.get_body())",
        "",
        "",
        "def _problem(response: func.HttpResponse, status: int) -> dict[str, Any]:",
        "    assert response.status_code == status, response.get_body()",
        '    assert response.mimetype == "application/problem+json"',
        "    body = _json(response)",
        '    assert body["status"] == status',
        '    assert body["title"] and body["type"]',
        "    return body",
        "",
        "",
        "def _field_errors(body: dict[str, Any], *, top_level: bool = False) -> list[str]:",
        '    fields = [error["field"] for error in body.get("errors", [])]',
        '    return [name.split(".")[0] for name in fields] if top_level else fields',
        "",
        "",
        "def _create(body: dict[str, Any] | None = None) -> dict[str, Any]:",
        '    response = create_item(_request("POST", BASE, VALID if body is None else body))',
        "    assert response.status_code == 201, response.get_body()",
        "    return _json(response)",
    ]
    s.test(
        f"test_list_{many}_starts_empty",
        [
            'response = list_item(_request("GET", BASE))',
            "assert response.status_code == 200",
            'assert _json(response) == {"items": [], "count": 0}',
        ],
    )
    s.test(
        f"test_create_{one}_returns_201_with_id_location_and_fields",
        [
            'response = create_item(_request("POST", BASE, VALID))',
            "assert response.status_code == 201",
            "created = _json(response)",
            'assert created["id"]',
            'assert response.headers["Location"] == f"{BASE}/{created[\'id\']}"',
            "for name, value in VALID.items():",
            "    assert created[name] == value, name",
        ],
    )
    s.test(
        f"test_list_{many}_returns_created_items",
        [
            "first, second = _create(), _create()",
            'body = _json(list_item(_request("GET", BASE)))',
            'assert body["count"] == 2',
            'assert sorted(item["id"] for item in body["items"]) == sorted([first["id"], second["id"]])',
        ],
    )
    s.test(
        f"test_create_{one}_without_required_field_is_422",
        [
            "body = {key: value for key, value in VALID.items() if key != field}",
            'problem = _problem(create_item(_request("POST", BASE, body)), 422)',
            "assert field in _field_errors(problem)",
        ],
        required_fields,
        "field",
    )
    s.test(
        f"test_create_{one}_with_wrong_type_is_422",
        [
            f"body = {{**VALID, field: {WRONG_TYPE!r}}}",
            'problem = _problem(create_item(_request("POST", BASE, body)), 422)',
            "assert field in _field_errors(problem, top_level=True)",
        ],
        all_fields,
        "field",
    )
    s.test(
        f"test_create_{one}_with_unknown_enum_value_is_422",
        [
            'body = {**VALID, field: "not-an-allowed-value"}',
            'problem = _problem(create_item(_request("POST", BASE, body)), 422)',
            "assert field in _field_errors(problem)",
        ],
        enum_fields,
        "field",
    )
    s.test(
        f"test_create_{one}_with_too_long_value_is_422",
        [
            'body = {**VALID, field: "x" * (MAX_LENGTH[field] + 1)}',
            'problem = _problem(create_item(_request("POST", BASE, body)), 422)',
            "assert field in _field_errors(problem)",
        ],
        sorted(max_lengths),
        "field",
    )
    s.test(
        f"test_create_{one}_below_minimum_is_422",
        [
            "body = {**VALID, field: BELOW_MINIMUM[field]}",
            'problem = _problem(create_item(_request("POST", BASE, body)), 422)',
            "assert field in _field_errors(problem)",
        ],
        sorted(low_values),
        "field",
    )
    s.test(
        f"test_create_{one}_with_unknown_field_is_422",
        [
            'body = {**VALID, "notAField": 1}',
            'problem = _problem(create_item(_request("POST", BASE, body)), 422)',
            'assert "notAField" in _field_errors(problem)',
        ],
    )
    s.test(
        f"test_create_{one}_with_malformed_json_is_400",
        [
            '_problem(create_item(_request("POST", BASE, raw=b"{not json")), 400)',
        ],
    )
    s.test(
        f"test_create_{one}_with_empty_body_is_400",
        [
            '_problem(create_item(_request("POST", BASE, raw=b"")), 400)',
        ],
    )
    s.test(
        f"test_create_{one}_with_a_json_array_is_422",
        [
            '_problem(create_item(_request("POST", BASE, [VALID])), 422)',
        ],
    )
    s.test(
        f"test_read_{one}_returns_the_stored_item",
        [
            "created = _create()",
            'item_id = created["id"]',
            'response = read_item(_request("GET", f"{BASE}/{item_id}", item_id=item_id))',
            "assert response.status_code == 200",
            "assert _json(response) == created",
        ],
    )
    s.test(
        f"test_read_unknown_{one}_is_404",
        [
            '_problem(read_item(_request("GET", f"{BASE}/missing", item_id="missing")), 404)',
        ],
    )
    s.test(
        f"test_update_{one}_changes_only_the_fields_sent",
        [
            "created = _create()",
            f"change = {{{json.dumps(changed.name)}: {other_value(changed)!r}}}",
            'response = update_item(_request("PATCH", BASE, change, item_id=created["id"]))',
            "assert response.status_code == 200, response.get_body()",
            "assert _json(response) == {**created, **change}",
            'stored = _json(read_item(_request("GET", BASE, item_id=created["id"])))',
            "assert stored == {**created, **change}",
        ],
    )
    s.test(
        f"test_update_{one}_with_wrong_type_is_422",
        [
            "created = _create()",
            f"change = {{{json.dumps(changed.name)}: {WRONG_TYPE!r}}}",
            'request = _request("PATCH", BASE, change, item_id=created["id"])',
            "problem = _problem(update_item(request), 422)",
            f"assert {json.dumps(changed.name)} in _field_errors(problem, top_level=True)",
        ],
    )
    s.test(
        f"test_update_{one}_with_malformed_json_is_400",
        [
            "created = _create()",
            'request = _request("PATCH", BASE, raw=b"[oops", item_id=created["id"])',
            "_problem(update_item(request), 400)",
        ],
    )
    s.test(
        f"test_update_unknown_{one}_is_404",
        [
            f"change = {{{json.dumps(changed.name)}: {other_value(changed)!r}}}",
            '_problem(update_item(_request("PATCH", BASE, change, item_id="missing")), 404)',
        ],
    )
    s.test(
        f"test_delete_{one}_returns_204_then_read_is_404",
        [
            "created = _create()",
            'response = delete_item(_request("DELETE", BASE, item_id=created["id"]))',
            "assert response.status_code == 204",
            '_problem(read_item(_request("GET", BASE, item_id=created["id"])), 404)',
        ],
    )
    s.test(
        f"test_delete_unknown_{one}_is_404",
        [
            '_problem(delete_item(_request("DELETE", BASE, item_id="missing")), 404)',
        ],
    )
    return "\n".join(s.lines) + "\n", s.count


def render_registration_tests(service: Service) -> tuple[str, int]:
    """One test that the app registers every route with function-level auth (health excepted)."""
    expected = sorted(
        {
            (f"{e.plural}{suffix}", method)
            for e in service.entities
            for suffix, method in (
                ("", "GET"),
                ("", "POST"),
                ("/{id}", "GET"),
                ("/{id}", "PATCH"),
                ("/{id}", "DELETE"),
            )
        }
    )
    text = "\n".join(
        [
            f'"""{service.name} registers every route with a function key (generated from the blueprint)."""',
            "",
            "from typing import Any",
            "",
            f"EXPECTED = {_literal([list(pair) for pair in expected])}",
            "",
            "",
            "def test_every_route_is_registered_with_function_auth(app_functions: dict[str, Any]) -> None:",
            "    seen = []",
            "    for function in app_functions.values():",
            "        trigger = function.get_trigger()",
            '        if trigger.route == "health":',
            "            continue",
            '        assert str(trigger.auth_level).lower().endswith("function"), trigger.route',
            "        for method in trigger.methods:",
            "            seen.append([trigger.route, str(method).split('.')[-1].upper()])",
            "    assert sorted(seen) == EXPECTED",
            "",
        ]
    )
    return text, 1


def write_tests(event: IncomingEvent, ctx: SkillContext) -> SkillResult:
    service_name = required(event.data, "service", event.type)
    blueprint, _ = project_blueprint(ctx)
    service = find_service(blueprint, service_name)
    artifacts: list[Artifact] = []
    total = 0
    for entity in service.entities:
        text, count = render_entity_tests(service, entity)
        artifacts.append(
            Artifact.text(
                f"services/{service.name}/tests/test_{entity.plural.replace('-', '_')}_api.py",
                text,
                "text/x-python; charset=utf-8",
            )
        )
        total += count
    text, count = render_registration_tests(service)
    artifacts.append(
        Artifact.text(
            f"services/{service.name}/tests/test_routes_registered.py", text, "text/x-python; charset=utf-8"
        )
    )
    total += count
    return SkillResult(
        events=[
            Emit(
                "TestSuiteGenerated",
                {
                    "projectId": ctx.project_id,
                    "service": service.name,
                    "artifacts": [a.ref() for a in artifacts],
                    "testCount": total,
                },
            )
        ],
        artifacts=artifacts,
    )
