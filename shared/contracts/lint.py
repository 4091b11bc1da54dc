"""Checking contract files and event files: ``factory events validate``, ``python -m shared.contracts.lint``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from shared.contracts import CONTRACTS_DIR, ENVELOPE_FILE, ENVELOPE_URI
from shared.contracts.errors import ContractError, EmitterNotAllowedError, EnvelopeInvalidError, PayloadInvalidError
from shared.contracts.history import check_history, freeze_history
from shared.contracts.registry import Registry, read_json, short


def list_rows(registry: Registry) -> list[dict[str, Any]]:
    """One row per resolvable (type, version), for ``factory events list``."""
    return [
        {"name": i.name, "version": i.version, "major": i.major, "kind": i.kind, "category": i.category,
         "status": i.status, "live": i.live, "emitters": list(i.emitters), "consumers": list(i.consumers),
         "sensitive": list(i.sensitive), "schemaUri": i.schema_uri}
        for i in registry.all()
    ]


class _StringTimestampLoader(yaml.SafeLoader):
    """YAML loader that keeps timestamps as strings (the envelope's ``time`` is a string)."""


_StringTimestampLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load_document(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    return yaml.load(text, Loader=_StringTimestampLoader)  # a SafeLoader subclass


def validate_file(registry: Registry, path: Path | str) -> list[str]:
    """Problems in a JSON/YAML file holding a full envelope or ``{type, version, data}``; [] when valid."""
    path = Path(path)
    try:
        doc = _load_document(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        return [f"{path}: cannot read it as JSON or YAML: {exc}"]
    if not isinstance(doc, dict):
        return [f"{path}: expected an object (an envelope, or {{type, version, data}})"]
    if "specversion" in doc:
        return [f"{path}: this is a CloudEvents wire message; give the envelope (camelCase fields, "
                f"see {ENVELOPE_URI}) or {{type, version, data}}"]
    problems: list[str] = []
    is_payload_only = set(doc) <= {"type", "version", "data"}
    if not is_payload_only:
        try:
            registry.validate_envelope(doc)
        except EnvelopeInvalidError as exc:
            problems.extend(f"envelope {e}" for e in exc.errors)
    missing = [k for k in ("type", "version", "data") if k not in doc]
    if missing:
        if is_payload_only:
            problems.append(f"{path}: missing {', '.join(missing)}; expected {{type, version, data}}")
        return problems
    type_, version, data = str(doc["type"]), str(doc["version"]), doc["data"]
    try:
        info = registry.get(type_, version)
        if not isinstance(data, Mapping):
            problems.append(f"/data: expected an object, got {short(data)}")
        else:
            registry.validate(type_, version, data)
    except PayloadInvalidError as exc:
        problems.extend(f"data {e}" for e in exc.errors)
    except ContractError as exc:
        return [*problems, str(exc)]
    if not is_payload_only:
        if doc.get("schemaUri") not in (None, info.schema_uri):
            problems.append(f"/schemaUri: {doc['schemaUri']!r} is not the schema of {info.ref}; "
                            f"expected {info.schema_uri!r}")
        try:
            registry.check_emitter(type_, version, str(doc.get("source")))
        except EmitterNotAllowedError as exc:
            problems.append(f"/source: {exc}")
    return problems


def check_schemas(registry: Registry) -> list[str]:
    """Every schema (envelope, common, live, snapshots) is a valid JSON Schema 2020-12 document."""
    problems: list[str] = []
    docs: list[tuple[str, Mapping[str, Any]]] = [(ENVELOPE_FILE, registry._envelope)]
    docs += [(p.name, read_json(p)) for p in sorted(registry.contracts_dir.glob("common*.json"))]
    docs += [(str(i.path.relative_to(registry.contracts_dir)), i.schema) for i in registry.all()]
    for name, doc in docs:
        try:
            Draft202012Validator.check_schema(doc)
        except SchemaError as exc:
            problems.append(f"{name}: not a valid 2020-12 schema: {exc.message}")
    return problems


def main(argv: list[str] | None = None, *, out: Callable[[str], Any] = print) -> int:
    """``python -m shared.contracts.lint freeze|check`` (release helpers for contract authors)."""
    parser = argparse.ArgumentParser(prog="python -m shared.contracts.lint")
    parser.add_argument("action", choices=["freeze", "check"])
    parser.add_argument("--contracts", type=Path, default=CONTRACTS_DIR)
    args = parser.parse_args(argv)
    registry = Registry.load(args.contracts)
    if args.action == "freeze":
        for path in freeze_history(registry):
            out(f"wrote {path}")
        registry = Registry.load(args.contracts)
    problems = check_schemas(registry) + check_history(registry)
    for problem in problems:
        out(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
