"""The health endpoint answers without a key and the app registers it."""

import json
from typing import Any

import azure.functions as func

from sample_service.health import health


def test_health_reports_ok_with_the_service_name() -> None:
    response = health(func.HttpRequest(method="GET", url="/api/health", body=b""))

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert json.loads(response.get_body()) == {"status": "ok", "service": "sample-service"}


def test_function_app_registers_the_health_route_as_anonymous(app_functions: dict[str, Any]) -> None:
    trigger = app_functions["health"].get_trigger()

    assert trigger.route == "health"
    assert str(trigger.auth_level).lower().endswith("anonymous")
