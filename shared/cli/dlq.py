"""``factory dlq``: dead-lettered messages (list, resubmit)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from shared.cli.common import console, fail, open_runtime
from shared.handling.settlement import DEAD_LETTER_PARTITION

app = typer.Typer(no_args_is_help=True, help="Dead-lettered messages: list and resubmit.")



@app.command("list")
def dlq_list(subscription: Annotated[str | None, typer.Option()] = None) -> None:
    """Dead-lettered messages with their reason (bus DLQ and recorded dead letters)."""

    rt = open_runtime()
    table = Table("subscription", "seq / id", "type", "deliveries", "reason", "description")
    if rt.receiver is not None:
        for d in rt.receiver.dead_letters(subscription):
            table.add_row(d.subscription, str(d.sequence_number), str(d.application_properties.get("type", "")),
                          str(d.delivery_count), d.reason, d.description[:120])
    for doc in rt.state.query(DEAD_LETTER_PARTITION):
        b = doc.body
        if subscription and b["consumer"] != subscription:
            continue
        table.add_row(b["consumer"], b["messageId"], str(b["applicationProperties"].get("type", "")),
                      str(b.get("deliveryCount")), b["reason"], b["description"][:120])
    console.print(table)


@app.command("resubmit")
def dlq_resubmit(subscription: str, sequence_number: int) -> None:
    """Move a dead-lettered message back to its subscription (the inbox prevents a double effect)."""
    rt = open_runtime()
    if rt.receiver is None:
        raise fail("resubmit needs the embedded bus", "on Azure use Service Bus Explorer", "", 2)
    rt.receiver.resubmit(subscription, sequence_number)
    console.print(f"resubmitted {subscription}#{sequence_number}")
