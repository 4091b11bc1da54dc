"""HTTP triggers, one per route in ``shared/api/routes.py``: the API (projects, artifacts, traces, templates,
dead letters, approval) and Studio's pages (under ``/api/studio`` on Azure)."""

from __future__ import annotations

from collections.abc import Callable

import azure.functions as func

from shared.api.routes import ROUTES, STUDIO_ROUTES, HttpRoute

bp = func.Blueprint()


def _trigger_for(route: HttpRoute) -> Callable[[func.HttpRequest], func.HttpResponse]:
    def trigger(req: func.HttpRequest) -> func.HttpResponse:
        # loaded on the first request: keeps `import function_app` fast (the API pulls in the runtime)
        if route.module == "studio":
            from shared.studio import pages as module
        else:
            from shared.api import http as module  # type: ignore[no-redef]

        handler: Callable[[func.HttpRequest], func.HttpResponse] = getattr(module, route.handler)
        return handler(req)

    trigger.__name__ = trigger.__qualname__ = route.function_name
    return trigger


for _route in (*ROUTES, *STUDIO_ROUTES):
    bp.function_name(_route.function_name)(
        bp.route(route=_route.route, methods=list(_route.methods))(_trigger_for(_route)))
