"""The one reader of the environment: every setting the factory knows, with its default.

Names follow the Azure Functions host conventions so one ``local.settings.json`` (or app
settings on Azure) configures both the host bindings and the adapters: a connection named
``ServiceBusConnection`` is either a connection string or the identity-based form
``ServiceBusConnection__fullyQualifiedNamespace``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.ports.layout import DEFAULT_TOPIC

#: the public key of early versions: refused on Azure; the embedded default is now a random key per home
DEV_SIGNING_KEY = "local-development-signing-key"
#: how the placeholder in local.settings.json.example starts: refused at start, whatever the adapters
PLACEHOLDER_SIGNING_KEY_PREFIX = "replace-me"


class BusKind(StrEnum):
    sqlite = "sqlite"
    servicebus = "servicebus"


class StateKind(StrEnum):
    sqlite = "sqlite"
    cosmos = "cosmos"


class ArtifactKind(StrEnum):
    filesystem = "filesystem"
    blob = "blob"


class GateRunnerKind(StrEnum):
    """Where the release gate runs generated tests."""

    sandbox = "sandbox"  # a bubblewrap jail on this machine (embedded)
    sessions = "sessions"  # Azure Container Apps dynamic sessions (custom container pool)


class ModelProvider(StrEnum):
    """Which model the model-backed skills ask (none: the deterministic skills only, the default)."""

    none = "none"
    azure_openai = "azure-openai"  # Azure OpenAI, keyless (Entra ID token of the app's identity)
    openai = "openai"  # any OpenAI-compatible endpoint (FACTORY_MODEL_ENDPOINT is its base URL)


class ModelPrice(BaseModel):
    """USD per million tokens of one model (or Azure deployment)."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)


#: list prices (USD per million tokens, OpenAI's published prices of these models); a deployment named
#: otherwise needs its own entry in FACTORY_MODEL_PRICES
DEFAULT_MODEL_PRICES = {"gpt-4o-mini": ModelPrice(input=0.15, output=0.60),
                        "gpt-4o": ModelPrice(input=2.50, output=10.00)}


