"""Both sandboxes on real HTTP with a signed-in client each, and factories for the records tests need.

`visma_sandbox()` / `starweb_sandbox()` start a real uvicorn server in a thread (demo seed, rate limit
off) and yield a small client: `get/post/put/delete(path, body, **params)` answer the raw
`httpx.Response`; `ok(resp, status)` checks the status and parses JSON with Decimals.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from shopbridge.sandbox.common import defaults as d
from shopbridge.sandbox.common import start_in_thread
from shopbridge.sandbox.common.runner import RunningServer
from shopbridge.sandbox.settings import RateLimitSettings, SandboxSettings

VISMA_SCOPE = "ea:api offline_access ea:sales ea:accounting ea:purchase"
_numbers = itertools.count(1)


def to_json(body: Any) -> bytes:
    """JSON with Decimal written as a number (a 2-decimal Decimal prints exactly via float's repr)."""
    return json.dumps(body, default=lambda o: float(o) if isinstance(o, Decimal) else str(o)).encode()


def unique(prefix: str) -> str:
    return f"{prefix}{next(_numbers)}"


class VismaSandbox:
    """A running Visma sandbox and a client signed in through the real OAuth flow (all scopes)."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.url = url = server.url
        self.base = url + "/v2"
        self.http = httpx.Client(base_url=url, timeout=20)
        redirect = "http://127.0.0.1:9999/cb"
        auth = self.http.get(
            "/connect/authorize",
            params={
                "client_id": d.VISMA_CLIENT_ID,
                "redirect_uri": redirect,
                "response_type": "code",
                "state": "s",
                "scope": VISMA_SCOPE,
            },
        )
        code = parse_qs(urlsplit(auth.headers["location"]).query)["code"][0]
        basic = base64.b64encode(f"{d.VISMA_CLIENT_ID}:{d.VISMA_CLIENT_SECRET}".encode()).decode()
        token = self.http.post(
            "/connect/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
            headers={"Authorization": f"Basic {basic}"},
        ).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.http.headers.update(self.headers)

    # ---- raw calls --------------------------------------------------------------------------------
    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get("/v2" + path, params=params)

    def post(self, path: str, body: Any = None, **params: Any) -> httpx.Response:
        """POST `body` as JSON (no body at all when None)."""
        if body is None:
            return self.http.post("/v2" + path, params=params)
        headers = {"Content-Type": "application/json"}
        return self.http.post("/v2" + path, content=to_json(body), params=params, headers=headers)

    def put(self, path: str, body: Any, **params: Any) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        return self.http.put("/v2" + path, content=to_json(body), params=params, headers=headers)

    def delete(self, path: str) -> httpx.Response:
        return self.http.delete("/v2" + path)

    def ok(self, resp: httpx.Response, status: int = 200) -> Any:
        assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
        return json.loads(resp.content, parse_float=Decimal) if resp.content else None

    def first(self, path: str, flt: str | None = None) -> dict[str, Any]:
        params = {"$filter": flt} if flt else {}
        data = self.ok(self.get(path, **params))["Data"]
        assert data, f"nothing in {path} matches {flt}"
        return data[0]

    # ---- factories ----------------------------------------------------------------------------------
    def customer(self, **fields: Any) -> dict[str, Any]:
        terms = self.first("/termsofpayments", "NumberOfDays eq 30")
        body = {
            "Name": "Testkund AB",
            "InvoiceCity": "Stockholm",
            "InvoicePostalCode": "111 22",
            "IsActive": True,
            "IsPrivatePerson": False,
            "TermsOfPaymentId": terms["Id"],
            **fields,
        }
        return self.ok(self.post("/customers", body), 201)

    def stock_article(self) -> dict[str, Any]:
        return self.first("/articles", "IsStock eq true and StockBalance gt 100 and IsActive eq true")

    def order(self, status: int = 2, quantity: int = 2, **fields: Any) -> dict[str, Any]:
        """A new order of one stock article for customer 1011 (business, SEK) in `status` 1-3."""
        customer = self.first("/customers", "CustomerNumber eq '1011'")
        row = {
            "LineNumber": 1,
            "ArticleId": self.stock_article()["Id"],
            "Quantity": quantity,
            "IsTextRow": False,
            "IsWorkCost": False,
            "EligibleForReverseChargeOnVat": False,
        }
        body = {
            "CustomerId": customer["Id"],
            "CurrencyCode": "SEK",
            "EuThirdParty": False,
            "RotReducedInvoicingType": 0,
            "ReverseChargeOnConstructionServices": False,
            "Status": min(status, 2),
            "Rows": [row],
            **fields,
        }
        order = self.ok(self.post("/orders", body), 201)
        if status == 3:
            order = self.ok(self.post(f"/orders/{order['Id']}/completed"))
        return order

    def draft(self, **fields: Any) -> dict[str, Any]:
        customer = self.first("/customers", "CustomerNumber eq '1011'")
        row = {
            "ArticleId": self.stock_article()["Id"],
            "Quantity": 1,
            "IsTextRow": False,
            "ReversedConstructionServicesVatFree": False,
        }
        body = {
            "CustomerId": customer["Id"],
            "EuThirdParty": False,
            "RotReducedInvoicingType": 0,
            "Rows": [row],
        }
        return self.ok(self.post("/customerinvoicedrafts", {**body, **fields}), 201)

    def invoice(self, **fields: Any) -> dict[str, Any]:
        draft = self.draft(**fields)
        return self.ok(self.post(f"/customerinvoicedrafts/{draft['Id']}/convert", {}), 201)


class StarwebSandbox:
    """A running Starweb sandbox (shop 1) and a token for it."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.url = server.url
        self.base = server.url + "/api/v2"
        self.http = httpx.Client(base_url=self.base, timeout=20)
        token = self.http.post(
            "/token",
            data={
                "grant_type": "client_credentials",
                "client_id": d.STARWEB_CLIENT_ID,
                "client_secret": d.STARWEB_CLIENT_SECRET,
            },
        ).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.http.headers.update(self.headers)

    def __call__(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, path, **kw)

    def ok(self, resp: httpx.Response, status: int = 200) -> Any:
        assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
        return json.loads(resp.content, parse_float=Decimal) if resp.content else None


@contextlib.contextmanager
def visma_sandbox(**settings: Any) -> Iterator[VismaSandbox]:
    from shopbridge.sandbox.visma.app import create_app

    cfg = SandboxSettings(
        client_id=d.VISMA_CLIENT_ID,
        client_secret=d.VISMA_CLIENT_SECRET,
        seed=settings.pop("seed", "demo"),
        rate_limit=RateLimitSettings(limit=600, enabled=False),
        **settings,
    )
    with start_in_thread(create_app(cfg)) as server:
        sandbox = VismaSandbox(server)
        yield sandbox
        sandbox.http.close()


@contextlib.contextmanager
def starweb_sandbox(**settings: Any) -> Iterator[StarwebSandbox]:
    from shopbridge.sandbox.starweb.app import create_app

    cfg = SandboxSettings(
        client_id=d.STARWEB_CLIENT_ID,
        client_secret=d.STARWEB_CLIENT_SECRET,
        seed=settings.pop("seed", "demo"),
        rate_limit=RateLimitSettings(limit=1_000_000, window_s=1.0),
        **settings,
    )
    with start_in_thread(create_app(cfg)) as server:
        sandbox = StarwebSandbox(server)
        yield sandbox
        sandbox.http.close()
