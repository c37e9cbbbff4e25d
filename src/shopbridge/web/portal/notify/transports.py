"""How a message leaves: one transport per channel kind, each with `send(message)`.

A failure raises :class:`TransportError` saying whether trying again can help (``permanent``):
a refused address or a 4xx from a web hook is permanent, a timeout or a 5xx is not. The outbox
(``store.notifications``) retries the others a bounded number of times.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import httpx

from shopbridge.logs import scrub_text

from ..config import SmtpConfig

__all__ = ["EmailTransport", "Outgoing", "TransportError", "WebhookTransport"]


class TransportError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class Outgoing:
    subject: str
    body: str


class EmailTransport:
    """Plain-text e-mail through the configured SMTP server."""

    def __init__(self, smtp: SmtpConfig | None) -> None:
        self.smtp = smtp

    async def send(self, to: str, message: Outgoing) -> None:
        if self.smtp is None:
            raise TransportError("no mail server is configured (SHOPBRIDGE_SMTP_URL)", permanent=True)
        mail = EmailMessage()
        mail["From"] = self.smtp.sender
        mail["To"] = to
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=self.smtp.sender.rpartition("@")[2] or "localhost")
        mail.set_content(message.body)
        await asyncio.to_thread(self._send, mail)

    def _send(self, mail: EmailMessage) -> None:
        assert self.smtp is not None
        cfg = self.smtp
        try:
            if cfg.use_tls:
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, timeout=cfg.timeout_s, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
            with client:
                if cfg.starttls:
                    client.starttls(context=ssl.create_default_context())
                if cfg.username:
                    client.login(cfg.username, cfg.password or "")
                client.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise TransportError(f"the mail server refused the address: {exc}", permanent=True) from None
        except smtplib.SMTPAuthenticationError:
            raise TransportError(
                "the mail server refused the user name or password", permanent=True
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(f"the mail server could not be reached: {type(exc).__name__}") from None


class WebhookTransport:
    """A Slack-compatible web hook: ``POST {"text": "..."}`` as JSON."""

    def __init__(self, timeout_s: float = 10.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.timeout_s = timeout_s
        self.transport = transport

    async def send(self, url: str, message: Outgoing) -> None:
        payload = {"text": f"*{message.subject}*\n{message.body}"}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, transport=self.transport) as client:
                response = await client.post(url, json=payload)
        except httpx.HTTPError as exc:
            raise TransportError(f"the web hook could not be reached ({type(exc).__name__})") from None
        if response.status_code >= 400:
            text = scrub_text(response.text[:200])
            raise TransportError(
                f"the web hook answered {response.status_code}: {text}",
                permanent=400 <= response.status_code < 500 and response.status_code != 429,
            )
