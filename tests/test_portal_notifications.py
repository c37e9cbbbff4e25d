"""Notifications through a real local SMTP server (aiosmtpd) and a local web hook receiver:
waiting orders (web hook summary + daily digest, not one mail per order), credentials, quota 80/100 %,
per-user on/off, retries of a failing web hook."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from portal_env import build_tenancy, csrf_of, sign_in
from shopbridge.engine.runner import ConnectionStatus
from shopbridge.store.usage import month_of
from shopbridge.web.portal import PortalConfig, SmtpConfig, create_portal
from shopbridge.web.portal.security import Throttle

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Inbox:
    def __init__(self) -> None:
        self.mails: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content)
        self.mails.append(
            (
                envelope.rcpt_tos,
                str(make_header(decode_header(msg["Subject"]))),
                msg.get_payload(decode=True).decode(),
            )
        )
        return "250 OK"


class Receiver:
    """A local web hook receiver; answers `status` (500 makes the sender retry)."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append(json.loads(body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


class FakeEngine:
    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def status(self) -> list[ConnectionStatus]:
        return [
            ConnectionStatus(cid, False, 3, 2, 0, None, None, err, 10.0) for cid, err in self.errors.items()
        ]

    def wake(self, connection_id: str) -> None:
        return None


@pytest.fixture(scope="module")
def smtp() -> Any:
    inbox = Inbox()
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, controller.port
    controller.stop()


async def test_notifications_by_mail_and_web_hook(tmp_path: Any, smtp: Any) -> None:
    inbox, port = smtp
    receiver = Receiver()
    env = build_tenancy(tmp_path, config=PortalConfig(throttle=Throttle()))
    engine = FakeEngine()
    config = PortalConfig(smtp=SmtpConfig("127.0.0.1", port, sender="portal@example.test"), digest_hour=0)
    app = create_portal(env.store, engine=engine, config=config)
    portal = app.state.portal
    a = env.ids["a"]
    s = env.store
    # merchant A: a web hook added through the page; the viewer switches alerts off
    client = sign_in(app, "a@example.test")
    page = client.get("/notifications").text
    client.post(
        "/notifications/webhooks", data={"name": "ops", "url": receiver.url, "csrf_token": csrf_of(page)}
    )
    viewer = s.users.by_email("a-viewer@example.test")
    s.users.update(viewer.id, notify_alerts=False, notify_digest=False)
    for ch in s.notifications.channels([a["tenant"]]):  # the fixture's unreachable one off
        if "hooks.example.test" in s.notifications.channel_url(ch):
            s.notifications.delete_channel(ch.id)

    # three more orders of A start waiting
    for n in range(3):
        t = s.transfers.upsert_pending(a["connection"], f"w{n}", starweb_order_number=f"W{n}")
        s.transfers.mark_waiting(t.id, "article X-1 does not exist in Visma", None, state="waiting_for_fix")
    now = datetime.now(UTC)
    await portal.notifier.run_once(now=now)
    hook_texts = [p["text"] for p in receiver.posts]
    assert len(hook_texts) == 1 and "4 ordrar" in hook_texts[0] and "W1" in hook_texts[0]  # one summary
    digests = [m for m in inbox.mails if "a@example.test" in m[0]]
    assert len(digests) == 1 and "W2" in digests[0][2] and "article X-1" in digests[0][2]  # one digest mail
    assert not [m for m in inbox.mails if "a-viewer@example.test" in m[0]]  # switched off
    partner_digest = [m for m in inbox.mails if "p@example.test" in m[0]]
    assert partner_digest and "shop-a" in partner_digest[0][2]  # the partner sees its merchants' orders
    assert not [
        m for m in inbox.mails if "q@example.test" in m[0] and "shop-a" in m[2]
    ]  # not another partner

    # a second round tells nothing new; the digest waits for tomorrow
    before = (len(receiver.posts), len(inbox.mails))
    t = s.transfers.upsert_pending(a["connection"], "w9", starweb_order_number="W9")
    s.transfers.mark_waiting(t.id, "no postal code", None, state="waiting_for_fix")
    await portal.notifier.run_once(now=now + timedelta(minutes=1))
    assert len(receiver.posts) == before[0] + 1 and len(inbox.mails) == before[1]
    await portal.notifier.run_once(now=now + timedelta(days=1))
    tomorrow = [m for m in inbox.mails[before[1] :] if "a@example.test" in m[0]]
    assert len(tomorrow) == 1 and "W9" in tomorrow[0][2] and "W1" not in tomorrow[0][2]

    # credentials stop working: told at once, once, by mail and web hook
    engine.errors[str(a["connection"])] = "InvalidGrantError"
    mails = len(inbox.mails)
    await portal.notifier.run_once(now=now + timedelta(days=1, minutes=1))
    await portal.notifier.run_once(now=now + timedelta(days=1, minutes=2))
    alerts = [m for m in inbox.mails[mails:] if "kan inte logga in" in m[1]]
    assert {r for m in alerts for r in m[0]} == {"a@example.test", "p@example.test"}
    assert any("kan inte logga in" in p["text"] for p in receiver.posts)

    # quota: 80 % then 100 %, each once a month
    s.connections.update_settings(a["connection"], {"plan": "custom", "custom_quota": 5})
    for n in range(4):
        t = s.transfers.upsert_pending(a["connection"], f"q{n}")
        s.transfers.mark_transferred(t.id, f"doc{n}", str(n))
    mails = len(inbox.mails)
    await portal.notifier.run_once(now=now + timedelta(days=1, minutes=3))
    await portal.notifier.run_once(now=now + timedelta(days=1, minutes=4))
    quota = [m for m in inbox.mails[mails:] if "månadskvoten" in m[1]]
    assert len([m for m in quota if "a@example.test" in m[0]]) == 1 and "80 %" in quota[0][1]
    t = s.transfers.upsert_pending(a["connection"], "q9")
    s.transfers.mark_transferred(t.id, "doc9", "9")
    await portal.notifier.run_once(now=now + timedelta(days=1, minutes=5))
    full = [m for m in inbox.mails if "är slut" in m[1] and "a@example.test" in m[0]]
    assert len(full) == 1 and month_of() in full[0][2]


async def test_a_failing_web_hook_is_retried_then_given_up(tmp_path: Any) -> None:
    receiver = Receiver()
    receiver.status = 500
    env = build_tenancy(tmp_path)
    app = create_portal(env.store, config=PortalConfig(digest_hour=23))
    portal = app.state.portal
    a = env.ids["a"]
    for ch in env.store.notifications.channels([a["tenant"]]):
        env.store.notifications.delete_channel(ch.id)
    env.store.notifications.add_channel(a["tenant"], receiver.url)
    now = datetime.now(UTC).replace(hour=1)
    await portal.notifier.run_once(now=now)
    assert len(receiver.posts) == 1
    message = env.store.notifications.messages([a["tenant"]])[0]
    assert message.status == "pending" and "500" in message.error  # kept, retried later
    receiver.status = 200
    await portal.notifier.send(now=datetime.now(UTC) + timedelta(hours=1))
    assert len(receiver.posts) == 2 and env.store.notifications.messages([a["tenant"]])[0].status == "sent"
    await asyncio.sleep(0)
