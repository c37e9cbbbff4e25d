"""`shopbridge orders list|show|retry`: the transfer log, one order's journey, and taking orders again."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from shopbridge.cli.ui import (
    about,
    connections,
    console,
    fail,
    find_connection,
    print_reports,
    run_async,
    store,
    sweep_all,
)

if TYPE_CHECKING:
    from shopbridge.store import Store

orders_app = typer.Typer(help="The order transfer log: list, show, retry.", no_args_is_help=True)

RETRYABLE = ("waiting_for_fix", "needs_review", "skipped", "waiting_for_quota", "pending")


def _day(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
    except ValueError:
        raise fail(f"{option} {value!r} is not a date: give YYYY-MM-DD") from None


def _row(t: Any, name: str) -> dict[str, Any]:
    return {
        "connection": name,
        "order": t.starweb_order_id,
        "number": t.starweb_order_number,
        "state": t.state,
        "attempts": t.attempts,
        "document_type": t.document_type,
        "visma_id": t.visma_document_id,
        "visma_number": t.visma_document_number,
        "why": t.last_error,
        "warnings": [w.get("message") for w in t.warnings or []],
        "customer": t.customer_name,
        "email": t.customer_email,
        "ordered": t.ordered_at.isoformat() if t.ordered_at else None,
        "total": str(t.total_amount) if t.total_amount is not None else None,
        "currency": t.currency,
        "taken_in": t.created_at.isoformat() if t.created_at else None,
        "updated": t.updated_at.isoformat() if t.updated_at else None,
    }


@orders_app.command("list")
def orders_list(
    state: Annotated[
        str | None, typer.Option(help="pending, transferred, waiting_for_fix, needs_review, ...")
    ] = None,
    connection: Annotated[str | None, typer.Option()] = None,
    since: Annotated[str | None, typer.Option(help="Ordered on or after this day (YYYY-MM-DD)")] = None,
    until: Annotated[str | None, typer.Option(help="Ordered on or before this day (YYYY-MM-DD)")] = None,
    search: Annotated[
        str | None,
        typer.Option(help="Order number, Visma number, or part of the customer's name or e-mail"),
    ] = None,
    limit: Annotated[int, typer.Option()] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """The transfer log, newest first."""
    from shopbridge.store import TransferState

    about(connection)
    s = store()
    if state and state not in {st.value for st in TransferState}:
        raise fail(f"unknown state {state!r}; one of: {', '.join(st.value for st in TransferState)}")
    start, end = _day(since, "--since"), _day(until, "--until")
    if end is not None:
        end += timedelta(days=1)
    names = {c.id: c.name for c in s.connections.all()}
    conns = connections(s, connection) if connection else s.connections.all()
    rows: list[Any] = []
    for c in conns:
        rows += s.transfers.all(c.id, state=state, limit=limit, since=start, until=end, search=search)
    rows.sort(key=lambda t: t.id, reverse=True)
    rows = rows[:limit]
    if as_json:
        typer.echo(json.dumps([_row(t, names.get(t.connection_id, "?")) for t in rows], indent=2))
        return
    table = Table("connection", "order", "state", "attempts", "Visma", "why / warnings")
    for t in rows:
        visma = t.visma_document_number or (t.visma_document_id or "")[:8]
        note = t.last_error or "; ".join(w.get("message", "") for w in t.warnings or [])
        table.add_row(
            names.get(t.connection_id, "?"), t.starweb_order_id, t.state, str(t.attempts), visma, note
        )
    console.print(table)
    conn_id = find_connection(s, connection).id if connection else None
    console.print(f"{len(rows)} shown. By state: {json.dumps(s.transfers.counts(conn_id))}")


def _find_everywhere(s: Store, conns: list[Any], order: str) -> list[tuple[Any, Any]]:
    """(connection, transfer) for every connection holding order `order` (numbers repeat across shops)."""
    found = []
    for c in conns:
        t = s.transfers.find(c.id, order)
        if t is not None:
            found.append((c, t))
    return found


@orders_app.command("show")
def orders_show(
    order: str,
    connection: Annotated[str | None, typer.Option(help="The shop, when several have this number")] = None,
    full: Annotated[bool, typer.Option("--full", help="What was sent and came back, uncut")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of tables")] = False,
) -> None:
    """One order's transfer: state, why it waits, each attempt with what was sent and what came back.
    The same number in several shops: each is shown, under its connection's name."""
    about(connection)
    s = store()
    found = _find_everywhere(s, connections(s, connection), order)
    if not found:
        where = f" in {connection!r}" if connection else ""
        raise fail(
            f"no transfer for order {order}{where}: `shopbridge orders list --search {order}` looks for it"
        )
    if as_json:
        out = []
        for c, t in found:
            body = _row(t, c.name)
            body["details"] = t.details
            body["attempts_log"] = [
                {
                    "started": a.started_at.isoformat(),
                    "outcome": a.outcome,
                    "sent": a.request,
                    "came_back": a.response,
                    "error": a.error,
                }
                for a in s.journal.for_transfer(t.id)
            ]
            body["status_events"] = [
                {
                    "event": e.event,
                    "state": e.state,
                    "when": e.updated_at.isoformat(),
                    "details": e.details,
                    "error": e.error,
                }
                for e in s.events.for_order(t.connection_id, t.starweb_order_id)
            ]
            out.append(body)
        typer.echo(json.dumps(out, indent=2, default=str))
        return
    if len(found) > 1:
        console.print(
            f"order {order} is in {len(found)} shops: {', '.join(c.name for c, _ in found)} "
            "(--connection NAME shows one)"
        )
    for c, t in found:
        _show_one(s, c, t, full=full)


