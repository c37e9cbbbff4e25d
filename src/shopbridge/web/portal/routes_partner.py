"""For partners: the merchants they run (create one, invite its owner) and usage against the plans,
with a CSV for invoicing. Also the team page every tenant has: users, roles, invitations."""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from shopbridge.plans import usage_lines
from shopbridge.store import TenantExists
from shopbridge.store.tenants import ROLES, normalise_email
from shopbridge.store.usage import check_month, month_of

from .i18n import N_, _
from .notify.mail import send_link_mail
from .scope import Forbidden, NotFound
from .web import Ctx, redirect, render, signed_in

router = APIRouter()

ROLE_LABELS = {"owner": N_("owner"), "viewer": N_("viewer")}


def _owner_only(ctx: Ctx) -> None:
    if not ctx.v.can_write:
        raise Forbidden("role")


def _partner(ctx: Ctx) -> None:
    if not ctx.v.is_partner:
        raise NotFound("partner page")


@router.get("/merchants")
async def merchants(ctx: Ctx = Depends(signed_in)) -> Response:
    _partner(ctx)
    v = ctx.v
    by_merchant: dict[int, list] = {m.id: [] for m in v.merchants}
    for c in v.connections():
        owner = v.owner_tenant(c.id)
        if owner is not None and owner.id in by_merchant:
            by_merchant[owner.id].append(c)
    return render(ctx, "merchants.html", merchants=v.merchants, shops=by_merchant, error=None)


@router.post("/merchants")
async def add_merchant(
    ctx: Ctx = Depends(signed_in), name: str = Form(""), email: str = Form("")
) -> Response:
    _partner(ctx)
    v = ctx.v
    _owner_only(ctx)
    error = None
    if not name.strip():
        error = _("Write the merchant's name.")
    elif email.strip() and "@" not in email:
        error = _("The owner's e-mail address is not valid.")
    if error is None:
        try:
            merchant = ctx.store.tenants.create("merchant", name, partner_id=v.tenant.id)
        except TenantExists:
            error = _("A merchant or partner with that name exists already.")
    if error is not None:
        return render(ctx, "merchants.html", 400, merchants=v.merchants, shops={}, error=error)
    if email.strip():
        await _invite(ctx, merchant.id, email, "owner", merchant.name)
    ctx.flash(_("Merchant %(name)s is created.", name=merchant.name))
    return redirect("/merchants")


async def _invite(ctx: Ctx, tenant_id: int, email: str, role: str, tenant_name: str) -> None:
    token = ctx.store.web_sessions.new_link(
        "invite",
        tenant_id=tenant_id,
        email=normalise_email(email),
        role=role,
        ttl=ctx.portal.config.invite_ttl,
    )
    sent = await send_link_mail(
        ctx,
        "invite",
        normalise_email(email),
        f"/invite/{token}",
        ctx.lang,
        who=ctx.v.user.name or ctx.v.user.email,
        tenant=tenant_name,
    )
    if sent:
        ctx.flash(_("An invitation is sent to %(email)s.", email=email))
    else:
        link = ctx.portal.config.base_url(str(ctx.request.base_url)) + "/invite/" + token
        ctx.flash(
            _(
                "The invitation could not be e-mailed (no mail server). "
                "Give %(email)s this link yourself: %(url)s",
                email=email,
                url=link,
            ),
            "warning",
        )


@router.get("/usage")
async def usage(ctx: Ctx = Depends(signed_in), month: str = "") -> Response:
    _partner(ctx)
    month = _month(month)
    return render(ctx, "usage.html", lines=_lines(ctx, month), month=month)


@router.get("/usage.csv")
async def usage_csv(ctx: Ctx = Depends(signed_in), month: str = "") -> Response:
    _partner(ctx)
    month = _month(month)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(
        [
            "month",
            "merchant",
            "company",
            "plan",
            "orders",
            "quota",
            "waiting_for_quota",
            "shops",
            "shop_fee",
            "fee_total",
        ]
    )
    for merchant, line in _lines(ctx, month):
        writer.writerow(
            [
                line.month,
                merchant,
                line.connection,
                line.plan,
                line.transferred_orders,
                "" if line.quota is None else line.quota,
                line.waiting_for_quota,
                line.shops,
                "" if line.shop_fee is None else line.shop_fee,
                "" if line.fee_total is None else line.fee_total,
            ]
        )
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="shopbridge-usage-{month}.csv"'},
    )


def _month(month: str) -> str:
    try:
        return check_month(month) if month else month_of()
    except ValueError:
        return month_of()


def _lines(ctx: Ctx, month: str) -> list[tuple[str, object]]:
    v = ctx.v
    out = []
    for c in v.connections():
        if c.parent_id is not None:
            continue
        owner = v.owner_tenant(c.id)
        for line in usage_lines(ctx.store, month, c.id):
            out.append((owner.name if owner else "", line))
    return sorted(out, key=lambda item: (item[0], item[1].connection))


# -- team ---------------------------------------------------------------------------------------
@router.get("/team")
async def team(ctx: Ctx = Depends(signed_in)) -> Response:
    v = ctx.v
    users = ctx.store.users.of_tenants([v.tenant.id])
    invites = ctx.store.web_sessions.pending_invites([v.tenant.id])
    return render(ctx, "team.html", users=users, invites=invites, roles=ROLE_LABELS, error=None)


@router.post("/team/invite")
async def invite(
    ctx: Ctx = Depends(signed_in), email: str = Form(""), role: str = Form("viewer")
) -> Response:
    v = ctx.v
    _owner_only(ctx)
    if "@" not in email or role not in ROLES:
        users = ctx.store.users.of_tenants([v.tenant.id])
        invites = ctx.store.web_sessions.pending_invites([v.tenant.id])
        error = _("Write a valid e-mail address and pick a role.")
        return render(ctx, "team.html", 400, users=users, invites=invites, roles=ROLE_LABELS, error=error)
    await _invite(ctx, v.tenant.id, email, role, v.tenant.name)
    return redirect("/team")


@router.post("/team/{user_id}/role")
async def change_role(user_id: str, ctx: Ctx = Depends(signed_in), role: str = Form("viewer")) -> Response:
    user = ctx.v.user_for(user_id, write=True)
    if user.tenant_id != ctx.v.tenant.id or role not in ROLES:
        raise NotFound("user")
    if user.id == ctx.v.user.id and role != "owner":
        ctx.flash(_("You cannot take the owner role from yourself."), "warning")
        return redirect("/team")
    ctx.store.users.update(user.id, role=role)
    ctx.flash(_("%(email)s is now %(role)s.", email=user.email, role=_(ROLE_LABELS[role])))
    return redirect("/team")


@router.post("/team/{user_id}/remove")
async def remove_user(user_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    user = ctx.v.user_for(user_id, write=True)
    if user.tenant_id != ctx.v.tenant.id:
        raise NotFound("user")
    if user.id == ctx.v.user.id:
        ctx.flash(_("You cannot remove yourself."), "warning")
        return redirect("/team")
    ctx.store.users.delete(user.id)
    ctx.flash(_("%(email)s can no longer sign in.", email=user.email))
    return redirect("/team")


@router.post("/team/invites/{invite_id}/revoke")
async def revoke_invite(invite_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    link = ctx.v.invite_for(invite_id, write=True)
    ctx.store.web_sessions.revoke_link(link.id)
    ctx.flash(_("The invitation to %(email)s is withdrawn.", email=link.email))
    return redirect("/team")
