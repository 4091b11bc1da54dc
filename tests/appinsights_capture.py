"""A local stand-in for the Application Insights ingestion endpoint, for the real azure-monitor exporter.

Point the exporter at it with ``CaptureServer.connection_string`` (``IngestionEndpoint=http://127.0.0.1:PORT/``).
It answers like the service: ``POST /v2.1/track`` (a JSON array of envelopes, sent uncompressed) gets
``{"itemsReceived": n, "itemsAccepted": n, "errors": []}``; it keeps every envelope it received.
Built on werkzeug; the exporter's request line has a double slash (``//v2.1/track``), which werkzeug folds.

``QUIET_EXPORTER_ENV`` switches off what the distro would otherwise send elsewhere (statsbeat to Microsoft,
the control plane, the Azure VM metadata probe): with it the capture server is the only endpoint contacted.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

INSTRUMENTATION_KEY = "00000000-0000-0000-0000-000000000000"

QUIET_EXPORTER_ENV = {
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    "APPLICATIONINSIGHTS_OPENTELEMETRY_RESOURCE_METRIC_DISABLED": "true",
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "azure_app_service",  # no probe of 169.254.169.254
}

SPAN_TYPES = ("RequestData", "RemoteDependencyData")


class CaptureServer:
    """Records the envelopes the exporter posts to ``/v2.1/track``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per export
        self._envelopes: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        self._server = make_server(host, 0, self._app, threaded=True)
        self.url = f"http://{host}:{self._server.server_port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="appinsights-capture", daemon=True)

    @Request.application  # type: ignore[misc]
    def _app(self, request: Request) -> Response:
        raw = request.get_data()
        if request.headers.get("Content-Encoding", "").lower() == "gzip":
            raw = gzip.decompress(raw)
        with self._lock:
            self.paths.append(request.path)
        if not request.path.endswith("/track"):
            return Response("{}", mimetype="application/json")
        body = json.loads(raw) if raw else []
        items = body if isinstance(body, list) else [body]
        with self._lock:
            self._envelopes.extend(items)
        return Response(json.dumps({"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}),
                        mimetype="application/json")

    @property
    def connection_string(self) -> str:
        return f"InstrumentationKey={INSTRUMENTATION_KEY};IngestionEndpoint={self.url}"

    def envelopes(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._envelopes)


@contextmanager
def capture_server() -> Iterator[CaptureServer]:
    server = CaptureServer()
    server._thread.start()
    try:
        yield server
    finally:
        server._server.shutdown()
        server._thread.join(5)


# ----------------------------------------------------------------------------- reading envelopes


def base_type(envelope: dict[str, Any]) -> str:
    return str(envelope.get("data", {}).get("baseType", ""))


def item_id(envelope: dict[str, Any]) -> str | None:
    value = envelope.get("data", {}).get("baseData", {}).get("id")
    return str(value) if value else None


def operation_id(envelope: dict[str, Any]) -> str | None:
    return envelope.get("tags", {}).get("ai.operation.id")


def parent_id(envelope: dict[str, Any]) -> str | None:
    return envelope.get("tags", {}).get("ai.operation.parentId")


def name(envelope: dict[str, Any]) -> str:
    base = envelope.get("data", {}).get("baseData", {})
    return str(base.get("name") or base.get("message") or "")


def properties(envelope: dict[str, Any]) -> dict[str, Any]:
    return dict(envelope.get("data", {}).get("baseData", {}).get("properties") or {})


@dataclass(frozen=True)
class TreeCheck:
    spans: list[dict[str, Any]]
    roots: list[dict[str, Any]]
    dangling: list[dict[str, Any]]  # items (spans, logs, exceptions) whose parent is not an exported span


def check_tree(envelopes: list[dict[str, Any]], operation: str) -> TreeCheck:
    """The items of one operation id: every ``ai.operation.parentId`` must be the id of an exported span of
    it; spans without a parent are roots."""
    mine = [e for e in envelopes if operation_id(e) == operation and base_type(e) != "MetricData"]
    spans = [e for e in mine if base_type(e) in SPAN_TYPES]
    ids = {item_id(e) for e in spans}
    roots = [e for e in spans if parent_id(e) is None]
    dangling = [e for e in mine if parent_id(e) is not None and parent_id(e) not in ids]
    return TreeCheck(spans, roots, dangling)
