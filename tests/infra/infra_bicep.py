"""Helpers over Bicep parsed by pycep-parser (offline: no Bicep CLI, no Azure) for the infra policy tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"

Tree = dict[str, Any]


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def unescape(value: str) -> str:
    """A Bicep string literal's text as pycep returns it (escapes kept) -> the string Azure receives."""
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m[1], m[1]), value)


def resources(tree: Tree, type_: str) -> dict[str, Tree]:
    """Resources of ``type_`` in a parsed file (symbolic name -> resource)."""
    return {name: res for name, res in tree.get("resources", {}).items() if res["type"] == type_}


def body(resource: Tree) -> Tree:
    """A resource's body, unwrapping a ``[for ...]`` loop or an ``if (...)`` condition."""
    config = resource["config"]
    return config["config"] if "loop_type" in config or "condition" in config else config


def one(tree: Tree, type_: str) -> Tree:
    found = resources(tree, type_)
    assert len(found) == 1, f"expected exactly one {type_}, found {sorted(found)}"
    return body(next(iter(found.values())))


def expression(node: Any) -> str:
    """Render a pycep expression node back to Bicep-like text (enough to compare references)."""
    if isinstance(node, dict):
        if "operator" in node and node["operator"]["type"] == "property_accessor":
            ops = node["operator"]["operands"]
            return f"{expression(ops['operand_1'])}.{expression(ops['operand_2'])}"
        if "function" in node:
            fn = node["function"]
            args = ", ".join(expression(v) for v in fn["parameters"].values() if v is not None)
            return f"{fn['type']}({args})"
        return repr(node)
    return str(node)


def walk(node: Any) -> Iterator[Any]:
    """Every node of a parsed tree, depth first."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def app_settings(trees: dict[str, Tree]) -> dict[str, Any]:
    """The function app's app settings: name -> value node."""
    site = one(trees["modules/functionapp.bicep"], "Microsoft.Web/sites")
    entries = site["properties"]["siteConfig"]["appSettings"]
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names)), f"duplicate app settings: {names}"
    return {e["name"]: e["value"] for e in entries}


def literal(node: Any) -> Any:
    """A literal value from the tree, folding pycep's unary minus (``-1``) back to a number."""
    if isinstance(node, dict) and node.get("operator", {}).get("type") == "minus":
        return -literal(node["operator"]["operands"]["integer_value"])
    return node
