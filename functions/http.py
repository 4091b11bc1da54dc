"""HTTP API triggers: projects, artifacts, traces, template executions."""

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("http_create_project")
@bp.route(route="projects", methods=["POST"])
def create_project(req: func.HttpRequest) -> func.HttpResponse:
    from shared.api.http import create_project

    return create_project(req)


@bp.function_name("http_get_project")
@bp.route(route="projects/{id}", methods=["GET"])
def get_project(req: func.HttpRequest) -> func.HttpResponse:
    from shared.api.http import get_project

    return get_project(req)


@bp.function_name("http_get_artifact")
@bp.route(route="projects/{id}/artifacts/{*path}", methods=["GET"])
def get_artifact(req: func.HttpRequest) -> func.HttpResponse:
    from shared.api.http import get_artifact

    return get_artifact(req)


@bp.function_name("http_get_trace")
@bp.route(route="traces/{traceId}", methods=["GET"])
def get_trace(req: func.HttpRequest) -> func.HttpResponse:
    from shared.api.http import get_trace

    return get_trace(req)


@bp.function_name("http_execute_template")
@bp.route(route="templates/{templateId}/execute", methods=["POST"])
def execute_template(req: func.HttpRequest) -> func.HttpResponse:
    from shared.api.http import execute_template

    return execute_template(req)


@bp.function_name("http_get_execution")
@bp.route(route="executions/{id}", methods=["GET"])
def get_execution(req: func.HttpRequest) -> func.HttpResponse:
    from shared.api.http import get_execution

    return get_execution(req)
