"""Helpers for the generated tests: requests as the Functions host builds them, captured events.

``call(handler, method, url, body=..., tenant=...)`` builds a real ``azure.functions.HttpRequest``
(with the caller's tenant in the ``x-ms-client-principal`` header Easy Auth would set) and calls
the function; write functions get a :class:`CapturedOut` standing in for their Service Bus output
binding, so a test can read the events the function published.
"""

import json
import uuid
from collections.abc import Callable
from typing import Any

import azure.functions as func
from azure.functions.servicebus import ServiceBusMessage  # the class the worker builds for a trigger

from sample_service.tenancy import principal_header


class CapturedOut(func.Out[str]):
    """An output binding that keeps what the function set (what the host would send to Service Bus)."""

    def __init__(self) -> None:
        self.value: str | None = None

    def set(self, val: str) -> None:
        self.value = val

    def get(self) -> str:
        return self.value or ""

    def events(self) -> list[dict[str, Any]]:
        return json.loads(self.value) if self.value else []


def request(method: str, url: str, body: Any = None, *, raw: bytes | None = None, item_id: str | None = None,
            params: dict[str, str] | None = None, tenant: str | None = None) -> func.HttpRequest:
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    headers = {"Content-Type": "application/json", **(principal_header(tenant) if tenant else {})}
    return func.HttpRequest(method=method, url=url, body=data, params=params or {},
                            route_params={"id": item_id} if item_id is not None else {}, headers=headers)


def call(handler: Callable[..., func.HttpResponse], method: str, url: str, body: Any = None, *,
         out: CapturedOut | None = None, **kwargs: Any) -> func.HttpResponse:
    """Call an HTTP function the way the host does (write functions also get their output binding)."""
    req = request(method, url, body, **kwargs)
    if method in ("POST", "PATCH", "DELETE"):
        return handler(req, out if out is not None else CapturedOut())
    return handler(req)


def body_of(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


def problem(response: func.HttpResponse, status: int) -> dict[str, Any]:
    """The problem+json body of a response that must have ``status``."""
    assert response.status_code == status, (response.status_code, response.get_body()[:2000])
    assert response.mimetype == "application/problem+json"
    body = body_of(response)
    assert body["status"] == status and body["title"] and body["type"]
    return body


def error_fields(body: dict[str, Any], *, top_level: bool = False) -> list[str]:
    fields = [str(error["field"]) for error in body.get("errors", [])]
    return [name.split(".")[0] for name in fields] if top_level else fields


def service_bus_message(events: list[dict[str, Any]] | None = None, *, raw: bytes | None = None
                        ) -> func.ServiceBusMessage:
    """A Service Bus message as the trigger receives it, carrying a CloudEvents batch (or ``raw`` bytes)."""
    body = raw if raw is not None else json.dumps(events or []).encode()
    return ServiceBusMessage(body=body, content_type="application/cloudevents-batch+json",
                             message_id=str(uuid.uuid4()), application_properties={}, user_properties={},
                             delivery_count=1)


def deliver(published: CapturedOut, on_events: Callable[[func.ServiceBusMessage, func.Out[str]], None]
            ) -> CapturedOut:
    """What the topic does: hand the batch a function published to a subscriber's trigger."""
    out = CapturedOut()
    if published.value:
        on_events(service_bus_message(raw=published.value.encode()), out)
    return out
