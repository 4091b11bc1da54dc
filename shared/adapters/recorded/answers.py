"""Recorded answers: record a model's answers to a folder, or replay them with no network.

One JSON file per request, named by ``request_key`` (the hash of skill, model and prompt), holding
the prompt, the answer (or the refusal) and the usage as the model reported it. A replay returns
exactly what was recorded, usage and latency included, so a replayed run emits the same events and
artifacts as the recorded one. ``factory run --record DIR`` / ``--replay DIR`` choose these adapters.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from shared.ports.model import ModelAnswer, ModelClient, ModelError, ModelRequest, ModelUsage, request_key

RECORDING_SUFFIX = ".json"


def _usage(data: Any) -> ModelUsage | None:
    if not isinstance(data, dict):
        return None
    return ModelUsage(int(data["promptTokens"]), int(data["completionTokens"]), float(data["latencyMs"]))


def _usage_json(usage: ModelUsage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {"promptTokens": usage.prompt_tokens, "completionTokens": usage.completion_tokens,
            "latencyMs": usage.latency_ms}


def recording(request: ModelRequest, model: str, *, answer: ModelAnswer | None = None,
              error: ModelError | None = None) -> dict[str, Any]:
    """The JSON document of one recorded call."""
    doc: dict[str, Any] = {"key": request_key(request, model), "agent": request.agent, "skill": request.skill,
                           "model": model, "prompt": request.prompt()}
    if answer is not None:
        doc["answer"] = {"content": answer.content, "finishReason": answer.finish_reason}
        doc["usage"] = _usage_json(answer.usage)
    if error is not None:
        doc["error"] = {"kind": error.kind, "message": str(error)}
        doc["usage"] = _usage_json(error.usage)
    return doc


class RecordingModel:
    """Asks ``inner`` and writes each answer (or permanent failure) to ``folder/<key>.json``."""

    def __init__(self, inner: ModelClient, folder: Path) -> None:
        self.inner = inner
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def model(self) -> str:
        return self.inner.model

    def describe(self) -> str:
        return f"{self.inner.describe()}, recording to {self.folder}"

    def complete(self, request: ModelRequest) -> ModelAnswer:
        try:
            answer = self.inner.complete(request)
        except ModelError as exc:
            if exc.permanent:  # a transient failure is not an answer: the redelivery asks again
                self._write(recording(request, self.model, error=exc))
            raise
        self._write(recording(request, self.model, answer=answer))
        return answer

    def _write(self, doc: dict[str, Any]) -> None:
        target = self.folder / f"{doc['key']}{RECORDING_SUFFIX}"
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        os.replace(tmp, target)


class ReplayModel:
    """Answers from a folder of recordings; a request that was never recorded is a permanent error."""

    def __init__(self, folder: Path, model: str | None = None) -> None:
        self.folder = folder
        if not folder.is_dir():
            raise ValueError(f"the replay folder {folder} does not exist; record one with `factory run --record "
                             f"{folder} ...` against a configured model")
        if model is None:
            models = sorted({str(json.loads(p.read_text(encoding="utf-8")).get("model"))
                             for p in folder.glob(f"*{RECORDING_SUFFIX}")})
            if len(models) != 1:
                raise ValueError(f"the replay folder {folder} holds recordings of {len(models)} models "
                                 f"({', '.join(models) or 'none'}); name the one to replay with FACTORY_MODEL_NAME")
            model = models[0]
        self._model = model

    @property
    def model(self) -> str:
        return self._model

    def describe(self) -> str:
        return f"{self._model} replayed from {self.folder} (no network)"

    def complete(self, request: ModelRequest) -> ModelAnswer:
        key = request_key(request, self._model)
        path = self.folder / f"{key}{RECORDING_SUFFIX}"
        if not path.is_file():
            raise ModelError(
                f"no recorded answer for {request.skill} ({request.agent}) with model {self._model} (key {key}) in "
                f"{self.folder}: the prompt differs from the recorded run (changed input or code); record again "
                "with --record", kind="not-recorded")
        doc = json.loads(path.read_text(encoding="utf-8"))
        usage = _usage(doc.get("usage"))
        if "error" in doc:
            raise ModelError(str(doc["error"]["message"]), kind=doc["error"]["kind"], usage=usage)
        answer = doc["answer"]
        return ModelAnswer(content=str(answer["content"]), model=self._model,
                           usage=usage or ModelUsage(0, 0, 0.0), finish_reason=str(answer.get("finishReason", "stop")))
