"""Masking sensitive payload fields (declared per contract in ``x-event.sensitive``) for logs and traces.

Paths are JSON pointers (``/owner/email``) or dotted (``owner.email``); ``*`` matches every array
item or object member.
"""

from __future__ import annotations

from typing import Any

MASK = "***"


def mask_paths(data: dict[str, Any], paths: tuple[str, ...] | list[str]) -> None:
    """Replace, in place, every value ``paths`` reach with ``"***"``."""
    for path in paths:
        _mask_path(data, _split_path(path))


def _split_path(path: str) -> list[str]:
    if path.startswith("/"):
        return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]
    return path.split(".")


def _mask_path(node: Any, parts: list[str]) -> None:
    if not parts:
        return
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else [head] if head in node else []
    elif isinstance(node, list):
        if head == "*":
            keys = list(range(len(node)))
        elif head.isdigit() and int(head) < len(node):
            keys = [int(head)]
        else:
            keys = []
    else:
        return
    for key in keys:
        if rest:
            _mask_path(node[key], rest)
        else:
            node[key] = MASK
