"""Names shared by the state adapters, the Bicep and the emulator config: one place, no drift."""

from __future__ import annotations

#: Cosmos DB containers the state adapters use -> partition key path.
#: ``state`` holds flow instances, execution documents, inbox and outbox records of one
#: partition together so a handling commits them in one transactional batch.
#: ``events`` is the event log, partitioned by trace so ``factory trace`` is one partition read.
COSMOS_CONTAINERS: dict[str, str] = {
    "state": "/partition",
    "events": "/traceId",
}

#: default time-to-live per container in seconds (-1 = on, no default expiry; None = off)
COSMOS_DEFAULT_TTL: dict[str, int | None] = {
    "state": -1,
    "events": -1,
}

DEFAULT_DATABASE = "factory"
DEFAULT_TOPIC = "factory-events"
DEFAULT_ARTIFACTS_CONTAINER = "artifacts"

#: connection setting names, as the Functions host and the Settings class read them
SERVICEBUS_CONNECTION = "ServiceBusConnection"
COSMOS_CONNECTION = "CosmosConnection"
ARTIFACT_STORAGE_CONNECTION = "ArtifactStorage"
