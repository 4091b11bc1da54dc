"""``factory dlq``: dead-lettered messages (list, resubmit), embedded and on Azure.

Two kinds, both listed: the bus's own dead-letter queues (the embedded bus, or Service Bus's
``$DeadLetterQueue`` sub-queues: transient failures after ``maxDeliveryCount``, expiry), addressed by
sequence number; and the dead letters the pipeline recorded in the state store on Azure (permanent
failures, see ``shared/handling/settlement.py``), addressed by message id.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from shared.cli.common import console, fail, open_runtime
from shared.ports import ResubmitTooEarlyError

app = typer.Typer(no_args_is_help=True, help="Dead-lettered messages: list and resubmit.")


@app.command("list")
def dlq_list(subscription: Annotated[str | None, typer.Option(help="only this subscription / consumer")] = None,
             ) -> None:
    """Dead-lettered messages with their reason (the bus's dead-letter queues and recorded dead letters)."""

    rt = open_runtime()
    table = Table("kind", "subscription", "seq / message id", "type", "deliveries", "reason", "description")
    try:
        if rt.dead_letter_queue is not None:
            for d in rt.dead_letter_queue.dead_letters(subscription):
                table.add_row("bus", d.subscription, str(d.sequence_number),
                              str(d.application_properties.get("type", "")), str(d.delivery_count), d.reason,
                              d.description[:120])
        for b in rt.recorded_dead_letters.list(subscription):
            table.add_row("recorded", b["consumer"], b["messageId"], str(b["applicationProperties"].get("type", "")),
                          str(b.get("deliveryCount")), b["reason"], b["description"][:120])
    finally:
        rt.close()
    console.print(table)


@app.command("resubmit")
def dlq_resubmit(
    subscription: Annotated[str, typer.Argument(help="the subscription (consumer) `dlq list` shows")],
    id: Annotated[str, typer.Argument(help="a sequence number (kind bus) or a message id (kind recorded)")],
) -> None:
    """Send a dead-lettered message back to its subscription (the inbox prevents a double effect)."""
    rt = open_runtime()
    try:
        if id.isdigit():
            if rt.dead_letter_queue is None:
                raise fail(f"no dead-letter queue to resubmit #{id} from", "no bus is configured",
                           "set FACTORY_BUS (sqlite or servicebus) and its connection", 2)
            rt.dead_letter_queue.resubmit(subscription, int(id))
        else:
            rt.recorded_dead_letters.resubmit(subscription, id)
    except LookupError as exc:
        raise fail(f"cannot resubmit {subscription} {id}", str(exc), "pick one from `factory dlq list`", 2) from exc
    except ResubmitTooEarlyError as exc:
        raise fail(f"not resubmitting {subscription} {id} yet", str(exc), "run the same command again later",
                   3) from exc
    finally:
        rt.close()
    console.print(f"resubmitted {subscription} {id}")
