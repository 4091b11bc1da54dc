"""Files and ids a user hands to the CLI, read defensively: a missing file, a folder, a binary or
non-UTF-8 file, bad YAML, a YAML alias bomb or the wrong shape become one error (exit 2) that says
what to fix — never a traceback."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from shared.cli.common import BAD_INPUT, fail

#: the largest event or document file the CLI reads (an event travels in one bus message)
MAX_DOCUMENT_BYTES = 1024 * 1024


class _Loader(yaml.SafeLoader):
    """The safe loader, without aliases (an event file never needs them) and with timestamps kept as text."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, f"aliases (*{event.anchor}) are not allowed here",
                                              event.start_mark)
        return super().compose_node(parent, index)


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_text_file(path: Path, what: str, example: str, max_bytes: int = MAX_DOCUMENT_BYTES) -> str:
    if not path.exists():
        raise fail(f"{what} {path} does not exist", "the path is wrong", f"pass a file like {example}", BAD_INPUT)
    if path.is_dir():
        raise fail(f"{path} is a folder, not a {what}", f"a {what} is one YAML or JSON file",
                   f"pass a file like {example}", BAD_INPUT)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {what} {path}", exc.strerror or str(exc), "check the file's permissions",
                   BAD_INPUT) from exc
    if len(raw) > max_bytes:
        raise fail(f"{what} {path} is too large", f"{len(raw):,} bytes; at most {max_bytes:,}",
                   "make it smaller", BAD_INPUT)
    if b"\0" in raw:
        raise fail(f"{path} is a binary file, not a {what}", "it contains NUL bytes",
                   f"pass a YAML or JSON text file like {example}", BAD_INPUT)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"{path} is not UTF-8 text", f"byte 0x{raw[exc.start]:02x} at offset {exc.start} is not UTF-8",
                   "save the file as UTF-8 and run the command again", BAD_INPUT) from exc


def read_document(path: Path, what: str, example: str) -> Mapping[str, Any]:
    """A YAML/JSON file holding one mapping."""
    text = read_text_file(path, what, example)
    try:
        doc = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise fail(f"{path} is not valid YAML or JSON", " ".join(str(exc).split()),
                   "fix the syntax at the line and column above", BAD_INPUT) from exc
    except RecursionError as exc:
        raise fail(f"{path} is nested too deeply", "YAML nesting beyond what any contract allows",
                   "flatten the document", BAD_INPUT) from exc
    if not isinstance(doc, Mapping):
        raise fail(f"{path} does not hold a mapping", f"the document is a {type(doc).__name__}",
                   f"write the {what} as key: value pairs, like {example}", BAD_INPUT)
    return doc
