"""``factory infra`` commands: render (and check) the messaging infrastructure generated from manifests.

The integrator mounts them with::

    infra = typer.Typer(help="Infrastructure generated from contracts/")
    register(infra)
    app.add_typer(infra, name="infra")
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shared.cli.common import BAD_INPUT, FAILED, fail
from shared.cli.output import esc, say
from shared.contracts import CONTRACTS_DIR
from shared.contracts.manifests import ManifestError, load_consumers
from shared.generators.messaging import render_all, stale_files, write_files

REPO_ROOT = CONTRACTS_DIR.parent


def render(
    check: Annotated[
        bool, typer.Option("--check", help="do not write; exit 1 and name the files that are stale")
    ] = False,
    root: Annotated[
        Path, typer.Option(help="repository root holding contracts/ and infra/", file_okay=False, metavar="DIR")
    ] = REPO_ROOT,
) -> None:
    """Render infra/generated/messaging.bicep and infra/local/servicebus-emulator.json from contracts/."""
    load_consumers.cache_clear()  # the manifests may have changed since this process first read them
    try:
        consumers = load_consumers(root / "contracts")
    except ManifestError as exc:
        raise fail("cannot read the consumer manifests", str(exc), "fix the manifest named above in contracts/",
                   BAD_INPUT) from exc
    rendered = render_all(consumers)
    if check:
        stale = stale_files(root, rendered)
        if stale:
            names = ", ".join(str(p) for p in stale)
            raise fail(f"stale generated infrastructure: {names}", "the manifests in contracts/ changed",
                       "run `factory infra render` and commit the result", FAILED)
        say(f"generated infrastructure is up to date ({len(consumers)} consumers)")
        return
    written = write_files(root, rendered)
    if written:
        for rel in written:
            say(f"wrote {esc(rel)}")
    else:
        say(f"generated infrastructure already up to date ({len(consumers)} consumers)")


def register(app: typer.Typer) -> None:
    """Add the ``render`` command to ``app`` (mounted as ``factory infra``)."""
    app.command("render")(render)
