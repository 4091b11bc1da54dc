"""Error responses as RFC 9457 problem details (``application/problem+json``).

Handlers raise :class:`Problem` (or let a pydantic ``ValidationError`` escape) and the
:func:`guarded` wrapper turns it into the response: 400 for a body that is not JSON, 404 for an
unknown id, 422 for a body that does not match the model (with one entry per field error).
"""

import functools
import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import azure.functions as func
from pydantic import ValidationError

PROBLEM_MEDIA_TYPE = "application/problem+json"
JSON_MEDIA_TYPE = "application/json"

Handler = Callable[[func.HttpRequest], func.HttpResponse]


class Problem(Exception):
    """An error the client can act on; ``errors`` lists field problems for 422 responses."""

    def __init__(self, status: int, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []

    def to_body(self, instance: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        return body

    def response(self, instance: str = "") -> func.HttpResponse:
        return func.HttpResponse(json.dumps(self.to_body(instance)), status_code=self.status,
                                 mimetype=PROBLEM_MEDIA_TYPE)


def not_found(kind: str, item_id: str) -> Problem:
    return Problem(404, f"{kind} {item_id!r} does not exist; list the collection to see the existing ids.")


def from_validation_error(exc: ValidationError) -> Problem:
    errors = [
        {"field": ".".join(str(part) for part in error["loc"]) or "(body)", "message": error["msg"],
         "type": error["type"]}
        for error in exc.errors(include_url=False)
    ]
    return Problem(422, "The request body does not match the expected shape; fix the listed fields.",
                   errors=errors)


def read_json(req: func.HttpRequest) -> Any:
    """The request body as JSON, or a 400 problem saying why it could not be read."""
    raw = req.get_body()
    if not raw:
        raise Problem(400, "The request body is empty; send a JSON object.")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Problem(400, f"The request body is not valid JSON: {exc}.") from exc


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype=JSON_MEDIA_TYPE, headers=headers)


def guarded(handler: Handler) -> Handler:
    """Turn :class:`Problem` and ``ValidationError`` raised by ``handler`` into problem responses."""

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return handler(req)
        except ValidationError as exc:
            return from_validation_error(exc).response(req.url)
        except Problem as problem:
            return problem.response(req.url)

    return wrapper
