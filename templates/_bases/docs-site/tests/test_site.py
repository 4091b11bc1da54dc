"""The site's own checks: every page in the navigation exists and every local link resolves."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_navigation_entry_exists() -> None:
    site = json.loads((ROOT / "site.json").read_text())
    missing = [page for page in site["nav"] if not (ROOT / page).is_file()]
    assert missing == []


def test_every_local_link_resolves() -> None:
    broken = []
    for page in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+)\)", page.read_text()):
            if not (page.parent / target).exists():
                broken.append(f"{page.name} -> {target}")
    assert broken == []
