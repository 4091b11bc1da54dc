"""The one reader of the environment: every setting the factory knows, with its default.

Names follow the Azure Functions host conventions so one ``local.settings.json`` (or app
settings on Azure) configures both the host bindings and the adapters: a connection named
``ServiceBusConnection`` is either a connection string or the identity-based form
``ServiceBusConnection__fullyQualifiedNamespace``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class BusKind(StrEnum):
    sqlite = "sqlite"
    servicebus = "servicebus"


class StateKind(StrEnum):
    sqlite = "sqlite"
    cosmos = "cosmos"


class ArtifactKind(StrEnum):
    filesystem = "filesystem"
    blob = "blob"


class Settings(BaseSettings):
    """All settings of the factory. Environment variables win over ``local.settings.json`` values."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    # --- adapter choice (embedded by default) ---
    factory_bus: BusKind = Field(BusKind.sqlite, alias="FACTORY_BUS")
    factory_state: StateKind = Field(StateKind.sqlite, alias="FACTORY_STATE")
    factory_artifacts: ArtifactKind = Field(ArtifactKind.filesystem, alias="FACTORY_ARTIFACTS")

    # --- embedded ---
    factory_home: Path = Field(Path(".factory"), alias="FACTORY_HOME")

    # --- messaging ---
    topic_name: str = Field("factory-events", alias="FACTORY_TOPIC")
    max_delivery_count: int = Field(10, alias="FACTORY_MAX_DELIVERY_COUNT", ge=1)
    lock_duration_seconds: float = Field(60.0, alias="FACTORY_LOCK_DURATION_SECONDS", gt=0)
    duplicate_detection_window_seconds: float = Field(
        600.0, alias="FACTORY_DUPLICATE_DETECTION_WINDOW_SECONDS", gt=0
    )
    message_ttl_seconds: float = Field(14 * 24 * 3600.0, alias="FACTORY_MESSAGE_TTL_SECONDS", gt=0)

    servicebus_connection: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ServiceBusConnection", "SERVICEBUS_CONNECTION")
    )
    servicebus_namespace: str | None = Field(None, alias="ServiceBusConnection__fullyQualifiedNamespace")

    # --- state (Cosmos DB NoSQL) ---
    cosmos_connection: SecretStr | None = Field(
        None, validation_alias=AliasChoices("CosmosConnection", "COSMOS_CONNECTION")
    )
    cosmos_endpoint: str | None = Field(None, alias="CosmosConnection__accountEndpoint")
    cosmos_database: str = Field("factory", alias="FACTORY_COSMOS_DATABASE")

    # --- artifacts (Blob storage) ---
    blob_connection: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ArtifactStorage", "ARTIFACT_STORAGE_CONNECTION")
    )
    blob_service_uri: str | None = Field(None, alias="ArtifactStorage__blobServiceUri")
    artifacts_container: str = Field("artifacts", alias="FACTORY_ARTIFACTS_CONTAINER")

    # --- identity ---
    azure_client_id: str | None = Field(None, alias="AZURE_CLIENT_ID")

    # --- security ---
    signing_key: SecretStr = Field(
        SecretStr("local-development-signing-key"), alias="FACTORY_SIGNING_KEY"
    )
    require_signature: bool = Field(True, alias="FACTORY_REQUIRE_SIGNATURE")

    # --- telemetry ---
    applicationinsights_connection_string: SecretStr | None = Field(
        None, alias="APPLICATIONINSIGHTS_CONNECTION_STRING"
    )

    # --- limits ---
    max_message_bytes: int = Field(256 * 1024, alias="FACTORY_MAX_MESSAGE_BYTES", gt=0)

    @property
    def database_path(self) -> Path:
        return self.factory_home / "factory.db"

    @property
    def artifacts_path(self) -> Path:
        return self.factory_home / "artifacts"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and ``local.settings.json`` values already exported)."""
    return Settings(**overrides)  # type: ignore[arg-type]
