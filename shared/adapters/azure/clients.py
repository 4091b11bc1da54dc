"""The one module that builds Azure clients from settings: endpoint + Entra ID, or a connection string.

Every Azure connection is configured the way the Functions host reads it: a setting named
``<Connection>__<endpoint>`` (identity-based, the Bicep's choice) or ``<Connection>`` holding a
connection string (emulators: Azurite, the Cosmos DB server the tests start). The SDKs are imported
inside the functions, so embedded mode never loads them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from shared.adapters.azure.blob_artifacts import BlobArtifactStore
from shared.adapters.azure.cosmos_state import CosmosStateStore
from shared.adapters.azure.servicebus_deadletters import ServiceBusDeadLetterQueue
from shared.adapters.azure.servicebus_publisher import ServiceBusPublisher
from shared.adapters.azure.sessions_runner import DynamicSessionsTestRunner
from shared.ports import Clock, SystemClock
from shared.ports.layout import COSMOS_CONTAINERS, COSMOS_DEFAULT_TTL

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.settings import Settings

C = TypeVar("C")

#: the audience of the Entra ID tokens Azure OpenAI accepts
COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"


class AzureConnectionError(ValueError):
    """An Azure adapter was selected without a connection; the message names the settings to set."""


def default_credential(settings: Settings) -> TokenCredential:
    """``DefaultAzureCredential``, pinned to the user-assigned identity ``AZURE_CLIENT_ID`` when set.

    On Azure this is the Function App's managed identity; locally it falls back to ``az login``.
    """
    from azure.identity import DefaultAzureCredential

    if settings.azure_client_id:
        return DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
    return DefaultAzureCredential()


def connect(
    settings: Settings,
    *,
    endpoint: str | None,
    connection_string: str | None,
    with_identity: Callable[[str, TokenCredential], C],
    with_string: Callable[[str], C],
    missing: str,
) -> C:
    """Identity-based when the endpoint setting is present, else the connection string, else refuse."""
    if endpoint:
        return with_identity(endpoint, default_credential(settings))
    if connection_string:
        return with_string(connection_string)
    raise AzureConnectionError(missing)


def _secret(value: Any) -> str | None:
    return None if value is None else str(value.get_secret_value())


def cosmos_client(settings: Settings, **client_options: Any) -> Any:
    """A ``CosmosClient`` for ``CosmosConnection__accountEndpoint`` or the ``CosmosConnection`` string."""
    from azure.cosmos import CosmosClient

    return connect(
        settings, endpoint=settings.cosmos_endpoint, connection_string=_secret(settings.cosmos_connection),
        with_identity=lambda url, cred: CosmosClient(url, credential=cred, **client_options),
        with_string=lambda text: CosmosClient.from_connection_string(text, **client_options),
        missing="FACTORY_STATE=cosmos needs a Cosmos DB account: set CosmosConnection__accountEndpoint "
                "(identity-based, e.g. https://<account>.documents.azure.com:443/) or the CosmosConnection "
                "connection string, or use FACTORY_STATE=sqlite",
    )


def cosmos_state_store(settings: Settings, *, clock: Clock | None = None, create_if_missing: bool = False,
                       **client_options: Any) -> CosmosStateStore:
    """The Cosmos DB state store. ``create_if_missing`` creates the database and containers (key auth
    or a control-plane role; on Azure the Bicep provisions them and this stays ``False``)."""
    from azure.cosmos import PartitionKey

    client = cosmos_client(settings, **client_options)
    clock = clock or SystemClock()
    if not create_if_missing:
        return CosmosStateStore.from_database(client.get_database_client(settings.cosmos_database), clock=clock)
    database = client.create_database_if_not_exists(settings.cosmos_database)
    for name, path in COSMOS_CONTAINERS.items():
        options: dict[str, Any] = {}
        if COSMOS_DEFAULT_TTL.get(name) is not None:
            options["default_ttl"] = COSMOS_DEFAULT_TTL[name]
        database.create_container_if_not_exists(id=name, partition_key=PartitionKey(path=path), **options)
    return CosmosStateStore.from_database(database, clock=clock)


def blob_artifact_store(settings: Settings) -> BlobArtifactStore:
    """Artifacts in ``ArtifactStorage__blobServiceUri`` (identity) or the ``ArtifactStorage`` string."""
    from azure.storage.blob import BlobServiceClient

    service = connect(
        settings, endpoint=settings.blob_service_uri, connection_string=_secret(settings.blob_connection),
        with_identity=lambda url, cred: BlobServiceClient(url, credential=cred),
        with_string=BlobServiceClient.from_connection_string,
        missing="FACTORY_ARTIFACTS=blob needs a storage account: set ArtifactStorage__blobServiceUri "
                "(identity-based, e.g. https://<account>.blob.core.windows.net) or the ArtifactStorage "
                "connection string, or use FACTORY_ARTIFACTS=filesystem",
    )
    return BlobArtifactStore(service.get_container_client(settings.artifacts_container))


def servicebus_client(settings: Settings) -> Any:
    """A ``ServiceBusClient`` for ``ServiceBusConnection__fullyQualifiedNamespace`` or the connection string."""
    from azure.servicebus import ServiceBusClient

    return connect(
        settings, endpoint=settings.servicebus_namespace, connection_string=_secret(settings.servicebus_connection),
        with_identity=lambda ns, cred: ServiceBusClient(fully_qualified_namespace=ns, credential=cred),
        with_string=ServiceBusClient.from_connection_string,
        missing="FACTORY_BUS=servicebus needs a namespace: set ServiceBusConnection__fullyQualifiedNamespace "
                "(managed identity) or ServiceBusConnection (connection string), or use FACTORY_BUS=sqlite",
    )


def servicebus_publisher(settings: Settings, **options: Any) -> ServiceBusPublisher:
    """Publishes to the topic; the client is made on first send (so building the runtime stays offline)."""
    return ServiceBusPublisher(settings.topic_name, client_factory=lambda: servicebus_client(settings), **options)


def servicebus_dead_letter_queue(settings: Settings, subscriptions: Sequence[str], *,
                                 clock: Clock | None = None) -> ServiceBusDeadLetterQueue:
    """The dead-letter sub-queues of the topic's subscriptions; the client is made on first use."""
    return ServiceBusDeadLetterQueue(
        settings.topic_name, subscriptions, client_factory=lambda: servicebus_client(settings),
        duplicate_detection_window=timedelta(seconds=settings.duplicate_detection_window_seconds), clock=clock)


def sessions_test_runner(settings: Settings) -> DynamicSessionsTestRunner:
    """The release gate's runner on Azure: dynamic sessions at ``FACTORY_TEST_SESSIONS_ENDPOINT``, called as
    the app's identity (token audience https://dynamicsessions.io); the credential is made on first use."""
    return DynamicSessionsTestRunner(settings.test_sessions_endpoint,
                                     credential_factory=lambda: default_credential(settings))


def openai_token_provider(settings: Settings) -> Callable[[], str]:
    """Bearer tokens for Azure OpenAI as the app's identity (keyless); the credential is made on first use."""
    provider: Callable[[], str] | None = None

    def token() -> str:
        nonlocal provider
        if provider is None:
            from azure.identity import get_bearer_token_provider

            provider = get_bearer_token_provider(default_credential(settings), COGNITIVE_SERVICES_SCOPE)
        return provider()

    return token
