"""The envelope: CloudEvents mapping (checked with the ``cloudevents`` SDK), signing, wire format."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contracts.envelope import (
    CONTENT_TYPE,
    EVENT_ID_NAMESPACE,
    ID_FIELDS,
    Envelope,
    EnvelopeError,
    make_envelope,
    output_event_id,
    parse_traceparent,
    parse_wire,
    span_id_for,
    traceparent,
    wire_bytes,
)
from shared.contracts.masking import MASK
from shared.contracts.registry import default_registry

KEY = b"unit-test-signing-key"
TRACE = "0af7651916cd43dd8448eb211c80319c"
WHEN = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)

OPTIONAL = ("causation_id", "correlation_id", "project_id", "component_tag", "schema_uri",
            "deduplication_key", "scope")


def minimal() -> Envelope:
    return make_envelope("ProjectCompleted", "1.0.0", {"projectId": "p1", "outcome": "released"},
                         source="project-lifecycle", tenant_id="t1", trace_id=TRACE, time=WHEN,
                         id="00000000-0000-4000-8000-000000000001")


def full() -> Envelope:
    return make_envelope(
        "ProjectInitialized", "1.1.0",
        {"projectId": "p1", "productName": "Task tracker",
         "intent": {"entities": [{"name": "Task"}], "n": 2.5, "none": None, "ok": True},
         "ownerEmail": "owner@example.com"},
        source="cli", tenant_id="t1", trace_id=TRACE, time=WHEN, id="00000000-0000-4000-8000-000000000002",
        project_id="p1", causation_id="cause-1", correlation_id="corr-1",
        schema_uri="https://factory.local/contracts/events/domain/ProjectInitialized.v1.json",
        deduplication_key="dedup-1", scope="project", component_tag="api",
    ).signed(KEY)


ENVELOPES = {"minimal": minimal, "full": full}


def sdk_read(body: bytes) -> Any:
    return JSONFormat().read(None, body)


# --------------------------------------------------------------------------- CloudEvents round trip


@pytest.mark.parametrize("build", ENVELOPES.values(), ids=ENVELOPES.keys())
def test_envelope_round_trips_exactly_through_sdk_structured_json(build: Any) -> None:
    env = build()
    body = env.to_cloudevents_json()
    assert Envelope.from_cloudevents_json(body) == env
    assert Envelope.from_cloudevent(sdk_read(body)) == env


@pytest.mark.parametrize("build", ENVELOPES.values(), ids=ENVELOPES.keys())
def test_wire_bytes_parse_with_the_sdk_to_the_same_envelope(build: Any) -> None:
    env = build()
    event = sdk_read(wire_bytes(env))
    assert isinstance(event, CloudEvent)
    assert Envelope.from_cloudevent(event) == env
    assert parse_wire(wire_bytes(env)) == env


@pytest.mark.parametrize("build", ENVELOPES.values(), ids=ENVELOPES.keys())
def test_wire_bytes_carry_the_same_document_the_sdk_writes(build: Any) -> None:
    env = build()
    assert json.loads(wire_bytes(env)) == json.loads(env.to_cloudevents_json())


def test_cloudevent_attributes_map_envelope_fields_to_lowercase_extensions() -> None:
    attrs = full().to_cloudevent().get_attributes()
    assert attrs["specversion"] == "1.0"
    assert attrs["dataschema"] == full().schema_uri
    assert attrs["datacontenttype"] == "application/json"
    expected = {"eventversion": "1.1.0", "traceid": TRACE, "causationid": "cause-1",
                "correlationid": "corr-1", "tenantid": "t1", "projectid": "p1", "componenttag": "api",
                "deduplicationkey": "dedup-1", "scope": "project"}
    assert {k: attrs[k] for k in expected} == expected
    assert str(attrs["signature"]).startswith("hmac-sha256:")
    assert all(name.isalnum() and name.islower() for name in attrs)


def test_envelope_without_optional_fields_writes_no_optional_attributes() -> None:
    doc = json.loads(wire_bytes(minimal()))
    for absent in ("dataschema", "causationid", "correlationid", "projectid", "componenttag",
                   "deduplicationkey", "scope", "signature"):
        assert absent not in doc


def test_time_in_another_offset_is_normalised_to_utc_and_survives_the_round_trip() -> None:
    local = WHEN.astimezone(timezone(timedelta(hours=-7)))
    env = minimal().model_copy(update={"time": local})
    env = Envelope.model_validate(env.to_dict())
    assert env.time.utcoffset() == timedelta(0)
    assert Envelope.from_cloudevents_json(env.to_cloudevents_json()).time == WHEN


json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20) | st.floats(
    allow_nan=False, allow_infinity=False)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40)
optional_ids = st.none() | ids
#: ids that may become keys and paths (event, tenant and project ids) match ID_PATTERN
strict_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,40}", fullmatch=True)


@st.composite
def envelopes(draw: st.DrawFn) -> Envelope:
    optional = {name: draw(optional_ids) for name in OPTIONAL}
    if "project_id" in optional:
        optional["project_id"] = draw(st.none() | strict_ids)
    env = make_envelope(
        draw(st.from_regex(r"[A-Z][A-Za-z0-9]{1,30}", fullmatch=True)),
        draw(st.from_regex(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}", fullmatch=True)),
        draw(st.dictionaries(st.text(max_size=10).filter(lambda k: k not in ID_FIELDS), json_values, max_size=5)),
        source=draw(ids), tenant_id=draw(strict_ids), trace_id=draw(st.from_regex(r"[0-9a-f]{32}", fullmatch=True)),
        time=draw(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1),
                               timezones=st.just(UTC))),
        id=draw(strict_ids), **optional)
    return env.signed(KEY) if draw(st.booleans()) else env


@settings(max_examples=150, deadline=None)
@given(envelopes())
def test_any_envelope_round_trips_through_sdk_and_wire(env: Envelope) -> None:
    assert Envelope.from_cloudevents_json(env.to_cloudevents_json()) == env
    assert Envelope.from_cloudevent(sdk_read(wire_bytes(env))) == env
    parsed = parse_wire(wire_bytes(env))
    assert parsed == env
    assert parsed.signature_valid(KEY) == (env.signature is not None)


# --------------------------------------------------------------------------- signing


def test_signed_envelope_is_valid_under_its_key() -> None:
    env = minimal().signed(KEY)
    assert env.signature is not None and env.signature.startswith("hmac-sha256:")
    assert env.signature_valid(KEY)


def test_signature_survives_the_wire() -> None:
    assert parse_wire(wire_bytes(full())).signature_valid(KEY)


@pytest.mark.parametrize("tamper", [
    {"data": {"projectId": "p1", "outcome": "cancelled"}},
    {"type": "ProjectInitialized"},
    {"tenant_id": "t2"},
    {"project_id": "p2"},
    {"trace_id": "f" * 32},
    {"time": WHEN + timedelta(microseconds=1)},
], ids=["data", "type", "tenant", "project", "trace", "time"])
def test_tampered_envelope_fails_verification(tamper: dict[str, Any]) -> None:
    signed = minimal().signed(KEY)
    assert not signed.model_copy(update=tamper).signature_valid(KEY)


def test_tampering_on_the_wire_fails_verification() -> None:
    doc = json.loads(wire_bytes(minimal().signed(KEY)))
    doc["tenantid"] = "t2"
    assert not parse_wire(json.dumps(doc)).signature_valid(KEY)


def test_signature_made_with_another_key_is_invalid() -> None:
    assert not minimal().signed(b"another-key").signature_valid(KEY)


def test_unsigned_envelope_is_not_valid() -> None:
    assert minimal().signature is None
    assert not minimal().signature_valid(KEY)


def test_canonical_bytes_exclude_the_signature() -> None:
    assert minimal().signed(KEY).canonical_bytes() == minimal().canonical_bytes()
    assert b"signature" not in minimal().signed(KEY).canonical_bytes()


def test_canonical_bytes_do_not_depend_on_dict_order() -> None:
    forward = {"projectId": "p1", "outcome": "released", "reason": {"a": 1, "b": [1, {"x": 1, "y": 2}]}}
    backward = {"reason": {"b": [1, {"y": 2, "x": 1}], "a": 1}, "outcome": "released", "projectId": "p1"}
    one = minimal().model_copy(update={"data": forward})
    two = minimal().model_copy(update={"data": backward})
    assert list(one.data) != list(two.data)
    assert one.canonical_bytes() == two.canonical_bytes()
    assert one.signed(KEY).signature == two.signed(KEY).signature
    assert one.signed(KEY).model_copy(update={"data": backward}).signature_valid(KEY)


# --------------------------------------------------------------------------- parse_wire rejections


def wire_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(wire_bytes(minimal()))
    return doc


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe\x00garbage", b""],
                         ids=["syntax", "bytes", "empty"])
def test_parse_wire_rejects_non_json(body: bytes) -> None:
    with pytest.raises(EnvelopeError, match="not JSON"):
        parse_wire(body)


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null"])
def test_parse_wire_rejects_json_that_is_not_an_object(body: bytes) -> None:
    with pytest.raises(EnvelopeError, match="JSON object"):
        parse_wire(body)


@pytest.mark.parametrize("version", ["0.3", "1", None])
def test_parse_wire_rejects_wrong_specversion_naming_it(version: str | None) -> None:
    doc = wire_doc()
    doc["specversion"] = version
    with pytest.raises(EnvelopeError, match=r"specversion .*expected '1\.0'"):
        parse_wire(json.dumps(doc))


def test_parse_wire_rejects_missing_specversion() -> None:
    doc = wire_doc()
    del doc["specversion"]
    with pytest.raises(EnvelopeError, match="specversion"):
        parse_wire(json.dumps(doc))


def test_parse_wire_rejects_unknown_attributes_naming_them() -> None:
    doc = wire_doc()
    doc["priority"] = "high"
    doc["traceId"] = TRACE  # camelCase is the envelope's spelling, not a CloudEvents attribute
    with pytest.raises(EnvelopeError, match=r"unknown CloudEvents attributes \['priority', 'traceId'\]"):
        parse_wire(json.dumps(doc))


@pytest.mark.parametrize("trace", ["XYZ", "A" * 32, "0" * 31, "0" * 33])
def test_parse_wire_rejects_bad_trace_id_naming_the_field(trace: str) -> None:
    doc = wire_doc()
    doc["traceid"] = trace
    with pytest.raises(EnvelopeError, match="traceId"):
        parse_wire(json.dumps(doc))


@pytest.mark.parametrize(("attribute", "value", "field"), [
    ("time", "2026-01-01T00:00:00", "time"),
    ("time", "yesterday", "time"),
    ("type", "lowercase", "type"),
    ("eventversion", "1.0", "version"),
    ("tenantid", "", "tenantId"),
    ("data", [1, 2], "data"),
])
def test_parse_wire_rejects_invalid_fields_naming_them(attribute: str, value: Any, field: str) -> None:
    doc = wire_doc()
    doc[attribute] = value
    with pytest.raises(EnvelopeError, match=f"invalid envelope: .*{field}"):
        parse_wire(json.dumps(doc))


@pytest.mark.parametrize("missing", ["id", "type", "source", "time", "data", "traceid", "tenantid",
                                     "eventversion"])
def test_parse_wire_names_a_missing_required_field(missing: str) -> None:
    doc = wire_doc()
    del doc[missing]
    with pytest.raises(EnvelopeError, match="Field required"):
        parse_wire(json.dumps(doc))


def test_parse_wire_rejects_deeply_nested_json_as_an_envelope_error() -> None:
    with pytest.raises(EnvelopeError):
        parse_wire(b"[" * 100_000)


def test_parse_wire_rejects_a_huge_integer_as_an_envelope_error() -> None:
    with pytest.raises(EnvelopeError):
        parse_wire(b'{"specversion": "1.0", "data": {"n": ' + b"9" * 5000 + b"}}")


# --------------------------------------------------------------------------- ids and trace context


def test_output_event_id_is_deterministic_uuid5() -> None:
    first = output_event_id("vision-architect", "evt-1", 0)
    assert first == output_event_id("vision-architect", "evt-1", 0)
    assert uuid.UUID(first).version == 5
    assert first == str(uuid.uuid5(EVENT_ID_NAMESPACE, "vision-architect:evt-1:0"))


def test_output_event_id_differs_by_consumer_incoming_event_and_index() -> None:
    ids_ = {output_event_id(c, e, i) for c in ("a", "b") for e in ("evt-1", "evt-2") for i in range(3)}
    assert len(ids_) == 12


def test_traceparent_is_w3c_version_00_sampled() -> None:
    span = span_id_for("evt-1")
    value = traceparent(TRACE, span)
    assert value == f"00-{TRACE}-{span}-01"
    assert parse_traceparent(value) == (TRACE, span)


def test_span_id_for_is_stable_16_hex() -> None:
    span = span_id_for("evt-1")
    assert span == span_id_for("evt-1") != span_id_for("evt-2")
    assert len(span) == 16 and int(span, 16) >= 0


@pytest.mark.parametrize("value", [None, "", "garbage", f"00-{TRACE}-01",
                                   f"00-{TRACE[:-1]}-b7ad6b7169203331-01", f"00-{TRACE}-b7ad6b716920333-01"])
def test_malformed_traceparent_parses_to_none(value: str | None) -> None:
    assert parse_traceparent(value) is None


def test_traceparent_with_non_hex_ids_parses_to_none() -> None:
    assert parse_traceparent(f"00-{'z' * 32}-{'z' * 16}-01") is None


def test_message_carries_routing_properties_and_the_wire_body() -> None:
    env = full()
    msg = env.to_message()
    assert msg.message_id == env.id
    assert msg.body == wire_bytes(env)
    assert msg.content_type == CONTENT_TYPE
    assert msg.subject == env.type
    assert msg.correlation_id == "corr-1"
    props = msg.application_properties
    assert {k: props[k] for k in ("type", "version", "tenantId", "projectId")} == {
        "type": "ProjectInitialized", "version": "1.1.0", "tenantId": "t1", "projectId": "p1"}
    assert parse_traceparent(str(props["traceparent"])) == (TRACE, span_id_for(env.id))


def test_message_without_correlation_id_correlates_by_trace() -> None:
    assert minimal().to_message().correlation_id == TRACE
    assert "projectId" not in minimal().to_message().application_properties


# --------------------------------------------------------------------------- masking


def test_sensitive_owner_email_is_masked_and_the_rest_kept() -> None:
    registry = default_registry()
    data = dict(full().data)
    masked = registry.mask("ProjectInitialized", "1.1.0", data)
    assert masked["ownerEmail"] == MASK
    assert {k: v for k, v in masked.items() if k != "ownerEmail"} == {k: v for k, v in data.items()
                                                                      if k != "ownerEmail"}
    assert data["ownerEmail"] == "owner@example.com"  # the input is not modified


def test_masking_applies_to_older_minor_versions_of_the_same_major() -> None:
    data = {"projectId": "p1", "productName": "x", "intent": {}, "ownerEmail": "a@b.example"}
    masked = default_registry().mask("ProjectInitialized", "1.0.0", data)
    assert masked["ownerEmail"] == MASK


def test_masking_without_the_sensitive_field_changes_nothing() -> None:
    data = {"projectId": "p1", "productName": "x", "intent": {"a": 1}}
    assert default_registry().mask("ProjectInitialized", "1.1.0", data) == data


# --------------------------------------------------------------------------- ids never become paths


@pytest.mark.parametrize("bad", ["../../../../victim", "a/b", "a/../b", "..", ".hidden", "a\\b", "", "x" * 129,
                                 "-rf", "a b"])
def test_event_tenant_and_project_ids_that_could_become_paths_are_refused_at_the_envelope(bad: str) -> None:
    good = minimal().to_dict()
    for field in ("id", "tenantId", "projectId"):
        with pytest.raises(ValueError, match=rf"{field}\n  String should match pattern"):
            Envelope.model_validate({**good, field: bad})
    for key in ID_FIELDS if bad else ():
        if key == "instanceId" and bad == "a/b":
            continue  # <project>/<service>: a per-service flow's instance (each part an id)
        with pytest.raises(ValueError, match=f"data.{key}"):
            Envelope.model_validate({**good, "data": {key: bad}})
