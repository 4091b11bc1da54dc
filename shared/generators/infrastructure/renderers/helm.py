"""A Helm values file for a conventional service chart (image, replicas, probes, identity...)."""

from __future__ import annotations

from typing import Any

from shared.generators.infrastructure.model import InfrastructureBlueprint
from shared.generators.infrastructure.renderers import Stamp, yaml_text
from shared.generators.infrastructure.renderers.kubernetes import labels, namespace, stamp_annotations


def values(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, Any]:
    probes = bp.resilience.probes.model_dump(mode="json", by_alias=True)
    scale = bp.resilience.autoscale
    r = bp.resources
    return {
        "nameOverride": bp.service,
        "namespace": namespace(bp),
        "commonLabels": labels(bp, stamp),
        "commonAnnotations": stamp_annotations(stamp),
        "image": {
            "registry": bp.image.registry,
            "repository": bp.image.repository,
            "tag": bp.image.tag,
            "pullPolicy": "IfNotPresent",
        },
        "replicaCount": max(1, scale.min_replicas),
        "autoscaling": {
            "enabled": True,
            "minReplicas": max(1, scale.min_replicas),
            "maxReplicas": scale.max_replicas,
            "targetCPUUtilizationPercentage": scale.target_cpu_percent,
        },
        "resources": {
            "requests": {"cpu": r.cpu_request, "memory": r.memory_request},
            "limits": {"cpu": r.cpu_limit, "memory": r.memory_limit},
        },
        "probes": probes,
        "terminationGracePeriodSeconds": bp.resilience.termination_grace_period_seconds,
        "service": {
            "enabled": bp.ingress.exposure != "none",
            "type": "ClusterIP",
            "port": 80,
            "targetPort": bp.ingress.target_port,
        },
        "ingress": {"exposure": bp.ingress.exposure, "httpsOnly": bp.ingress.https_only},
        "env": dict(bp.env),
        "keyVaultSecrets": {
            name: {"vault": ref.vault, "secret": ref.secret, "uri": ref.uri} for name, ref in bp.secrets.items()
        },
        "serviceAccount": {
            "create": True,
            "name": bp.service,
            "workloadIdentity": {
                "enabled": bp.security.workload_identity.enabled,
                "clientId": bp.security.workload_identity.client_id or "",
            },
        },
        "networkPolicy": bp.security.network_policy.model_dump(mode="json", by_alias=True),
        "podSecurity": {
            "level": bp.security.pod_security,
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
        },
        "observability": bp.observability.model_dump(mode="json", by_alias=True),
        "retries": bp.resilience.retries.model_dump(mode="json", by_alias=True),
        "storage": [s.model_dump(mode="json", by_alias=True) for s in bp.storage],
        "tenancy": bp.tenancy.model_dump(mode="json", by_alias=True),
    }


def render(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, str]:
    if bp.target != "containers":
        return {}
    return {"helm/values.yaml": yaml_text([values(bp, stamp)], stamp.header())}
