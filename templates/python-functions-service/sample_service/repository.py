"""Storage of the service's items: a ``Repository`` protocol and two implementations.

``InMemoryRepository`` is used by the tests and when no Cosmos DB connection is configured;
``CosmosRepository`` stores one container per collection (partition key ``/id``) and imports
``azure-cosmos`` only when first used. ``repository_for`` picks one per collection from the
``COSMOS_CONNECTION`` / ``COSMOS_DATABASE`` app settings.
"""

import os
from typing import Any, Protocol

Item = dict[str, Any]


class Repository(Protocol):
    def list(self) -> list[Item]: ...

    def get(self, item_id: str) -> Item | None: ...

    def add(self, item: Item) -> Item: ...

    def replace(self, item: Item) -> Item: ...

    def delete(self, item_id: str) -> bool: ...


class InMemoryRepository:
    """Items in a dict, in insertion order."""

    def __init__(self) -> None:
        self._items: dict[str, Item] = {}

    def list(self) -> list[Item]:
        return [dict(item) for item in self._items.values()]

    def get(self, item_id: str) -> Item | None:
        item = self._items.get(item_id)
        return dict(item) if item is not None else None

    def add(self, item: Item) -> Item:
        self._items[item["id"]] = dict(item)
        return dict(item)

    def replace(self, item: Item) -> Item:
        self._items[item["id"]] = dict(item)
        return dict(item)

    def delete(self, item_id: str) -> bool:
        return self._items.pop(item_id, None) is not None


class CosmosRepository:
    """One Cosmos DB container per collection; the container is created on first use."""

    def __init__(self, connection_string: str, database: str, container: str) -> None:
        self._connection_string = connection_string
        self._database = database
        self._container_name = container
        self._container: Any = None

    def _client(self) -> Any:
        if self._container is None:
            from azure.cosmos import CosmosClient, PartitionKey  # lazy: only needed on Azure

            client = CosmosClient.from_connection_string(self._connection_string)
            database = client.create_database_if_not_exists(self._database)
            self._container = database.create_container_if_not_exists(
                id=self._container_name, partition_key=PartitionKey(path="/id"))
        return self._container

    @staticmethod
    def _clean(item: Item) -> Item:
        return {key: value for key, value in item.items() if not key.startswith("_")}

    def list(self) -> list[Item]:
        return [self._clean(item) for item in self._client().read_all_items()]

    def get(self, item_id: str) -> Item | None:
        from azure.cosmos.exceptions import CosmosResourceNotFoundError

        try:
            return self._clean(self._client().read_item(item=item_id, partition_key=item_id))
        except CosmosResourceNotFoundError:
            return None

    def add(self, item: Item) -> Item:
        return self._clean(self._client().create_item(body=item))

    def replace(self, item: Item) -> Item:
        return self._clean(self._client().upsert_item(body=item))

    def delete(self, item_id: str) -> bool:
        from azure.cosmos.exceptions import CosmosResourceNotFoundError

        try:
            self._client().delete_item(item=item_id, partition_key=item_id)
        except CosmosResourceNotFoundError:
            return False
        return True


_repositories: dict[str, Repository] = {}


def repository_for(collection: str) -> Repository:
    """The repository of one collection (created once per process)."""
    if collection not in _repositories:
        connection = os.environ.get("COSMOS_CONNECTION", "")
        if connection:
            database = os.environ.get("COSMOS_DATABASE", "sample-service")
            _repositories[collection] = CosmosRepository(connection, database, collection)
        else:
            _repositories[collection] = InMemoryRepository()
    return _repositories[collection]


def reset_repositories() -> None:
    """Forget every repository (tests call this so each test starts empty)."""
    _repositories.clear()
