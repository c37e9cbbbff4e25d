"""The onboarding wizard: from nothing to orders flowing, in the browser.

1. **Shop**: the Starweb address and API credentials, checked against the shop before anything is
   kept (``onboarding.connect_starweb``).
2. **Visma**: "Connect with Visma" sends the browser to Visma's consent page with a ``state`` kept
   in the session; Visma sends it back to this portal's own callback, where the ``state`` is
   checked and the code exchanged. Nothing about Visma is saved unless the exchange succeeds.
3. **Who owns what**: no catalogue, or one of the three presets, shown as their direction tables.
4. **Statuses**: which shop statuses start a transfer, and which shop status each Visma event
   sets, picked from the shop's own statuses.
5. **Service articles**: the shipping, fee and discount articles the settings name, checked in
   Visma and created on request (``onboarding.ensure_service_articles``).
6. **Products**: the initial sync's dry-run table, then the apply with live progress.
7. **Start**: the start date and the plan; then the engine takes the orders.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from shopbridge.http.errors import ApiError, AuthenticationError, TransportError
from shopbridge.onboarding import connect_starweb, consent_scopes, ensure_service_articles
from shopbridge.plans import PLAN_NAMES
from shopbridge.store import UnknownConnection
from shopbridge.sync.context import (
    STARWEB_SECRET,
    VISMA_APP_SECRET,
    VISMA_TOKENS,
    effective_settings,
    open_context,
)
from shopbridge.sync.directions import ENTITIES, PRESETS, direction, one_way
from shopbridge.sync.reference import ReferenceData
from shopbridge.visma.oauth import MemoryTokenStore, OAuthError, StateMismatchError, VismaOAuth

from .config import CALLBACK_PATH
from .i18n import N_, _
from .jobs import Job
from .live import shop_statuses
from .web import Ctx, redirect, render, signed_in

router = APIRouter()

STEPS = [
    ("shop", N_("Shop")),
    ("visma", N_("Visma")),
    ("preset", N_("Who owns what")),
    ("statuses", N_("Statuses")),
    ("articles", N_("Service articles")),
    ("products", N_("Products")),
    ("finish", N_("Start")),
]
PRESET_TEXT = {
    "": N_("Orders only: the catalogue is not synced."),
    "ecom-master": N_("The shop owns the products and prices; Visma gets articles from it."),
    "erp-master": N_("Visma owns products, prices, price lists and stock; the shop gets them."),
    "combo": N_("The shop owns the products; Visma owns prices, price lists and stock."),
}
ENTITY_LABELS = {
    "products": N_("products (article ↔ variant)"),
    "prices": N_("price, campaign price"),
    "pricelists": N_("other pricelists"),
    "stock": N_("stock and stock status"),
}
DIRECTION_LABELS = {"to_visma": N_("shop → Visma"), "to_starweb": N_("Visma → shop"), "off": N_("off")}
PLAN_KINDS = (N_("create"), N_("update"), N_("unchanged"), N_("conflict"), N_("skipped"), N_("error"))
EVENTS = {
    "delivered": N_("delivered"),
    "invoiced": N_("invoiced"),
    "paid": N_("paid"),
    "cancelled": N_("cancelled"),
}


def _steps(current: str) -> list[dict[str, Any]]:
    index = [key for key, _label in STEPS].index(current)
    return [
        {"key": k, "label": label, "current": k == current, "done": i < index}
        for i, (k, label) in enumerate(STEPS)
    ]


def _client_kw(ctx: Ctx) -> dict[str, Any]:
    return ctx.portal.config.client_kw


# -- 1. the shop ------------------------------------------------------------------------------------
@router.get("/setup")
async def setup_start(ctx: Ctx = Depends(signed_in), merchant: str = "") -> Response:
    v = ctx.v
    if not v.can_write:
        from .scope import Forbidden

        raise Forbidden("role")
    chosen = v.merchant_for(merchant).id if merchant else None
    return render(ctx, "setup_shop.html", steps=_steps("shop"), error=None, values={}, merchant=chosen)


@router.post("/setup")
async def setup_shop(
    ctx: Ctx = Depends(signed_in),
    name: str = Form(""),
    shop_url: str = Form(""),
    client_id: str = Form(""),
    client_secret: str = Form(""),
    merchant: str = Form(""),
) -> Response:
    v = ctx.v
    if v.is_partner:
        owner = v.merchant_for(merchant, write=True) if merchant else None
        if owner is None:
            return _shop_error(
                ctx, _("Pick the merchant this shop belongs to."), name, shop_url, client_id, merchant
            )
    else:
        owner = v.merchant_for(v.tenant.id, write=True)
    name, shop_url, client_id = name.strip(), shop_url.strip(), client_id.strip()
    if not name or not shop_url or not client_id or not client_secret:
        return _shop_error(ctx, _("Fill in every field."), name, shop_url, client_id, merchant)
    base_url = _base_url(shop_url)
    if base_url is None:
        return _shop_error(
            ctx,
            _("Write the shop's address, e.g. https://myshop.starwebserver.se."),
            name,
            shop_url,
            client_id,
            merchant,
        )
    try:
        ctx.store.connections.find(name)
    except UnknownConnection:
        pass
    else:
        return _shop_error(
            ctx,
            _("The name %(name)s is taken: pick another.", name=name),
            name,
            shop_url,
            client_id,
            merchant,
        )
    try:
        conn = await connect_starweb(
            ctx.store, name, base_url=base_url, client_id=client_id, client_secret=client_secret
        )
    except AuthenticationError:
        return _shop_error(
            ctx,
            _("The shop refused the client id or the secret: check them in the shop's API settings."),
            name,
            shop_url,
            client_id,
            merchant,
        )
    except (TransportError, ApiError, ValueError) as exc:
        return _shop_error(
            ctx,
            _("The shop could not be reached at %(url)s (%(why)s).", url=base_url, why=type(exc).__name__),
            name,
            shop_url,
            client_id,
            merchant,
        )
    ctx.store.tenants.assign(owner.id, conn.id)
    return redirect(f"/setup/{conn.id}/visma")


def _shop_error(ctx: Ctx, error: str, name: str, shop_url: str, client_id: str, merchant: str) -> Response:
    values = {"name": name, "shop_url": shop_url, "client_id": client_id}
    chosen = int(merchant) if merchant.isdigit() else None
    return render(
        ctx, "setup_shop.html", 400, steps=_steps("shop"), error=error, values=values, merchant=chosen
    )


def _base_url(text: str) -> str | None:
    """The Shop API base from what a person types: a full API URL, a shop address or a shop id."""
    text = text.strip().rstrip("/")
    if not text.startswith(("http://", "https://")):
        if not text.replace("-", "").isalnum():
            return None
        return f"https://{text}.starwebserver.se/api/v2"
    return text if text.endswith("/api/v2") else f"{text}/api/v2"


@router.get("/setup/{connection_id}")
async def setup_resume(connection_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    root = ctx.store.connections.root(conn.id)
    if VISMA_TOKENS not in ctx.store.secrets.kinds(root.id):
        return redirect(f"/setup/{conn.id}/visma")
    return redirect(f"/setup/{conn.id}/preset")


# -- 2. Visma -----------------------------------------------------------------------------------
def _redirect_uri(ctx: Ctx) -> str:
    return ctx.portal.config.base_url(str(ctx.request.base_url)) + CALLBACK_PATH


@router.get("/setup/{connection_id}/visma")
async def visma_page(connection_id: str, ctx: Ctx = Depends(signed_in), error: str = "") -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    connected = VISMA_TOKENS in ctx.store.secrets.kinds(ctx.store.connections.root(conn.id).id)
    messages = {
        "state": _(
            "Visma's answer did not belong to this browser's request, so it was refused. Start again."
        ),
        "denied": _("Visma did not give consent. Start again and approve the access."),
        "exchange": _("Visma did not accept the consent (the code could not be exchanged). Start again."),
    }
    return render(
        ctx,
        "setup_visma.html",
        steps=_steps("visma"),
        conn=conn,
        redirect_uri=_redirect_uri(ctx),
        configured=ctx.portal.config.visma is not None,
        connected=connected,
        error=messages.get(error),
    )


@router.get("/setup/{connection_id}/visma/start")
async def visma_start(connection_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    app = ctx.portal.config.visma
    if app is None:
        return redirect(f"/setup/{conn.id}/visma")
    oauth = VismaOAuth(
        app.client_id,
        app.client_secret,
        _redirect_uri(ctx),
        identity_url=app.identity_url,
        token_store=MemoryTokenStore(),
        scopes=consent_scopes(ctx.store, conn),  # ea:purchase too when the shop registers payments
    )
    url, state = oauth.authorize_url()
    await oauth.aclose()
    ctx.store.web_sessions.set_data(ctx.v.session_id, oauth={"state": state, "connection": conn.id})
    return redirect(url, status_code=302)


@router.get(CALLBACK_PATH)
async def visma_callback(
    ctx: Ctx = Depends(signed_in), code: str = "", state: str = "", error: str = ""
) -> Response:
    session = ctx.store.web_sessions.set_data(ctx.v.session_id)
    pending = session.get("oauth") or {}
    ctx.store.web_sessions.set_data(ctx.v.session_id, oauth=None)  # one answer per request
    conn = ctx.v.connection_for(pending.get("connection", ""), write=True) if pending else None
    if conn is None:
        return redirect("/setup")
    try:
        VismaOAuth.check_state(pending.get("state"), state)
    except StateMismatchError:
        return redirect(f"/setup/{conn.id}/visma?error=state")
    if error or not code:
        return redirect(f"/setup/{conn.id}/visma?error=denied")
    app = ctx.portal.config.visma
    assert app is not None
    tokens = MemoryTokenStore()
    oauth = VismaOAuth(
        app.client_id,
        app.client_secret,
        _redirect_uri(ctx),
        identity_url=app.identity_url,
        token_store=tokens,
    )
    try:
        await oauth.exchange_code(code)
    except (OAuthError, ApiError):
        return redirect(f"/setup/{conn.id}/visma?error=exchange")
    finally:
        await oauth.aclose()
    pair = await tokens.load()
    assert pair is not None
    store = ctx.store  # the exchange worked: only now is anything about Visma kept
    store.connections.update(conn.id, visma_identity_url=app.identity_url, visma_api_base=app.api_base)
    store.secrets.put(
        conn.id,
        VISMA_APP_SECRET,
        {"client_id": app.client_id, "client_secret": app.client_secret, "redirect_uri": _redirect_uri(ctx)},
    )
    store.secrets.put(conn.id, VISMA_TOKENS, pair.to_dict())
    ctx.flash(_("Visma is connected."))
    return redirect(f"/setup/{conn.id}/preset")


# -- 3. preset ----------------------------------------------------------------------------------
@router.get("/setup/{connection_id}/preset")
async def preset_page(connection_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    settings = effective_settings(ctx.store, conn)
    tables = {
        name: [(ENTITY_LABELS[e], DIRECTION_LABELS[PRESETS[name][e]]) for e in ENTITIES] for name in PRESETS
    }
    return render(
        ctx,
        "setup_preset.html",
        steps=_steps("preset"),
        conn=conn,
        current=settings.preset or "",
        tables=tables,
        texts=PRESET_TEXT,
    )


@router.post("/setup/{connection_id}/preset")
async def preset_save(connection_id: str, ctx: Ctx = Depends(signed_in), preset: str = Form("")) -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    if preset not in PRESET_TEXT:
        return redirect(f"/setup/{conn.id}/preset")
    ctx.store.connections.update_settings(conn.id, {"preset": preset or None})
    return redirect(f"/setup/{conn.id}/statuses")


# -- 4. statuses --------------------------------------------------------------------------------
@router.get("/setup/{connection_id}/statuses")
async def statuses_page(connection_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    return await _statuses(ctx, conn)


async def _statuses(ctx: Ctx, conn: Any, error: str | None = None, status: int = 200) -> Response:
    settings = effective_settings(ctx.store, conn)
    statuses = await shop_statuses(ctx.store, conn.id, **_client_kw(ctx))
    return render(
        ctx,
        "setup_statuses.html",
        status,
        steps=_steps("statuses"),
        conn=conn,
        statuses=statuses,
        triggers=set(settings.trigger_statuses),
        status_map=settings.status_map,
        events=EVENTS,
        error=error,
    )


@router.post("/setup/{connection_id}/statuses")
async def statuses_save(connection_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    form = await ctx.request.form()
    statuses = await shop_statuses(ctx.store, conn.id, **_client_kw(ctx))
    if statuses is None:
        return await _statuses(ctx, conn, _("The shop could not be reached: try again in a moment."), 503)
    known = {s["id"]: s for s in statuses}
    triggers = [str(x) for x in form.getlist("trigger") if str(x) in known]
    if not triggers:
        return await _statuses(ctx, conn, _("Pick at least one status that starts a transfer."), 400)
    status_map = {event: str(form.get(f"map.{event}") or "") for event in EVENTS}
    status_map = {k: v for k, v in status_map.items() if not v or v in known}
    if not any(status_map.values()):
        status_map = {}
    codes = [known[t]["code"] or t for t in triggers]
    ctx.store.connections.update_settings(
        conn.id, {"trigger_statuses": codes, "status_map": status_map or None}
    )
    return redirect(f"/setup/{conn.id}/articles")


# -- 5. service articles ------------------------------------------------------------------------
async def _article_check(ctx: Ctx, conn: Any) -> list[dict[str, Any]] | None:
    try:
        async with open_context(ctx.store, conn.id, **_client_kw(ctx)) as c:
            ref = c.cache.setdefault("reference", ReferenceData(c.starweb, c.visma))
            await ref.refresh_articles()
            rows = []
            for setting, label in (
                ("shipping_articles", N_("Shipping")),
                ("fee_articles", N_("Payment fee")),
                ("discount_articles", N_("Discount")),
                ("adjustment_articles", N_("Öre adjustment")),
            ):
                for rate, number in getattr(c.settings, setting).items():
                    rows.append(
                        {
                            "label": label,
                            "rate": rate,
                            "number": number,
                            "exists": await ref.article(number) is not None,
                        }
                    )
            charges = {  # EU reverse charge and export: 0 %, a goods coding (docs/invoice-rows.md)
                "shipping_eu": N_("Shipping, EU reverse charge"),
                "shipping_export": N_("Shipping, export"),
                "fee_eu": N_("Payment fee, EU reverse charge"),
                "fee_export": N_("Payment fee, export"),
            }
            for charge, number in c.settings.foreign_charge_articles.items():
                exists = await ref.article(number) is not None
                rows.append({"label": charges[charge], "rate": "0", "number": number, "exists": exists})
            return rows
    except Exception:
        return None


@router.get("/setup/{connection_id}/articles")
async def articles_page(connection_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    rows = await _article_check(ctx, conn)
    return render(ctx, "setup_articles.html", steps=_steps("articles"), conn=conn, rows=rows)


@router.post("/setup/{connection_id}/articles")
async def articles_create(connection_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    try:
        async with open_context(ctx.store, conn.id, **_client_kw(ctx)) as c:
            created = await ensure_service_articles(c)
    except ApiError as exc:
        ctx.flash(_("Visma did not create the articles: %(why)s", why=exc.message), "error")
        return redirect(f"/setup/{conn.id}/articles")
    ctx.flash(_("%(n)s articles were created in Visma.", n=len(created)))
    return redirect(f"/setup/{conn.id}/articles")


# -- 6. products --------------------------------------------------------------------------------
def _source(settings: Any) -> str | None:
    products = direction(settings, "products")
    return {"to_visma": "starweb", "to_starweb": "visma"}.get(products)


async def _plan(ctx: Ctx, conn: Any, source: str) -> Any:
    from shopbridge.sync.articles import ArticleExportFlow
    from shopbridge.sync.shop_catalog import ShopCatalogFlow

    async with open_context(ctx.store, conn.id, **_client_kw(ctx)) as c:
        c.settings = one_way(c.settings, source)
        if source == "starweb":
            return await ArticleExportFlow(c).plan(full=True, go_live=True)
        return await ShopCatalogFlow(c).plan(full=True, observe=True)


@router.get("/setup/{connection_id}/products")
async def products_page(connection_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    settings = effective_settings(ctx.store, conn)
    source = _source(settings)
    job = ctx.portal.jobs.latest(conn.id, "initial")
    plan = None
    if source and job is None:
        try:
            plan = await _plan(ctx, conn, source)
        except ApiError as exc:
            ctx.flashes.append(
                {"text": _("The catalogues could not be read: %(why)s", why=exc.message), "kind": "error"}
            )
    return render(
        ctx,
        "setup_products.html",
        steps=_steps("products"),
        conn=conn,
        source=source,
        plan=plan,
        rows=plan.rows(limit=50) if plan else [],
        job=job,
    )


@router.post("/setup/{connection_id}/products")
async def products_apply(connection_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    source = _source(effective_settings(ctx.store, conn))
    running = ctx.portal.jobs.latest(conn.id, "initial")
    if source and (running is None or running.state != "running"):
        store, client_kw = ctx.store, _client_kw(ctx)

        async def work(job: Job) -> dict[str, Any]:
            from shopbridge.sync.articles import ArticleExportFlow
            from shopbridge.sync.shop_catalog import ShopCatalogFlow

            async with open_context(store, conn.id, **client_kw) as c:
                c.settings = one_way(c.settings, source)
                if source == "starweb":
                    plan = await ArticleExportFlow(c).plan(full=True, go_live=True)
                else:
                    plan = await ShopCatalogFlow(c).plan(full=True, observe=True)
                job.total = plan.write_count
                done = await plan.apply(on_done=lambda _a: job.advance())
                return {**plan.counts, **{f"done_{k}": v for k, v in done.items()}}

        ctx.portal.jobs.start(conn.id, "initial", work)
    return redirect(f"/setup/{conn.id}/products")


@router.get("/setup/{connection_id}/products/progress")
async def products_progress(connection_id: str, ctx: Ctx = Depends(signed_in), job: str = "") -> Response:
    conn = ctx.v.connection_for(connection_id)
    found = ctx.portal.jobs.get(job)
    if found is None or found.connection_id != conn.id:
        from .scope import NotFound

        raise NotFound("job")
    return render(ctx, "partials/progress.html", conn=conn, job=found)


# -- 7. start -----------------------------------------------------------------------------------
@router.get("/setup/{connection_id}/finish")
async def finish_page(connection_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    settings = effective_settings(ctx.store, conn)
    return render(
        ctx,
        "setup_finish.html",
        steps=_steps("finish"),
        conn=conn,
        settings=settings,
        plans=PLAN_NAMES,
        error=None,
        today=date.today().isoformat(),
    )


@router.post("/setup/{connection_id}/finish")
async def finish(
    connection_id: str, ctx: Ctx = Depends(signed_in), start_date: str = Form(""), plan: str = Form("premium")
) -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    settings = effective_settings(ctx.store, conn)
    error = None
    try:
        start = date.fromisoformat(start_date) if start_date.strip() else None
    except ValueError:
        start, error = None, _("Write the start date as YYYY-MM-DD, or leave it empty for every order.")
    if plan not in PLAN_NAMES or (plan == "custom" and settings.custom_quota is None):
        error = _("Pick one of the plans (custom needs a quota, set under Settings).")
    if error:
        return render(
            ctx,
            "setup_finish.html",
            400,
            steps=_steps("finish"),
            conn=conn,
            settings=settings,
            plans=PLAN_NAMES,
            error=error,
            today=date.today().isoformat(),
        )
    changes: dict[str, Any] = {"start_date": start.isoformat() if start else None}
    if conn.parent_id is None:
        changes["plan"] = plan
    ctx.store.connections.update_settings(conn.id, changes)
    ready = {STARWEB_SECRET} <= set(ctx.store.secrets.kinds(conn.id))
    if ctx.store.connections.get(conn.id).paused:
        ctx.store.connections.set_paused(conn.id, False)
    ctx.portal.wake(conn.id)
    if ready:
        ctx.flash(_("%(name)s is set up: orders flow from now on.", name=conn.name))
    return redirect("/")
