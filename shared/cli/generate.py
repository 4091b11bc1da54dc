"""``factory generate [--check]``: refresh every file derived from ``contracts/``.

Derived files: each live schema's access lists (``x-event.emitters``/``consumers``), the
messaging infrastructure (``infra/generated/messaging.bicep``, ``infra/local/servicebus-emulator.json``)
and the trigger index the function app registers its Service Bus triggers from (``functions/triggers.json``).
Adding an agent is its manifest and its skill module; then ``factory generate`` refreshes these,
and ``tests/unit/test_architecture.py`` fails while they are stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shared.cli.common import BAD_INPUT, FAILED, fail
from shared.cli.output import esc, say
from shared.contracts import CONTRACTS_DIR
from shared.contracts.access import render_access
from shared.contracts.manifests import (
    TRIGGER_INDEX,
    ManifestError,
    load_consumers,
    load_entrypoints,
    render_trigger_index,
)
from shared.contracts.registry import Registry
from shared.generators.messaging import render_all
from shared.mesh.coordinators.flow import FlowDefinitionError, load_flows
from shared.mesh.topology import access_lists


def derived_files(root: Path) -> dict[Path, str]:
    """Relative path -> content of every derived file, computed from ``root/contracts``."""
    contracts = root / "contracts"
    registry = Registry.load(contracts)
    consumers = load_consumers.__wrapped__(contracts)
    flows = load_flows.__wrapped__(frozenset(registry.types()), contracts)
    access = access_lists(consumers, flows, load_entrypoints.__wrapped__(contracts))
    files = {path.relative_to(root): text for path, text in
             render_access(registry, {e: (a.emitters, a.consumers) for e, a in access.items()}).items()}
    files.update(render_all(consumers))
    files[TRIGGER_INDEX] = render_trigger_index(consumers)
    return files


def stale(root: Path) -> list[Path]:
    """Derived files whose committed content differs from what ``contracts/`` gives."""
    files = derived_files(root)
    return sorted(rel for rel, text in files.items()
                  if not (root / rel).is_file() or (root / rel).read_text(encoding="utf-8") != text)


def generate(
    check: Annotated[bool, typer.Option("--check", help="write nothing; exit 1 naming the stale files")] = False,
    root: Annotated[Path, typer.Option(help="repository root holding contracts/ and infra/",
                                       file_okay=False, metavar="DIR")] = CONTRACTS_DIR.parent,
) -> None:
    """Refresh the files derived from contracts/: schema access lists and messaging infrastructure."""
    try:
        outdated = stale(root)
        files = derived_files(root)
    except (ManifestError, FlowDefinitionError) as exc:
        raise fail("contracts/ is inconsistent", str(exc), "fix the manifest or flow named above", BAD_INPUT) from exc
    if check:
        if outdated:
            raise fail("stale derived files: " + ", ".join(str(p) for p in outdated),
                       "contracts/ changed since they were generated", "run `factory generate` and commit the result",
                       FAILED)
        say("derived files are up to date")
        return
    for rel in outdated:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(files[rel], encoding="utf-8")
        say(f"wrote {esc(rel)}")
    if not outdated:
        say("derived files already up to date")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
