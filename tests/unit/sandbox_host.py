"""A stand-in for the factory host: one project through the real ``SandboxedTestRunner``, report on stdout.

    python -m tests.unit.sandbox_host PROJECT SCRATCH_ROOT TIMEOUT_S LIMITS_JSON

The sandbox tests start it with a secret in its environment, as a real host holds
``FACTORY_SIGNING_KEY``, and hand it the whole environment like ``shared.bootstrap`` does. When the
project has an ``escape_params.json``, this process writes its own pid into it first (the
sandboxed tests look for their parent). It prints ``TestReport.to_wire()`` as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from shared.adapters.process.jail import Jail, Limits
from shared.adapters.process.sandbox import SandboxedTestRunner


def main(project: str, scratch_root: str, timeout_s: str, limits: str) -> int:
    params = Path(project) / "escape_params.json"
    if params.is_file():
        params.write_text(json.dumps({**json.loads(params.read_text()), "parent_pid": os.getpid()}))
    runner = SandboxedTestRunner(base_env=dict(os.environ), jail=Jail(limits=Limits(**json.loads(limits))),
                                 scratch_root=Path(scratch_root))
    report = runner.run(Path(project), timeout_s=float(timeout_s))
    print(json.dumps(report.to_wire()))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