def _cut(value: Any, limit: int, full: bool) -> str:
    text = json.dumps(value, default=str) if value else ""
    return text if full or len(text) <= limit else text[: limit - 1] + "…"


def _show_one(s: Store, c: Any, t: Any, *, full: bool) -> None:
    console.print(
        f"[bold]{c.name}: order {t.starweb_order_id}[/bold]  state [bold]{t.state}[/bold]  "
        f"attempts {t.attempts}"
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
            _cut(a.request, 400, full),
            _cut(a.response, 300, full),
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
                _cut(details, 200, full),
                e.error or "",
            )
        console.print(history)
    if not full:
        console.print("(--full shows what was sent and came back uncut)")


@orders_app.command("retry")
def orders_retry(
    orders: Annotated[list[str] | None, typer.Argument(help="Order numbers")] = None,
    connection: Annotated[str | None, typer.Option()] = None,
    all_waiting: Annotated[
        bool, typer.Option("--all", help="Every order waiting for a fix or a review")
    ] = False,
    reason: Annotated[
        str | None, typer.Option(help="Every waiting order whose reason contains this text")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
    now: Annotated[bool, typer.Option("--now", help="Sweep right away")] = False,
) -> None:
    """Take waiting orders again (after fixing what their reason says): by number, by `--reason`, or
    `--all`. Without any of them it asks first (and refuses when it cannot ask)."""
    about(connection)
    s = store()
    conns = connections(s, connection)
    if orders and (all_waiting or reason):
        raise fail("give order numbers, or --reason TEXT, or --all: not several")
    if not orders and not reason and not all_waiting:
        waiting = sum(_waiting(s, c.id) for c in conns)
        if not waiting:
            console.print("no order waits: nothing to retry")
            return
        if yes:
            all_waiting = True
        elif not sys.stdin.isatty():
            raise fail(f"{waiting} order(s) wait: give order numbers, --reason TEXT or --all (or --yes)")
        elif typer.confirm(f"Retry all {waiting} waiting order(s)?", default=False):
            all_waiting = True
        else:
            raise typer.Exit(0)
    count = 0
    if orders:
        picked, problems = _pick(s, conns, orders)
        if problems:
            raise fail("; ".join(problems) + "; nothing was retried")
        for t in picked:
            s.transfers.retry(t.id)
        count = len(picked)
    else:
        for c in conns:
            rows = s.transfers.all(c.id, state=("waiting_for_fix", "needs_review"), limit=10_000_000)
            for t in rows:
                if reason is None or reason.lower() in (t.last_error or "").lower():
                    s.transfers.retry(t.id)
                    count += 1
        if reason is not None and not count:
            raise fail(
                f"no waiting order's reason contains {reason!r}: `shopbridge orders list` shows the reasons"
            )
    console.print(f"{count} order(s) will be taken again")
    if now:
        raise typer.Exit(print_reports(s, run_async(sweep_all(s, conns, show_progress=True))))


def _waiting(s: Store, connection_id: int) -> int:
    counts = s.transfers.counts(connection_id)
    return counts["waiting_for_fix"] + counts["needs_review"]


def _pick(s: Store, conns: list[Any], orders: list[str]) -> tuple[list[Any], list[str]]:
    """The transfers to retry, and a sentence per number that cannot be retried (unknown, done,
    or in several shops without --connection)."""
    picked, problems = [], []
    for number in orders:
        found = _find_everywhere(s, conns, number)
        if not found:
            problems.append(f"no order {number}")
        elif len(found) > 1:
            shops = ", ".join(c.name for c, _ in found)
            problems.append(f"order {number} is in several shops ({shops}): name one with --connection")
        elif found[0][1].state not in RETRYABLE:
            t = found[0][1]
            done = (
                f" as Visma {t.document_type} {t.visma_document_number or t.visma_document_id}"
                if t.visma_document_id
                else ""
            )
            problems.append(f"order {number} is {t.state}{done}: nothing to retry")
        else:
            picked.append(found[0][1])
    return picked, problems
