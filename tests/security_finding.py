"""How tests make the security-engineer report a finding in a generated service.

The generated services are clean (the review finds nothing high), and no rule of the review reports a
critical finding, so a test plants one: the real review runs on the real generated files, then one finding of
the chosen severity is added on the first Python file. Everything downstream is real: the review's artifacts
and ``SecurityReviewCompleted`` carry it, and the release gate decides on it. The host must run in this
process (``factory`` in-process, ``tests/live.py``), where the patch applies.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from shared.mesh.agents import security

MESSAGE = "a private key is written in the code (planted by the test)"


def plant_security_finding(monkeypatch: pytest.MonkeyPatch, severity: str) -> None:
    """Every security review from now on (for this test) also reports SEC001 with ``severity``."""
    real = security.review

    def review(files: Mapping[str, bytes]) -> list[security.Finding]:
        path = next(p for p in sorted(files) if p.endswith(".py"))
        planted = security.Finding(id=f"SEC001:{path}:1", severity=severity, message=MESSAGE, file=path, line=1,
                                   ruleId="SEC001")
        return [*real(files), planted]

    monkeypatch.setattr(security, "review", review)
