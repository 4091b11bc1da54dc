"""An OpenTelemetry Collector config: OTLP in, resource attributes from the blueprint, sampled out."""

from __future__ import annotations

from typing import Any

from shared.generators.infrastructure.model import InfrastructureBlueprint
from shared.generators.infrastructure.renderers import Stamp, yaml_text


def config(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, Any]:
    obs = bp.observability
    if obs.exporter == "azure-monitor":
        exporter_name = "azuremonitor"
        exporter: dict[str, Any] = {"connection_string": "${env:APPLICATIONINSIGHTS_CONNECTION_STRING}"}
    else:
        exporter_name = "otlp"
        exporter = {"endpoint": obs.otlp_endpoint or "${env:OTEL_EXPORTER_OTLP_ENDPOINT}"}
    attributes = [
        {"key": "service.name", "value": bp.service, "action": "upsert"},
        {"key": "deployment.environment", "value": bp.environment, "action": "upsert"},
        {"key": "factory.product", "value": bp.product, "action": "upsert"},
        {"key": "factory.blueprint.version", "value": stamp.blueprint_version, "action": "upsert"},
        {"key": "factory.blueprint.content_hash", "value": stamp.content_hash, "action": "upsert"},
        {"key": "factory.blueprint.trace_id", "value": stamp.trace_id, "action": "upsert"},
        {"key": "factory.tenancy", "value": bp.tenancy.mode, "action": "upsert"},
    ]
    processors = ["memory_limiter", "resource", "batch"]
    pipelines: dict[str, Any] = {}
    if obs.tracing:
        pipelines["traces"] = {
            "receivers": ["otlp"],
            "processors": ["memory_limiter", "probabilistic_sampler", "resource", "batch"],
            "exporters": [exporter_name],
        }
    if obs.metrics:
        pipelines["metrics"] = {"receivers": ["otlp"], "processors": processors, "exporters": [exporter_name]}
    pipelines["logs"] = {"receivers": ["otlp"], "processors": processors, "exporters": [exporter_name]}
    return {
        "receivers": {
            "otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {"endpoint": "0.0.0.0:4318"}}}
        },
        "processors": {
            "memory_limiter": {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 20},
            "batch": {"send_batch_size": 512, "timeout": "5s"},
            "probabilistic_sampler": {"sampling_percentage": round(obs.sampling_ratio * 100, 4)},
            "resource": {"attributes": attributes},
        },
        "exporters": {exporter_name: exporter},
        "extensions": {"health_check": {"endpoint": "0.0.0.0:13133"}},
        "service": {
            "extensions": ["health_check"],
            "pipelines": pipelines,
            "telemetry": {"logs": {"level": obs.log_level if obs.log_level != "warning" else "warn"}},
        },
    }


def render(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, str]:
    if bp.target != "containers":
        return {}  # the Functions host sends its telemetry to Application Insights itself
    return {"otel/collector.yaml": yaml_text([config(bp, stamp)], stamp.header())}
