"""Kubernetes manifests, one resource per file (so a diff reads per resource).

Kinds: Namespace (pod security labels), ServiceAccount (workload identity), ConfigMap,
Deployment, Service (unless ingress is ``none``), HorizontalPodAutoscaler, NetworkPolicy
(when enabled) and, when the blueprint has secrets, a SecretProviderClass for the Azure
Key Vault CSI driver (a CRD: not checked by the built-in Kubernetes schemas).
"""

from __future__ import annotations

from typing import Any

import yaml

from shared.generators.infrastructure.model import InfrastructureBlueprint, Probe
from shared.generators.infrastructure.renderers import GENERATOR, Stamp, yaml_text

#: the Kubernetes version the manifests target (and are validated against)
KUBERNETES_VERSION = "1.30"
INGRESS_CONTROLLER_NAMESPACE = "ingress-nginx"


def namespace(bp: InfrastructureBlueprint) -> str:
    return f"{bp.service}-{bp.environment}"


def secret_name(bp: InfrastructureBlueprint) -> str:
    return f"{bp.service}-keyvault"


def selector(bp: InfrastructureBlueprint) -> dict[str, str]:
    return {"app.kubernetes.io/name": bp.service, "app.kubernetes.io/instance": namespace(bp)}


def labels(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, str]:
    return {
        **selector(bp),
        "app.kubernetes.io/managed-by": "software-factory",
        "app.kubernetes.io/part-of": bp.product,
        "factory.ai/content-hash": stamp.short_hash,
        "factory.ai/environment": bp.environment,
        "factory.ai/runtime-profile": bp.runtime_profile,
        "factory.ai/tenancy": bp.tenancy.mode,
    }


def stamp_annotations(stamp: Stamp) -> dict[str, str]:
    return {
        "factory.ai/blueprint-version": stamp.blueprint_version,
        "factory.ai/content-hash": stamp.content_hash,
        "factory.ai/generated-by": GENERATOR,
        "factory.ai/trace-id": stamp.trace_id,
    }


def _metadata(
    bp: InfrastructureBlueprint,
    stamp: Stamp,
    name: str | None = None,
    extra_annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "name": name or bp.service,
        "namespace": namespace(bp),
        "labels": labels(bp, stamp),
        "annotations": {**stamp_annotations(stamp), **(extra_annotations or {})},
    }


def _probe(probe: Probe) -> dict[str, Any]:
    return {
        "httpGet": {"path": probe.path, "port": "http"},
        "initialDelaySeconds": probe.initial_delay_seconds,
        "periodSeconds": probe.period_seconds,
        "timeoutSeconds": probe.timeout_seconds,
        "failureThreshold": probe.failure_threshold,
    }


def _resources(bp: InfrastructureBlueprint) -> dict[str, Any]:
    r = bp.resources
    requests = {k: v for k, v in (("cpu", r.cpu_request), ("memory", r.memory_request)) if v is not None}
    limits = {k: v for k, v in (("cpu", r.cpu_limit), ("memory", r.memory_limit)) if v is not None}
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _container(bp: InfrastructureBlueprint) -> dict[str, Any]:
    probes = bp.resilience.probes
    container: dict[str, Any] = {
        "name": bp.service,
        "image": bp.image.reference,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": bp.ingress.target_port, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": f"{bp.service}-config"}}],
        "resources": _resources(bp),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if bp.secrets:
        container["env"] = [
            {"name": name, "valueFrom": {"secretKeyRef": {"name": secret_name(bp), "key": ref.secret}}}
            for name, ref in sorted(bp.secrets.items())
        ]
        container["volumeMounts"].append({"name": "keyvault", "mountPath": "/mnt/secrets", "readOnly": True})
    for kind, probe in (
        ("livenessProbe", probes.liveness),
        ("readinessProbe", probes.readiness),
        ("startupProbe", probes.startup),
    ):
        if probe is not None:
            container[kind] = _probe(probe)
    return container


def deployment(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, Any]:
    pod_labels = {**labels(bp, stamp)}
    if bp.security.workload_identity.enabled:
        pod_labels["azure.workload.identity/use"] = "true"
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    if bp.secrets:
        volumes.append(
            {
                "name": "keyvault",
                "csi": {
                    "driver": "secrets-store.csi.k8s.io",
                    "readOnly": True,
                    "volumeAttributes": {"secretProviderClass": secret_name(bp)},
                },
            }
        )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(bp, stamp),
        "spec": {
            "replicas": max(1, bp.resilience.autoscale.min_replicas),
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(bp)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": stamp_annotations(stamp)},
                "spec": {
                    "serviceAccountName": bp.service,
                    "automountServiceAccountToken": bp.security.workload_identity.enabled,
                    "terminationGracePeriodSeconds": bp.resilience.termination_grace_period_seconds,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "topology.kubernetes.io/zone",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector(bp)},
                        }
                    ],
                    "containers": [_container(bp)],
                    "volumes": volumes,
                },
            },
        },
    }


