"""Liveness endpoint: ``GET /api/health`` (anonymous, so load balancers can call it)."""

import azure.functions as func

from sample_service import SERVICE_NAME
from sample_service.problems import json_response

bp = func.Blueprint()


def health(req: func.HttpRequest) -> func.HttpResponse:
    return json_response({"status": "ok", "service": SERVICE_NAME})


bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)(health)
