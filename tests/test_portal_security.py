"""The portal's security: tenant isolation on every route, CSRF, session fixation, the sign-in
throttle, cookie flags, TOTP, nothing secret in any page; and every string translated."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from portal_env import PASSWORD, Tenancy, build_tenancy, csrf_of, sign_in
from shopbridge.store.schema import Transfer
from shopbridge.web.portal import PortalConfig
from shopbridge.web.portal.security import totp_now, verify_totp
from shopbridge.web.portal.web import SESSION_COOKIE

MODULES = (
    "routes_auth",
    "routes_account",
    "routes_overview",
    "routes_orders",
    "routes_catalog",
    "routes_settings",
    "routes_partner",
    "routes_notifications",
    "routes_setup",
)
PARAMS = {
    "connection_id": "connection",
    "transfer_id": "transfer",
    "user_id": "user",
    "channel_id": "channel",
    "invite_id": "invite",
}


def routes() -> list[tuple[str, str]]:
    out = []
    for name in MODULES:
        module = importlib.import_module(f"shopbridge.web.portal.{name}")
        for r in module.router.routes:
            for method in sorted(r.methods):
                out.append((method, r.path))
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Tenancy:
    return build_tenancy(tmp_path_factory.mktemp("portal-sec"))


def snapshot(env: Tenancy) -> Any:
    """Everything a route could change, to prove nothing did."""
    s = env.store
    with s.session() as session:
        transfers = session.execute(
            select(Transfer.id, Transfer.state, Transfer.attempts).order_by(Transfer.id)
        ).all()
        count = session.scalar(select(func.count()).select_from(Transfer))
    return (
        transfers,
        count,
        [(c.id, c.name, c.paused, sorted((c.settings or {}).items(), key=str)) for c in s.connections.all()],
        [(u.id, u.role, u.email, u.language) for u in s.users.all()],
        [(c.id, c.enabled) for c in s.notifications.channels([t.id for t in s.tenants.all()])],
        sorted(i.id for i in s.web_sessions.pending_invites([t.id for t in s.tenants.all()])),
        [(t.id, t.name) for t in s.tenants.all()],
        [(c.id, s.cursors.get(c.id, "catalog_out.full_at")) for c in s.connections.all()],
    )


def test_every_route_with_another_tenants_ids_is_404_and_changes_nothing(env: Tenancy) -> None:
    """Merchant A (and partner Q, who does not run A) try every route with A's neighbours' ids."""
    targets = [
        ("a@example.test", env.ids["b"]),
        ("a@example.test", env.ids["c"]),
        ("q@example.test", env.ids["a"]),
    ]
    tried = 0
    for email, other in targets:
        client = sign_in(env.app, email)
        token = csrf_of(client.get("/account").text)
        for method, path in routes():
            names = re.findall(r"{(\w+)}", path)
            if not names or any(n not in PARAMS and n != "token" for n in names):
                continue
            if "token" in names:
                continue  # one-time links are tested by token below
            url = path
            for n in names:
                url = url.replace("{" + n + "}", str(other[PARAMS[n]]))
            before = snapshot(env)
            if method == "GET":
                r = client.get(url, follow_redirects=False)
            else:
                r = client.request(method, url, data={"csrf_token": token}, follow_redirects=False)
            assert r.status_code == 404, (email, method, url, r.status_code)
            assert snapshot(env) == before, (email, method, url)
            tried += 1
        # query-parameter ids too: the orders filter and the bulk retry
        for method, url, data in (
            ("GET", f"/orders?shop={other['connection']}", None),
            ("GET", f"/orders/retry-reason?shop={other['connection']}&reason={other['reason']}", None),
            ("POST", "/orders/retry-reason", {"shop": other["connection"], "reason": other["reason"]}),
            ("GET", f"/setup?merchant={other['tenant']}", None),
            (
                "POST",
                "/setup",
                {
                    "merchant": other["tenant"],
                    "name": "x",
                    "shop_url": "x",
                    "client_id": "x",
                    "client_secret": "x",
                },
            ),
        ):
            before = snapshot(env)
            r = client.request(
                method, url, data={**(data or {}), "csrf_token": token}, follow_redirects=False
            )
            assert r.status_code in (404, 400) and snapshot(env) == before, (
                email,
                method,
                url,
                r.status_code,
            )
            assert str(other["reason"]) not in r.text
            tried += 1
    assert tried > 60


def test_lists_show_only_what_is_in_reach(env: Tenancy) -> None:
    a = env.client("a")
    assert "a1001" in a.get("/orders").text and "b1001" not in a.get("/orders").text
    assert "reason b" not in a.get("/orders?q=b1001").text and "0 ordrar" in a.get("/orders?q=b1001").text
    p = env.client("p")
    orders = p.get("/orders").text
    assert "a1001" in orders and "b1001" in orders and "c1001" not in orders
    assert a.get("/usage").status_code == 404 and a.get("/merchants").status_code == 404
    csv = p.get("/usage.csv").text
    assert "Merchant A" in csv and "Merchant C" not in csv


def test_viewer_may_look_but_not_change(env: Tenancy) -> None:
    viewer = sign_in(env.app, "a-viewer@example.test")
    own = env.ids["a"]
    assert viewer.get(f"/orders/{own['transfer']}").status_code == 200
    token = csrf_of(viewer.get("/account").text)
    before = snapshot(env)
    for url in (
        f"/orders/{own['transfer']}/retry",
        f"/shops/{own['connection']}/pause",
        f"/shops/{own['connection']}/settings",
        f"/notifications/webhooks/{own['channel']}/delete",
    ):
        assert viewer.post(url, data={"csrf_token": token}, follow_redirects=False).status_code == 403, url
    assert snapshot(env) == before


@pytest.mark.parametrize("token", [None, "wrong", "from-another-session"])
def test_every_state_changing_route_refuses_a_missing_or_wrong_csrf_token(
    env: Tenancy, token: str | None
) -> None:
    client = env.client("a")
    if token == "from-another-session":
        token = csrf_of(env.client("a").get("/account").text)
    own = env.ids["a"]
    refused = 0
    for method, path in routes():
        if method == "GET":
            continue
        url = path
        for n in re.findall(r"{(\w+)}", path):
            url = url.replace("{" + n + "}", str(own.get(PARAMS.get(n, ""), "x")))
        before = snapshot(env)
        data = {"csrf_token": token} if token else {}
        r = client.request(method, url, data=data, follow_redirects=False)
        assert r.status_code == 403, (method, url, r.status_code)
        assert snapshot(env) == before, (method, url)
        refused += 1
    assert refused >= 25
    anonymous = env.app and sign_in  # the sign-in form itself needs its token too
    from fastapi.testclient import TestClient

    fresh = TestClient(env.app)
    r = fresh.post("/login", data={"email": "a@example.test", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403 and SESSION_COOKIE not in r.cookies
    assert anonymous


def test_signing_in_never_keeps_a_session_id_chosen_before(env: Tenancy) -> None:
    from fastapi.testclient import TestClient

    victim = TestClient(env.app)
    planted = env.client("b").cookies.get(SESSION_COOKIE)  # an attacker's own valid session cookie
    victim.cookies.set(SESSION_COOKIE, planted)
    token = csrf_of(victim.get("/login").text)
    r = victim.post(
        "/login",
        data={"email": "a@example.test", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    new = r.cookies.get(SESSION_COOKIE)
    assert new and new != planted
    attacker = TestClient(env.app)
    attacker.cookies.set(SESSION_COOKIE, planted)
    assert attacker.get("/", follow_redirects=False).status_code == 303  # the planted session is gone
    # and the CSRF token changes with the session
    old_csrf = csrf_of(TestClient(env.app).get("/login").text)
    assert csrf_of(victim.get("/account").text) != old_csrf


def test_sign_in_is_throttled_per_account_and_per_address(tmp_path: Any) -> None:
    env = build_tenancy(tmp_path)
    from fastapi.testclient import TestClient

    client = TestClient(env.app)
    token = csrf_of(client.get("/login").text)
    for _ in range(3):
        r = client.post("/login", data={"email": "a@example.test", "password": "nope", "csrf_token": token})
        assert r.status_code == 401
    r = client.post(
        "/login",
        data={"email": "a@example.test", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 429 and SESSION_COOKIE not in r.cookies  # even the right password waits
    assert "minut" in r.text
    # per address: other accounts from the same address are throttled after per_address failures
    for i in range(3):
        client.post("/login", data={"email": f"x{i}@example.test", "password": "nope", "csrf_token": token})
    r = client.post(
        "/login",
        data={"email": "b@example.test", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 429
    # another address may still sign in as b
    other = TestClient(env.app, client=("10.9.9.9", 1234))
    t2 = csrf_of(other.get("/login").text)
    r = other.post(
        "/login",
        data={"email": "b@example.test", "password": PASSWORD, "csrf_token": t2},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_cookie_flags_and_secure_behind_https(tmp_path: Any) -> None:
    env = build_tenancy(tmp_path, config=PortalConfig(public_url="https://portal.example.test"))
    from fastapi.testclient import TestClient

    client = TestClient(env.app, base_url="https://portal.example.test")
    r = client.get("/login")
    anon = r.headers["set-cookie"]
    assert "HttpOnly" in anon and "SameSite=lax" in anon and "Secure" in anon
    token = csrf_of(r.text)
    r = client.post(
        "/login",
        data={"email": "a@example.test", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie and "Path=/" in cookie
    plain = build_tenancy(tmp_path / "plain")
    cookie = TestClient(plain.app).get("/login").headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" not in cookie  # plain http on a laptop: no Secure
    headers = client.get("/").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"


def test_a_forged_or_tampered_session_cookie_is_ignored(env: Tenancy) -> None:
    from fastapi.testclient import TestClient

    good = env.client("a").cookies.get(SESSION_COOKIE)
    value, _, mac = good.rpartition(".")
    for forged in (value, f"{value}.{mac[:-2]}xx", "x" * 43 + "." + mac):
        c = TestClient(env.app)
        c.cookies.set(SESSION_COOKIE, forged)
        assert c.get("/", follow_redirects=False).status_code == 303


def test_totp_for_a_partner(tmp_path: Any) -> None:
    env = build_tenancy(tmp_path)
    p = env.client("p")
    page = p.post("/account/totp/start", data={"csrf_token": csrf_of(p.get("/account").text)}).text
    secret = re.search(r'class="secret-setup">([A-Z2-7]+)<', page).group(1)
    r = p.post(
        "/account/totp/confirm",
        data={"code": totp_now(secret), "csrf_token": csrf_of(page)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and env.store.users.by_email("p@example.test").totp_enabled
    from fastapi.testclient import TestClient

    c = TestClient(env.app)
    token = csrf_of(c.get("/login").text)
    r = c.post(
        "/login",
        data={"email": "p@example.test", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.headers["location"].startswith("/login/code")
    assert c.get("/", follow_redirects=False).status_code == 303  # half signed in: nothing opens
    page = c.get("/login/code").text
    assert c.post("/login/code", data={"code": "000000", "csrf_token": csrf_of(page)}).status_code == 401
    r = c.post(
        "/login/code", data={"code": totp_now(secret), "csrf_token": csrf_of(page)}, follow_redirects=False
    )
    assert r.status_code == 303 and c.get("/").status_code == 200
    assert verify_totp(
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "287082", at=59
    )  # RFC 6238 vector (SHA-1, 6 digits)


def test_no_secret_or_token_in_any_page_or_its_source(env: Tenancy) -> None:
    s = env.store
    a = env.ids["a"]
    secrets_ = {
        "sw-secret-XYZ",
        "access-token-ABC",
        "refresh-token-DEF",
        "visma-app-secret-GHI",
        "hook-secret-JKL",
    }
    s.secrets.put(a["connection"], "starweb", {"client_id": "cid", "client_secret": "sw-secret-XYZ"})
    s.secrets.put(a["connection"], "visma_app", {"client_id": "v", "client_secret": "visma-app-secret-GHI"})
    s.secrets.put(
        a["connection"],
        "visma_tokens",
        {
            "access_token": "access-token-ABC",
            "refresh_token": "refresh-token-DEF",
            "expires_at": "2030-01-01T00:00:00+00:00",
        },
    )
    s.secrets.put(a["connection"], "webhook_secret", "hook-secret-JKL")
    client = env.client("a")
    session_token = client.cookies.get(SESSION_COOKIE).rpartition(".")[0]
    secrets_ |= {session_token, "secret-path"}  # the web hook URL of the channel is a secret too
    pages = [
        "/",
        "/orders",
        f"/orders/{a['transfer']}",
        f"/shops/{a['connection']}/settings",
        f"/shops/{a['connection']}/catalog",
        "/notifications",
        "/team",
        "/account",
        f"/setup/{a['connection']}/visma",
        f"/setup/{a['connection']}/preset",
    ]
    for url in pages:
        body = client.get(url).text
        for secret in secrets_:
            assert secret not in body, (url, secret)
    partner = env.client("p")
    for url in ("/", "/usage", "/usage.csv", "/merchants"):
        body = partner.get(url).text
        assert not any(secret in body for secret in secrets_), url


def test_every_string_has_a_swedish_and_an_english_translation() -> None:
    from babel.messages.pofile import read_po

    from shopbridge.web.portal.i18n import LANGUAGES, LOCALE_DIR, extract_messages

    wanted = {m.id for m in extract_messages() if m.id}
    for lang in LANGUAGES:
        with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            cat = read_po(fh, locale=lang)
        have = {m.id: m.string for m in cat if m.id}
        missing = [m for m in wanted if m not in have]
        empty = [
            m
            for m, text in have.items()
            if m in wanted and not (all(text) if isinstance(text, tuple) else text)
        ]
        assert not missing and not empty, (lang, missing[:5], empty[:5])
