"""A local OpenAI-compatible chat-completions server for the tests (werkzeug, a real socket).

It serves ``POST /v1/chat/completions`` (OpenAI-compatible) and
``POST /openai/deployments/<deployment>/chat/completions`` (Azure OpenAI), records every request, and
answers either from a script (one response per request, for the adapter's cases: valid and invalid
answers, 429 with Retry-After, 5xx, a response held past the client's timeout, refusals, content
filters) or, with no script left, from readable fixture answers keyed by the name of the JSON schema
the request asks for (``tests/ai/fixtures/answers/<SchemaName>.yaml``): the "model" of the end-to-end
tests. No real model is involved anywhere.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

FIXTURES = Path(__file__).parent / "fixtures" / "answers"


@dataclass
class Reply:
    """One scripted response. ``content`` becomes a chat completion; ``status``/``body`` an error response;
    ``hold`` keeps the request open until the server is released (the client times out first)."""

    content: str | None = None
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    refusal: str | None = None
    finish_reason: str = "stop"
    hold: bool = False
    usage: tuple[int, int] | None = None


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def schema_name(self) -> str:
        return str(self.body.get("response_format", {}).get("json_schema", {}).get("name", ""))

    @property
    def messages(self) -> list[dict[str, str]]:
        return list(self.body.get("messages", []))


def completion(content: str | None, *, model: str, refusal: str | None = None, finish_reason: str = "stop",
               usage: tuple[int, int] = (10, 10)) -> dict[str, Any]:
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "finish_reason": finish_reason, "logprobs": None,
                         "message": {"role": "assistant", "content": content, "refusal": refusal}}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}}


def fixture_answer(schema_name: str, messages: list[dict[str, str]]) -> str:
    """The fixture answer for a schema: ``<SchemaName>.yaml`` holds the JSON the "model" answers with.

    A fixture may hold ``byService`` (answers per service name found in the prompt) for the per-service skills.
    """
    path = FIXTURES / f"{schema_name}.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(doc, dict) and "byService" in doc:
        prompt = messages[-1]["content"]
        service = json.loads(prompt)["service"]["name"]
        doc = doc["byService"][service]
    return json.dumps(doc, ensure_ascii=False)


class ModelServer:
    def __init__(self, model: str = "fixture-model") -> None:
        self.model = model
        self.script: deque[Reply] = deque()
        self.seen: list[Seen] = []
        self.release = threading.Event()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self.answer: Callable[[str, list[dict[str, str]]], str] = fixture_answer

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        """Forget the script and the requests seen; let go of held requests (between tests)."""
        self.release.set()
        self.release = threading.Event()
        self.script.clear()
        self.seen.clear()
        self.answer = fixture_answer

    def reply(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        body = json.loads(request.get_data() or b"{}")
        seen = Seen(request.path, dict(request.args), {k.lower(): v for k, v in request.headers.items()}, body)
        self.seen.append(seen)
        if not request.path.endswith("/chat/completions"):
            response = Response(json.dumps({"error": {"message": f"no route {request.path}", "code": "404"}}),
                                404, mimetype="application/json")
            return response(environ, start_response)
        reply = self.script.popleft() if self.script else None
        if reply is not None and reply.hold:
            self.release.wait(30)  # the client gives up first (its timeout); reset() lets go
        if reply is not None and reply.status != 200:
            payload = reply.body or {"error": {"message": f"status {reply.status}", "code": str(reply.status)}}
            response = Response(json.dumps(payload), reply.status, headers=reply.headers, mimetype="application/json")
            return response(environ, start_response)
        if reply is not None:
            content, refusal, finish = reply.content, reply.refusal, reply.finish_reason
            usage = reply.usage or (100, 20)
        else:
            content = self.answer(seen.schema_name, seen.messages)
            refusal, finish = None, "stop"
            prompt_chars = sum(len(m["content"]) for m in seen.messages)
            usage = (prompt_chars // 4, len(content) // 4)  # about four characters a token
        doc = completion(content, model=self.model, refusal=refusal, finish_reason=finish, usage=usage)
        return Response(json.dumps(doc), 200, headers=reply.headers if reply else {},
                        mimetype="application/json")(environ, start_response)

    def start(self) -> ModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def model_server(model: str = "fixture-model") -> Iterator[ModelServer]:
    server = ModelServer(model).start()
    try:
        yield server
    finally:
        server.stop()


if __name__ == "__main__":  # `python -m tests.ai.model_server`: serve the fixture answers until Ctrl-C
    server = ModelServer().start()
    print(f"FACTORY_MODEL_PROVIDER=openai FACTORY_MODEL_ENDPOINT={server.base_url} "
          f"FACTORY_MODEL_NAME={server.model}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
