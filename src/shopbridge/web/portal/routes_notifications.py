"""Notifications: the tenant's web hooks (Slack-compatible) and who gets e-mail (per user, on the
account page). The URL of a web hook is a secret: it is stored encrypted and never shown again."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from .i18n import _
from .notify.transports import Outgoing, TransportError, WebhookTransport
from .web import Ctx, redirect, render, signed_in

router = APIRouter()


def _page(ctx: Ctx, status: int = 200, error: str | None = None) -> Response:
    v = ctx.v
    return render(
        ctx,
        "notifications.html",
        status,
        channels=ctx.store.notifications.channels([v.tenant.id]),
        users=ctx.store.users.of_tenants([v.tenant.id]),
        messages=ctx.store.notifications.messages([v.tenant.id], limit=20),
        mail_configured=ctx.portal.config.smtp is not None,
        error=error,
    )


@router.get("/notifications")
async def notifications(ctx: Ctx = Depends(signed_in)) -> Response:
    return _page(ctx)


@router.post("/notifications/webhooks")
async def add_webhook(ctx: Ctx = Depends(signed_in), name: str = Form(""), url: str = Form("")) -> Response:
    v = ctx.v
    if not v.can_write:
        from .scope import Forbidden

        raise Forbidden("role")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc:
        return _page(ctx, 400, _("Write the web hook's address, starting with https://."))
    ctx.store.notifications.add_channel(
        v.tenant.id, url.strip(), name=name or parts.netloc, language=ctx.lang
    )
    ctx.flash(_("The web hook is added."))
    return redirect("/notifications")


@router.post("/notifications/webhooks/{channel_id}/toggle")
async def toggle(channel_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    channel = ctx.v.channel_for(channel_id, write=True)
    ctx.store.notifications.set_channel(channel.id, enabled=not channel.enabled)
    return redirect("/notifications")


@router.post("/notifications/webhooks/{channel_id}/delete")
async def delete(channel_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    channel = ctx.v.channel_for(channel_id, write=True)
    ctx.store.notifications.delete_channel(channel.id)
    ctx.flash(_("The web hook is removed."))
    return redirect("/notifications")


@router.post("/notifications/webhooks/{channel_id}/test")
async def test(channel_id: str, ctx: Ctx = Depends(signed_in)) -> Response:
    channel = ctx.v.channel_for(channel_id, write=True)
    message = Outgoing(_("Test from shopbridge"), _("This web hook receives shopbridge's notifications."))
    try:
        await WebhookTransport().send(ctx.store.notifications.channel_url(channel), message)
    except TransportError as exc:
        ctx.flash(_("The test did not arrive: %(why)s", why=exc.message), "error")
    else:
        ctx.flash(_("The test message was sent."))
    return redirect("/notifications")
