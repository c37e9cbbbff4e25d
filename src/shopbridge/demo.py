"""`shopbridge demo`: the whole product on one machine, with nothing to sign up for.

Starts both sandboxes with demo data on free ports, makes a connection through the same code a user
goes through (Starweb credentials checked against the shop; Visma's OAuth consent page, redirect,
`state` check and code exchange), runs `doctor --fix` (which creates the service articles the company
lacks), transfers every qualifying order and prints the summary. Then it keeps the engine serving
(web hooks; /healthz and /metrics on the loopback operations port) until Ctrl-C, unless `--no-serve`.
The exit code is the sync's (see `shopbridge sync`).
With `--document-type invoice` every order is booked as an invoice at once: the paid ones settled on
the bank account of their payment method (mapped by name, after a consent that includes ea:purchase),
the others e-mailed, and the shop told Invoiced/Paid.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path

from rich.console import Console

from shopbridge.onboarding import connect_sandboxes, connect_starweb
from shopbridge.sandbox.common import defaults as d
from shopbridge.sandbox.common.runner import RunningServer, start_in_thread
from shopbridge.sandbox.settings import RateLimitSettings, SandboxSettings
from shopbridge.store import Store, open_store

DEMO_CONNECTION = "demo"
DEMO_STARWEB_LIMIT = 3000  # per minute: the sandbox shop is generous so the demo is quick
DEMO_SETTINGS = {
    "document_type": "invoice_draft",
    "trigger_statuses": ["completed", "picking"],
    "missing_article": "create",
}


SANDBOX_STATE = "sandboxes"
"""Where the demo keeps both sandboxes' state in its data directory (`restart_sandboxes` serves it again)."""


def start_sandboxes(
    *,
    starweb_limit: int = DEMO_STARWEB_LIMIT,
    shops: int = 1,
    state_dir: Path | None = None,
    ports: tuple[int, int] = (0, 0),
) -> tuple[RunningServer, RunningServer]:
    """Both sandboxes with demo data (Starweb serving `shops` shops), in this process, on `ports` (0: free
    ones). With `state_dir` their state is kept there (`starweb.json`, `visma.json`) and read back."""
    from shopbridge.sandbox.starweb.app import create_app as starweb_app
    from shopbridge.sandbox.visma.app import create_app as visma_app

    def state(name: str) -> Path | None:
        return None if state_dir is None else Path(state_dir) / f"{name}.json"

    starweb = start_in_thread(
        starweb_app(
            SandboxSettings(
                d.STARWEB_CLIENT_ID,
                d.STARWEB_CLIENT_SECRET,
                rate_limit=RateLimitSettings(starweb_limit),
                shops=shops,
                state_file=state("starweb"),
            )
        ),
        port=ports[0],
    )
    visma = start_in_thread(
        visma_app(SandboxSettings(d.VISMA_CLIENT_ID, d.VISMA_CLIENT_SECRET, state_file=state("visma"))),
        port=ports[1],
    )
    return starweb, visma


def restart_sandboxes(data_dir: Path) -> tuple[RunningServer, RunningServer]:
    """The sandboxes of a finished demo (`demo --no-serve`) served again, with the state the demo left,
    on the ports its connection names: `shopbridge reconcile` (or any command) can then look at them."""
    from urllib.parse import urlparse

    store = open_store(data_dir=data_dir)
    try:
        conn = store.connections.find(DEMO_CONNECTION)
        shops = len(store.connections.shops(conn.id))
        ports = (urlparse(conn.starweb_base_url).port or 0, urlparse(conn.visma_api_base).port or 0)
    finally:
        store.close()
    return start_sandboxes(shops=shops, state_dir=Path(data_dir) / SANDBOX_STATE, ports=ports)


