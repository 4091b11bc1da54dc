"""The scaffold execution as pure Service Bus steps (the integrator wires them as triggers).

State machine of the execution document (one per idempotency key, id = uuid5 of the key)::

    Requested -> Validating -> Rejected
                            -> Generating -> Failed
                                          -> Generated -> Committed | Failed

``validate_step`` handles TemplateExecutionRequested / GenerateScaffold, ``generate_step``
TemplateExecutionValidated, ``commit_step`` ScaffoldGenerated. A step that sees the execution
already past its stage returns the document unchanged and no events, so redeliveries and
repeated requests are harmless. ``commit: false`` requests end in ``Committed`` without a
``commitId`` (the history says the commit was skipped).
"""

from __future__ import annotations

import copy
import json
import mimetypes
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.ports import Clock
from shared.ports.skills import Artifact, Emit
from shared.scaffold.catalog import TemplateCatalog
from shared.scaffold.errors import Problem, ScaffoldError
from shared.scaffold.output import commit_tree, snapshot_path, write_files
from shared.scaffold.parameters import validate_parameters
from shared.scaffold.render import EXECUTION_NAMESPACE, MANIFEST_PATH, RenderOptions, render
from shared.scaffold.tree import snapshot_bytes

ORDER = {"Requested": 0, "Validating": 1, "Rejected": 2, "Generating": 2, "Failed": 3, "Generated": 3,
         "Committed": 4}
_OPTIONAL = ("projectId", "service")


@dataclass(frozen=True)
class StepOutcome:
    execution: dict[str, Any]
    events: list[Emit] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)


def execution_id_for(idempotency_key: str) -> str:
    """Deterministic execution id: the same request key always maps to the same execution."""
    return str(uuid.uuid5(EXECUTION_NAMESPACE, idempotency_key))


def _optional(source: Mapping[str, Any]) -> dict[str, Any]:
    return {k: source[k] for k in _OPTIONAL if source.get(k) is not None}


def _advance(doc: dict[str, Any], status: str, clock: Clock | None, **detail: Any) -> None:
    doc["status"] = status
    entry: dict[str, Any] = {"status": status, **detail}
    if clock is not None:
        entry["at"] = clock.now().isoformat()
    doc.setdefault("history", []).append(entry)


def _error_dict(p: Problem) -> dict[str, Any]:
    out: dict[str, Any] = {"message": p.message if p.parameter or not p.path else f"{p.path}: {p.message}"}
    if p.parameter is not None:
        out["parameter"] = p.parameter
    if p.allowed is not None:
        out["allowed"] = list(p.allowed)
    return out


def _failed(doc: dict[str, Any], reason: str, clock: Clock | None) -> StepOutcome:
    _advance(doc, "Failed", clock, reason=reason)
    doc["reason"] = reason
    data = {"executionId": doc["executionId"], "templateId": doc["templateId"],
            "requestedBy": doc["requestedBy"], "reason": reason, **_optional(doc)}
    return StepOutcome(doc, [Emit("TemplateExecutionFailed", data)])


def validate_step(request: Mapping[str, Any], execution: Mapping[str, Any] | None, catalog: TemplateCatalog,
                  *, clock: Clock | None = None) -> StepOutcome:
    """Requested -> Validating -> Rejected | Generating (emits Rejected or Validated)."""
    execution_id = execution_id_for(str(request["idempotencyKey"]))
    if execution is not None and execution.get("status") != "Requested":
        return StepOutcome(copy.deepcopy(dict(execution)))
    doc = copy.deepcopy(dict(execution)) if execution is not None else {
        "id": execution_id, "executionId": execution_id, "idempotencyKey": request["idempotencyKey"],
        "templateId": request["templateId"], "templateVersion": request.get("templateVersion"),
        "parameters": dict(request.get("parameters", {})), "requestedBy": request["requestedBy"],
        "commit": bool(request.get("commit", False)), **_optional(request), "history": []}
    if not doc["history"]:
        _advance(doc, "Requested", clock)
    _advance(doc, "Validating", clock)
    problems: list[Problem]
    try:
        entry = catalog.get(str(request["templateId"]), request.get("templateVersion"))
        problems = validate_parameters(entry.config, dict(request.get("parameters", {})))
    except ScaffoldError as exc:
        entry, problems = None, exc.problems
    if problems or entry is None:
        errors = [_error_dict(p) for p in problems]
        doc["errors"] = errors
        _advance(doc, "Rejected", clock)
        data = {"executionId": execution_id, "templateId": doc["templateId"],
                "requestedBy": doc["requestedBy"], "errors": errors, **_optional(doc)}
        return StepOutcome(doc, [Emit("TemplateExecutionRejected", data)])
    doc["templateVersion"] = entry.version
    _advance(doc, "Generating", clock)
    data = {"executionId": execution_id, "idempotencyKey": doc["idempotencyKey"],
            "templateId": doc["templateId"], "templateVersion": entry.version,
            "parameters": doc["parameters"], "requestedBy": doc["requestedBy"], **_optional(doc),
            "commit": doc["commit"]}
    return StepOutcome(doc, [Emit("TemplateExecutionValidated", data)])


