"""Settings: every setting with its meaning, default and whether it was changed; saved only when valid."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import ValidationError

from shopbridge.sync.context import COMPANY_SETTINGS, effective_settings
from shopbridge.sync.reconcile import latest_result, running_months
from shopbridge.sync.settings import ConnectionSettings

from .i18n import _
from .live import shop_statuses, unknown_statuses
from .settings_form import fields, parse_form, sentences
from .web import Ctx, redirect, render, signed_in

router = APIRouter()

ROUNDINGS = ("0.01", "0.00", "0.90", "0.95", "9.00")


def pick_connection(ctx: Ctx, page: str) -> Response | None:
    """/settings and /catalog: straight to the one shop, else a list to choose from."""
    conns = ctx.v.connections()
    if len(conns) == 1:
        return redirect(f"/shops/{conns[0].id}/{page}")
    return render(ctx, "choose_shop.html", conns=conns, page=page)


@router.get("/settings")
async def settings_index(ctx: Ctx = Depends(signed_in)) -> Response:
    return pick_connection(ctx, "settings")


async def _page(
    ctx: Ctx,
    conn: Any,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
    shown: ConnectionSettings | None = None,
    own: dict[str, Any] | None = None,
) -> Response:
    store = ctx.store
    further = conn.parent_id is not None
    effective = shown or effective_settings(store, conn)
    statuses = await shop_statuses(store, conn.id, **ctx.portal.config.client_kw)
    groups = fields(
        own if own is not None else (conn.settings or {}), effective, further_shop=further, errors=errors
    )
    return render(
        ctx,
        "settings.html",
        status_code=status,
        conn=conn,
        groups=groups,
        errors=errors or {},
        statuses=statuses,
        roundings=ROUNDINGS,
        reconciliation=latest_result(store, conn.id, running_months()[0].label),
    )


@router.get("/shops/{connection_id}/settings")
async def settings_page(connection_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    conn = ctx.v.connection_for(connection_id)
    return await _page(ctx, conn)


@router.post("/shops/{connection_id}/settings")
async def save_settings(connection_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    conn = ctx.v.connection_for(connection_id, write=True)
    store = ctx.store
    further = conn.parent_id is not None
    form = await ctx.request.form()
    values, errors = parse_form(form, further_shop=further)
    base = (
        effective_settings(store, store.connections.get(conn.parent_id)) if further else ConnectionSettings()
    )
    candidate: ConnectionSettings | None = None
    if not errors:
        try:
            if further:
                parent = store.connections.get(conn.parent_id)
                candidate = ConnectionSettings.model_validate({**(parent.settings or {}), **values})
            else:
                candidate = ConnectionSettings.model_validate(values)
        except ValidationError as exc:
            errors = sentences(exc)
    if candidate is not None and not errors:
        statuses = await shop_statuses(store, conn.id, **ctx.portal.config.client_kw)
        if statuses is not None:
            for name, used in (
                ("trigger_statuses", candidate.trigger_statuses),
                ("returned_statuses", candidate.returned_statuses),
                ("status_map", list(candidate.status_map.values())),
            ):
                missing = unknown_statuses(used, statuses)
                if missing:
                    errors[name] = _("The shop has no status %(names)s.", names=", ".join(missing))
    if errors or candidate is None:
        ctx.flashes.append({"text": _("Nothing was saved: fix the settings marked below."), "kind": "error"})
        shown = _shown(values, base)
        return await _page(ctx, conn, errors=errors, status=400, shown=shown, own=values)
    dumped = candidate.model_dump(mode="json")
    reference = base.model_dump(mode="json")
    own = {k: v for k, v in dumped.items() if k in values and v != reference.get(k)}
    if further:
        own = {k: v for k, v in own.items() if k not in COMPANY_SETTINGS}
    store.connections.update_settings(conn.id, own, replace=True)
    ctx.flash(_("The settings of %(name)s are saved; the next sync uses them.", name=conn.name))
    return redirect(f"/shops/{conn.id}/settings")


def _shown(values: dict[str, Any], base: ConnectionSettings) -> ConnectionSettings:
    """What to show again after a refused save: the typed values where they parse, else the old ones."""
    shown = base.model_copy()
    for key, value in values.items():
        try:
            setattr(shown, key, value)
        except (ValidationError, ValueError, TypeError):
            continue
    return shown