async def demo_status_feedback(store: Store, console: Console) -> None:
    """Status feedback: a new order goes to Visma as an order and is shipped; a draft is invoiced (its
    checkout payment registered, or paid in Visma), another deleted; a sweep tells the shop."""
    from shopbridge.sandbox.catalog import demo_catalog, in_visma
    from shopbridge.sandbox.visma.seed import sid
    from shopbridge.store import TransferState
    from shopbridge.sync.base import Hint
    from shopbridge.sync.context import open_context
    from shopbridge.sync.flows import sweep_connection

    conn = store.connections.find(DEMO_CONNECTION)
    drafts = [
        t
        for t in store.transfers.all(conn.id, state=TransferState.TRANSFERRED, limit=20)
        if t.visma_document_id and t.document_type == "invoice_draft"
    ]
    if len(drafts) < 2:
        console.print("status feedback: not enough transferred drafts to show it")
        return
    console.print("status feedback: Visma ships one order, invoices and pays a draft, deletes another ...")
    async with open_context(store, DEMO_CONNECTION, starweb_rate_limit=DEMO_STARWEB_LIMIT) as ctx:
        statuses = {}
        for key, name in (("invoiced", "Fakturerad"), ("paid", "Betald")):
            body = {"languages": [{"langCode": "sv", "name": name}], "shouldSendEmail": True}
            statuses[key] = (await ctx.starweb.request("POST", "order-statuses", json=body))["data"][
                "statusId"
            ]
        known = await ctx.starweb.request("GET", f"orders/{drafts[0].starweb_order_id}")
        customer = known["data"]["customerId"]  # a customer whose order went through
        sku = next(v.sku for p in demo_catalog() for v in p.variants if in_visma(v.sku))
        new = await ctx.starweb.request(
            "POST",
            "orders",
            json={
                "customerId": customer,
                "statusId": 3,
                "paymentMethodId": 1,
                "items": [{"sku": sku, "quantity": 1}],
            },
        )
    shipped_id = str(new["data"]["orderId"])
    store.connections.update_settings(
        conn.id,
        {
            "document_type": "order",
            "status_map": {
                "delivered": "completed",
                "invoiced": str(statuses["invoiced"]),
                "paid": str(statuses["paid"]),
                "cancelled": "canceled",
            },
            "tracking_pattern": r"(PN\d+SE)",
            "tracker_type": "PostNord",
            "payment_accounts": {"default": sid("bank", "cheque")},
            "paid_payment_methods": ["klarna_checkout", "card", "swish"],
            "deletion_check_interval_s": 0,
        },
    )
    async with open_context(store, DEMO_CONNECTION, starweb_rate_limit=DEMO_STARWEB_LIMIT) as ctx:
        await sweep_connection(ctx, [Hint("order", shipped_id)])
    store.connections.update_settings(conn.id, {"document_type": "invoice_draft"})
    shipped = store.transfers.get_by_order(conn.id, shipped_id)
    paid, deleted = drafts[0], drafts[1]
    async with open_context(store, DEMO_CONNECTION, starweb_rate_limit=DEMO_STARWEB_LIMIT) as ctx:
        if shipped is None or not shipped.visma_document_id:
            why = shipped.last_error if shipped is not None else "not picked up"
            console.print(f"  the new order {shipped_id} did not reach Visma: {why}")
        else:
            order = await ctx.visma.request("GET", f"orders/{shipped.visma_document_id}")
            order.update({"Status": 3, "OurReference": "Spårning PN123456789SE"})
            await ctx.visma.request("PUT", f"orders/{shipped.visma_document_id}", json=order)
        invoice = await ctx.visma.request("POST", f"customerinvoicedrafts/{paid.visma_document_id}/convert")
        await ctx.visma.request("DELETE", f"customerinvoicedrafts/{deleted.visma_document_id}")
    hint = [Hint("order", shipped_id)]  # keeps the order flow's part of these sweeps small
    async with open_context(store, DEMO_CONNECTION, starweb_rate_limit=DEMO_STARWEB_LIMIT) as ctx:
        await sweep_connection(ctx, hint)  # delivered, invoiced, cancelled; a checkout payment registered
        now = await ctx.visma.request("GET", f"customerinvoices/{invoice['Id']}")
        if now["RemainingAmountInvoiceCurrency"]:  # paid by invoice: the accountant books the bank payment
            payment = {
                "CompanyBankAccountId": sid("bank", "cheque"),
                "PaymentAmount": now["RemainingAmountInvoiceCurrency"],
                "PaymentCurrency": now["CurrencyCode"],
                "PaymentType": 2,
            }
            await ctx.visma.request("POST", f"customerinvoices/{invoice['Id']}/payments", json=payment)
        await sweep_connection(ctx, hint)  # paid
    for e in store.events.all(conn.id):
        details = e.details or {}
        extra = f" tracking {details['tracking']}" if details.get("tracking") else ""
        status = f" -> shop status {details['status_id']}" if details.get("status_id") else ""
        why = f": {e.error}" if e.error else ""
        console.print(f"  order {e.starweb_order_id}: {e.event} {e.state}{status}{extra}{why}")


