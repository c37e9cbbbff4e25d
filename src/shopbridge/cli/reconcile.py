"""`shopbridge reconcile`: proof that the books match the shop for a month (or any span of days)."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shopbridge.cli.failures import CONNECTION, explain
from shopbridge.cli.ui import EXIT_OK, about, connections, console, fail, run_async, store

if TYPE_CHECKING:
    from shopbridge.sync.reconcile import Period, ReconcileResult

CSV_COLUMNS = (
    "connection",
    "period",
    "order",
    "ordered",
    "state",
    "group",
    "currency",
    "shop_total",
    "visma_total",
    "document",
    "difference",
    "reason",
)


def reconcile(
    connection: Annotated[str | None, typer.Option(help="Only this connection (name or id)")] = None,
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: the running month, shop time)")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="First day YYYY-MM-DD (with --to)")] = None,
    to: Annotated[str | None, typer.Option(help="Last day YYYY-MM-DD (with --from)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of tables")] = False,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="Also write one row per order here")] = None,
) -> None:
    """Every qualifying shop order of the period against the transfer log and Visma's documents.

    Lists orders with no transfer, documents missing or doubled in Visma, amounts that differ and
    documents with our reference that no order explains; totals per currency and VAT rate side by
    side. The last line is the verdict. Exit 0 when every order is accounted for, 1 when there is an
    unexplained difference, 2 bad usage, 3 credentials refused, 4 the shop or Visma unreachable.
    """
    period = _period(month, from_, to)
    about(connection)
    s = store()
    results: list[ReconcileResult] = []
    code = EXIT_OK
    for conn in connections(s, connection):
        token = CONNECTION.set(conn.name)
        try:
            results.append(run_async(_run(s, conn.id, period)))
        except Exception as exc:
            if any(c.__name__ in ("Exit", "Abort") for c in type(exc).__mro__):
                raise
            failure = explain(exc)
            console.print(f"[red]error:[/red] {conn.name}: {failure.sentence}", soft_wrap=True)
            code = max(code, failure.code)
        finally:
            CONNECTION.reset(token)
    code = max([code, *(r.exit_code for r in results)])
    if csv_file is not None:
        _write_csv(csv_file, results)
    if as_json:
        typer.echo(json.dumps({"exit_code": code, "results": [r.to_json() for r in results]}, indent=2))
    else:
        for r in results:
            _print(r)
    raise typer.Exit(code)


def _period(month: str | None, first: str | None, last: str | None) -> Period:
    from shopbridge.sync.reconcile import SHOP_TIME_ZONE, Period, running_months

    if month and (first or last):
        raise fail("give --month or --from/--to, not both")
    if bool(first) != bool(last):
        raise fail("--from and --to go together: the first and the last day, YYYY-MM-DD")
    try:
        if first and last:
            period = Period(date.fromisoformat(first), date.fromisoformat(last))
            if period.last < period.first:
                raise ValueError(f"--to {last} is before --from {first}")
            return period
        if month:
            return Period.month(month)
    except ValueError as exc:
        raise fail(str(exc)) from None
    from zoneinfo import ZoneInfo

    return running_months(tz=ZoneInfo(SHOP_TIME_ZONE))[0]


async def _run(s: Any, connection_id: int, period: Period) -> ReconcileResult:
    from shopbridge.sync.context import open_context
    from shopbridge.sync.reconcile import reconcile as run
    from shopbridge.sync.reconcile import store_result

    async with open_context(s, connection_id) as ctx:
        result = await run(ctx, period)
    store_result(s, result)
    return result


def _print(r: ReconcileResult) -> None:
    from rich.table import Table

    table = Table(
        "currency",
        "VAT",
        "net shop",
        "net Visma",
        "VAT shop",
        "VAT Visma",
        "gross shop",
        "gross Visma",
        title=f"{r.connection} {r.period}: transferred orders ({r.transferred:,})",
        title_justify="left",
    )
    for cur in sorted(set(r.shop) | set(r.visma)):
        shop, visma = r.shop.get(cur, {}), r.visma.get(cur, {})
        for rate in sorted(set(shop) | set(visma), key=lambda x: -float(x)):
            a, b = shop.get(rate), visma.get(rate)
            cells = []
            for name in ("net", "vat", "gross"):
                cells += [_m(getattr(a, name) if a else None), _m(getattr(b, name) if b else None)]
            table.add_row(cur, f"{rate} %", *cells)
    console.print(table)
    if r.apart:
        apart = Table(
            "group",
            "currency",
            "VAT",
            "net",
            "VAT amount",
            "gross",
            title="not in Visma (shop figures)",
            title_justify="left",
        )
        for group, tree in sorted(r.apart.items()):
            for cur, rates in sorted(tree.items()):
                for rate, f in sorted(rates.items(), key=lambda kv: -float(kv[0])):
                    apart.add_row(group, cur, f"{rate} %", _m(f.net), _m(f.vat), _m(f.gross))
        console.print(apart)
    if r.waiting:
        waiting = Table("order", "why it is not in Visma", title="waiting or skipped", title_justify="left")
        for oid, reason in sorted(r.waiting.items(), key=lambda kv: kv[0].zfill(12)):
            waiting.add_row(oid, reason)
        console.print(waiting)
    if r.differences:
        diffs = Table("kind", "order", "difference", "", title="differences", title_justify="left")
        for d in r.differences:
            diffs.add_row(d.kind, d.order_id or "-", d.sentence, "waits for review" if d.explained else "")
        console.print(diffs)
    console.print(f"{r.connection}: {r.api_calls} API calls", soft_wrap=True)
    console.print(r.verdict(), soft_wrap=True, markup=False, highlight=False)


def _m(value: Any) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _write_csv(path: Path, results: list[ReconcileResult]) -> None:
    try:
        handle = path.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror or exc}") from None
    with handle:
        out = csv.writer(handle)
        out.writerow(CSV_COLUMNS)
        for r in results:
            kinds = {d.order_id: d.kind for d in r.differences if d.order_id}
            for line in r.lines:
                out.writerow(
                    [
                        r.connection,
                        r.period,
                        line.order_id,
                        line.ordered,
                        line.state,
                        line.group,
                        line.currency,
                        line.shop_total,
                        "" if line.visma_total is None else line.visma_total,
                        line.document or "",
                        kinds.get(line.order_id, ""),
                        line.reason,
                    ]
                )
            listed = {line.order_id for line in r.lines}
            for d in r.differences:
                if d.order_id not in listed:
                    out.writerow(
                        [
                            r.connection,
                            r.period,
                            d.order_id or "",
                            "",
                            "",
                            "",
                            "",
                            "",
                            "",
                            d.document or "",
                            d.kind,
                            d.sentence,
                        ]
                    )
