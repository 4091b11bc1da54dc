"""HTTP API triggers, one per route in ``shared/api/routes.py`` (projects, artifacts, traces, templates)."""

from __future__ import annotations

from collections.abc import Callable

import azure.functions as func

from shared.api.routes import ROUTES, HttpRoute

bp = func.Blueprint()


def _trigger_for(route: HttpRoute) -> Callable[[func.HttpRequest], func.HttpResponse]:
    def trigger(req: func.HttpRequest) -> func.HttpResponse:
        # loaded on the first request: keeps `import function_app` fast (the API pulls in the runtime)
        from shared.api import http

        handler: Callable[[func.HttpRequest], func.HttpResponse] = getattr(http, route.handler)
        return handler(req)

    trigger.__name__ = trigger.__qualname__ = route.function_name
    return trigger


for _route in ROUTES:
    bp.function_name(_route.function_name)(
        bp.route(route=_route.route, methods=list(_route.methods))(_trigger_for(_route)))
