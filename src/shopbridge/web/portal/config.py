"""What the portal needs to know about where it runs: its public URL, the Visma app, the mail server.

Read from the environment by :meth:`PortalConfig.from_env` (``shopbridge run`` and ``shopbridge
web``); tests build one directly.

| variable | meaning |
| --- | --- |
| ``SHOPBRIDGE_PUBLIC_URL`` | where people reach the portal (e-mail links, the Visma redirect URI, |
|   | Secure cookies when https) |
| ``SHOPBRIDGE_VISMA_CLIENT_ID``, ``_SECRET`` | the partner's Visma app, used by "Connect with Visma" |
| ``SHOPBRIDGE_VISMA_IDENTITY_URL``, ``_API_BASE`` | Visma's identity server and API |
| ``SHOPBRIDGE_SMTP_URL`` | ``smtp://user:password@host:port`` (``smtps://``, ``?starttls=1``) |
| ``SHOPBRIDGE_MAIL_FROM`` | the sender of the portal's e-mails |
| ``SHOPBRIDGE_TRUST_PROXY`` | ``1``: believe ``X-Forwarded-Proto``/``-For`` from the proxy in front |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from shopbridge.visma.oauth import DEFAULT_IDENTITY_URL

from .security import Throttle

__all__ = ["CALLBACK_PATH", "PortalConfig", "SmtpConfig", "VismaApp"]

CALLBACK_PATH = "/setup/visma/callback"
VISMA_API = "https://eaccountingapi.vismaonline.com/v2"


@dataclass(frozen=True, repr=False)
class VismaApp:
    """The Visma app the partner registered (client id and secret), and where Visma is."""

    client_id: str
    client_secret: str
    identity_url: str = DEFAULT_IDENTITY_URL
    api_base: str = VISMA_API

    def __repr__(self) -> str:
        return f"VismaApp(client_id={self.client_id!r}, identity_url={self.identity_url!r})"


@dataclass(frozen=True, repr=False)
class SmtpConfig:
    host: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    use_tls: bool = False  # smtps (TLS from the start)
    starttls: bool = False
    sender: str = "shopbridge@localhost"
    timeout_s: float = 15.0

    @classmethod
    def from_url(cls, url: str, sender: str | None = None) -> SmtpConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SHOPBRIDGE_SMTP_URL is smtp://[user:password@]host[:port] (or smtps://)")
        query = parse_qs(parts.query)
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if parts.scheme == "smtps" else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=parts.scheme == "smtps",
            starttls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
            sender=sender or "shopbridge@localhost",
        )

    def __repr__(self) -> str:
        return f"SmtpConfig(host={self.host!r}, port={self.port}, sender={self.sender!r})"


@dataclass
class PortalConfig:
    """Everything the portal is told from outside (see the module docstring)."""

    public_url: str | None = None
    visma: VismaApp | None = None
    smtp: SmtpConfig | None = None
    trust_proxy: bool = False
    session_ttl: timedelta = timedelta(hours=12)
    throttle: Throttle = field(default_factory=Throttle)
    invite_ttl: timedelta = timedelta(days=7)
    reset_ttl: timedelta = timedelta(hours=1)
    notify_interval_s: float = 60.0
    digest_hour: int = 7  # local hour (UTC here) of the daily digest
    client_kw: dict[str, Any] = field(default_factory=dict)  # passed to open_context (rate limits)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> PortalConfig:
        env = dict(os.environ if env is None else env)
        visma = None
        if env.get("SHOPBRIDGE_VISMA_CLIENT_ID") and env.get("SHOPBRIDGE_VISMA_CLIENT_SECRET"):
            visma = VismaApp(
                env["SHOPBRIDGE_VISMA_CLIENT_ID"],
                env["SHOPBRIDGE_VISMA_CLIENT_SECRET"],
                identity_url=env.get("SHOPBRIDGE_VISMA_IDENTITY_URL") or DEFAULT_IDENTITY_URL,
                api_base=env.get("SHOPBRIDGE_VISMA_API_BASE") or VISMA_API,
            )
        smtp = None
        if env.get("SHOPBRIDGE_SMTP_URL"):
            smtp = SmtpConfig.from_url(env["SHOPBRIDGE_SMTP_URL"], env.get("SHOPBRIDGE_MAIL_FROM"))
        values: dict[str, Any] = {
            "public_url": env.get("SHOPBRIDGE_PUBLIC_URL") or None,
            "visma": visma,
            "smtp": smtp,
            "trust_proxy": env.get("SHOPBRIDGE_TRUST_PROXY", "") in ("1", "true", "yes"),
        }
        values.update(overrides)
        return cls(**values)

    def base_url(self, request_base: str) -> str:
        """The portal's own address: the public URL, else the address the request came to."""
        return (self.public_url or request_base).rstrip("/")