def service(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(bp, stamp),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(bp),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def hpa(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, Any]:
    scale = bp.resilience.autoscale
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(bp, stamp),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": bp.service},
            "minReplicas": max(1, scale.min_replicas),
            "maxReplicas": scale.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": scale.target_cpu_percent},
                    },
                }
            ],
        },
    }


def network_policy(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, Any]:
    sources: list[dict[str, Any]] = []
    if bp.ingress.exposure != "none":
        sources.append({"podSelector": {}})  # same namespace
        namespaces = list(bp.security.network_policy.allowed_namespaces)
        if bp.ingress.exposure == "public":
            namespaces.append(INGRESS_CONTROLLER_NAMESPACE)
        sources += [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
            for ns in sorted(set(namespaces))
        ]
    rules = [{"from": sources, "ports": [{"port": bp.ingress.target_port, "protocol": "TCP"}]}] if sources else []
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(bp, stamp),
        "spec": {"podSelector": {"matchLabels": selector(bp)}, "policyTypes": ["Ingress"], "ingress": rules},
    }


def config_map(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, Any]:
    data = dict(bp.env)
    data["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://otel-collector.monitoring:4317"
    data["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
    data["OTEL_TRACES_SAMPLER_ARG"] = f"{bp.observability.sampling_ratio:g}"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(bp, stamp, f"{bp.service}-config"),
        "data": data,
    }


def service_account(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, Any]:
    extra = {}
    if bp.security.workload_identity.enabled and bp.security.workload_identity.client_id:
        extra["azure.workload.identity/client-id"] = bp.security.workload_identity.client_id
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(bp, stamp, extra_annotations=extra),
        "automountServiceAccountToken": bp.security.workload_identity.enabled,
    }


def namespace_resource(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, Any]:
    level = bp.security.pod_security
    meta = _metadata(bp, stamp, namespace(bp))
    del meta["namespace"]
    meta["labels"] = {
        **meta["labels"],
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/audit": level,
        "pod-security.kubernetes.io/warn": level,
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def secret_provider_class(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, Any]:
    vaults = sorted({ref.vault for ref in bp.secrets.values()})
    objects = [
        {
            "objectName": ref.secret,
            "objectType": "secret",
            **({"objectVersion": ref.version} if ref.version else {}),
        }
        for _, ref in sorted(bp.secrets.items())
    ]
    return {
        "apiVersion": "secrets-store.csi.x-k8s.io/v1",
        "kind": "SecretProviderClass",
        "metadata": _metadata(bp, stamp, secret_name(bp)),
        "spec": {
            "provider": "azure",
            "parameters": {
                "keyvaultName": vaults[0],
                "clientID": bp.security.workload_identity.client_id or "",
                "objects": _plain_yaml({"array": [_plain_yaml(o) for o in objects]}),
                "tenantId": "",
                "usePodIdentity": "false",
            },
            "secretObjects": [
                {
                    "secretName": secret_name(bp),
                    "type": "Opaque",
                    "data": [{"objectName": ref.secret, "key": ref.secret} for _, ref in sorted(bp.secrets.items())],
                }
            ],
        },
    }


def _plain_yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=True, default_flow_style=False)


def render(bp: InfrastructureBlueprint, stamp: Stamp) -> dict[str, str]:
    if bp.target != "containers":
        return {}  # a Functions app is not a Kubernetes workload
    header = stamp.header()
    docs: dict[str, dict[str, Any]] = {
        "kubernetes/namespace.yaml": namespace_resource(bp, stamp),
        "kubernetes/serviceaccount.yaml": service_account(bp, stamp),
        "kubernetes/configmap.yaml": config_map(bp, stamp),
        "kubernetes/deployment.yaml": deployment(bp, stamp),
        "kubernetes/hpa.yaml": hpa(bp, stamp),
    }
    if bp.ingress.exposure != "none":
        docs["kubernetes/service.yaml"] = service(bp, stamp)
    if bp.security.network_policy.enabled:
        docs["kubernetes/networkpolicy.yaml"] = network_policy(bp, stamp)
    if bp.secrets:
        docs["kubernetes/secretproviderclass.yaml"] = secret_provider_class(bp, stamp)
    return {path: yaml_text([doc], header) for path, doc in docs.items()}
