"""``factory``: the command line of the software factory (embedded by default).

Every sub-command is registered here, explicitly: the root commands from ``run``, ``inspect`` and
``approval``, and one group per module (``events``, ``dlq``, ``flow``, ``sandbox``, ``templates``,
``infra``).
"""

from __future__ import annotations

import sys

import typer

from shared.cli import (
    approval,
    dlq,
    events,
    flows,
    generate,
    infra,
    inspect,
    intent,
    messaging,
    run,
    sandbox,
    templates,
)

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="The event-driven software factory: run intents, host functions, inspect traces.")
run.register(app)
inspect.register(app)
generate.register(app)
approval.register(app)
app.add_typer(intent.app, name="intent")
app.add_typer(events.app, name="events")
app.add_typer(dlq.app, name="dlq")
app.add_typer(flows.app, name="flow")
app.add_typer(sandbox.app, name="sandbox")
templates_app = typer.Typer(no_args_is_help=True, help="Scaffold templates: list, show, run, update, diff.")
templates.register(templates_app)
app.add_typer(templates_app, name="templates")
infra_app = typer.Typer(no_args_is_help=True, help="Infrastructure: factory deployment files and service blueprints.")
messaging.register(infra_app)
infra.register(infra_app)
app.add_typer(infra_app, name="infra")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
