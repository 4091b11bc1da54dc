"""Error responses as RFC 9457 problem details (``application/problem+json``), and reading bodies safely.

Handlers raise :class:`Problem` (or let a pydantic ``ValidationError`` escape) and :func:`guarded`
turns it into the response. Every client mistake is a 4xx problem, never a 500:

* 400 a body that is not JSON, is nested deeper than ``MAX_DEPTH``, or uses ``NaN``/``Infinity``;
  a query parameter that is unknown or has a bad value
* 401 no authenticated caller (multi-tenant services)
* 404 an unknown id (also an id of another tenant)
* 409 a forbidden lifecycle transition, a duplicate of a unique value, a delete that is refused
* 413 a body larger than ``MAX_BODY_BYTES``
* 422 a body that does not match the model (one entry per field in ``errors``)
"""

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import azure.functions as func
from pydantic import ValidationError

PROBLEM_MEDIA_TYPE = "application/problem+json"
JSON_MEDIA_TYPE = "application/json"

#: defaults of the generated service (the intent stated no limit for them)
MAX_BODY_BYTES = 1_048_576
MAX_DEPTH = 32

Handler = Callable[[], func.HttpResponse]


class Problem(Exception):
    """An error the client can act on; ``errors`` lists field problems."""

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


def field_problem(status: int, field: str, message: str, kind: str) -> Problem:
    """A problem about one field (422 for a bad value, 409 for a conflict), naming the field."""
    return Problem(status, f"{field}: {message}", errors=[{"field": field, "message": message, "type": kind}])


def from_validation_error(exc: ValidationError) -> Problem:
    errors = [
        {"field": ".".join(str(part) for part in error["loc"]) or "(body)", "message": error["msg"],
         "type": error["type"]}
        for error in exc.errors(include_url=False, include_input=False)
    ]
    return Problem(422, "The request body does not match the expected shape; fix the listed fields.",
                   errors=errors)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(value: Any) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            return depth
        level = [child for item in level if isinstance(item, dict | list)
                 for child in (item.values() if isinstance(item, dict) else item)
                 if isinstance(child, dict | list)]
    return depth


def read_body(req: func.HttpRequest) -> bytes:
    """The request body as JSON bytes, after the size, syntax and depth checks (400/413 problems)."""
    raw = req.get_body()
    if len(raw) > MAX_BODY_BYTES:
        raise Problem(413, f"The request body has {len(raw)} bytes; the limit is {MAX_BODY_BYTES}.")
    if not raw:
        raise Problem(400, "The request body is empty; send a JSON object.")
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise Problem(400, f"The request body is nested too deeply; the limit is {MAX_DEPTH} levels.") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise Problem(400, f"The request body is not valid JSON: {exc}.") from exc
    if _depth(value) > MAX_DEPTH:
        raise Problem(400, f"The request body is nested too deeply; the limit is {MAX_DEPTH} levels.")
    return raw


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype=JSON_MEDIA_TYPE, headers=headers)


def guarded(req: func.HttpRequest, handler: Handler) -> func.HttpResponse:
    """Run ``handler`` and turn :class:`Problem` and ``ValidationError`` into problem responses."""
    try:
        return handler()
    except ValidationError as exc:
        return from_validation_error(exc).response(req.url)
    except Problem as problem:
        return problem.response(req.url)
