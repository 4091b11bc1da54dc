"""List queries: filters, sort order, page size and continuation tokens from the query string.

``GET /api/<collection>?status=active&dueOn.lt=2024-06-01&sort=-dueOn&limit=20`` lists the items
whose ``status`` is ``active`` and whose ``dueOn`` is before 2024-06-01, latest due first, 20 per
page. The response carries ``continuationToken`` while more items follow; pass it back (with the
same filters and sort) to get the next page.

* ``field=value`` keeps items whose field equals the value (for a list field: contains it)
* ``field.lt|lte|gt|gte=value`` compares (fields with an order: text, numbers, dates)
* ``sort=field`` or ``sort=-field`` (descending); items with equal values keep id order
* ``limit`` items per page (``DEFAULT_LIMIT`` by default, at most ``MAX_LIMIT``)

An unknown parameter, a bad value or a token from another query is a 400 problem naming it.
"""

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sample_service.problems import Problem

#: defaults of the generated service (the intent stated no page size)
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
RANGE_OPERATORS = ("lt", "lte", "gt", "gte")
_INTEGER = re.compile(r"^-?[0-9]{1,16}$")
_DECIMAL = re.compile(r"^-?[0-9]{1,28}(\.[0-9]{1,28})?$")
_LIMIT = re.compile(r"^[0-9]{1,4}$")  # ASCII digits only: str.isdigit() also says yes to "²"


@dataclass(frozen=True)
class FieldSpec:
    """What a list query may do with a field: ``kind`` is its type (``id`` for a relation id)."""

    name: str
    kind: str
    many: bool = False  # a list field: equality means "contains"
    values: tuple[str, ...] = ()

    @property
    def sortable(self) -> bool:
        return not self.many and self.kind in ("string", "email", "integer", "number", "date", "datetime")

    @property
    def ranged(self) -> bool:
        return not self.many and (self.sortable or self.kind in ("decimal", "money"))


@dataclass(frozen=True)
class Filter:
    field: str
    op: str  # eq | contains | lt | lte | gt | gte
    value: Any
    kind: str


@dataclass(frozen=True)
class Query:
    filters: tuple[Filter, ...] = ()
    sort: str | None = None
    descending: bool = False
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    token: str | None = None  # the store's own continuation token (Cosmos DB), if any

    def fingerprint(self) -> str:
        """What a continuation token is bound to: the filters and the sort, not the page size."""
        shape = [[f.field, f.op, _jsonable(f.value)] for f in self.filters] + [[self.sort, self.descending]]
        return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal | dt.date | uuid.UUID) else value


def _bad(name: str, message: str) -> Problem:
    return Problem(400, f"Query parameter {name!r}: {message}",
                   errors=[{"field": name, "message": message, "type": "query_parameter"}])


def parse_value(name: str, spec: FieldSpec, text: str) -> Any:
    """A query value as the stored JSON value of the field (400 problem naming ``name`` if it is not one)."""
    kind = spec.kind
    try:
        if kind == "integer":
            if not _INTEGER.fullmatch(text):
                raise ValueError("not an integer")
            return int(text)
        if kind == "number":
            value = float(text)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError("not a finite number")
            return value
        if kind in ("decimal", "money"):
            if not _DECIMAL.fullmatch(text):
                raise ValueError('not a decimal number such as "12.50"')
            return Decimal(text)
        if kind == "boolean":
            if text not in ("true", "false"):
                raise ValueError("not true or false")
            return text == "true"
        if kind == "date":
            return dt.date.fromisoformat(text).isoformat()
        if kind == "datetime":
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                raise ValueError("a date-time needs a time zone, e.g. 2024-01-15T10:30:00Z")
            return moment
        if kind == "uuid":
            return str(uuid.UUID(text))
        if kind == "enum" and text not in spec.values:
            raise ValueError(f"not one of {', '.join(spec.values)}")
    except (ValueError, InvalidOperation) as exc:
        raise _bad(name, f"{text[:100]!r} is {exc}") from exc
    if len(text) > 1000:
        raise _bad(name, "is longer than 1000 characters")
    return text


