"""The HTTP API's route table: the one list ``functions/http.py`` registers and ``factory host`` serves.

Kept free of heavy imports (``import function_app`` reads it): each route names its handler by
function name in ``shared/api/http.py`` (``module="api"``) or ``shared/studio/pages.py``
(``module="studio"``), and the trigger loads that module on the first request. Route templates use
the Functions syntax (``{id}``, ``{*path}`` for the rest of the path). Studio's routes start with
``studio``: on Azure the pages are at ``/api/studio``, and ``factory host`` also serves them at ``/``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HttpRoute:
    function_name: str
    route: str
    methods: tuple[str, ...]
    handler: str  # a function of the module taking an HttpRequest
    module: str = "api"  # "api": shared/api/http.py, "studio": shared/studio/pages.py


ROUTES: tuple[HttpRoute, ...] = (
    HttpRoute("http_health", "health", ("GET",), "get_health"),
    HttpRoute("http_list_projects", "projects", ("GET",), "list_projects"),
    HttpRoute("http_create_project", "projects", ("POST",), "create_project"),
    HttpRoute("http_get_project", "projects/{id}", ("GET",), "get_project"),
    HttpRoute("http_get_project_flows", "projects/{id}/flows", ("GET",), "get_project_flows"),
    HttpRoute("http_get_draft", "projects/{id}/draft", ("GET",), "get_draft"),
    HttpRoute("http_confirm_draft", "projects/{id}/confirm", ("POST",), "confirm_project_draft"),
    HttpRoute("http_decide_approval", "projects/{id}/approval", ("POST",), "decide_approval"),
    HttpRoute("http_get_artifact", "projects/{id}/artifacts/{*path}", ("GET",), "get_artifact"),
    HttpRoute("http_get_trace", "traces/{traceId}", ("GET",), "get_trace"),
    HttpRoute("http_get_trace_waterfall", "traces/{traceId}/waterfall", ("GET",), "get_trace_waterfall"),
    HttpRoute("http_list_flows", "flows", ("GET",), "list_flows"),
    HttpRoute("http_get_topology", "topology", ("GET",), "get_topology"),
    HttpRoute("http_list_dead_letters", "deadletters", ("GET",), "list_dead_letters"),
    HttpRoute("http_resubmit_dead_letter", "deadletters/{subscription}/{sequence}/resubmit", ("POST",),
              "resubmit_dead_letter"),
    HttpRoute("http_list_templates", "templates", ("GET",), "list_templates"),
    HttpRoute("http_execute_template", "templates/{templateId}/execute", ("POST",), "execute_template"),
    HttpRoute("http_get_execution", "executions/{id}", ("GET",), "get_execution"),
)

#: Studio: server-rendered pages over the same ports (``factory host`` serves them at ``/`` too)
STUDIO_ROUTES: tuple[HttpRoute, ...] = (
    HttpRoute("studio_projects", "studio", ("GET",), "projects_page", "studio"),
    HttpRoute("studio_projects_live", "studio/live/projects", ("GET",), "projects_live", "studio"),
    HttpRoute("studio_start_project", "studio/projects", ("POST",), "start_project_form", "studio"),
    HttpRoute("studio_submit_draft", "studio/drafts", ("POST",), "submit_draft_form", "studio"),
    HttpRoute("studio_draft", "studio/drafts/{id}", ("GET",), "draft_page", "studio"),
    HttpRoute("studio_confirm_draft", "studio/drafts/{id}/confirm", ("POST",), "confirm_draft_form", "studio"),
    HttpRoute("studio_project", "studio/projects/{id}", ("GET",), "project_page", "studio"),
    HttpRoute("studio_project_live", "studio/live/projects/{id}", ("GET",), "project_live", "studio"),
    HttpRoute("studio_approval", "studio/projects/{id}/approval", ("POST",), "approval_form", "studio"),
    HttpRoute("studio_artifact", "studio/projects/{id}/files/{*path}", ("GET",), "artifact_page", "studio"),
    HttpRoute("studio_archive", "studio/projects/{id}/archive", ("GET",), "archive", "studio"),
    HttpRoute("studio_trace", "studio/traces/{traceId}", ("GET",), "trace_page", "studio"),
    HttpRoute("studio_dead_letters", "studio/deadletters", ("GET",), "dead_letters_page", "studio"),
    HttpRoute("studio_resubmit", "studio/deadletters/{subscription}/{sequence}/resubmit", ("POST",),
              "resubmit_form", "studio"),
    HttpRoute("studio_topology", "studio/topology", ("GET",), "topology_page", "studio"),
    HttpRoute("studio_templates", "studio/templates", ("GET",), "templates_page", "studio"),
    HttpRoute("studio_static", "studio/static/{*path}", ("GET",), "static_file", "studio"),
)
