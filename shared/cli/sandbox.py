"""``factory sandbox``: check this machine's test sandbox; serve it inside a dynamic session.

``check`` probes the embedded sandbox exactly as the release gate would start it and prints what
isolation it gives, or the refusal (what failed, how to fix it). ``serve`` is the test-runner
image's command on Azure: the HTTP contract of ``shared/adapters/process/session_server.py`` on
one port; after the run's ``DELETE`` the process exits, which ends the session.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Annotated

import typer
from werkzeug.serving import make_server

from shared.bootstrap import sandbox_check, session_server_app
from shared.cli.common import FAILED, error_text
from shared.cli.output import say, say_raw

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  help="The sandbox the release gate runs generated tests in.")


@app.command()
def check() -> None:
    """Probe the test sandbox as the release gate starts it; exit 1 with the reason when it cannot run."""
    usable, text = sandbox_check()
    if not usable:
        say(error_text("the test sandbox cannot run on this machine", "the check below failed",
                       "apply one of the fixes below, then run `factory sandbox check` again"), stderr=True)
        say_raw(text, stderr=True)
        raise typer.Exit(FAILED)
    say_raw(text)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on (0.0.0.0 inside a session container)",
                                      metavar="ADDRESS")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on (the session pool's targetPort; 0 = any free port)",
                                      metavar="PORT", min=0, max=65535)] = 8080,
) -> None:
    """Serve the test runner's HTTP contract (the test-runner image's entry point in a dynamic session)."""
    stop = threading.Event()
    server = make_server(host, port, session_server_app(on_exit=stop.set), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    say_raw(f"test runner listening on http://{host}:{server.server_port}")
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    server.shutdown()
    os._exit(0)  # the container exits: the pool ends this session
