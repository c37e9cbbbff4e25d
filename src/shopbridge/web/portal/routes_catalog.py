"""Catalogue: the items that wait (too-long SKUs, duplicates, codings, pricelists), the bindings
(SKU ↔ article, each part's last write), and "check everything now"."""

from __future__ import annotations

from collections import OrderedDict

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy import or_, select

from shopbridge.store.schema import Binding
from shopbridge.sync.articles import ArticleExportFlow
from shopbridge.sync.context import effective_settings
from shopbridge.sync.directions import ENTITIES, direction
from shopbridge.sync.shop_catalog import ShopCatalogFlow

from .i18n import _
from .routes_settings import pick_connection
from .web import Ctx, redirect, render, signed_in

router = APIRouter()

CATALOG_BINDINGS = ("article", "variant", "price", "stock")
BINDINGS_PAGE = 100


@router.get("/catalog")
async def catalog_index(ctx: Ctx = Depends(signed_in)) -> Response:
    return pick_connection(ctx, "catalog")


@router.get("/shops/{connection_id}/catalog")
async def catalog(connection_id: str, ctx: Ctx = Depends(signed_in), q: str = "", page: int = 1) -> Response:
    conn = ctx.v.connection_for(connection_id)
    store = ctx.store
    settings = effective_settings(store, conn)
    page = max(page, 1)
    with store.session() as s:
        query = select(Binding).where(
            Binding.connection_id == conn.id, Binding.entity_type.in_(CATALOG_BINDINGS)
        )
        if q.strip():
            like = f"%{q.strip()}%"
            query = query.where(or_(Binding.visma_number.ilike(like), Binding.starweb_id == q.strip()))
        rows = list(
            s.scalars(
                query.order_by(Binding.visma_number, Binding.starweb_id, Binding.entity_type)
                .limit(BINDINGS_PAGE * len(CATALOG_BINDINGS) + 1)
                .offset((page - 1) * BINDINGS_PAGE * len(CATALOG_BINDINGS))
            )
        )
    grouped: OrderedDict[str, dict[str, Binding]] = OrderedDict()
    for b in rows[: BINDINGS_PAGE * len(CATALOG_BINDINGS)]:
        grouped.setdefault(b.starweb_id, {})[b.entity_type] = b
    return render(
        ctx,
        "catalog.html",
        conn=conn,
        issues=store.catalog_issues.all(conn.id),
        bindings=grouped,
        directions={e: direction(settings, e) for e in ENTITIES},
        preset=settings.preset,
        q=q,
        page=page,
        more=len(rows) > BINDINGS_PAGE * len(CATALOG_BINDINGS),
    )


@router.post("/shops/{connection_id}/catalog/check")
async def full_check(connection_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    for flow in (ArticleExportFlow, ShopCatalogFlow):
        ctx.store.cursors.delete(conn.id, flow.full_at)
    started = ctx.portal.wake(conn.id)
    if started:
        ctx.flash(
            _("The whole catalogue of %(name)s is compared in the next sync, starting now.", name=conn.name)
        )
    else:
        ctx.flash(_("The whole catalogue of %(name)s is compared in the next sync.", name=conn.name))
    return redirect(f"/shops/{conn.id}/catalog")
