"""`shopbridge`: the command line. Every command works non-interactively and exits with a meaning:

0 done, nothing waits · 1 done, but orders wait or need review · 2 bad usage or configuration ·
3 a remote system refused the credentials · 4 a remote system could not be reached.
"""

from __future__ import annotations

import asyncio
import json
import webbrowser
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from shopbridge.cli_products import products_app
from shopbridge.http.errors import ApiError, AuthenticationError, TransportError
from shopbridge.logs import configure_logging
from shopbridge.sandbox.cli import sandbox_app
from shopbridge.store import Store, TransferState, UnknownConnection, open_store
from shopbridge.sync.base import SweepReport
from shopbridge.sync.context import COMPANY_SETTINGS, NotConfigured, effective_settings, open_context
from shopbridge.sync.settings import ConnectionSettings

app = typer.Typer(
    name="shopbridge",
    help="Keep a Starweb webshop and Visma eEkonomi in sync.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
connect_app = typer.Typer(help="Connect a Starweb shop or authorise Visma.", no_args_is_help=True)
connection_app = typer.Typer(help="List, show and change connections.", no_args_is_help=True)
orders_app = typer.Typer(help="The order transfer log: list, show, retry.", no_args_is_help=True)
app.add_typer(connect_app, name="connect")
app.add_typer(connection_app, name="connection")
app.add_typer(orders_app, name="orders")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(products_app, name="products")

console = Console()
EXIT_OK, EXIT_WAITING, EXIT_CONFIG, EXIT_AUTH, EXIT_UNREACHABLE = 0, 1, 2, 3, 4
_opts: dict[str, Any] = {}


@app.callback()
def main(
    data_dir: Annotated[
        Path | None, typer.Option(envvar="SHOPBRIDGE_HOME", help="Data directory (database, key)")
    ] = None,
    db: Annotated[
        str | None, typer.Option(envvar="SHOPBRIDGE_DB", help="Database URL (default: SQLite)")
    ] = None,
    log_level: Annotated[str, typer.Option(envvar="SHOPBRIDGE_LOG_LEVEL")] = "WARNING",
    log_format: Annotated[
        str, typer.Option(envvar="SHOPBRIDGE_LOG_FORMAT", help="console or json")
    ] = "console",
) -> None:
    configure_logging(log_level, log_format)
    _opts.update(data_dir=data_dir, db=db)


def store() -> Store:
    """The store named by --db / --data-dir (opened once per command, migrated on open)."""
    if "store" not in _opts:
        _opts["store"] = open_store(_opts.get("db"), data_dir=_opts.get("data_dir"))
    return _opts["store"]


def fail(message: str, code: int = EXIT_CONFIG) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def run_async(coro: Any) -> Any:
    """Run a coroutine, turning the failures a user can act on into a message and an exit code."""
    try:
        return asyncio.run(coro)
    except (NotConfigured, UnknownConnection, ValueError) as exc:
        raise fail(str(exc)) from None
    except AuthenticationError as exc:
        raise fail(f"{exc.service or 'remote'} refused the credentials: {exc.message}", EXIT_AUTH) from None
    except TransportError as exc:
        raise fail(
            f"{exc.service or 'remote'} could not be reached: {exc.message}", EXIT_UNREACHABLE
        ) from None
    except ApiError as exc:
        raise fail(str(exc)) from None


# ---------------------------------------------------------------------- init / connect
@app.command()
def init() -> None:
    """Create the data directory, the encryption key (mode 0600) and the database."""
    s = store()
    s.ensure_key()
    console.print(f"data directory: {s.data_dir}\ndatabase: {s.url}")


@connect_app.command("starweb")
def connect_starweb(
    name: Annotated[str, typer.Option(help="Connection name")],
    client_id: Annotated[str, typer.Option(envvar="STARWEB_CLIENT_ID")],
    client_secret: Annotated[str, typer.Option(envvar="STARWEB_CLIENT_SECRET")],
    shop_id: Annotated[str | None, typer.Option(help="Starweb shop id (https://ID.starwebserver.se)")] = None,
    base_url: Annotated[str | None, typer.Option(help="API base URL, e.g. a sandbox's")] = None,
    shop_of: Annotated[
        str | None,
        typer.Option(help="Multishop: this shop joins that connection's Visma company (no second consent)"),
    ] = None,
) -> None:
    """Connect a Starweb shop: the credentials are checked against the shop, then stored encrypted."""
    from shopbridge.onboarding import STARWEB_URL
    from shopbridge.onboarding import connect_starweb as connect

    if not (shop_id or base_url):
        raise fail("give --shop-id or --base-url")
    url = base_url or STARWEB_URL.format(shop_id=shop_id)
    conn = run_async(
        connect(
            store(), name, base_url=url, client_id=client_id, client_secret=client_secret, shop_of=shop_of
        )
    )
    joined = f", on the Visma company of {shop_of}" if shop_of else ""
    console.print(f"connection [bold]{conn.name}[/bold] (id {conn.id}) uses the shop at {url}{joined}")


@connect_app.command("visma")
def connect_visma(
    connection: Annotated[str, typer.Option(help="Connection name or id")],
    client_id: Annotated[str, typer.Option(envvar="VISMA_CLIENT_ID")],
    client_secret: Annotated[str, typer.Option(envvar="VISMA_CLIENT_SECRET")],
    identity_url: Annotated[str | None, typer.Option(help="Identity server (default: Visma's)")] = None,
    api_base: Annotated[str | None, typer.Option(help="API base (default: Visma's)")] = None,
    code: Annotated[str | None, typer.Option(help="An authorization code you got yourself")] = None,
    redirect_uri: Annotated[str | None, typer.Option(help="The redirect URI the code was issued for")] = None,
    port: Annotated[int, typer.Option(help="Local callback port (0: any free port)")] = 0,
    no_browser: Annotated[bool, typer.Option(help="Only print the consent URL")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the consent")] = 300.0,
) -> None:
    """Authorise Visma: opens the consent page and catches the redirect, or takes --code."""
    from shopbridge.onboarding import connect_visma as connect

    def show(url: str) -> None:
        console.print(f"Open this page to give shopbridge access to Visma:\n{url}")
        if not no_browser:
            webbrowser.open(url)

    conn = run_async(
        connect(
            store(),
            connection,
            client_id=client_id,
            client_secret=client_secret,
            identity_url=identity_url,
            api_base=api_base,
            code=code,
            redirect_uri=redirect_uri,
            open_url=show,
            timeout=timeout,
            callback_port=port,
        )
    )
    console.print(f"connection [bold]{conn.name}[/bold] is authorised in Visma")


# ---------------------------------------------------------------------- connection
@connection_app.command("list")
def connection_list() -> None:
    """Every connection with its shop, Visma API and transfer counts."""
    s = store()
    table = Table("id", "name", "shop", "visma", "preset", "document", "transferred", "waiting", "paused")
    for c in s.connections.all():
        settings = effective_settings(s, c)
        visma = c.visma_api_base or "Visma (production)"
        if c.parent_id is not None:
            visma = f"shop of {s.connections.get(c.parent_id).name}"
        counts = s.transfers.counts(c.id)
        waiting = counts["waiting_for_fix"] + counts["needs_review"] + counts["pending"]
        table.add_row(
            str(c.id),
            c.name,
            c.starweb_base_url or "-",
            visma,
            settings.preset or "orders only",
            settings.document_type,
            str(counts["transferred"]),
            str(waiting),
            "yes" if c.paused else "",
        )
    console.print(table)


@connection_app.command("show")
def connection_show(connection: str) -> None:
    """A connection's settings (secrets are listed by name only)."""
    s = store()
    c = _find(s, connection)
    settings = effective_settings(s, c)
    console.print(
        f"[bold]{c.name}[/bold] (id {c.id}) shop {c.starweb_base_url} visma {c.visma_api_base or '-'}"
    )
    console.print(f"secrets: {', '.join(s.secrets.kinds(c.id)) or 'none'}")
    table = Table("setting", "value", "meaning")
    for key, field in ConnectionSettings.model_fields.items():
        value = getattr(settings, key)
        table.add_row(key, json.dumps(value, default=str), field.description or "")
    console.print(table)


@connection_app.command("set")
def connection_set(
    connection: str,
    key: str,
    value: Annotated[str, typer.Argument(help="JSON, or text; lists as a,b,c")],
) -> None:
    """Change one setting, e.g. `document_type order`, `trigger_statuses completed,picking`."""
    s = store()
    c = _find(s, connection)
    if key == "paused":
        s.connections.update(c.id, paused=value.lower() in ("1", "true", "yes"))
        console.print(f"{c.name}: paused = {value}")
        return
    if key not in ConnectionSettings.model_fields:
        raise fail(f"unknown setting {key!r}; see `shopbridge connection show {c.name}`")
    if c.parent_id is not None and key in COMPANY_SETTINGS:
        parent = s.connections.get(c.parent_id).name
        raise fail(f"{key} belongs to the Visma company: set it on {parent!r}, which {c.name!r} is a shop of")
    parsed = _parse_value(value, ConnectionSettings.model_fields[key].annotation)
    merged = {**(c.settings or {}), key: parsed}
    try:
        checked = ConnectionSettings.model_validate(merged)
    except ValidationError as exc:
        raise fail(f"{key}: {exc.errors()[0]['msg']}") from None
    s.connections.update_settings(c.id, {key: checked.model_dump(mode="json")[key]})
    console.print(f"{c.name}: {key} = {json.dumps(checked.model_dump(mode='json')[key])}")


def _parse_value(value: str, annotation: Any) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        pass
    if "list" in str(annotation):
        return [v.strip() for v in value.split(",") if v.strip()]
    if "dict" in str(annotation):
        return dict(part.split("=", 1) for part in value.split(",") if "=" in part)
    return value


def _find(s: Store, connection: str) -> Any:
    try:
        return s.connections.find(connection)
    except UnknownConnection as exc:
        raise fail(str(exc)) from None


def _connections(s: Store, connection: str | None) -> list[Any]:
    if connection:
        return [_find(s, connection)]
    found = s.connections.all(include_paused=False)
    if not found:
        raise fail("no connection yet: run `shopbridge connect starweb` and `shopbridge connect visma`")
    return found


# ---------------------------------------------------------------------- sync
@app.command()
def sync(
    once: Annotated[
        bool, typer.Option("--once", help="One sweep, then exit (the only mode; `run` loops)")
    ] = True,
    connection: Annotated[str | None, typer.Option(help="Only this connection")] = None,
) -> None:
    """Sweep every connection once: transfer all qualifying orders, show what happened."""
    s = store()
    reports = run_async(sweep_all(s, _connections(s, connection), show_progress=True))
    raise typer.Exit(print_reports(s, reports))


def progress_bar(*, disable: bool = False) -> Progress:
    """The progress bar every long command shows (spinner, text, bar, done/total; gone when finished)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        disable=disable,
        transient=True,
    )


async def sweep_all(s: Store, connections: list[Any], *, show_progress: bool = False) -> list[SweepReport]:
    """One order sweep per connection, one after the other, with a progress bar."""
    from shopbridge.sync.flows import sweep_connection

    reports = []
    with progress_bar(disable=not show_progress) as progress:
        for c in connections:
            task = progress.add_task(f"{c.name}: orders", total=None)

            def tick(event: str, n: int, task: Any = task) -> None:
                if event == "found":
                    current = progress.tasks[task].total or 0
                    progress.update(task, total=current + n)
                else:
                    progress.advance(task, n)

            async with open_context(s, c.id) as ctx:
                reports.append(await sweep_connection(ctx, on_progress=tick))
    return reports


def print_reports(s: Store, reports: list[SweepReport]) -> int:
    """The summary table of a sweep, then what waits and why; returns the exit code."""
    table = Table("connection", "transferred", "needs review", "waiting", "catalogue", "API calls")
    waiting_total = 0
    for r in reports:
        c = r.counts
        written = sum(n for k, n in c.items() if k.split("_")[0] in ("article", "product") and _is_write(k))
        catalogue_waiting = sum(n for k, n in c.items() if k.endswith(("_error", "_conflict", "_failed")))
        parts = {
            "for a fix": c["waiting_for_fix"],
            "for quota": c["waiting_for_quota"],
            "retry later": c["retry_later"] + c["error"],
            "config": c["config_error"],
        }
        waiting_total += sum(parts.values()) + c["needs_review"] + catalogue_waiting
        waiting = ", ".join(f"{n} {what}" for what, n in parts.items() if n) or "0"
        catalogue = f"{written} written, {catalogue_waiting} waiting" if written or catalogue_waiting else "-"
        table.add_row(
            r.connection, str(c["transferred"]), str(c["needs_review"]), waiting, catalogue, str(r.api_calls)
        )
    console.print(table)
    for r in reports:
        if r.waiting:
            detail = Table("item", "why it waits", title=f"{r.connection}: waiting", title_justify="left")
            for ref, reason in sorted(r.waiting.items(), key=lambda kv: kv[0].zfill(12)):
                detail.add_row(ref, reason)
            console.print(detail)
    return EXIT_WAITING if waiting_total else EXIT_OK


def _is_write(count_key: str) -> bool:
    return count_key.endswith(("_create", "_update"))


# ---------------------------------------------------------------------- orders
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
    conn_id = _find(s, connection).id if connection else None
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
    for c in _connections(s, connection):
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
    conns = _connections(s, connection)
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


# ---------------------------------------------------------------------- usage
@app.command()
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
        _find(s, connection)
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


# ---------------------------------------------------------------------- run / demo
@app.command()
def run(
    host: Annotated[str, typer.Option(help="Listen address for hooks, /healthz, /metrics")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8100,
    public_url: Annotated[
        str | None, typer.Option(envvar="SHOPBRIDGE_PUBLIC_URL", help="Where Starweb can reach the hooks")
    ] = None,
    interval: Annotated[
        float | None, typer.Option(help="Seconds between sweeps (default: per connection)")
    ] = None,
) -> None:
    """The engine: every connection's sweeps on a schedule and on web hook hints, until Ctrl-C."""
    from shopbridge.engine.embedded import run_embedded

    run_async(run_embedded(store(), host=host, port=port, public_url=public_url, interval_s=interval))


@app.command()
def demo(
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Exit after the sync")] = False,
    port: Annotated[int, typer.Option(help="Engine port while serving (0: any free port)")] = 0,
    data_dir: Annotated[Path | None, typer.Option(help="Where the demo keeps its data")] = None,
    preset: Annotated[
        str | None, typer.Option(help="Also sync the catalogue: ecom-master, erp-master or combo")
    ] = None,
    shops: Annotated[int, typer.Option(min=1, help="Shops on the one Visma company (multishop)")] = 1,
) -> None:
    """Both sandboxes with demo data, a connection made like a user makes one, every order transferred."""
    from shopbridge.demo import run_demo

    if preset not in (None, "ecom-master", "erp-master", "combo"):
        raise fail("--preset is ecom-master, erp-master or combo")
    code = run_async(
        run_demo(console, serve=not no_serve, port=port, data_dir=data_dir, preset=preset, shops=shops)
    )
    raise typer.Exit(code)
