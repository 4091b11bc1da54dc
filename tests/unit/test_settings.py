"""The settings class: embedded defaults, Azure choices refused without what they need."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.settings import ArtifactKind, BusKind, Settings, StateKind

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_embedded_adapters() -> None:
    s = Settings()
    assert (s.factory_bus, s.factory_state, s.factory_artifacts) == (
        BusKind.sqlite, StateKind.sqlite, ArtifactKind.filesystem)
    assert s.max_delivery_count == 10 and s.topic_name == "factory-events"


def test_identity_based_names_are_read_like_the_functions_host_reads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ServiceBusConnection__fullyQualifiedNamespace", "ns.servicebus.windows.net")
    monkeypatch.setenv("CosmosConnection__accountEndpoint", "https://acct.documents.azure.com:443/")
    monkeypatch.setenv("ArtifactStorage__blobServiceUri", "https://acct.blob.core.windows.net")
    monkeypatch.setenv("FACTORY_SIGNING_KEY", "a-strong-secret-from-key-vault")
    monkeypatch.setenv("FACTORY_BUS", "servicebus")
    monkeypatch.setenv("FACTORY_STATE", "cosmos")
    monkeypatch.setenv("FACTORY_ARTIFACTS", "blob")
    s = Settings()
    assert s.servicebus_namespace == "ns.servicebus.windows.net"
    assert s.cosmos_endpoint == "https://acct.documents.azure.com:443/"
    assert s.blob_service_uri == "https://acct.blob.core.windows.net"


def test_azure_adapters_refuse_the_development_signing_key() -> None:
    with pytest.raises(ValidationError, match="FACTORY_SIGNING_KEY is unset while Azure adapters are selected"):
        Settings(FACTORY_BUS="servicebus", ServiceBusConnection__fullyQualifiedNamespace="ns")


@pytest.mark.parametrize(("choice", "needed"), [
    ({"FACTORY_BUS": "servicebus"}, "ServiceBusConnection__fullyQualifiedNamespace"),
    ({"FACTORY_STATE": "cosmos"}, "CosmosConnection__accountEndpoint"),
    ({"FACTORY_ARTIFACTS": "blob"}, "ArtifactStorage__blobServiceUri"),
])
def test_an_azure_adapter_without_its_connection_names_the_setting_to_set(choice: dict[str, str],
                                                                          needed: str) -> None:
    with pytest.raises(ValidationError, match=needed):
        Settings(FACTORY_SIGNING_KEY="k" * 32, **choice)  # type: ignore[arg-type]


def test_an_unknown_adapter_choice_lists_the_allowed_values() -> None:
    with pytest.raises(ValidationError, match="'sqlite' or 'servicebus'"):
        Settings(FACTORY_BUS="kafka")  # type: ignore[arg-type]


def test_the_example_placeholder_signing_key_is_refused_at_start_whatever_the_adapters() -> None:
    placeholder = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]["FACTORY_SIGNING_KEY"]
    refused = r"placeholder from local\.settings\.json\.example.*secrets\.token_urlsafe"
    with pytest.raises(ValidationError, match=refused):
        Settings(FACTORY_SIGNING_KEY=placeholder)  # type: ignore[call-arg]


def test_scratch_is_explicit_else_factory_home_embedded_else_the_temp_folder(tmp_path: Path) -> None:
    assert Settings(FACTORY_HOME=tmp_path).scratch_path == tmp_path  # type: ignore[call-arg]
    azure = Settings(FACTORY_STATE="cosmos",  # type: ignore[call-arg]
                     CosmosConnection="AccountEndpoint=https://x/;AccountKey=k;", FACTORY_SIGNING_KEY="s")
    assert azure.scratch_path == Path(tempfile.gettempdir()) / "factory"
    explicit = Settings(FACTORY_SCRATCH_DIR=tmp_path / "s")  # type: ignore[call-arg]
    assert explicit.scaffolds_path == tmp_path / "s" / "scaffolds"


def test_the_trace_sampling_ratio_is_a_share_and_the_telemetry_logger_never_the_root() -> None:
    assert Settings().trace_sampling_ratio == 1.0
    assert Settings(OTEL_TRACES_SAMPLER_ARG="0.25").trace_sampling_ratio == 0.25  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="OTEL_TRACES_SAMPLER_ARG"):
        Settings(OTEL_TRACES_SAMPLER_ARG="5")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="not the root logger"):
        Settings(PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME="root")  # type: ignore[call-arg]
