"""The HTTP API's route table: the one list ``functions/http.py`` registers and ``factory host`` serves.

Kept free of heavy imports (``import function_app`` reads it): each route names its handler in
``shared/api/http.py`` by function name, and the trigger loads that module on the first request.
Route templates use the Functions syntax (``{id}``, ``{*path}`` for the rest of the path).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HttpRoute:
    function_name: str
    route: str
    methods: tuple[str, ...]
    handler: str  # a function of shared/api/http.py taking an HttpRequest


ROUTES: tuple[HttpRoute, ...] = (
    HttpRoute("http_create_project", "projects", ("POST",), "create_project"),
    HttpRoute("http_get_project", "projects/{id}", ("GET",), "get_project"),
    HttpRoute("http_get_artifact", "projects/{id}/artifacts/{*path}", ("GET",), "get_artifact"),
    HttpRoute("http_get_trace", "traces/{traceId}", ("GET",), "get_trace"),
    HttpRoute("http_execute_template", "templates/{templateId}/execute", ("POST",), "execute_template"),
    HttpRoute("http_get_execution", "executions/{id}", ("GET",), "get_execution"),
)