DEMO_PAYMENTS = {
    "paid_payment_methods": ["klarna_checkout", "card", "swish"],
    "payment_accounts": {"klarna_checkout": "Klarna", "card": "Företagskonto", "swish": "Företagskonto"},
    "invoice_delivery": "email",
}
"""`--document-type invoice`: what is paid at checkout, and on which account (by name; stored as ids)."""


async def demo_invoice_setup(store: Store, console: Console) -> None:
    """Book-and-pay: the payment methods mapped to bank accounts by name, Invoiced/Paid statuses."""
    from shopbridge.sync.context import open_context
    from shopbridge.sync.payments import bank_accounts, resolve_accounts

    conn = store.connections.find(DEMO_CONNECTION)
    async with open_context(store, DEMO_CONNECTION, starweb_rate_limit=DEMO_STARWEB_LIMIT) as ctx:
        accounts = await bank_accounts(ctx.visma, connection=DEMO_CONNECTION)
        mapping = resolve_accounts(accounts, DEMO_PAYMENTS["payment_accounts"])  # type: ignore[arg-type]
        statuses = {}
        for key, name in (("invoiced", "Fakturerad"), ("paid", "Betald")):
            body = {"languages": [{"langCode": "sv", "name": name}], "shouldSendEmail": True}
            created = await ctx.starweb.request("POST", "order-statuses", json=body)
            statuses[key] = str(created["data"]["statusId"])
    names = {str(a.Id): a.Name for a in accounts}
    for method, account in mapping.items():
        console.print(f"  payments by {method} are booked on the bank account {names[account]!r}")
    store.connections.update_settings(
        conn.id,
        {
            "payment_accounts": mapping,
            "status_map": {"delivered": "", "invoiced": statuses["invoiced"], "paid": statuses["paid"]}
            | {"cancelled": "canceled"},
        },
    )


def demo_invoice_summary(store: Store, console: Console) -> None:
    """What booking did: invoices booked, settled at checkout, sent, and what the shop was told."""
    conn = store.connections.find(DEMO_CONNECTION)
    counts: dict[str, int] = {}
    problems: list[str] = []
    for e in store.events.all(conn.id, limit=100_000):
        if e.state == "applied":
            counts[e.event] = counts.get(e.event, 0) + 1
        elif e.state == "error":
            problems.append(f"  order {e.starweb_order_id}: {e.event}: {e.error}")
    console.print(
        f"[bold]{counts.get('book', 0)} invoices booked[/bold]: {counts.get('payment', 0)} settled with the "
        f"checkout payment, {counts.get('send', 0)} e-mailed to the customer; the shop was told Invoiced "
        f"{counts.get('invoiced', 0)} times and Paid {counts.get('paid', 0)} times"
    )
    for line in problems[:10]:
        console.print(line)


