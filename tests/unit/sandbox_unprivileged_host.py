"""A factory that is not root (a developer laptop): runs the escapes in the jail it picks, prints the verdicts.

    setpriv --reuid=65534 ... /usr/bin/python3 tests/unit/sandbox_unprivileged_host.py REPO PARAMS_JSON LIMITS_JSON

Standard library plus the jail modules only (the system interpreter has no pytest or pydantic):
it proves the path a non-root user takes, with no ``setpriv`` in front of bubblewrap.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path


def main(repo: str, params: str, limits: str) -> int:
    sys.path.insert(0, repo)
    from shared.adapters.process.jail import BWRAP_ENV, Isolation, Jail, Limits, start
    from shared.adapters.process.scratch import scratch_folder

    assert os.geteuid() != 0
    jail = Jail(limits=Limits(**json.loads(limits)))
    python = "/usr/bin/python3"
    assert jail.isolation(python) is Isolation.userns
    with scratch_folder(Path("/tmp")) as scratch:
        work = scratch / "work"
        work.mkdir()
        shutil.copy(Path(repo) / "tests" / "unit" / "sandbox_escapes.py", work / "sandbox_escapes.py")
        (work / "escape_params.json").write_text(params)
        launch = jail.prepare(scratch, work, [python, "sandbox_escapes.py"], python=python,
                              env={**BWRAP_ENV, "HOME": "/tmp"})
        try:
            run = start(launch)
        finally:
            launch.close()
        out, _ = run.proc.communicate(timeout=120)
        assert run.reap(), "the jail's processes outlived the run"
    print(out.decode().splitlines()[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
