"""The overview: per Visma company and shop, how the sync stands, with pause/resume and "sync now"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from shopbridge import plans
from shopbridge.store.schema import Connection
from shopbridge.sync.context import STARWEB_SECRET, VISMA_TOKENS, effective_settings

from .data import state_counts, waiting_reasons
from .i18n import _
from .notify.notifier import HOOKS_CURSOR, credential_problem
from .web import Ctx, redirect, render, signed_in

router = APIRouter()


@dataclass
class ShopView:
    conn: Connection
    counts: dict[str, int]
    status: Any
    hooks: str | None
    problem: str | None
    configured: bool
    owner: str | None


@dataclass
class CompanyView:
    root: Connection
    shops: list[ShopView]
    quota: Any


def companies(ctx: Ctx) -> list[CompanyView]:
    v, store = ctx.v, ctx.store
    conns = v.connections()
    counts = state_counts(store, v.connection_ids)
    status = ctx.portal.engine_status()
    out: dict[int, CompanyView] = {}
    for c in conns:
        root_id = c.parent_id or c.id
        kinds = set(store.secrets.kinds(c.id))
        root_kinds = kinds if root_id == c.id else set(store.secrets.kinds(root_id))
        owner = v.owner_tenant(c.id)
        shop = ShopView(
            conn=c,
            counts=counts[c.id],
            status=status.get(str(c.id)),
            hooks=store.cursors.get(c.id, HOOKS_CURSOR),
            problem=credential_problem(ctx.portal, c),
            configured=STARWEB_SECRET in kinds and VISMA_TOKENS in root_kinds,
            owner=owner.name if owner is not None and v.is_partner else None,
        )
        if root_id not in out:
            root = c if root_id == c.id else store.connections.get(root_id)
            settings = effective_settings(store, root)
            out[root_id] = CompanyView(root, [], plans.quota_status(store, root.id, settings))
        out[root_id].shops.append(shop)
    return list(out.values())


@router.get("/")
async def overview(ctx: Ctx = Depends(signed_in)) -> Response:
    v = ctx.v
    if not v.connection_ids and v.can_write and not v.is_partner:
        return redirect("/setup")
    reasons = waiting_reasons(ctx.store, v.connection_ids, limit=10)
    names = {c.id: c.name for c in v.connections()}
    return render(ctx, "overview.html", companies=companies(ctx), reasons=reasons, names=names)


@router.post("/shops/{connection_id}/pause")
async def pause(connection_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    ctx.store.connections.set_paused(conn.id, True)
    ctx.flash(_("%(name)s is paused: nothing is synced until you resume it.", name=conn.name))
    return redirect("/")


@router.post("/shops/{connection_id}/resume")
async def resume(connection_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    ctx.store.connections.set_paused(conn.id, False)
    ctx.portal.wake(conn.id)
    ctx.flash(_("%(name)s is running again.", name=conn.name))
    return redirect("/")


@router.post("/shops/{connection_id}/sync")
async def sync_now(connection_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    if ctx.portal.wake(conn.id):
        ctx.flash(_("A sync of %(name)s starts within seconds.", name=conn.name))
    else:
        ctx.flash(_("No engine runs here; the next scheduled sync takes the orders."), "warning")
    return redirect("/")
