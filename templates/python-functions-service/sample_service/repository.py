"""Storage of the service's items: a ``Repository`` protocol and two implementations.

Every item carries its ``tenantId`` and every operation names the tenant, so one tenant can
never read, change or list another's items (a foreign id is simply not found).

``InMemoryRepository`` is used by the tests and when no Cosmos DB account is configured;
``CosmosRepository`` stores one container per collection, partitioned by ``/tenantId`` (every
query stays inside the caller's partition) and imports ``azure-cosmos`` only when first used.
``repository_for`` picks one per collection from the app settings: ``COSMOS_ENDPOINT`` (managed
identity, as deployed) or ``COSMOS_CONNECTION`` (a connection string, e.g. the emulator), and
``COSMOS_DATABASE``.
"""

import os
from collections.abc import Mapping
from typing import Any, Protocol

from sample_service.query import FieldSpec, Filter, Query, encode_token, matches, ordered

Item = dict[str, Any]


class DuplicateError(Exception):
    """The store refused an item because a unique value is already taken (Cosmos DB unique keys)."""


class Repository(Protocol):
    def get(self, tenant: str, item_id: str) -> Item | None: ...

    def add(self, item: Item) -> Item: ...

    def replace(self, item: Item) -> Item: ...

    def delete(self, tenant: str, item_id: str) -> bool: ...

    def find(self, tenant: str, filters: list[Filter]) -> list[Item]: ...

    def page(self, tenant: str, query: Query, fields: Mapping[str, FieldSpec]) -> tuple[list[Item], str | None]: ...


