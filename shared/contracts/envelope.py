"""The event envelope: the pydantic model, CloudEvents mapping, signing, wire format.

The envelope maps 1:1 onto CloudEvents 1.0 (structured JSON mode): ``id``, ``type``,
``source``, ``time`` and ``data`` are CloudEvents attributes, ``schemaUri`` is
``dataschema``, and every other field is a lowercase extension attribute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from shared.ports import OutgoingMessage, PropertyValue

#: namespace for deterministic output event ids (uuid5 of consumer + incoming id + index)
EVENT_ID_NAMESPACE = uuid.UUID("8f4b3a52-8e0b-4c52-9d1f-5f6a0c7e2d11")

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
SIGNATURE_SCHEME = "hmac-sha256"

# envelope field -> CloudEvents extension attribute (lowercase alphanumerics only)
_EXTENSIONS: dict[str, str] = {
    "version": "eventversion",
    "traceId": "traceid",
    "causationId": "causationid",
    "correlationId": "correlationid",
    "tenantId": "tenantid",
    "projectId": "projectid",
    "componentTag": "componenttag",
    "deduplicationKey": "deduplicationkey",
    "scope": "scope",
    "signature": "signature",
}


#: ids that may reach a path, a partition key or a header: letters, digits, '.', '_', '-', not starting with a
#: separator, at most 128 characters (no '/', no '\\', no '..' prefix, never empty)
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"
_ID = re.compile(ID_PATTERN)
#: payload fields that name an instance, a project, a template or an execution: checked like the envelope ids
ID_FIELDS = ("projectId", "instanceId", "templateId", "executionId")


def valid_id(value: object) -> bool:
    """Whether ``value`` is a string matching :data:`ID_PATTERN`."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


class EnvelopeError(ValueError):
    """The message is not a valid envelope. Permanent: retrying cannot fix it."""


class Envelope(BaseModel):
    """One event on the bus. Immutable; ``with_`` helpers return copies."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    id: str = Field(pattern=ID_PATTERN)
    type: str = Field(pattern=r"^[A-Z][A-Za-z0-9]{1,99}$")
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    source: str = Field(min_length=1, max_length=200)
    time: datetime
    trace_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    causation_id: str | None = None
    correlation_id: str | None = None
    tenant_id: str = Field(pattern=ID_PATTERN)
    project_id: str | None = Field(None, pattern=ID_PATTERN)
    component_tag: str | None = None
    schema_uri: str | None = None
    deduplication_key: str | None = None
    scope: str | None = None
    signature: str | None = None
    data: dict[str, Any]

    @field_validator("data")
    @classmethod
    def _ids_in_data(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in ID_FIELDS:
            # a non-string or empty value is the payload schema's to refuse; a string must be an id
            raw = value.get(key)
            parts = raw.split("/", 1) if key == "instanceId" and isinstance(raw, str) else [raw]  # <project>/<svc>
            if isinstance(raw, str) and raw and not all(valid_id(p) for p in parts):
                raise ValueError(f"data.{key} {raw[:80]!r} is not an id: use letters, digits, '.', '_' "
                                 "and '-' (at most 128, not starting with '.', '_' or '-')")
        return value

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a timezone (UTC)")
        return value.astimezone(UTC)

    # ----------------------------------------------------------------- views

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])

    def to_dict(self) -> dict[str, Any]:
        """camelCase JSON-ready dict, without unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def canonical_bytes(self) -> bytes:
        """What the signature covers: every field but ``signature``, sorted, compact."""
        doc = self.to_dict()
        doc.pop("signature", None)
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    # ----------------------------------------------------------------- signing

    def signed(self, key: bytes) -> Envelope:
        mac = hmac.new(key, self.canonical_bytes(), hashlib.sha256).digest()
        sig = f"{SIGNATURE_SCHEME}:{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"
        return self.model_copy(update={"signature": sig})

    def signature_valid(self, key: bytes) -> bool:
        if not self.signature:
            return False
        expected = self.signed(key).signature or ""
        return hmac.compare_digest(expected.encode(), self.signature.encode())

    # ----------------------------------------------------------------- CloudEvents

    def to_cloudevent(self) -> Any:
        """A ``cloudevents`` v1.0 event object carrying every envelope field."""
        from cloudevents.core.v1.event import CloudEvent

        doc = self.to_dict()
        attributes: dict[str, Any] = {
            "specversion": "1.0",
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "time": self.time,
            "datacontenttype": "application/json",
        }
        if self.schema_uri:
            attributes["dataschema"] = self.schema_uri
        for name, ext in _EXTENSIONS.items():
            if name in doc:
                attributes[ext] = doc[name]
        return CloudEvent(attributes, dict(self.data))

    @classmethod
    def from_cloudevent(cls, event: Any) -> Envelope:
        attrs = event.get_attributes()
        doc: dict[str, Any] = {
            "id": attrs["id"],
            "type": attrs["type"],
            "source": attrs["source"],
            "time": attrs.get("time"),
            "data": event.get_data(),
        }
        if attrs.get("dataschema"):
            doc["schemaUri"] = attrs["dataschema"]
        for name, ext in _EXTENSIONS.items():
            if ext in attrs and attrs[ext] is not None:
                doc[name] = attrs[ext]
        return cls.model_validate(doc)

    def to_cloudevents_json(self) -> bytes:
        """Structured-mode CloudEvents JSON, produced by the ``cloudevents`` package."""
        from cloudevents.core.formats.json import JSONFormat

        return JSONFormat().write(self.to_cloudevent())

    @classmethod
    def from_cloudevents_json(cls, body: bytes | str) -> Envelope:
        from cloudevents.core.formats.json import JSONFormat

        return cls.from_cloudevent(JSONFormat().read(None, body))

    # ----------------------------------------------------------------- wire

    def to_message(self, *, parent_span_id: str | None = None,
                   extra_properties: Mapping[str, str] | None = None,
                   scheduled_enqueue_time: datetime | None = None) -> OutgoingMessage:
        """The Service Bus message for this event (body = CloudEvents structured JSON)."""
        props: dict[str, PropertyValue] = {
            "type": self.type,
            "version": self.version,
            "tenantId": self.tenant_id,
            "traceparent": traceparent(self.trace_id, parent_span_id or span_id_for(self.id)),
        }
        if self.project_id:
            props["projectId"] = self.project_id
        if extra_properties:
            props.update(extra_properties)
        return OutgoingMessage(
            message_id=self.id,
            body=wire_bytes(self),
            application_properties=props,
            content_type=CONTENT_TYPE,
            subject=self.type,
            correlation_id=self.correlation_id or self.trace_id,
            scheduled_enqueue_time=scheduled_enqueue_time,
        )