def _media_type(path: str, binary: bool) -> str:
    guessed = mimetypes.guess_type(path)[0]
    if binary:
        return guessed or "application/octet-stream"
    return f"{guessed or 'text/plain'}; charset=utf-8"


def generate_step(validated: Mapping[str, Any], execution: Mapping[str, Any] | None,
                  catalog: TemplateCatalog, *, seed: str | None = None, trace_id: str | None = None,
                  clock: Clock | None = None) -> StepOutcome:
    """Generating -> Generated | Failed.

    Artifacts: every rendered file, the manifest and the template snapshot (paths relative to
    the output root).
    """
    if execution is not None and execution.get("status") != "Generating":
        return StepOutcome(copy.deepcopy(dict(execution)))
    doc = copy.deepcopy(dict(execution)) if execution is not None else {
        "id": validated["executionId"], **copy.deepcopy(dict(validated)), "history": []}
    if execution is None:
        _advance(doc, "Generating", clock)
    try:
        entry = catalog.get(str(validated["templateId"]), str(validated["templateVersion"]))
        result = render(entry.source, validated["parameters"],
                        RenderOptions(seed=seed or str(validated["executionId"]),
                                      execution_id=str(validated["executionId"]), trace_id=trace_id))
    except ScaffoldError as exc:
        return _failed(doc, f"{exc} -- {exc.hint}", clock)
    except Exception as exc:  # rendering is pure: any error is a permanent engine failure
        return _failed(doc, f"engine error while rendering: {type(exc).__name__}: {exc}", clock)
    binary = {f["path"] for f in result.manifest["files"] if f["binary"]}
    artifacts = [Artifact(p, d, _media_type(p, p in binary)) for p, d in result.files.items()]
    manifest_artifact = Artifact.json(MANIFEST_PATH, result.manifest)
    snapshot = Artifact(snapshot_path(entry.source.content_hash), snapshot_bytes(entry.source.files),
                        "application/json")
    artifacts += [manifest_artifact, snapshot]
    doc.update(manifestDigest=manifest_artifact.digest, treeHash=result.tree_hash,
               fileCount=len(result.files), snapshotPath=snapshot.path, snapshotDigest=snapshot.digest)
    _advance(doc, "Generated", clock, manifestDigest=manifest_artifact.digest)
    data = {"executionId": doc["executionId"], "templateId": doc["templateId"],
            "templateVersion": entry.version, "manifestDigest": manifest_artifact.digest,
            "treeHash": result.tree_hash, "fileCount": len(result.files), "requestedBy": doc["requestedBy"],
            **_optional(doc), "commit": bool(doc.get("commit", False))}
    return StepOutcome(doc, [Emit("ScaffoldGenerated", data)], artifacts)


def commit_step(generated: Mapping[str, Any], execution: Mapping[str, Any], *,
                load_artifact: Callable[[str], bytes], repo_dir: Path,
                author: str = "Software Factory <factory@localhost>", clock: Clock | None = None,
                message: str | None = None) -> StepOutcome:
    """Generated -> Committed | Failed: writes the artifacts to ``repo_dir`` and commits them with dulwich.

    ``load_artifact(digest)`` returns the bytes stored under ``sha256:<hex>``. ``repo_dir`` is the
    working folder of the target repository (created and ``git init``-ed if needed).
    """
    if execution.get("status") != "Generated":
        return StepOutcome(copy.deepcopy(dict(execution)))
    doc = copy.deepcopy(dict(execution))
    commit_id: str | None = None
    if generated.get("commit"):
        try:
            manifest_bytes = load_artifact(str(generated["manifestDigest"]))
            manifest = json.loads(manifest_bytes)
            files = {f["path"]: load_artifact("sha256:" + f["sha256"]) for f in manifest["files"]}
            files[MANIFEST_PATH] = manifest_bytes
            if doc.get("snapshotDigest") and doc.get("snapshotPath"):
                files[str(doc["snapshotPath"])] = load_artifact(str(doc["snapshotDigest"]))
            write_files(repo_dir, files)
            tpl = manifest["template"]
            when = int(clock.now().timestamp()) if clock is not None else None
            commit_id = commit_tree(repo_dir, message or f"Scaffold {tpl['identity']}@{tpl['version']}",
                                    author, timestamp=when)
        except (ScaffoldError, OSError, KeyError, ValueError) as exc:
            return _failed(doc, f"commit failed: {type(exc).__name__}: {exc}", clock)
        doc["commitId"] = commit_id
        _advance(doc, "Committed", clock, commitId=commit_id)
    else:
        _advance(doc, "Committed", clock, detail="commit skipped (commit=false)")
    data = {"executionId": doc["executionId"], "templateId": doc["templateId"],
            "templateVersion": generated["templateVersion"], "manifestDigest": generated["manifestDigest"],
            "treeHash": generated["treeHash"], "requestedBy": doc["requestedBy"], **_optional(doc)}
    if commit_id is not None:
        data["commitId"] = commit_id
    return StepOutcome(doc, [Emit("TemplateExecuted", data)])
