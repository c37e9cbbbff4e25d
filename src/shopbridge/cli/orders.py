"""`shopbridge orders list|show|retry`: the transfer log, one order's journey, and taking orders again."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from shopbridge.cli.ui import (
    connections,
    console,
    fail,
    find_connection,
    print_reports,
    run_async,
    store,
    sweep_all,
)
from shopbridge.store import TransferState

orders_app = typer.Typer(help="The order transfer log: list, show, retry.", no_args_is_help=True)


@orders_app.command("list")
def orders_list(
    state: Annotated[
        str | None, typer.Option(help="pending, transferred, waiting_for_fix, needs_review, ...")
    ] = None,
    connection: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option()] = 100,
) -> None:
    """The transfer log, newest first."""
    s = store()
    if state and state not in {st.value for st in TransferState}:
        raise fail(f"unknown state {state!r}; one of: {', '.join(st.value for st in TransferState)}")
    conns = {c.id: c.name for c in s.connections.all()}
    conn_id = find_connection(s, connection).id if connection else None
    rows = s.transfers.all(conn_id, state=state, limit=limit)
    table = Table("connection", "order", "state", "attempts", "Visma", "why / warnings")
    for t in rows:
        visma = t.visma_document_number or (t.visma_document_id or "")[:8]
        note = t.last_error or "; ".join(w.get("message", "") for w in t.warnings or [])
        table.add_row(
            conns.get(t.connection_id, "?"), t.starweb_order_id, t.state, str(t.attempts), visma, note
        )
    console.print(table)
    console.print(f"{len(rows)} shown. By state: {json.dumps(s.transfers.counts(conn_id))}")


@orders_app.command("show")
def orders_show(order: str, connection: Annotated[str | None, typer.Option()] = None) -> None:
    """One order's transfer: state, why it waits, each attempt with what was sent and what came back."""
    s = store()
    t = None
    for c in connections(s, connection):
        t = s.transfers.find(c.id, order)
        if t:
            break
    if t is None:
        raise fail(f"no transfer for order {order}")
    console.print(
        f"[bold]order {t.starweb_order_id}[/bold]  state [bold]{t.state}[/bold]  attempts {t.attempts}"
    )
    if t.visma_document_id:
        console.print(
            f"Visma {t.document_type}: id {t.visma_document_id} number {t.visma_document_number or '-'}"
        )
    if t.last_error:
        console.print(f"why: {t.last_error}")
    if t.details:
        console.print_json(json.dumps(t.details, default=str))
    for w in t.warnings or []:
        console.print(f"warning: {w.get('message')}")
    table = Table("started", "outcome", "sent", "came back", "error")
    for a in s.journal.for_transfer(t.id):
        table.add_row(
            a.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            a.outcome or "(unfinished)",
            json.dumps(a.request, default=str)[:400] if a.request else "",
            json.dumps(a.response, default=str)[:300] if a.response else "",
            a.error or "",
        )
    console.print(table)
    events = s.events.for_order(t.connection_id, t.starweb_order_id)
    if events:
        history = Table("status event", "state", "when", "details", "error")
        for e in events:
            details = {k: v for k, v in (e.details or {}).items() if v not in (None, "")}
            history.add_row(
                e.event,
                e.state,
                e.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
                json.dumps(details, default=str)[:200] if details else "",
                e.error or "",
            )
        console.print(history)


@orders_app.command("retry")
def orders_retry(
    orders: Annotated[
        list[str] | None, typer.Argument(help="Order numbers; none = every waiting order")
    ] = None,
    connection: Annotated[str | None, typer.Option()] = None,
    now: Annotated[bool, typer.Option("--now", help="Sweep right away")] = False,
) -> None:
    """Take waiting orders again (after fixing what their reason says)."""
    s = store()
    conns = connections(s, connection)
    count = 0
    for c in conns:
        if not orders:
            count += s.transfers.retry_all(
                c.id, states=(TransferState.WAITING_FOR_FIX, TransferState.NEEDS_REVIEW)
            )
            continue
        for number in orders:
            t = s.transfers.find(c.id, number)
            if t is not None:
                s.transfers.retry(t.id)
                count += 1
    console.print(f"{count} order(s) will be taken again")
    if now:
        raise typer.Exit(print_reports(s, run_async(sweep_all(s, conns, show_progress=True))))