def encode_token(query: Query, offset: int, store_token: str | None = None) -> str:
    body = {"q": query.fingerprint(), "o": offset, "t": store_token}
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def _decode_token(token: str, query: Query) -> tuple[int, str | None]:
    try:
        body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset, fingerprint, store_token = int(body["o"]), str(body["q"]), body.get("t")
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise _bad("continuationToken", "is not a token this service issued; start again without it") from exc
    if fingerprint != query.fingerprint():
        raise _bad("continuationToken", "belongs to a query with other filters or sort; repeat those or start "
                                        "again without it")
    if offset < 0 or (store_token is not None and not isinstance(store_token, str)):
        raise _bad("continuationToken", "is not a token this service issued; start again without it")
    return offset, store_token


def parse_query(params: Mapping[str, str], fields: Mapping[str, FieldSpec]) -> Query:
    """The list query the parameters ask for; every problem is a 400 naming the parameter."""
    filters: list[Filter] = []
    sort, descending, limit, token = None, False, DEFAULT_LIMIT, None
    for name, text in sorted(params.items()):
        if name == "limit":
            if not _LIMIT.fullmatch(text) or not 1 <= int(text) <= MAX_LIMIT:
                raise _bad("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
            limit = int(text)
        elif name == "sort":
            descending = text.startswith("-")
            sort = text.removeprefix("-")
            spec = fields.get(sort)
            if spec is None or not spec.sortable:
                sortable = sorted(f.name for f in fields.values() if f.sortable)
                raise _bad("sort", f"cannot sort by {sort[:100]!r}; sortable fields: {', '.join(sortable)}")
        elif name == "continuationToken":
            token = text
        else:
            field, _, op = name.partition(".")
            spec = fields.get(field)
            if spec is None:
                known = ", ".join(["limit", "sort", "continuationToken", *sorted(fields)])
                raise _bad(name, f"is not a parameter of this list; use one of {known}")
            if op and (op not in RANGE_OPERATORS or not spec.ranged):
                allowed = ", ".join(f"{field}.{o}" for o in RANGE_OPERATORS) if spec.ranged else field
                raise _bad(name, f"is not a filter of this list; use {allowed}")
            filters.append(Filter(field, op or ("contains" if spec.many else "eq"), parse_value(name, spec, text),
                                  spec.kind))
    query = Query(tuple(filters), sort, descending, limit)
    if token is None:
        return query
    offset, store_token = _decode_token(token, query)
    return Query(query.filters, sort, descending, limit, offset, store_token)


def _comparable(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind in ("decimal", "money"):
        return Decimal(str(value))
    if kind == "datetime":
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return value


def matches(item: Mapping[str, Any], flt: Filter) -> bool:
    """Whether a stored item passes one filter (the in-memory store; Cosmos DB runs the same as SQL)."""
    value = item.get(flt.field)
    if flt.op == "contains":
        return isinstance(value, list) and flt.value in [_comparable(v, flt.kind) for v in value]
    left = _comparable(value, flt.kind)
    if flt.op == "eq":
        return left == flt.value
    if left is None:
        return False
    right = flt.value
    return {"lt": left < right, "lte": left <= right, "gt": left > right, "gte": left >= right}[flt.op]


def ordered(items: list[dict[str, Any]], query: Query, kind: str) -> list[dict[str, Any]]:
    """Items in the query's order: by the sort field (missing values first, like Cosmos DB), then by id."""
    out = sorted(items, key=lambda item: str(item.get("id")))
    if query.sort:
        field = query.sort

        def key(item: dict[str, Any]) -> tuple[bool, Any]:
            value = _comparable(item.get(field), kind)
            return value is not None, value if value is not None else 0

        out.sort(key=key, reverse=query.descending)
    return out
