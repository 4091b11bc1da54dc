"""Renderers: one ``InfrastructureBlueprint`` in, files (path -> text) out. Pure and deterministic.

Every file carries the trace stamp (traceId, blueprint version, content hash) as comments,
labels, annotations or tags. Renderers are first run with ``PLACEHOLDER_STAMP`` so the content
hash covers everything but the stamp; ``stamp_files`` then writes the real values in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

GENERATOR = "software-factory/infrablueprint"


@dataclass(frozen=True)
class Stamp:
    trace_id: str
    blueprint_version: str
    content_hash: str
    short_hash: str

    def header(self) -> list[str]:
        return [
            f"generated-by: {GENERATOR} (do not edit by hand; regenerate)",
            f"traceId: {self.trace_id}",
            f"blueprintVersion: {self.blueprint_version}",
            f"contentHash: {self.content_hash}",
        ]

    def as_dict(self) -> dict[str, str]:
        return {
            "traceId": self.trace_id,
            "blueprintVersion": self.blueprint_version,
            "contentHash": self.content_hash,
        }


PLACEHOLDER_STAMP = Stamp(
    "@@FACTORY_TRACE_ID@@",
    "@@FACTORY_BLUEPRINT_VERSION@@",
    "@@FACTORY_CONTENT_HASH@@",
    "@@FACTORY_SHORT_HASH@@",
)


def stamp_text(text: str, stamp: Stamp) -> str:
    for placeholder, value in zip(_fields(PLACEHOLDER_STAMP), _fields(stamp), strict=True):
        text = text.replace(placeholder, value)
    return text


def unstamp_text(text: str, stamp: Stamp) -> str:
    """Undo ``stamp_text`` (used by diff so two versions compare on content, not on stamps)."""
    for placeholder, value in zip(_fields(PLACEHOLDER_STAMP), _fields(stamp), strict=True):
        text = text.replace(value, placeholder)
    return text


def _fields(stamp: Stamp) -> tuple[str, str, str, str]:
    # longest first so the short hash never eats into the full one
    return stamp.content_hash, stamp.blueprint_version, stamp.trace_id, stamp.short_hash


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def yaml_text(documents: Iterable[Mapping[str, Any]], header: Iterable[str]) -> str:
    head = "".join(f"# {line}\n" for line in header)
    body = yaml.dump_all(
        [dict(d) for d in documents],
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        width=120,
        allow_unicode=True,
        explicit_start=True,
    )
    return head + body
