"""Helpers for the portal tests: a store with two merchants under one partner (and a stranger
partner), users for each, a signed-in test client, and the CSRF token of a page."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from shopbridge.store import Store, open_store
from shopbridge.web.portal import PortalConfig, create_portal
from shopbridge.web.portal.security import Throttle, hash_password

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(app: Any, email: str, password: str = PASSWORD, **client_kw: Any) -> TestClient:
    client = TestClient(app, **client_kw)
    token = csrf_of(client.get("/login").text)
    r = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:300]
    return client


@dataclass
class Tenancy:
    store: Store
    app: Any
    ids: dict[str, Any] = field(default_factory=dict)

    def client(self, who: str) -> TestClient:
        return sign_in(self.app, f"{who}@example.test")


def build_tenancy(tmp: Path, *, config: PortalConfig | None = None) -> Tenancy:
    """Partner P runs merchants A and B; partner Q runs merchant C. Each merchant owns one connection
    with a transfer, a webhook channel and an invitation; users: owners and a viewer of A."""
    store = open_store(data_dir=tmp)
    pw = hash_password(PASSWORD)
    p = store.tenants.create("partner", "Partner P")
    q = store.tenants.create("partner", "Partner Q")
    ids: dict[str, Any] = {"partner_p": p.id, "partner_q": q.id}
    for key, partner in (("a", p), ("b", p), ("c", q)):
        m = store.tenants.create("merchant", f"Merchant {key.upper()}", partner_id=partner.id)
        conn = store.connections.create(f"shop-{key}", starweb_base_url="http://127.0.0.1:9/api/v2")
        store.tenants.assign(m.id, conn.id)
        t = store.transfers.upsert_pending(conn.id, f"{key}1", starweb_order_number=f"{key}1001")
        store.transfers.mark_waiting(t.id, f"reason {key}", None, state="waiting_for_fix")
        user = store.users.create(m.id, f"{key}@example.test", password_hash=pw)
        channel = store.notifications.add_channel(m.id, f"https://hooks.example.test/{key}/secret-path")
        store.web_sessions.new_link(
            "invite",
            tenant_id=m.id,
            email=f"new-{key}@example.test",
            ttl=__import__("datetime").timedelta(days=1),
        )
        invite = store.web_sessions.pending_invites([m.id])[0]
        ids[key] = {
            "tenant": m.id,
            "connection": conn.id,
            "transfer": t.id,
            "user": user.id,
            "channel": channel,
            "invite": invite.id,
            "reason": f"reason {key}",
        }
    store.users.create(ids["a"]["tenant"], "a-viewer@example.test", role="viewer", password_hash=pw)
    store.users.create(p.id, "p@example.test", password_hash=pw)
    store.users.create(q.id, "q@example.test", password_hash=pw)
    app = create_portal(store, config=config or PortalConfig(throttle=Throttle(per_account=3, per_address=6)))
    return Tenancy(store, app, ids)