async def demo_doctor(store: Store, console: Console) -> None:
    """`shopbridge doctor --fix` on the demo company: it creates the service articles the default
    settings name (so no order waits for them) and shows what else it found."""
    from shopbridge.doctor import diagnose

    console.print("checking the setup (shopbridge doctor --fix) ...")
    conns = store.connections.shops(store.connections.find(DEMO_CONNECTION).id)
    for f in await diagnose(store, conns, fix=True, starweb_rate_limit=DEMO_STARWEB_LIMIT):
        if f.fixed or f.level != "ok":
            fix = f" ({f.fix})" if f.fix and not f.fixed else ""
            console.print(f"  {f.level}{' (fixed)' if f.fixed else ''}: {f.connection}: {f.message}{fix}")


DEMO_LOGINS = (
    ("partner", "Demo Partner", "partner@demo.shopbridge.test", "demo-partner-2026"),
    ("merchant", "Demo Merchant", "merchant@demo.shopbridge.test", "demo-merchant-2026"),
)


def demo_accounts(store: Store) -> list[tuple[str, str, str]]:
    """A demo partner and a demo merchant (run by that partner, owning the demo's shops), each with
    a portal user; returns (kind, e-mail, password) for the printed logins."""
    from shopbridge.web.portal.security import hash_password

    partner = store.tenants.ensure("partner", DEMO_LOGINS[0][1])
    merchant = store.tenants.ensure("merchant", DEMO_LOGINS[1][1], partner_id=partner.id)
    for conn in store.connections.shops(store.connections.find(DEMO_CONNECTION).id):
        store.tenants.assign(merchant.id, conn.id)
    out = []
    for (kind, _name, email, password), tenant in zip(DEMO_LOGINS, (partner, merchant), strict=True):
        if store.users.by_email(email) is None:
            store.users.create(tenant.id, email, name=_name, password_hash=hash_password(password))
        out.append((kind, email, password))
    return out


async def serve_demo(store: Store, console: Console, *, port: int, visma_url: str) -> None:
    """The engine and the portal on the demo data until Ctrl-C, with a status line as orders move."""
    from shopbridge.engine.embedded import run_embedded
    from shopbridge.web.portal import PortalConfig, VismaApp

    logins = demo_accounts(store)
    config = PortalConfig.from_env(
        visma=VismaApp(
            d.VISMA_CLIENT_ID, d.VISMA_CLIENT_SECRET, identity_url=visma_url, api_base=f"{visma_url}/v2"
        ),
        client_kw={"starweb_rate_limit": DEMO_STARWEB_LIMIT},
    )
    stop = asyncio.Event()

    def ready(bound: int) -> None:
        console.print(f"[bold]portal: http://127.0.0.1:{bound}/[/bold]")
        for kind, email, password in logins:
            console.print(f"  {kind} login: {email} / {password}")
        console.print(
            "serving: portal, web hooks; /healthz and /metrics on the operations port; Ctrl-C stops"
        )

    async def status_line() -> None:
        last = None
        while not stop.is_set():
            counts = store.transfers.counts()
            now = (
                counts["transferred"],
                counts["pending"] + counts["in_progress"],
                counts["waiting_for_fix"],
                counts["needs_review"],
            )
            if now != last:
                console.print(
                    f"orders: {now[0]} transferred, {now[1]} pending, {now[2]} waiting for a fix, "
                    f"{now[3]} to review"
                )
                last = now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=5)

    printer = asyncio.ensure_future(status_line())
    try:
        await run_embedded(
            store,
            host="127.0.0.1",
            port=port,
            console=console,
            local_hooks=True,
            stop=stop,
            on_ready=ready,
            portal_config=config,
            starweb_rate_limit=DEMO_STARWEB_LIMIT,
        )
    finally:
        stop.set()
        printer.cancel()


