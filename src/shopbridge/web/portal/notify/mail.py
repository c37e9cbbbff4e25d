"""E-mails with one-time links (password reset, invitation), sent at once and never stored.

The link holds a token that signs a person in (or lets them choose a password), so it goes
straight to the mail server: it is not put in the outbox table, and it is never logged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import structlog

from .. import i18n
from .transports import EmailTransport, Outgoing, TransportError

if TYPE_CHECKING:
    from ..web import Ctx

log = structlog.get_logger("shopbridge.portal")

__all__ = ["in_language", "render_text", "send_link_mail"]


@contextmanager
def in_language(lang: str) -> Iterator[None]:
    """Render in `lang` for a moment (a mail in its recipient's language), then switch back."""
    before = i18n.language()
    i18n.use_language(lang)
    try:
        yield
    finally:
        i18n.use_language(before)


def render_text(env: Any, template: str, lang: str, **values: Any) -> Outgoing:
    """A mail or message from a text template whose first line is the subject."""
    with in_language(lang):
        text = env.get_template(template).render(**values).strip()
    subject, _, body = text.partition("\n")
    return Outgoing(subject.strip(), body.strip() + "\n")


async def send_link_mail(ctx: Ctx, kind: str, to: str, path: str, lang: str, **values: Any) -> bool:
    """Mail a reset or invitation link; False when it could not be sent (the reason is logged)."""
    base = ctx.portal.config.base_url(str(ctx.request.base_url))
    message = render_text(ctx.portal.env, f"mail/{kind}.txt", lang, url=base + path, **values)
    try:
        await EmailTransport(ctx.portal.config.smtp).send(to, message)
    except TransportError as exc:
        log.warning("portal.mail_not_sent", kind=kind, reason=exc.message)
        return False
    return True
