"""``factory status --cost``: the Azure bill of one project as a table (``shared/product/cost.py``)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from shared.product.cost import Bill


def print_bill(console: Console, bill: Bill) -> None:
    p = bill.prices
    table = Table("service", "meter", "quantity", f"unit price {p.currency}", f"cost {p.currency}",
                  title=f"Azure bill of {bill.project_id} (list prices, {p.region}, {p.as_of})")
    for item in bill.items:
        table.add_row(item.service, item.meter, f"{item.quantity:,.2f} {item.unit}", f"{item.unit_price:.8f}",
                      f"{item.cost:.6f}")
    table.add_row("[bold]total[/]", "", "", "", f"[bold]{bill.total:.6f}[/]")
    console.print(table)
    for item in bill.items:
        if item.note:
            console.print(f"  {item.service} {item.meter}: {item.note}", highlight=False)
    console.print(f"  kept: {bill.monthly_total:.8f} {p.currency} a month (event log and artifacts); fixed, not "
                  "per project: " + "; ".join(f"{name} {v['usd']} {p.currency} a month ({v['note']})"
                                              for name, v in p.fixed_monthly.items()), highlight=False)