async def run_demo(
    console: Console,
    *,
    serve: bool,
    port: int = 0,
    data_dir: Path | None = None,
    preset: str | None = None,
    shops: int = 1,
    document_type: str = "invoice_draft",
) -> int:
    """Run the demo; returns the exit code (0 when the sync worked)."""
    from shopbridge.cli.ui import print_reports, sweep_all

    data = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="shopbridge-demo-"))
    booking = document_type == "invoice"
    console.print("[bold]shopbridge demo[/bold]: starting the Starweb and Visma sandboxes with demo data ...")
    state = data / SANDBOX_STATE
    starweb, visma = await asyncio.to_thread(start_sandboxes, shops=shops, state_dir=state)
    try:
        console.print(
            f"  Starweb sandbox: {starweb.url}/api/v2  "
            f"(client {d.STARWEB_CLIENT_ID} / {d.STARWEB_CLIENT_SECRET})\n"
            f"  Visma sandbox:   {visma.url}/v2  identity {visma.url}  "
            f"(client {d.VISMA_CLIENT_ID} / {d.VISMA_CLIENT_SECRET})\n"
            f"  data directory:  {data}"
        )
        store = open_store(data_dir=data)
        console.print("connecting the Starweb shop and asking Visma for consent (OAuth) ...")
        await connect_sandboxes(
            store,
            DEMO_CONNECTION,
            starweb_url=starweb.url,
            visma_url=visma.url,
            settings={
                **DEMO_SETTINGS,
                "preset": preset,
                "document_type": document_type,
                **({k: v for k, v in DEMO_PAYMENTS.items() if k != "payment_accounts"} if booking else {}),
            },
        )
        if booking:
            await demo_invoice_setup(store, console)
        for k in range(2, shops + 1):
            shop = await connect_starweb(
                store,
                f"{DEMO_CONNECTION}-shop{k}",
                base_url=f"{starweb.url}/shops/{k}/api/v2",
                client_id=d.STARWEB_CLIENT_ID,
                client_secret=d.STARWEB_CLIENT_SECRET,
                shop_of=DEMO_CONNECTION,
            )
            console.print(f"  shop {k} joins the same Visma company as connection {shop.name!r}")
        await demo_doctor(store, console)
        if preset:
            from shopbridge.demo_catalog import demo_initial_sync

            for shop in store.connections.shops(store.connections.find(DEMO_CONNECTION).id):
                await demo_initial_sync(
                    store, console, shop.name, preset, starweb_rate_limit=DEMO_STARWEB_LIMIT
                )
        console.print("authorised in Visma; transferring every qualifying order ...")
        conns = store.connections.shops(store.connections.find(DEMO_CONNECTION).id)
        outcomes = await sweep_all(store, conns, show_progress=True)
        code = print_reports(store, outcomes)
        counts = store.transfers.counts()
        console.print(
            f"[bold]{counts['transferred']} orders transferred[/bold], "
            f"{counts['waiting_for_fix']} waiting for a fix, {counts['needs_review']} to review. "
            f"See them with: shopbridge --data-dir {data} orders list"
        )
        if booking:
            demo_invoice_summary(store, console)
        elif document_type == "invoice_draft":
            await demo_status_feedback(store, console)
        if shops > 1:
            from shopbridge.plans import usage_lines

            for line in usage_lines(store, connection=DEMO_CONNECTION):
                console.print(
                    f"usage {line.month}: {line.transferred_orders} orders over {line.shops} shops on one "
                    f"Visma company (plan {line.plan}); see `shopbridge --data-dir {data} usage`"
                )
        if preset:
            from shopbridge.demo_catalog import demo_catalog_change

            await demo_catalog_change(
                store, console, DEMO_CONNECTION, preset, starweb_rate_limit=DEMO_STARWEB_LIMIT
            )
        if serve:
            await serve_demo(store, console, port=port, visma_url=visma.url)
        return code
    finally:
        starweb.stop()
        visma.stop()
