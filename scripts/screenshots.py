"""Regenerate Studio's screenshots in docs/screenshots/ (``make screenshots``).

Starts the factory on a scratch FACTORY_HOME (the local host and Studio on a free port), runs a dev
project to its release, a prod project to its approval gate, dead-letters a forged event, and takes
the main pages with headless Chromium (Debian's ``chromium``, driven by Playwright) at 1280 px and
at phone width.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from shared.bootstrap import bootstrap
from shared.host.local import build_host
from shared.host.serving import serve
from shared.ports.skills import Emit
from shared.product.intent import load_intent
from shared.product.projects import ReleaseTarget, project_status, start_project
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DIGEST = "sha256:" + "ab" * 32
#: a BlueprintCreated published from the CLI: the access policy dead-letters it (EmitterNotAllowed)
FORGED_BLUEPRINT = {"projectId": "forged", "blueprintDigest": DIGEST, "services": ["tasks"],
                    "artifacts": [{"path": "architecture/blueprint.json", "digest": DIGEST,
                                   "mediaType": "application/json", "size": 2}]}


def wait(what: str, probe: Callable[[], bool], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def shoot(page: Page, url: str, out: Path, *, full: bool = False, settle: str | None = None) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    if settle:
        page.wait_for_selector(settle)
    page.screenshot(path=str(out), full_page=full)
    print(f"wrote {out.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="factory-shots-"))
    rt = bootstrap(Settings(FACTORY_HOME=home / "home"))
    host, http = build_host(rt, project_dir=ROOT)
    server = serve(http, 0)
    pump = threading.Thread(target=host.run, daemon=True)
    pump.start()
    try:
        dev = start_project(rt, load_intent(ROOT / "examples" / "task-tracker.yaml"), run_id="shots",
                            release=ReleaseTarget("dev", False))
        prod = start_project(rt, load_intent(ROOT / "examples" / "catalogue.yaml"), run_id="shots",
                             release=ReleaseTarget("prod", True))
        rt.publisher.publish_new(Emit("BlueprintCreated", FORGED_BLUEPRINT), source="cli", tenant_id="acme",
                                 project_id="forged")
        wait("the dev project to release", lambda: project_status(rt, dev.project_id).outcome == "released")
        wait("the prod release to wait for approval", lambda: project_status(rt, prod.project_id).flows.get(
            "release-manager", {}).get("state") == "awaitingApproval")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            desk = browser.new_page(viewport={"width": 1280, "height": 900})
            diagrams = "pre.mermaid[data-processed] svg"
            shoot(desk, f"{server.url}/", args.out / "projects.png")
            shoot(desk, f"{server.url}/projects/{prod.project_id}", args.out / "project-approval.png", settle=diagrams)
            shoot(desk, f"{server.url}/projects/{dev.project_id}", args.out / "project-released.png", full=True,
                  settle=diagrams)
            shoot(desk, f"{server.url}/traces/{dev.trace_id}", args.out / "trace.png")
            shoot(desk, f"{server.url}/deadletters", args.out / "dead-letters.png")
            shoot(desk, f"{server.url}/topology", args.out / "topology.png", settle=diagrams)
            shoot(desk, f"{server.url}/templates", args.out / "templates.png")
            phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
            shoot(phone, f"{server.url}/", args.out / "phone-projects.png")
            shoot(phone, f"{server.url}/projects/{prod.project_id}", args.out / "phone-project.png", settle=diagrams)
            browser.close()
    finally:
        host.stop()
        pump.join(timeout=60)
        host.close()
        server.shutdown()
        rt.close()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