class Settings(BaseSettings):
    """All settings of the factory. Environment variables win over ``local.settings.json`` values."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    # --- adapter choice (embedded by default) ---
    factory_bus: BusKind = Field(BusKind.sqlite, alias="FACTORY_BUS")
    factory_state: StateKind = Field(StateKind.sqlite, alias="FACTORY_STATE")
    factory_artifacts: ArtifactKind = Field(ArtifactKind.filesystem, alias="FACTORY_ARTIFACTS")

    # --- embedded ---
    factory_home: Path = Field(Path(".factory"), alias="FACTORY_HOME")

    # --- scratch: per-handling work folders (release-gate checkouts, scaffold repositories) ---
    scratch_dir: Path | None = Field(None, alias="FACTORY_SCRATCH_DIR")

    # --- messaging ---
    topic_name: str = Field(DEFAULT_TOPIC, alias="FACTORY_TOPIC")
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
    #: unset (embedded): a random key created on first start in ``<FACTORY_HOME>/signing.key``; on Azure a Key
    #: Vault reference (the Bicep sets it)
    signing_key: SecretStr | None = Field(None, alias="FACTORY_SIGNING_KEY")
    require_signature: bool = Field(True, alias="FACTORY_REQUIRE_SIGNATURE")

    # --- telemetry ---
    applicationinsights_connection_string: SecretStr | None = Field(
        None, alias="APPLICATIONINSIGHTS_CONNECTION_STRING"
    )
    #: share of traces kept (whole traces: the sampler decides by trace id). The name is the one the
    #: azure-monitor distro reads with OTEL_TRACES_SAMPLER=microsoft.fixed_percentage (the Bicep sets both)
    trace_sampling_ratio: float = Field(1.0, alias="OTEL_TRACES_SAMPLER_ARG", ge=0.0, le=1.0)
    #: the logger whose records go to Application Insights; never the root logger (the exporter's own
    #: records would be exported again, without end)
    telemetry_logger: str = Field("factory", alias="PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME", min_length=1)

    # --- releases: the environment a project releases to, and which environments need a person's approval ---
    release_environment: str = Field("dev", alias="FACTORY_RELEASE_ENVIRONMENT", min_length=1, max_length=40)
    approval_required: dict[str, bool] = Field(
        default_factory=lambda: {"dev": False, "staging": False, "prod": True}, alias="FACTORY_APPROVAL_REQUIRED")

    # --- the release gate's test runner ---
    test_runner: GateRunnerKind = Field(GateRunnerKind.sandbox, alias="FACTORY_TEST_RUNNER")
    allow_unsafe_sandbox: bool = Field(False, alias="FACTORY_ALLOW_UNSAFE_SANDBOX")
    test_sessions_endpoint: str | None = Field(None, alias="FACTORY_TEST_SESSIONS_ENDPOINT")

    # --- limits ---
    max_message_bytes: int = Field(256 * 1024, alias="FACTORY_MAX_MESSAGE_BYTES", gt=0)

    # --- the model behind the model-backed skills (none by default: the deterministic skills answer) ---
    model_provider: ModelProvider = Field(ModelProvider.none, alias="FACTORY_MODEL_PROVIDER")
    #: azure-openai: https://<account>.openai.azure.com ; openai: the base URL (e.g. http://127.0.0.1:8000/v1)
    model_endpoint: str | None = Field(None, alias="FACTORY_MODEL_ENDPOINT")
    model_deployment: str | None = Field(None, alias="FACTORY_MODEL_DEPLOYMENT")  # azure-openai
    model_name: str | None = Field(None, alias="FACTORY_MODEL_NAME")  # openai (and a replay's model)
    model_api_version: str = Field("2024-10-21", alias="FACTORY_MODEL_API_VERSION")  # azure-openai
    #: openai only (a local server may need none); Azure OpenAI is keyless, its account has local auth off
    model_api_key: SecretStr | None = Field(None, alias="FACTORY_MODEL_API_KEY")
    model_timeout_seconds: float = Field(60.0, alias="FACTORY_MODEL_TIMEOUT_SECONDS", gt=0)
    model_max_attempts: int = Field(4, alias="FACTORY_MODEL_MAX_ATTEMPTS", ge=1, le=10)
    model_max_backoff_seconds: float = Field(20.0, alias="FACTORY_MODEL_MAX_BACKOFF_SECONDS", gt=0)
    model_repair_rounds: int = Field(1, alias="FACTORY_MODEL_REPAIR_ROUNDS", ge=0, le=3)
    model_max_tokens: int = Field(4096, alias="FACTORY_MODEL_MAX_TOKENS", ge=256)
    model_prices: dict[str, ModelPrice] = Field(default_factory=lambda: dict(DEFAULT_MODEL_PRICES),
                                                alias="FACTORY_MODEL_PRICES")
    #: per project, over every model call of the project (its draft included); unset: no limit
    model_budget_usd: float | None = Field(None, alias="FACTORY_MODEL_BUDGET_USD", ge=0)
    #: the skills that may ask the model (e.g. ["vision.write_vision"]); empty: every model-backed skill
    model_skills: list[str] = Field(default_factory=list, alias="FACTORY_MODEL_SKILLS")
    model_record_dir: Path | None = Field(None, alias="FACTORY_MODEL_RECORD_DIR")
    model_replay_dir: Path | None = Field(None, alias="FACTORY_MODEL_REPLAY_DIR")

    @model_validator(mode="after")
    def _azure_needs_real_secrets(self) -> Settings:
        on_azure = self.factory_bus is BusKind.servicebus or self.factory_state is StateKind.cosmos
        key = self.signing_key.get_secret_value() if self.signing_key is not None else None
        if key is not None and key.startswith(PLACEHOLDER_SIGNING_KEY_PREFIX):
            raise ValueError(
                "FACTORY_SIGNING_KEY is still the placeholder from local.settings.json.example; generate a key "
                "with `python -c \"import secrets; print(secrets.token_urlsafe(32))\"` and put it in "
                "local.settings.json (on Azure the Bicep sets a Key Vault reference)")
        if on_azure and key in (None, DEV_SIGNING_KEY):
            raise ValueError(
                f"FACTORY_SIGNING_KEY is {'unset' if key is None else 'still the public development key'} while "
                "Azure adapters are selected; set it to a Key Vault reference (infra/main.bicep does) or a strong "
                "random secret")
        if self.telemetry_logger.strip() in ("", "root"):
            raise ValueError(
                "PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME must name the factory's logger (default 'factory'), not the "
                "root logger: the exporter's own log records would be exported again, without end")
        if self.factory_bus is BusKind.servicebus and not (self.servicebus_connection or self.servicebus_namespace):
            raise ValueError("FACTORY_BUS=servicebus needs ServiceBusConnection__fullyQualifiedNamespace "
                             "(identity) or ServiceBusConnection (connection string)")
        if self.factory_state is StateKind.cosmos and not (self.cosmos_connection or self.cosmos_endpoint):
            raise ValueError("FACTORY_STATE=cosmos needs CosmosConnection__accountEndpoint (identity) or "
                             "CosmosConnection (connection string)")
        if self.factory_artifacts is ArtifactKind.blob and not (self.blob_connection or self.blob_service_uri):
            raise ValueError("FACTORY_ARTIFACTS=blob needs ArtifactStorage__blobServiceUri (identity) or "
                             "ArtifactStorage (connection string)")
        self._check_model()
        return self

    def _check_model(self) -> None:
        provider = self.model_provider
        if provider is ModelProvider.azure_openai:
            if not (self.model_endpoint and self.model_deployment):
                raise ValueError("FACTORY_MODEL_PROVIDER=azure-openai needs FACTORY_MODEL_ENDPOINT "
                                 "(https://<account>.openai.azure.com) and FACTORY_MODEL_DEPLOYMENT (the deployment "
                                 "name); infra/main.bicep sets both when deployOpenAI is true")
            if self.model_api_key is not None:
                raise ValueError("FACTORY_MODEL_API_KEY is set but Azure OpenAI is called keyless (Entra ID token "
                                 "of the app's identity; the account has local auth off): remove the key")
        if provider is ModelProvider.openai and not (self.model_endpoint and self.model_name):
            raise ValueError("FACTORY_MODEL_PROVIDER=openai needs FACTORY_MODEL_ENDPOINT (the base URL, e.g. "
                             "http://127.0.0.1:8000/v1) and FACTORY_MODEL_NAME")
        if self.model_record_dir is not None and self.model_replay_dir is not None:
            raise ValueError("FACTORY_MODEL_RECORD_DIR and FACTORY_MODEL_REPLAY_DIR exclude each other: record a "
                             "run against a model, or replay a recorded one")
        if self.model_record_dir is not None and provider is ModelProvider.none:
            raise ValueError("recording (--record / FACTORY_MODEL_RECORD_DIR) needs a model to record: set "
                             "FACTORY_MODEL_PROVIDER (see README, 'Model-backed skills')")
        name = self.configured_model
        if self.model_budget_usd is not None and name is not None and name not in self.model_prices:
            raise ValueError(f"FACTORY_MODEL_BUDGET_USD needs the price of model {name!r}: add it to "
                             f"FACTORY_MODEL_PRICES, e.g. {{\"{name}\": {{\"input\": 0.15, \"output\": 0.6}}}} "
                             "(USD per million tokens)")

    @property
    def configured_model(self) -> str | None:
        """The model's name as the price table and recordings know it (the deployment on Azure)."""
        if self.model_provider is ModelProvider.azure_openai:
            return self.model_deployment
        return self.model_name

    def requires_approval(self, environment: str) -> bool:
        """Whether a release to ``environment`` waits for a person (an environment not listed does)."""
        return bool(self.approval_required.get(environment, True))

    @property
    def signing_key_path(self) -> Path:
        """Where the embedded runtime keeps its random signing key when FACTORY_SIGNING_KEY is unset."""
        return self.factory_home / "signing.key"

    @property
    def api_token_path(self) -> Path:
        """The local API's token (``factory host`` prints it; mutating requests must carry it)."""
        return self.factory_home / "api.token"

    @property
    def artifacts_path(self) -> Path:
        return self.factory_home / "artifacts"

    @property
    def scratch_path(self) -> Path:
        """The writable folder handlings work in: ``FACTORY_SCRATCH_DIR``; if unset, ``FACTORY_HOME`` with the
        embedded state, else the system temp folder (``<tmp>/factory``) — never the code folder, which is
        read-only on Azure (Flex Consumption runs from a package). The Bicep sets it explicitly."""
        if self.scratch_dir is not None:
            return self.scratch_dir
        if self.factory_state is StateKind.sqlite:
            return self.factory_home
        return Path(tempfile.gettempdir()) / "factory"

    @property
    def scaffolds_path(self) -> Path:
        """Where scaffold executions commit their repositories (scratch: the result is in the artifacts)."""
        return self.scratch_path / "scaffolds"

    @staticmethod
    def process_environment() -> dict[str, str]:
        """This process's environment, for the sandbox to copy its allow-listed variables from."""
        return dict(os.environ)


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and ``local.settings.json`` values already exported)."""
    return Settings(**overrides)  # type: ignore[arg-type]


def binding_values(local_values: Mapping[str, str]) -> dict[str, str]:
    """Values for ``%NAME%`` binding expressions, as ``func start`` resolves them: an environment
    variable wins over ``local.settings.json`` ``Values``."""
    return {**local_values, **os.environ}