class InMemoryRepository:
    """Items in a dict keyed by (tenant, id)."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], Item] = {}

    def get(self, tenant: str, item_id: str) -> Item | None:
        item = self._items.get((tenant, item_id))
        return dict(item) if item is not None else None

    def add(self, item: Item) -> Item:
        self._items[(item["tenantId"], item["id"])] = dict(item)
        return dict(item)

    def replace(self, item: Item) -> Item:
        return self.add(item)

    def delete(self, tenant: str, item_id: str) -> bool:
        return self._items.pop((tenant, item_id), None) is not None

    def find(self, tenant: str, filters: list[Filter]) -> list[Item]:
        return [dict(item) for (owner, _), item in sorted(self._items.items())
                if owner == tenant and all(matches(item, f) for f in filters)]

    def page(self, tenant: str, query: Query, fields: Mapping[str, FieldSpec]) -> tuple[list[Item], str | None]:
        kind = fields[query.sort].kind if query.sort else "string"
        items = ordered(self.find(tenant, list(query.filters)), query, kind)
        chunk = items[query.offset:query.offset + query.limit]
        more = query.offset + query.limit < len(items)
        return chunk, encode_token(query, query.offset + query.limit) if more else None


def _sql(tenant: str, filters: list[Filter], query: Query | None = None) -> tuple[str, list[dict[str, Any]]]:
    """A parameterised Cosmos DB query for the filters (and the order of ``query``)."""
    where, parameters = ["c.tenantId = @tenant"], [{"name": "@tenant", "value": tenant}]
    operators = {"eq": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
    for i, flt in enumerate(filters):
        name = f"@p{i}"
        path = f'c["{flt.field}"]'
        value: Any = flt.value
        if flt.kind in ("decimal", "money"):
            path, value = f"StringToNumber({path})", float(value)
        elif flt.kind == "datetime":
            value = value.isoformat().replace("+00:00", "Z")
        if flt.op == "contains":
            where.append(f"ARRAY_CONTAINS({path}, {name})")
        else:
            where.append(f"{path} {operators[flt.op]} {name}")
        parameters.append({"name": name, "value": value})
    order = ""
    if query is not None and query.sort:
        order = f' ORDER BY c["{query.sort}"] {"DESC" if query.descending else "ASC"}'
    return f"SELECT * FROM c WHERE {' AND '.join(where)}{order}", parameters


class CosmosRepository:
    """One Cosmos DB container per collection (partition key ``/tenantId``), created on first use."""

    def __init__(self, database: str, container: str, *, endpoint: str = "", connection_string: str = "",
                 unique: list[list[str]] | None = None) -> None:
        self._endpoint = endpoint
        self._connection_string = connection_string
        self._database = database
        self._container_name = container
        self._unique = unique or []
        self._container: Any = None

    def _client(self) -> Any:
        if self._container is None:
            from azure.cosmos import CosmosClient, PartitionKey  # lazy: only needed with Cosmos DB

            if self._connection_string:
                client = CosmosClient.from_connection_string(self._connection_string)
            else:
                from azure.identity import DefaultAzureCredential  # the managed identity on Azure

                client = CosmosClient(self._endpoint, credential=DefaultAzureCredential())
            database = client.create_database_if_not_exists(self._database)
            policy = {"uniqueKeys": [{"paths": [f"/{name}" for name in group]} for group in self._unique]}
            self._container = database.create_container_if_not_exists(
                id=self._container_name, partition_key=PartitionKey(path="/tenantId"),
                unique_key_policy=policy if self._unique else None)
        return self._container

    @staticmethod
    def _clean(item: Item) -> Item:
        return {key: value for key, value in item.items() if not key.startswith("_")}

    def get(self, tenant: str, item_id: str) -> Item | None:
        from azure.cosmos.exceptions import CosmosResourceNotFoundError

        try:
            return self._clean(self._client().read_item(item=item_id, partition_key=tenant))
        except CosmosResourceNotFoundError:
            return None

    def add(self, item: Item) -> Item:
        from azure.cosmos.exceptions import CosmosResourceExistsError

        try:
            return self._clean(self._client().create_item(body=item))
        except CosmosResourceExistsError as exc:
            raise DuplicateError(str(exc)) from exc

    def replace(self, item: Item) -> Item:
        from azure.cosmos.exceptions import CosmosResourceExistsError

        try:
            return self._clean(self._client().upsert_item(body=item))
        except CosmosResourceExistsError as exc:
            raise DuplicateError(str(exc)) from exc

    def delete(self, tenant: str, item_id: str) -> bool:
        from azure.cosmos.exceptions import CosmosResourceNotFoundError

        try:
            self._client().delete_item(item=item_id, partition_key=tenant)
        except CosmosResourceNotFoundError:
            return False
        return True

    def find(self, tenant: str, filters: list[Filter]) -> list[Item]:
        sql, parameters = _sql(tenant, filters)
        items = self._client().query_items(query=sql, parameters=parameters, partition_key=tenant)
        return [self._clean(item) for item in items]

    def page(self, tenant: str, query: Query, fields: Mapping[str, FieldSpec]) -> tuple[list[Item], str | None]:
        sql, parameters = _sql(tenant, list(query.filters), query)
        pages = self._client().query_items(query=sql, parameters=parameters, partition_key=tenant,
                                           max_item_count=query.limit).by_page(query.token)
        items = [self._clean(item) for item in next(pages, [])]
        store_token = pages.continuation_token
        return items, encode_token(query, 0, store_token) if store_token else None


_repositories: dict[str, Repository] = {}


def repository_for(collection: str, unique: list[list[str]] | None = None) -> Repository:
    """The repository of one collection (created once per process)."""
    if collection not in _repositories:
        endpoint = os.environ.get("COSMOS_ENDPOINT", "")
        connection = os.environ.get("COSMOS_CONNECTION", "")
        if endpoint or connection:
            database = os.environ.get("COSMOS_DATABASE", "sample-service")
            _repositories[collection] = CosmosRepository(database, collection, endpoint=endpoint,
                                                         connection_string=connection, unique=unique)
        else:
            _repositories[collection] = InMemoryRepository()
    return _repositories[collection]


def reset_repositories() -> None:
    """Forget every repository (tests call this so each test starts empty)."""
    _repositories.clear()