def wire_bytes(envelope: Envelope) -> bytes:
    """Structured CloudEvents JSON, written directly (same bytes shape the SDK produces).

    The hot path avoids building an SDK object per message; ``tests/unit/test_envelope.py``
    proves these bytes parse with the ``cloudevents`` package back to the same envelope.
    """
    doc = envelope.to_dict()
    out: dict[str, Any] = {
        "specversion": "1.0",
        "id": doc["id"],
        "type": doc["type"],
        "source": doc["source"],
        "time": doc["time"],
        "datacontenttype": "application/json",
    }
    if "schemaUri" in doc:
        out["dataschema"] = doc["schemaUri"]
    for name, ext in _EXTENSIONS.items():
        if name in doc:
            out[ext] = doc[name]
    out["data"] = doc["data"]
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode()


def parse_wire(body: bytes | str) -> Envelope:
    """Parse a structured CloudEvents JSON body into an envelope, or raise ``EnvelopeError``."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise EnvelopeError(f"message body is not JSON: {type(exc).__name__}: {str(exc)[:200]}") from exc
    if not isinstance(doc, dict):
        raise EnvelopeError("message body must be a JSON object (a CloudEvent)")
    if doc.get("specversion") != "1.0":
        raise EnvelopeError(
            f"unsupported CloudEvents specversion {doc.get('specversion')!r}; expected '1.0'"
        )
    env: dict[str, Any] = {k: doc[k] for k in ("id", "type", "source", "time", "data") if k in doc}
    if "dataschema" in doc:
        env["schemaUri"] = doc["dataschema"]
    for name, ext in _EXTENSIONS.items():
        if ext in doc:
            env[name] = doc[ext]
    known = {"specversion", "datacontenttype", "dataschema", "id", "type", "source", "time", "data",
             *(_EXTENSIONS.values())}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise EnvelopeError(f"unknown CloudEvents attributes {unknown}; the envelope allows "
                            f"{sorted(known)}")
    try:
        return Envelope.model_validate(env)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'envelope'}: {e['msg']}" for e in exc.errors()
        )
        raise EnvelopeError(f"invalid envelope: {problems}") from exc


_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")


def traceparent(trace_id: str, span_id: str) -> str:
    return f"00-{trace_id}-{span_id}-01"


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    return match.group(1), match.group(2)


def span_id_for(seed: str) -> str:
    """A stable 16-hex span id derived from a string (an event id, a handling key)."""
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def new_trace_id() -> str:
    return uuid.uuid4().hex


def output_event_id(consumer: str, incoming_id: str, index: int) -> str:
    """Deterministic id of a handler's ``index``-th output: a redelivery yields the same ids."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{consumer}:{incoming_id}:{index}"))


def make_envelope(
    type: str,
    version: str,
    data: Mapping[str, Any],
    *,
    source: str,
    tenant_id: str,
    trace_id: str,
    time: datetime,
    id: str | None = None,
    project_id: str | None = None,
    causation_id: str | None = None,
    correlation_id: str | None = None,
    schema_uri: str | None = None,
    deduplication_key: str | None = None,
    scope: str | None = None,
    component_tag: str | None = None,
) -> Envelope:
    return Envelope(
        id=id or str(uuid.uuid4()),
        type=type,
        version=version,
        source=source,
        time=time,
        trace_id=trace_id,
        causation_id=causation_id,
        correlation_id=correlation_id,
        tenant_id=tenant_id,
        project_id=project_id,
        component_tag=component_tag,
        schema_uri=schema_uri,
        deduplication_key=deduplication_key,
        scope=scope,
        data=dict(data),
    )
