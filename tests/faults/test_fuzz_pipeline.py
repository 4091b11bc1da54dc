"""Hypothesis fuzzing of the handling pipeline: garbage is dead-lettered with a reason, nothing valid is lost.

Every example publishes one bad message and one valid event to the embedded bus, receives both
under a peek-lock, and hands them to the pipeline as real ``azure.functions`` Service Bus messages
(as the local host does). The bad one must be dead-lettered at once with the expected reason code
and a description; the valid one must be handled exactly once. The pipeline may raise nothing but
``TransientHandlingError``. One runtime per module (unique ids per example) keeps this fast.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.bootstrap import Runtime, bootstrap
from shared.contracts.envelope import Envelope, wire_bytes
from shared.handling.decisions import Outcome, TransientHandlingError
from shared.host.local import to_functions_message
from shared.ports import FakeClock, OutgoingMessage, PropertyValue
from tests.conftest import make_settings, signed_event
from tests.faults.harness import INPUT, Harness

MAX_BYTES = 8192  # FACTORY_MAX_MESSAGE_BYTES for this module: oversized bodies stay cheap to build
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    home: Path = tmp_path_factory.mktemp("fuzz") / "factory"
    rt = bootstrap(make_settings(home, FACTORY_MAX_MESSAGE_BYTES=MAX_BYTES), clock=FakeClock())
    h = Harness(rt)
    yield h
    h.host.close()
    rt.close()


# --------------------------------------------------------------------------- driving one example


def valid_event(rt: Runtime, data: Mapping[str, Any] | None = None, *, tenant_id: str = "t1") -> Envelope:
    return signed_event(rt, INPUT, data or {"projectId": "p1", "outcome": "released"}, id=str(uuid.uuid4()),
                        tenant_id=tenant_id)


def props_of(env: Envelope) -> dict[str, PropertyValue]:
    return dict(env.to_message().application_properties)


def call_pipeline(h: Harness, message: Any) -> Outcome:
    """The pipeline on one message; anything but ``TransientHandlingError`` escaping is a failure."""
    try:
        return h.pipeline.handle("counter", message)
    except TransientHandlingError:
        raise
    except BaseException as exc:  # catching everything is the point of the test
        pytest.fail(f"the pipeline raised {type(exc).__name__}: {str(exc)[:300]} "
                    "(only TransientHandlingError may escape; a bad message must be dead-lettered)")


def run_example(h: Harness, bad: OutgoingMessage, reasons: set[str]) -> None:
    """Publish ``bad`` then a valid event; the bad one is dead-lettered with one of ``reasons``."""
    rt = h.rt
    assert rt.receiver is not None
    before = h.state() or {"count": 0}
    calls = h.handler.calls
    good = valid_event(rt)
    rt.bus.publish([bad, good.to_message()])
    received = rt.receiver.receive("counter", max_messages=2)
    assert [m.message_id for m in received] == [bad.message_id, good.id]
    bad_rx, good_rx = received

    outcome = call_pipeline(h, to_functions_message(bad_rx))
    assert outcome.status == "dead-lettered", outcome
    assert h.handler.calls == calls  # the handler never saw it
    dead = {d.message_id: d for d in rt.receiver.dead_letters("counter")}[bad.message_id]
    assert dead.reason in reasons, (dead.reason, dead.description)
    assert dead.description.strip(), dead.reason
    assert dead.delivery_count == 1  # dead-lettered at once, not after maxDeliveryCount retries
    assert outcome.reason.startswith(dead.reason + ": ")
    rt.settlement.settled.discard(bad_rx.lock_token)  # what the host does when it sees it settled

    done = call_pipeline(h, to_functions_message(good_rx))
    assert done.status == "completed" and done.event_id == good.id
    rt.receiver.complete(good_rx.lock_token)
    after = h.state()
    assert after is not None and after["count"] == before["count"] + 1
    assert after["events"][-1] == good.id
    assert h.outputs() == list(done.emitted) and len(done.emitted) == 1


def message(body: bytes, props: Mapping[str, PropertyValue] | None = None, *, message_id: str | None = None,
            ) -> OutgoingMessage:
    return OutgoingMessage(message_id or f"bad-{uuid.uuid4()}", body, dict(props or {"type": INPUT}))


# --------------------------------------------------------------------------- strategies

json_scalars = (st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=30)
                | st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=5)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=20)
ATTRIBUTES = ["specversion", "id", "type", "source", "time", "datacontenttype", "dataschema", "data",
              "eventversion", "traceid", "tenantid", "projectid", "signature", "causationid"]
cloudevent_like = st.dictionaries(st.sampled_from(ATTRIBUTES) | st.text(max_size=10), json_values,
                                  max_size=12)

valid_payloads = st.fixed_dictionaries(
    {"projectId": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,59}", fullmatch=True),
     "outcome": st.sampled_from(["released", "failed", "cancelled"])},
    optional={"reason": st.text(min_size=1, max_size=60)})
not_a_string = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.lists(
    st.integers(), max_size=3) | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)


@st.composite
def wrongly_typed_payloads(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = dict(draw(valid_payloads))
    how = draw(st.sampled_from(["projectId", "outcome", "reason", "missing", "empty"]))
    if how == "projectId":
        data["projectId"] = draw(not_a_string)
    elif how == "outcome":
        data["outcome"] = draw(not_a_string | st.text().filter(lambda s: s not in ("released", "failed",
                                                                                   "cancelled")))
    elif how == "reason":
        data["reason"] = draw(not_a_string)
    elif how == "empty":
        data["projectId"] = ""
    else:
        del data[draw(st.sampled_from(["projectId", "outcome"]))]
    return data


# --------------------------------------------------------------------------- malformed bodies


@FUZZ
@given(body=st.binary(max_size=600))
def test_random_bytes_are_dead_lettered_as_invalid_envelope(harness: Harness, body: bytes) -> None:
    run_example(harness, message(body), {"InvalidEnvelope"})


@FUZZ
@given(doc=json_values | cloudevent_like)
def test_random_json_is_dead_lettered_as_invalid_envelope(harness: Harness, doc: Any) -> None:
    run_example(harness, message(json.dumps(doc).encode()), {"InvalidEnvelope"})


@FUZZ
@given(data=st.data())
def test_truncated_envelopes_are_dead_lettered_as_invalid_envelope(harness: Harness,
                                                                    data: st.DataObject) -> None:
    event = valid_event(harness.rt)
    body = wire_bytes(event)
    cut = data.draw(st.integers(0, len(body) - 1), label="cut")
    run_example(harness, message(body[:cut], props_of(event), message_id=event.id), {"InvalidEnvelope"})


REMOVED_REASON = {
    **{k: "InvalidEnvelope" for k in ("specversion", "id", "type", "source", "time", "data", "traceid",
                                      "tenantid", "eventversion")},
    "signature": "SignatureMissing",
    "projectid": "SignatureInvalid",
    "dataschema": "SignatureInvalid",
}


@FUZZ
@given(removed=st.sampled_from(sorted(REMOVED_REASON)))
def test_envelope_missing_an_attribute_is_dead_lettered_with_its_reason(harness: Harness,
                                                                        removed: str) -> None:
    event = valid_event(harness.rt)
    doc = json.loads(wire_bytes(event))
    del doc[removed]
    run_example(harness, message(json.dumps(doc).encode(), props_of(event), message_id=event.id),
                {REMOVED_REASON[removed]})


# --------------------------------------------------------------------------- oversized


@FUZZ
@given(extra=st.integers(1, 3 * MAX_BYTES), filler=st.sampled_from(["x", "é", "\u6f22"]))
def test_oversized_bodies_are_dead_lettered_as_too_large(harness: Harness, extra: int, filler: str) -> None:
    base = valid_event(harness.rt)
    size = len(wire_bytes(base))
    padding = filler * ((MAX_BYTES - size) // len(filler.encode()) + extra)
    event = signed_event(harness.rt, INPUT, {"projectId": "p1", "outcome": "released", "reason": padding},
                         id=str(uuid.uuid4()))
    body = wire_bytes(event)
    assert len(body) > MAX_BYTES
    run_example(harness, message(body, props_of(event), message_id=event.id), {"MessageTooLarge"})


@FUZZ
@given(pattern=st.binary(min_size=1, max_size=64), extra=st.integers(1, 1000))
def test_oversized_garbage_is_dead_lettered_as_too_large_before_parsing(harness: Harness, pattern: bytes,
                                                                        extra: int) -> None:
    size = MAX_BYTES + extra
    body = (pattern * (size // len(pattern) + 1))[:size]
    run_example(harness, message(body), {"MessageTooLarge"})


# --------------------------------------------------------------------------- contract violations


@FUZZ
@given(data=wrongly_typed_payloads())
def test_wrongly_typed_payloads_are_dead_lettered_as_payload_invalid(harness: Harness, data: dict[str, Any]
                                                                     ) -> None:
    event = valid_event(harness.rt, data)
    run_example(harness, event.to_message(), {"PayloadInvalid"})


@FUZZ
@given(type_=st.from_regex(r"Zz[A-Za-z0-9]{1,20}", fullmatch=True), major=st.integers(2, 99))
def test_unknown_types_and_versions_are_dead_lettered_with_their_reason(harness: Harness, type_: str,
                                                                         major: int) -> None:
    event = valid_event(harness.rt)
    unknown_type = event.model_copy(update={"type": type_}).signed(harness.rt.signing_key)
    run_example(harness, message(wire_bytes(unknown_type), props_of(event), message_id=event.id),
                {"UnknownType"})
    event = valid_event(harness.rt)
    unknown_version = event.model_copy(update={"version": f"{major}.0.0"}).signed(harness.rt.signing_key)
    run_example(harness, message(wire_bytes(unknown_version), props_of(event), message_id=event.id),
                {"UnknownVersion"})


# --------------------------------------------------------------------------- signatures


@FUZZ
@given(data=valid_payloads)
def test_unsigned_events_are_dead_lettered_as_signature_missing(harness: Harness,
                                                                 data: dict[str, Any]) -> None:
    event = valid_event(harness.rt, data).model_copy(update={"signature": None})
    run_example(harness, event.to_message(), {"SignatureMissing"})


@FUZZ
@given(data=valid_payloads, field=st.sampled_from(["data", "tenant_id", "source", "trace_id", "time"]))
def test_tampered_events_are_dead_lettered_as_signature_invalid(harness: Harness, data: dict[str, Any],
                                                                field: str) -> None:
    event = valid_event(harness.rt)
    changes: dict[str, Any] = {
        "data": data if data != event.data else {**data, "reason": "changed"},
        "tenant_id": "t2", "source": "someone-else", "trace_id": "f" * 32,
        "time": event.time.replace(year=event.time.year + 1),
    }
    tampered = event.model_copy(update={field: changes[field]})
    props = props_of(tampered)
    run_example(harness, message(wire_bytes(tampered), props, message_id=event.id), {"SignatureInvalid"})


@FUZZ
@given(key=st.binary(min_size=1, max_size=64))
def test_events_signed_with_another_key_are_dead_lettered_as_signature_invalid(harness: Harness,
                                                                               key: bytes) -> None:
    event = valid_event(harness.rt)
    forged = event.signed(key if key != harness.rt.signing_key else key + b"!")
    run_example(harness, forged.to_message(), {"SignatureInvalid"})


# --------------------------------------------------------------------------- boundaries


@FUZZ
@given(tenant=st.text(min_size=1, max_size=40).filter(lambda t: t != "t1"))
def test_cross_tenant_messages_are_dead_lettered_as_tenant_boundary_violation(harness: Harness,
                                                                              tenant: str) -> None:
    event = valid_event(harness.rt, tenant_id="t1")
    props = {**props_of(event), "tenantId": tenant}
    run_example(harness, message(wire_bytes(event), props, message_id=event.id), {"TenantBoundaryViolation"})


@FUZZ
@given(project=st.text(min_size=1, max_size=40).filter(lambda p: p != "p1"))
def test_project_property_mismatch_is_dead_lettered(harness: Harness, project: str) -> None:
    event = valid_event(harness.rt)
    props = {**props_of(event), "projectId": project}
    run_example(harness, message(wire_bytes(event), props, message_id=event.id), {"PropertyMismatch"})


@FUZZ
@given(other=st.text(min_size=1, max_size=60))
def test_message_id_differing_from_the_event_id_is_dead_lettered(harness: Harness, other: str) -> None:
    event = valid_event(harness.rt)
    run_example(harness, message(wire_bytes(event), props_of(event), message_id=f"{other}-{uuid.uuid4()}"),
                {"MessageIdMismatch"})


# --------------------------------------------------------------------------- known escapes


def test_deeply_nested_json_is_dead_lettered_as_invalid_envelope(harness: Harness) -> None:
    run_example(harness, message(b"[" * 5000), {"InvalidEnvelope"})


def test_json_with_a_huge_integer_is_dead_lettered_as_invalid_envelope(harness: Harness) -> None:
    body = b'{"specversion": "1.0", "data": ' + b"7" * 4400 + b"}"
    run_example(harness, message(body), {"InvalidEnvelope"})
