"""`shopbridge users add|list|reset`: portal accounts from the command line (the first one, and rescue)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from shopbridge.cli.ui import console, fail, find_connection, store

users_app = typer.Typer(help="Portal users: add, list, reset a password.", no_args_is_help=True)


def _password(from_stdin: bool) -> str | None:
    if not from_stdin:
        return None
    value = sys.stdin.readline().rstrip("\n")
    from shopbridge.web.portal.security import MIN_PASSWORD

    if len(value) < MIN_PASSWORD:
        raise fail(f"the password must be at least {MIN_PASSWORD} characters long")
    return value


@users_app.command("add")
def add(
    email: str,
    tenant: Annotated[str, typer.Option(help="The partner's or merchant's name (created when new)")],
    kind: Annotated[str, typer.Option(help="partner or merchant")] = "merchant",
    partner: Annotated[str | None, typer.Option(help="A new merchant's partner (by name)")] = None,
    role: Annotated[str, typer.Option(help="owner or viewer")] = "owner",
    connection: Annotated[
        list[str] | None, typer.Option(help="Give this merchant a connection (repeat for more)")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin")
    ] = False,
    public_url: Annotated[
        str, typer.Option(envvar="SHOPBRIDGE_PUBLIC_URL", help="The portal's address, for the printed link")
    ] = "http://127.0.0.1:8100",
) -> None:
    """Add a user (and its tenant); without a password, e-mail a one-time link to choose one."""
    from shopbridge.store import EmailTaken
    from shopbridge.web.portal.security import hash_password

    if kind not in ("partner", "merchant") or role not in ("owner", "viewer"):
        raise fail("--kind is partner or merchant, --role is owner or viewer")
    s = store()
    partner_id = None
    if partner:
        found = s.tenants.find(partner)
        if found is None or found.kind != "partner":
            raise fail(f"no partner named {partner!r}: add a partner user first")
        partner_id = found.id
    try:
        t = s.tenants.ensure(kind, tenant, partner_id=partner_id)
    except ValueError as exc:
        raise fail(str(exc)) from None
    for name in connection or []:
        if kind != "merchant":
            raise fail("connections belong to a merchant: use --kind merchant")
        s.tenants.assign(t.id, find_connection(s, name).id)
    password = _password(password_stdin)
    if password is None:
        from shopbridge.web.portal.config import PortalConfig

        if PortalConfig.from_env().smtp is None:
            raise fail(
                "no mail server to send a link (SHOPBRIDGE_SMTP_URL): give the password with --password-stdin"
            )
    try:
        user = s.users.create(
            t.id, email, role=role, password_hash=hash_password(password) if password else None
        )
    except EmailTaken as exc:
        raise fail(str(exc)) from None
    console.print(f"user {user.email} added to {t.kind} {t.name!r} as {user.role}")
    if password is None:
        _mail_link(s, user, public_url)


def _mail_link(s: object, user: object, public_url: str) -> None:
    """E-mail the user a one-time link to choose a password (never printed: it is a secret)."""
    import asyncio
    from datetime import timedelta

    from shopbridge.web.portal.app import build_env
    from shopbridge.web.portal.config import PortalConfig
    from shopbridge.web.portal.notify.mail import render_text
    from shopbridge.web.portal.notify.transports import EmailTransport, TransportError

    config = PortalConfig.from_env()
    if config.smtp is None:
        raise fail(
            "no mail server to send the link (SHOPBRIDGE_SMTP_URL): give the password with --password-stdin"
        )
    token = s.web_sessions.new_link(  # type: ignore[attr-defined]
        "reset",
        tenant_id=user.tenant_id,
        email=user.email,
        user_id=user.id,
        ttl=timedelta(days=1),  # type: ignore[attr-defined]
    )
    base = (config.public_url or public_url).rstrip("/")
    message = render_text(build_env(), "mail/reset.txt", user.language, url=f"{base}/password/reset/{token}")  # type: ignore[attr-defined]
    try:
        asyncio.run(EmailTransport(config.smtp).send(user.email, message))  # type: ignore[attr-defined]
    except TransportError as exc:
        raise fail(f"the link could not be e-mailed: {exc.message}", 4) from None
    console.print(f"a link to choose the password was e-mailed to {user.email}")  # type: ignore[attr-defined]


@users_app.command("list")
def list_users(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every portal user with tenant, role and last sign-in."""
    s = store()
    tenants = {t.id: t for t in s.tenants.all()}
    rows = []
    for u in s.users.all():
        t = tenants.get(u.tenant_id)
        rows.append(
            {
                "email": u.email,
                "tenant": t.name if t else "?",
                "kind": t.kind if t else "?",
                "role": u.role,
                "totp": u.totp_enabled,
                "last_login": u.last_login_at.isoformat() if u.last_login_at else None,
            }
        )
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table("e-mail", "tenant", "kind", "role", "TOTP", "last sign-in")
    for r in rows:
        table.add_row(
            r["email"],
            r["tenant"],
            r["kind"],
            r["role"],
            "on" if r["totp"] else "off",
            r["last_login"] or "-",
        )
    console.print(table)


@users_app.command("reset")
def reset(
    email: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from stdin")
    ] = False,
    no_totp: Annotated[bool, typer.Option("--no-totp", help="Also turn sign-in codes off")] = False,
    public_url: Annotated[str, typer.Option(envvar="SHOPBRIDGE_PUBLIC_URL")] = "http://127.0.0.1:8100",
) -> None:
    """Set a new password (or e-mail a one-time link), end the user's sessions, lift the throttle."""
    from shopbridge.web.portal.security import hash_password

    s = store()
    user = s.users.by_email(email)
    if user is None:
        raise fail(f"no user with e-mail {email!r}")
    password = _password(password_stdin)
    changes: dict[str, object] = {}
    if password:
        changes["password_hash"] = hash_password(password)
    if no_totp:
        changes.update(totp_enabled=False, totp_secret=None)
    if changes:
        s.users.update(user.id, **changes)
    s.web_sessions.delete_for_user(user.id)
    s.web_sessions.clear_failures(f"account:{user.email}")
    console.print(
        f"{user.email}: sessions ended, sign-in throttle lifted" + (", password set" if password else "")
    )
    if not password:
        _mail_link(s, user, public_url)
