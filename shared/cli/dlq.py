"""``factory dlq``: dead-lettered messages (list, resubmit), embedded and on Azure.

Two kinds, both listed: the bus's own dead-letter queues (the embedded bus, or Service Bus's
``$DeadLetterQueue`` sub-queues: transient failures after ``maxDeliveryCount``, expiry), addressed by
sequence number; and the dead letters the pipeline recorded in the state store on Azure (permanent
failures, see ``shared/handling/settlement.py``), addressed by message id.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shared.bootstrap import Runtime
from shared.cli.common import BAD_INPUT, FAILED, did_you_mean, fail, open_runtime
from shared.cli.output import esc, json_to_stdout, say, table, write_json
from shared.contracts.manifests import all_subscriptions
from shared.ports import ResubmitTooEarlyError

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Dead-lettered messages: list and resubmit.")


def _check_subscription(rt: Runtime, subscription: str) -> None:
    known = [s.name for s in all_subscriptions(rt.consumers)]
    if subscription not in known:
        raise fail(f"no subscription named {subscription!r}", "subscriptions are the consumers in contracts/ "
                   "(agents, flows, scaffold steps) and their lanes",
                   did_you_mean(subscription, known, "subscriptions"), BAD_INPUT)


def _letters(rt: Runtime, subscription: str | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if rt.dead_letter_queue is not None:
        for d in rt.dead_letter_queue.dead_letters(subscription):
            rows.append({"kind": "bus", "subscription": d.subscription, "id": str(d.sequence_number),
                         "messageId": d.message_id, "type": str(d.application_properties.get("type", "")),
                         "deliveries": d.delivery_count, "reason": d.reason, "description": d.description})
    for b in rt.recorded_dead_letters.list(subscription):
        rows.append({"kind": "recorded", "subscription": b["consumer"], "id": b["messageId"],
                     "messageId": b["messageId"], "type": str(b["applicationProperties"].get("type", "")),
                     "deliveries": b.get("deliveryCount"), "reason": b["reason"], "description": b["description"]})
    return rows


@app.command("list")
def dlq_list(
    subscription: Annotated[str | None, typer.Option(help="only this subscription / consumer",
                                                     metavar="SUBSCRIPTION")] = None,
    json_out: Annotated[str | None, typer.Option("--json", help="write JSON to FILE (- for stdout) instead of text",
                                                 metavar="FILE|-")] = None,
) -> None:
    """Dead-lettered messages with their reason (the bus's dead-letter queues and recorded dead letters)."""

    rt = open_runtime()
    try:
        if subscription is not None:
            _check_subscription(rt, subscription)
        rows = _letters(rt, subscription)
    finally:
        rt.close()
    if json_out:
        write_json(rows, json_out)
        if json_to_stdout(json_out):
            return
    if not rows:
        say("no dead letters" + (f" on {subscription}" if subscription else ""))
        return
    table(["kind", "subscription", "seq / message id", "type", "deliveries", "reason", "description"],
          [[r["kind"], r["subscription"], r["id"], r["type"], r["deliveries"], r["reason"], r["description"]]
           for r in rows])


@app.command("resubmit")
def dlq_resubmit(
    subscription: Annotated[str, typer.Argument(help="the subscription (consumer) `dlq list` shows",
                                                metavar="SUBSCRIPTION")],
    id: Annotated[str, typer.Argument(help="a sequence number (kind bus) or a message id (kind recorded)",
                                      metavar="ID")],
) -> None:
    """Send a dead-lettered message back to its subscription (the inbox prevents a double effect)."""
    rt = open_runtime()
    try:
        _check_subscription(rt, subscription)
        try:
            if id.isdigit():
                if rt.dead_letter_queue is None:
                    raise fail(f"no dead-letter queue to resubmit #{id} from", "no bus is configured",
                               "set FACTORY_BUS (sqlite or servicebus) and its connection", BAD_INPUT)
                rt.dead_letter_queue.resubmit(subscription, int(id))
            else:
                rt.recorded_dead_letters.resubmit(subscription, id)
        except LookupError as exc:
            known = [r["id"] for r in _letters(rt, subscription)]
            raise fail(f"cannot resubmit {subscription} {id}", str(exc),
                       did_you_mean(id, known, f"dead letters on {subscription}")
                       + " (`factory dlq list` shows them)", BAD_INPUT) from exc
        except ResubmitTooEarlyError as exc:
            raise fail(f"not resubmitting {subscription} {id} yet", str(exc), "run the same command again later",
                       FAILED) from exc
    finally:
        rt.close()
    say(f"resubmitted {esc(subscription)} {esc(id)}")
