"""`shopbridge usage`: transferred orders and shops per Visma company and month, against the plan."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from shopbridge.cli.ui import console, fail, find_connection, store


def usage(
    connection: Annotated[str | None, typer.Option(help="Only this connection (name or id)")] = None,
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month, UTC)")] = None,
    history: Annotated[bool, typer.Option("--history", help="Every month with usage")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """Transferred orders and shops per connection and month, against the plan (for invoicing)."""
    from shopbridge.plans import usage_lines

    s = store()
    if connection:
        find_connection(s, connection)
    try:
        lines = usage_lines(s, month, connection, history=history)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps([line.as_json() for line in lines], indent=2))
        return
    table = Table("connection", "month", "plan", "orders", "quota", "waiting for quota", "shops", "fee")
    for line in lines:
        fee = "-" if line.fee_total is None else f"{line.fee_total} ({line.shops} × {line.shop_fee})"
        used = "" if not line.quota else f" ({line.transferred_orders * 100 // line.quota} %)"
        quota = "-" if line.quota is None else f"{line.quota}{used}"
        table.add_row(
            line.connection,
            line.month,
            line.plan,
            str(line.transferred_orders),
            quota,
            str(line.waiting_for_quota),
            str(line.shops),
            fee,
        )
    console.print(table)
    for line in lines:
        if line.warning:
            console.print(f"[yellow]warning:[/yellow] {line.connection}: {line.warning}")
