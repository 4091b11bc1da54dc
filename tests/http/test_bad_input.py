"""Bad input through a real socket and through the bus: alias bombs, framing errors, oversized and deeply
nested bodies, traversal ids, cross-tenant commands. Zero 500s, zero tracebacks, zero crashes; every refusal
says why; a valid project sent between the bad requests still completes."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.contracts.envelope import make_envelope, new_trace_id, wire_bytes
from shared.ports import OutgoingMessage
from shared.product.projects import project_status
from tests.live import LiveFactory, live_factory

ROOT = Path(__file__).resolve().parents[2]
INTENT = (ROOT / "examples" / "task-tracker.yaml").read_bytes()
ALIAS_BOMB = b"a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" \
             b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e]\n"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveFactory]:
    with live_factory(tmp_path_factory.mktemp("bad") / "home", read_timeout=0.5) as factory:
        yield factory


def raw(live: LiveFactory, request: bytes) -> tuple[int, bytes]:
    """One request as raw bytes over a socket; the status and the body of the answer."""
    with socket.create_connection((live.server.host, live.server.port), timeout=30) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head, "the server closed the connection without an answer"
    return int(head.split(b" ", 2)[1]), body


def post(live: LiveFactory, path: str, body: bytes, *, headers: str = "", token: bool = True,
         length: str | None = None) -> tuple[int, bytes]:
    auth = f"Authorization: Bearer {live.token}\r\n" if token else ""
    size = str(len(body)) if length is None else length
    return raw(live, (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/yaml\r\n{auth}"
                      f"{headers}Content-Length: {size}\r\nConnection: close\r\n\r\n").encode() + body)


BAD: list[tuple[str, dict[str, object], int]] = [
    ("alias bomb", {"body": ALIAS_BOMB}, 400),
    ("deeply nested JSON", {"body": b"[" * 100_000 + b"]" * 100_000, "headers": "X-Type: json\r\n"}, 400),
    ("deeply nested YAML", {"body": b"a:" + b" {a:" * 5000 + b" 1" + b"}" * 5000}, 400),
    ("oversized", {"body": b"x" * (1024 * 1024 + 10)}, 413),
    ("Content-Length abc", {"body": INTENT, "length": "abc"}, 400),
    ("Content-Length -5", {"body": INTENT, "length": "-5"}, 400),
    ("Content-Length larger than the body", {"body": b"product: x\n", "length": "5000"}, 400),
    ("x-tenant-id of 200 characters", {"body": INTENT, "headers": "x-tenant-id: " + "t" * 200 + "\r\n"}, 400),
    ("a traversal tenant", {"body": INTENT, "headers": "x-tenant-id: ../../etc\r\n"}, 400),
    ("no token", {"body": INTENT, "token": False}, 401),
    ("another site's Origin", {"body": INTENT, "headers": "Origin: http://evil.example\r\n"}, 403),
    ("binary", {"body": bytes(range(256)) * 4}, 400),
    ("another tenant's intent", {"body": INTENT, "headers": "x-tenant-id: mallory\r\n"}, 403),
]


def test_bad_requests_are_refused_with_a_reason_and_valid_work_between_them_completes(live: LiveFactory) -> None:
    live.start()
    started: list[str] = []
    for i, (what, kwargs, status) in enumerate(BAD):
        code, body = post(live, "/api/projects", **kwargs)  # type: ignore[arg-type]
        assert code == status, (what, code, body[:300])
        doc = json.loads(body)
        assert doc["detail"] and "Traceback" not in doc["detail"] and len(body) < 20_000, (what, body[:300])
        if i % 4 == 0:  # valid work interleaved with the bad
            code, body = post(live, f"/api/projects?runId=bad-input-{i}", INTENT)
            assert code == 202, body[:300]
            started.append(json.loads(body)["projectId"])
    code, body = raw(live, b"GET /api/health HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
    assert code == 421 and b"answers only to" in body
    code, body = raw(live, b"GET /api/executions/../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Connection: close\r\n\r\n")
    assert code in (400, 404) and b"Traceback" not in body
    for project_id in started:
        live.wait_until(lambda pid=project_id: project_status(live.rt, pid).done, timeout=300, what=project_id)
        assert project_status(live.rt, project_id).outcome == "released"


def test_bad_events_on_the_bus_are_dead_lettered_with_a_reason_and_the_host_lives(live: LiveFactory) -> None:
    live.start()
    good = make_envelope("ProjectCompleted", "1.0.0", {"projectId": "p1", "outcome": "released"}, source="operator",
                         tenant_id="acme", trace_id=new_trace_id(), time=live.rt.clock.now())
    traversal = json.loads(wire_bytes(good))
    traversal["id"] = "../../../../victim"
    bodies = {
        "traversal id": json.dumps(traversal).encode(),
        "alias-free garbage": b"\xff\xfe not json",
        "deep": b"[" * 50_000 + b"]" * 50_000,
        "huge": b"{" + b" " * (300 * 1024) + b"}",
    }
    assert live.rt.receiver is not None
    live.rt.bus.publish([OutgoingMessage(f"bad-{name.replace(' ', '-')}", body, {"type": "ProjectInitialized"})
                         for name, body in bodies.items()])  # every consumer of ProjectInitialized gets each
    receiver = live.rt.receiver
    live.wait_until(lambda: len({d.message_id for d in receiver.dead_letters() if d.message_id.startswith("bad-")})
                    >= len(bodies), timeout=60, what="the dead letters")
    dead = [d for d in live.rt.receiver.dead_letters() if d.message_id.startswith("bad-")]
    assert all(d.reason and d.description and "Traceback" not in d.description for d in dead), dead
    assert not (Path(live.rt.settings.factory_home).parent / "victim").exists()
    assert live.host.stopping is False
