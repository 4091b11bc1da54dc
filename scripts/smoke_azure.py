"""Smoke test of a deployed factory (`make smoke-azure`).

Publishes a ``ProjectInitialized`` event through the Service Bus adapter and follows its trace in
Cosmos DB until the deployed function app has handled it (the vision architect's output appears in
the event log). Skips, exit code 0, with a message naming what is missing unless the settings point
at live services:

    FACTORY_BUS=servicebus  + ServiceBusConnection__fullyQualifiedNamespace (or ServiceBusConnection)
    FACTORY_STATE=cosmos    + CosmosConnection__accountEndpoint (or CosmosConnection)
    FACTORY_SIGNING_KEY     = the key in the deployment's Key Vault (else the app rejects the event)

The identity running this script (``az login`` or AZURE_CLIENT_ID) needs Azure Service Bus Data
Sender on the namespace and a Cosmos DB SQL data role on the account; see docs/deploy.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pydantic import ValidationError  # noqa: E402

from shared.settings import BusKind, Settings, StateKind, load_settings  # noqa: E402

DEFAULT_INTENT = ROOT / "examples" / "task-tracker.yaml"
#: the first consumer's output: proves subscription, trigger, pipeline and Cosmos commit all worked
EXPECTED_EVENT = "VisionDocumentCreated"


def missing_live_settings(settings: Settings) -> list[str]:
    """What keeps ``settings`` from pointing at live Service Bus and Cosmos DB (empty when live)."""
    missing = []
    if settings.factory_bus is not BusKind.servicebus:
        missing.append("FACTORY_BUS=servicebus")
    if not (settings.servicebus_namespace or settings.servicebus_connection):
        missing.append("ServiceBusConnection__fullyQualifiedNamespace (or ServiceBusConnection)")
    if settings.factory_state is not StateKind.cosmos:
        missing.append("FACTORY_STATE=cosmos")
    if not (settings.cosmos_endpoint or settings.cosmos_connection):
        missing.append("CosmosConnection__accountEndpoint (or CosmosConnection)")
    return missing


def run_smoke(settings: Settings, *, intent_path: Path, timeout_seconds: float, poll_seconds: float) -> int:
    # Lazy imports: the Azure adapters and SDKs are only needed when there is something live to talk to.
    from shared.bootstrap import bootstrap
    from shared.product.intent import load_intent
    from shared.product.projects import start_project

    runtime = bootstrap(settings)
    try:
        started = start_project(runtime, load_intent(intent_path), run_id=f"smoke-{int(time.time())}",
                                source="smoke-azure")
        print(f"published ProjectInitialized {started.event.id} (project {started.project_id}, "
              f"trace {started.trace_id}) to topic '{settings.topic_name}'")
        deadline = time.monotonic() + timeout_seconds
        seen: list[str] = []
        while time.monotonic() < deadline:
            events: list[dict[str, Any]] = runtime.state.events_for_trace(started.trace_id)
            types = [e["type"] for e in events]
            if types != seen:
                print(f"trace {started.trace_id}: {', '.join(types) or '(no events yet)'}")
                seen = types
            if EXPECTED_EVENT in types:
                print(f"smoke-azure passed: the function app handled the event and wrote {EXPECTED_EVENT}")
                return 0
            if "AgentFailed" in types:
                print("smoke-azure failed: an agent reported AgentFailed; see Application Insights for the "
                      f"trace {started.trace_id}", file=sys.stderr)
                return 1
            time.sleep(poll_seconds)
        print(f"smoke-azure failed: no {EXPECTED_EVENT} in trace {started.trace_id} "
              f"after {timeout_seconds:.0f}s. Check that the app is deployed (`azd deploy`), "
              "that its subscriptions exist, that "
              "FACTORY_SIGNING_KEY equals the Key Vault secret, and the dead-letter queue of "
              "'vision-architect'.", file=sys.stderr)
        return 1
    finally:
        runtime.close()


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--intent", type=Path, default=DEFAULT_INTENT,
                        help="intent YAML to start a project from")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the trace")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between Cosmos DB reads")
    args = parser.parse_args(argv)
    if settings is None:
        try:
            settings = load_settings()
        except ValidationError as exc:
            print(f"smoke-azure cannot run: the settings are incomplete: {exc}", file=sys.stderr)
            return 2
    missing = missing_live_settings(settings)
    if missing:
        print("smoke-azure skipped: the settings do not point at live services. Missing: "
              + "; ".join(missing)
              + ". After `azd up`, run `azd env get-values` into your environment (see docs/deploy.md).")
        return 0
    return run_smoke(settings, intent_path=args.intent, timeout_seconds=args.timeout, poll_seconds=args.poll)


if __name__ == "__main__":
    sys.exit(main())
