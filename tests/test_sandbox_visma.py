"""Visma sandbox over real HTTP: identity server, auth, lists, totals, conversions, payments, orders,
validation, rate limit, company switches, persistence.

Servers are real uvicorn instances in threads (`start_in_thread`); calls are plain httpx.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from shopbridge.sandbox.common import defaults as d
from shopbridge.sandbox.common import start_in_thread
from shopbridge.sandbox.settings import RateLimitSettings, SandboxSettings
from shopbridge.sandbox.visma.app import create_app

JSON = {"Content-Type": "application/json"}
REDIRECT = "http://127.0.0.1:8765/callback"
SCOPE = "ea:api offline_access ea:sales ea:accounting ea:purchase"
BASIC = "Basic " + base64.b64encode(f"{d.VISMA_CLIENT_ID}:{d.VISMA_CLIENT_SECRET}".encode()).decode()


def settings(**kw: Any) -> SandboxSettings:
    base: dict[str, Any] = {"client_id": d.VISMA_CLIENT_ID, "client_secret": d.VISMA_CLIENT_SECRET}
    base.update(kw)
    return SandboxSettings(**base)


def dec_json(resp: httpx.Response) -> Any:
    return json.loads(resp.content, parse_float=Decimal)


def to_json(body: Any) -> bytes:
    """JSON with Decimal written as a number (a 2-decimal Decimal prints exactly via float's repr)."""
    return json.dumps(body, default=lambda o: float(o) if isinstance(o, Decimal) else str(o)).encode()


def authorize(
    client: httpx.Client, scope: str = SCOPE, state: str = "csrf-123", **extra: str
) -> httpx.Response:
    params = {
        "client_id": d.VISMA_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "response_type": "code",
        "state": state,
        "prompt": "select_account",
        "acr_values": "service:44643EB1-3F76-4C1C-A672-402AE8085934",
    }
    params.update(extra)
    return client.get("/connect/authorize", params=params, follow_redirects=False)


def redirect_params(resp: httpx.Response) -> dict[str, str]:
    assert resp.status_code == 302, resp.text
    location = resp.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(client: httpx.Client, code: str, redirect_uri: str = REDIRECT) -> httpx.Response:
    return client.post(
        "/connect/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        headers={"Authorization": BASIC},
    )


def refresh(client: httpx.Client, token: str) -> httpx.Response:
    return client.post(
        "/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        headers={"Authorization": BASIC},
    )


def login(client: httpx.Client, scope: str = SCOPE) -> dict[str, Any]:
    code = redirect_params(authorize(client, scope))["code"]
    resp = exchange(client, code)
    assert resp.status_code == 200, resp.text
    return resp.json()


def assert_visma_error(resp: httpx.Response, status: int, code: int | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) >= {"ErrorCode", "DeveloperErrorMessage", "ErrorId"}
    assert isinstance(body["ErrorCode"], int) and body["ErrorId"]
    if code is not None:
        assert body["ErrorCode"] == code, body
    return body


class Visma:
    """A running sandbox plus an authenticated httpx client."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)
        self.tokens = login(self.http)
        self.http.headers["Authorization"] = f"Bearer {self.tokens['access_token']}"

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get("/v2" + path, params=params)

    def post(self, path: str, body: Any = None, **params: Any) -> httpx.Response:
        return self.http.post("/v2" + path, content=to_json(body), params=params, headers=JSON)

    def put(self, path: str, body: Any) -> httpx.Response:
        return self.http.put("/v2" + path, content=to_json(body), headers=JSON)

    def ok(self, resp: httpx.Response, status: int = 200) -> Any:
        assert resp.status_code == status, resp.text
        return dec_json(resp)

    def admin(self, path: str, body: Any = None) -> Any:
        resp = self.http.post("/_sandbox/visma" + path, json=body or {})
        assert resp.status_code == 200, resp.text
        return resp.json()

    def summary(self) -> dict[str, Any]:
        return self.http.get("/_sandbox/visma/state/summary").json()

    def first(self, path: str, flt: str) -> dict[str, Any]:
        data = self.ok(self.get(path, **{"$filter": flt}))["Data"]
        assert data, f"nothing matches {flt}"
        return data[0]


@pytest.fixture(scope="module")
def visma() -> Iterator[Visma]:
    server = start_in_thread(create_app(settings(seed="demo")))
    try:
        yield Visma(server.url)
    finally:
        server.stop()


@pytest.fixture()
def fresh() -> Iterator[Visma]:
    server = start_in_thread(create_app(settings(seed="demo")))
    try:
        yield Visma(server.url)
    finally:
        server.stop()


# --------------------------------------------------------------------------- identity server


def test_authorize_code_token_then_api_call(visma: Visma) -> None:
    client = httpx.Client(base_url=visma.url)
    params = redirect_params(authorize(client, state="xyz-42"))
    assert params["state"] == "xyz-42"
    assert "ea:api" in params["scope"]
    tokens = exchange(client, params["code"]).json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == SCOPE
    assert tokens["access_token"] and tokens["refresh_token"]
    resp = client.get("/v2/companysettings", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert resp.status_code == 200
    assert resp.json()["Name"] == "Demo AB sandbox"
    assert resp.json()["CurrencyCode"] == "SEK"


def test_code_is_single_use_and_bound_to_redirect_uri(visma: Visma) -> None:
    client = httpx.Client(base_url=visma.url)
    code = redirect_params(authorize(client))["code"]
    assert exchange(client, code).status_code == 200
    again = exchange(client, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    code2 = redirect_params(authorize(client))["code"]
    wrong = exchange(client, code2, redirect_uri="http://127.0.0.1:8765/other")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_code_expires_after_five_minutes(fresh: Visma) -> None:
    client = httpx.Client(base_url=fresh.url)
    code = redirect_params(authorize(client))["code"]
    fresh.admin("/clock", {"advance_s": 301})
    resp = exchange(client, code)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_authorize_errors(visma: Visma) -> None:
    client = httpx.Client(base_url=visma.url)
    missing = redirect_params(authorize(client, scope="ea:api ea:sales", state="s1"))
    assert missing["error"] == "invalid_scope" and missing["state"] == "s1"
    bad_type = redirect_params(authorize(client, response_type="token"))
    assert bad_type["error"] == "unsupported_response_type"
    assert authorize(client, redirect_uri="https://evil.example.com/cb").status_code == 400
    assert authorize(client, client_id="someone-else").status_code == 400
    localhost = authorize(client, redirect_uri="http://localhost:5555/cb")
    assert localhost.status_code == 302 and "code=" in localhost.headers["location"]


def test_refresh_tokens_rotate(visma: Visma) -> None:
    client = httpx.Client(base_url=visma.url)
    first = login(client)
    second = refresh(client, first["refresh_token"])
    assert second.status_code == 200, second.text
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"]
    assert pair["access_token"] != first["access_token"]
    assert pair["token_type"] == "bearer" and pair["expires_in"] == 3600
    old = refresh(client, first["refresh_token"])
    assert old.status_code == 400 and old.json() == {"error": "invalid_grant"}
    assert refresh(client, pair["refresh_token"]).status_code == 200
    resp = client.get("/v2/units", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert resp.status_code == 200


def test_token_endpoint_client_auth_and_grant_errors(visma: Visma) -> None:
    client = httpx.Client(base_url=visma.url)
    wrong = base64.b64encode(f"{d.VISMA_CLIENT_ID}:nope".encode()).decode()
    resp = client.post(
        "/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        headers={"Authorization": f"Basic {wrong}"},
    )
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_client"
    resp = client.post("/connect/token", data={"grant_type": "password"}, headers={"Authorization": BASIC})
    assert resp.json()["error"] == "unsupported_grant_type"


def test_revocation_kills_the_grant(visma: Visma) -> None:
    client = httpx.Client(base_url=visma.url)
    tokens = login(client)
    resp = client.post(
        "/connect/revocation",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        headers={"Authorization": BASIC},
    )
    assert resp.status_code == 200
    assert refresh(client, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    api = client.get("/v2/units", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert_visma_error(api, 401, 4005)


def test_api_needs_a_live_bearer_token(fresh: Visma) -> None:
    client = httpx.Client(base_url=fresh.url)
    assert_visma_error(client.get("/v2/customers"), 401, 4005)
    assert_visma_error(client.get("/v2/customers", headers={"Authorization": "Bearer nope"}), 401, 4005)
    fresh.admin("/tokens/expire")
    assert_visma_error(fresh.get("/customers"), 401, 4005)
    # a refresh gives a working token again
    new = refresh(client, fresh.tokens["refresh_token"]).json()
    ok = client.get("/v2/customers", headers={"Authorization": f"Bearer {new['access_token']}"})
    assert ok.status_code == 200


def test_token_ttl_follows_the_fault_override(fresh: Visma) -> None:
    resp = fresh.http.post("/_sandbox/faults", json={"token_ttl_s": 5})
    assert resp.status_code == 200
    client = httpx.Client(base_url=fresh.url)
    assert login(client)["expires_in"] == 5


def test_missing_scope_is_refused(visma: Visma) -> None:
    client = httpx.Client(base_url=visma.url)
    tokens = login(client, scope="ea:api offline_access ea:sales")
    resp = client.get("/v2/vatcodes", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert_visma_error(resp, 403, 4006)


# --------------------------------------------------------------------------- lists and filters


def test_paging_meta(visma: Visma) -> None:
    body = visma.ok(visma.get("/customers", **{"$page": 3, "$pagesize": 7}))
    meta = body["Meta"]
    assert meta["CurrentPage"] == 3 and meta["PageSize"] == 7
    assert meta["TotalNumberOfResults"] >= 20
    assert meta["TotalNumberOfPages"] == -(-meta["TotalNumberOfResults"] // 7)
    assert meta["ServerTimeUtc"].endswith("Z")
    assert len(body["Data"]) == min(7, meta["TotalNumberOfResults"] - 14)
    default = visma.ok(visma.get("/articles"))["Meta"]
    assert default["PageSize"] == 50
    assert visma.ok(visma.get("/articles", **{"$pagesize": 5000}))["Meta"]["PageSize"] == 1000
    assert_visma_error(visma.get("/articles", **{"$page": 0}), 400, 2000)


def test_filter_changed_since_server_time(fresh: Visma) -> None:
    cursor = fresh.ok(fresh.get("/customers", **{"$pagesize": 1}))["Meta"]["ServerTimeUtc"]
    terms = fresh.first("/termsofpayments", "NumberOfDays eq 30")
    created = fresh.ok(
        fresh.post(
            "/customers",
            {
                "Name": "Ny Kund AB",
                "InvoiceCity": "Luleå",
                "InvoicePostalCode": "972 31",
                "IsActive": True,
                "IsPrivatePerson": False,
                "TermsOfPaymentId": terms["Id"],
                "EmailAddress": "ny@example.se",
            },
        ),
        201,
    )
    changed = fresh.ok(fresh.get("/customers", **{"$filter": f"ChangedUtc gt {cursor}"}))
    assert [c["Id"] for c in changed["Data"]] == [created["Id"]]
    assert created["CustomerNumber"] == "1021"
    later = changed["Meta"]["ServerTimeUtc"]
    assert later > cursor
    assert fresh.ok(fresh.get("/customers", **{"$filter": f"ChangedUtc gt {later}"}))["Data"] == []
    both = fresh.ok(
        fresh.get(
            "/customers",
            **{
                "$filter": "EmailAddress eq 'ny@example.se' and CustomerNumber eq '1021' "
                f"and ChangedUtc ge {cursor}"
            },
        )
    )
    assert len(both["Data"]) == 1


def test_filter_orderby_select_and_errors(visma: Visma) -> None:
    frakt = visma.first("/articles", "Number eq 'FRAKT'")
    assert frakt["Name"] == "Frakt" and Decimal(str(frakt["GrossPrice"])) == Decimal("59.00")
    either = visma.ok(
        visma.get(
            "/articles",
            **{
                "$filter": "Number eq 'FRAKT' or Number eq 'FAKTURAAVGIFT'",
                "$orderby": "Number desc",
                "$select": "Number,NetPrice",
            },
        )
    )
    assert [a["Number"] for a in either["Data"]] == ["FRAKT", "FAKTURAAVGIFT"]
    assert set(either["Data"][0]) == {"Number", "NetPrice"}
    cust = visma.first("/customers", "CorporateIdentityNumber eq '556677-8899'")
    assert cust["Name"] == "Lundqvist Inredning AB"
    assert visma.first("/customers", f"Id eq {cust['Id']}")["CustomerNumber"] == "1011"
    assert_visma_error(visma.get("/customers", **{"$filter": "Colour eq 'blue'"}), 400, 2000)
    assert_visma_error(visma.get("/customers", **{"$filter": "Name eq"}), 400, 2000)
    assert_visma_error(visma.get("/customers", **{"$orderby": "Nope"}), 400, 2000)


# --------------------------------------------------------------------------- documents and totals


def make_article(v: Visma, number: str, coding: str, price: str) -> dict[str, Any]:
    coding_rec = v.first("/articleaccountcodings", f"Name eq '{coding}'")
    unit = v.first("/units", "Abbreviation eq 'st'")
    return v.ok(
        v.post(
            "/articles",
            {
                "Number": number,
                "Name": f"Test {number}",
                "CodingId": coding_rec["Id"],
                "UnitId": unit["Id"],
                "IsActive": True,
                "NetPrice": Decimal(price),
            },
        ),
        201,
    )


def test_article_prices_follow_the_coding(visma: Visma) -> None:
    art = make_article(visma, "T-PRICE-1", "Varor 12% moms", "80.36")
    assert Decimal(str(art["GrossPrice"])) == Decimal("90.00")
    assert art["CodingName"] == "Varor 12% moms" and art["UnitAbbreviation"] == "st"
    coding = visma.first("/articleaccountcodings", "Name eq 'Varor 12% moms'")
    assert Decimal(str(coding["VatRatePercent"])) == Decimal("0.12")
    long_number = visma.post(
        "/articles", {**{k: art[k] for k in ("Name", "CodingId", "UnitId", "IsActive")}, "Number": "X" * 41}
    )
    assert_visma_error(long_number, 400, 2000)
    dup = visma.post(
        "/articles",
        {**{k: art[k] for k in ("Name", "CodingId", "UnitId", "IsActive")}, "Number": "T-PRICE-1"},
    )
    assert_visma_error(dup, 400, 4000)


def business_customer(v: Visma) -> dict[str, Any]:
    return v.first("/customers", "CustomerNumber eq '1011'")


def test_draft_totals_convert_and_pay(fresh: Visma) -> None:
    a25 = make_article(fresh, "T25", "Varor 25% moms", "100.15")
    a12 = make_article(fresh, "T12", "Varor 12% moms", "45.50")
    a6 = make_article(fresh, "T6", "Varor 6% moms", "199.00")
    customer = business_customer(fresh)
    rows = [
        {
            "ArticleId": a25["Id"],
            "Quantity": 3,
            "UnitPrice": Decimal("100.15"),
            "DiscountPercentage": Decimal("0.1"),
            "IsTextRow": False,
            "ReversedConstructionServicesVatFree": False,
        },
        {
            "ArticleId": a25["Id"],
            "Quantity": 1,
            "UnitPrice": Decimal("0.01"),
            "IsTextRow": False,
            "ReversedConstructionServicesVatFree": False,
        },
        {
            "ArticleId": a12["Id"],
            "Quantity": 2,
            "IsDiscountInFixedAmount": True,
            "DiscountFixedAmount": Decimal("10.00"),
            "IsTextRow": False,
            "ReversedConstructionServicesVatFree": False,
        },
        {
            "ArticleId": a6["Id"],
            "Quantity": 1,
            "IsTextRow": False,
            "ReversedConstructionServicesVatFree": False,
        },
        {
            "IsTextRow": True,
            "Text": "Tack för din beställning!",
            "ReversedConstructionServicesVatFree": False,
        },
    ]
    draft = fresh.ok(
        fresh.post(
            "/customerinvoicedrafts",
            {
                "CustomerId": customer["Id"],
                "EuThirdParty": False,
                "RotReducedInvoicingType": 0,
                "Rows": rows,
                "YourReference": "Order 5001",
            },
        ),
        201,
    )
    amounts = [r["Amount"] for r in draft["Rows"]]
    # 3 x 100.15 x 0.9 = 270.405 -> 270.41 (half up); 2 x 45.50 - 10 = 81.00; text row carries no price
    assert amounts == [Decimal("270.41"), Decimal("0.01"), Decimal("81"), Decimal("199"), Decimal("0")]
    assert [r["VatRate"] for r in draft["Rows"][:4]] == [
        Decimal("0.25"),
        Decimal("0.25"),
        Decimal("0.12"),
        Decimal("0.06"),
    ]
    assert draft["Rows"][4]["VatRate"] is None and draft["Rows"][4]["ArticleId"] is None
    assert draft["IncludesVat"] is False and draft["InvoiceCurrencyCode"] == "SEK"
    # VAT per rate: 270.42 x 0.25 = 67.605 -> 67.61 (half up); 81 x 0.12 = 9.72; 199 x 0.06 = 11.94
    assert draft["TotalVatAmount"] == Decimal("89.27")
    assert draft["TotalAmount"] == Decimal("639.69")
    assert draft["TotalRoundings"] == 0
    assert draft["TotalAmountBaseCurrency"] == Decimal("639.69")
    assert draft["InvoiceCustomerName"] == "Lundqvist Inredning AB"

    before = fresh.summary()["series"]["invoice"]
    invoice = fresh.ok(
        fresh.post(
            f"/customerinvoicedrafts/{draft['Id']}/convert",
            {
                "TotalAmountInvoiceCurrency": Decimal("639.69"),
                "TotalVatAmountInvoiceCurrency": Decimal("89.27"),
            },
        ),
        201,
    )
    assert invoice["InvoiceNumber"] == before
    assert fresh.summary()["series"]["invoice"] == before + 1
    assert invoice["TotalAmount"] == Decimal("639.69") and invoice["TotalAmountInvoiceCurrency"] == Decimal(
        "639.69"
    )
    assert invoice["TotalVatAmount"] == Decimal("89.27")
    spec = {
        v["VatPercent"]: (v["AmountInvoiceCurrency"], v["VatAmountInvoiceCurrency"])
        for v in invoice["VatSpecification"]
    }
    assert spec == {
        Decimal("0.25"): (Decimal("270.42"), Decimal("67.61")),
        Decimal("0.12"): (Decimal("81"), Decimal("9.72")),
        Decimal("0.06"): (Decimal("199"), Decimal("11.94")),
    }
    assert invoice["RemainingAmount"] == Decimal("639.69") and invoice["PaymentStatus"] == 1
    assert invoice["CreatedFromDraftId"] == draft["Id"] and invoice["ModifiedUtc"]
    assert invoice["YourReference"] == "Order 5001"
    assert fresh.get(f"/customerinvoicedrafts/{draft['Id']}").status_code == 404

    bank = fresh.ok(fresh.get("/bankaccounts"))["Data"][0]
    payment = {
        "CompanyBankAccountId": bank["Id"],
        "PaymentCurrency": "SEK",
        "PaymentType": 1,
        "PaymentAmount": Decimal("100.00"),
    }
    fresh.ok(fresh.post(f"/customerinvoices/{invoice['Id']}/payments", payment), 201)
    part = fresh.ok(fresh.get(f"/customerinvoices/{invoice['Id']}"))
    assert part["RemainingAmount"] == Decimal("539.69") and part["PaymentStatus"] == 1
    over = fresh.post(
        f"/customerinvoices/{invoice['Id']}/payments", {**payment, "PaymentAmount": Decimal("600")}
    )
    assert_visma_error(over, 400)
    fresh.ok(
        fresh.post(
            f"/customerinvoices/{invoice['Id']}/payments",
            {**payment, "PaymentType": 2, "PaymentAmount": Decimal("539.69")},
        ),
        201,
    )
    paid = fresh.ok(fresh.get(f"/customerinvoices/{invoice['Id']}"))
    assert paid["RemainingAmount"] == 0 and paid["RemainingAmountInvoiceCurrency"] == 0
    assert paid["PaymentStatus"] == 0 and paid["PaymentDate"]
    assert paid["ModifiedUtc"] > invoice["ModifiedUtc"]
    since = fresh.ok(fresh.get("/customerinvoices", modifiedSinceUtc=invoice["ModifiedUtc"]))
    assert [i["Id"] for i in since["Data"]] == [invoice["Id"]]


def test_convert_refuses_wrong_expected_totals(visma: Visma) -> None:
    frakt = visma.first("/articles", "Number eq 'FRAKT'")
    draft = visma.ok(
        visma.post(
            "/customerinvoicedrafts",
            {
                "CustomerId": business_customer(visma)["Id"],
                "EuThirdParty": False,
                "RotReducedInvoicingType": 0,
                "Rows": [
                    {
                        "ArticleId": frakt["Id"],
                        "Quantity": 1,
                        "IsTextRow": False,
                        "ReversedConstructionServicesVatFree": False,
                    }
                ],
            },
        ),
        201,
    )
    assert draft["TotalAmount"] == Decimal("59")
    resp = visma.post(f"/customerinvoicedrafts/{draft['Id']}/convert", {"TotalAmountInvoiceCurrency": 60})
    assert_visma_error(resp, 400)
    assert visma.get(f"/customerinvoicedrafts/{draft['Id']}").status_code == 200


def test_private_customer_prices_include_vat_and_oere_rounding(fresh: Visma) -> None:
    private = fresh.first("/customers", "CustomerNumber eq '1001'")
    frakt = fresh.first("/articles", "Number eq 'FRAKT'")
    fee = fresh.first("/articles", "Number eq 'FAKTURAAVGIFT'")
    body = {
        "CustomerId": private["Id"],
        "EuThirdParty": False,
        "RotReducedInvoicingType": 0,
        "Rows": [
            {
                "ArticleId": frakt["Id"],
                "Quantity": 1,
                "IsTextRow": False,
                "ReversedConstructionServicesVatFree": False,
            },
            {
                "ArticleId": fee["Id"],
                "Quantity": 1,
                "UnitPrice": Decimal("29.45"),
                "IsTextRow": False,
                "ReversedConstructionServicesVatFree": False,
            },
        ],
    }
    draft = fresh.ok(fresh.post("/customerinvoicedrafts/dryrun", body))
    assert draft["IncludesVat"] is True
    assert draft["Rows"][0]["UnitPrice"] == Decimal("59")  # gross price of FRAKT
    # 88.45 incl. VAT at 25 %: VAT = 88.45 x 0.25 / 1.25 = 17.69
    assert draft["TotalAmount"] == Decimal("88.45") and draft["TotalVatAmount"] == Decimal("17.69")
    assert fresh.summary()["counts"]["customerinvoicedrafts"] == 0  # dry run stores nothing
    fresh.admin("/company", {"domestic_currency_rounding": 1})
    rounded = fresh.ok(fresh.post("/customerinvoicedrafts/dryrun", body))
    assert rounded["TotalRoundings"] == Decimal("-0.45") and rounded["TotalAmount"] == Decimal("88")


def test_foreign_customers_get_currency_and_zero_vat(visma: Visma) -> None:
    german = visma.first("/customers", "CustomerNumber eq '1016'")
    art = make_article(visma, "T-EU", "Varor 25% moms", "114.50")
    draft = visma.ok(
        visma.post(
            "/customerinvoicedrafts/dryrun",
            {
                "CustomerId": german["Id"],
                "EuThirdParty": False,
                "RotReducedInvoicingType": 0,
                "Rows": [
                    {
                        "ArticleId": art["Id"],
                        "Quantity": 2,
                        "IsTextRow": False,
                        "ReversedConstructionServicesVatFree": False,
                    }
                ],
            },
        )
    )
    assert draft["InvoiceCurrencyCode"] == "EUR"
    assert draft["Rows"][0]["UnitPrice"] == Decimal("10")  # 114.50 SEK / 11.45
    assert draft["TotalVatAmount"] == 0  # EU business customer with VAT number: reverse charge
    assert draft["TotalAmount"] == Decimal("20") and draft["TotalAmountBaseCurrency"] == Decimal("229")


def test_orders_status_and_conversion(fresh: Visma) -> None:
    customer = business_customer(fresh)
    article = fresh.first("/articles", "IsStock eq true and StockBalance gt 10 and IsActive eq true")
    order = fresh.ok(
        fresh.post(
            "/orders",
            {
                "CustomerId": customer["Id"],
                "CurrencyCode": "SEK",
                "EuThirdParty": False,
                "RotReducedInvoicingType": 0,
                "ReverseChargeOnConstructionServices": False,
                "Status": 1,
                "Rows": [
                    {
                        "LineNumber": 1,
                        "ArticleId": article["Id"],
                        "Quantity": 2,
                        "IsTextRow": False,
                        "IsWorkCost": False,
                        "EligibleForReverseChargeOnVat": False,
                    }
                ],
            },
        ),
        201,
    )
    assert order["Status"] == 1 and order["Number"] == 1
    assert order["Amount"] == order["Rows"][0]["Amount"] + order["VatAmount"]
    ongoing = fresh.ok(fresh.put(f"/orders/{order['Id']}", {**order, "Status": 2}))
    assert ongoing["Status"] == 2 and ongoing["ModifiedUtc"] > order["ModifiedUtc"]
    reserved = fresh.ok(fresh.get(f"/articles/{article['Id']}"))
    assert reserved["StockBalanceReserved"] == 2
    assert reserved["StockBalanceAvailable"] == Decimal(str(article["StockBalance"])) - 2
    shipped = fresh.ok(fresh.put(f"/orders/{order['Id']}", {**ongoing, "Status": 3}))
    assert shipped["Status"] == 3 and shipped["ShippedDateTime"]
    assert_visma_error(fresh.put(f"/orders/{order['Id']}", {**shipped, "Status": 4}), 400)
    invoice = fresh.ok(fresh.post(f"/orders/{order['Id']}/convert", {}))
    assert invoice["CreatedFromOrderId"] == order["Id"]
    assert invoice["TotalAmount"] == shipped["Amount"]
    invoiced = fresh.ok(fresh.get(f"/orders/{order['Id']}"))
    assert invoiced["Status"] == 4
    assert_visma_error(fresh.put(f"/orders/{order['Id']}", {**shipped, "Status": 2}), 400)
    assert_visma_error(fresh.post(f"/orders/{order['Id']}/convert", {}), 400)
    stock = fresh.ok(fresh.get(f"/articles/{article['Id']}"))
    assert stock["StockBalance"] == Decimal(str(article["StockBalance"])) - 2
    assert stock["StockBalanceReserved"] == 0
    changed = fresh.ok(fresh.get("/orders", **{"$filter": f"ModifiedUtc gt {shipped['ModifiedUtc']}"}))
    assert [o["Id"] for o in changed["Data"]] == [order["Id"]]


# --------------------------------------------------------------------------- validation and switches


def test_too_long_name_is_refused_and_nothing_stored(visma: Visma) -> None:
    terms = visma.first("/termsofpayments", "NumberOfDays eq 30")
    before = visma.summary()["counts"]["customers"]
    resp = visma.post(
        "/customers",
        {
            "Name": "N" * 60,
            "InvoiceCity": "Kiruna",
            "InvoicePostalCode": "981 31",
            "IsActive": True,
            "IsPrivatePerson": False,
            "TermsOfPaymentId": terms["Id"],
        },
    )
    body = assert_visma_error(resp, 400, 2000)
    assert "Name" in body["DeveloperErrorMessage"] and "50" in body["DeveloperErrorMessage"]
    assert visma.summary()["counts"]["customers"] == before
    missing = visma.post("/customers", {"Name": "Utan ort"})
    assert "InvoiceCity" in assert_visma_error(missing, 400, 2000)["DeveloperErrorMessage"]


def test_business_validation(visma: Visma) -> None:
    unknown = visma.post(
        "/customerinvoicedrafts",
        {
            "CustomerId": "00000000-0000-0000-0000-000000000001",
            "EuThirdParty": False,
            "RotReducedInvoicingType": 0,
        },
    )
    assert_visma_error(unknown, 400, 3000)
    customer = business_customer(visma)
    bad_article = visma.post(
        "/customerinvoicedrafts",
        {
            "CustomerId": customer["Id"],
            "EuThirdParty": False,
            "RotReducedInvoicingType": 0,
            "Rows": [
                {
                    "ArticleId": "00000000-0000-0000-0000-000000000002",
                    "Quantity": 1,
                    "IsTextRow": False,
                    "ReversedConstructionServicesVatFree": False,
                }
            ],
        },
    )
    assert "Rows[0].ArticleId" in assert_visma_error(bad_article, 400, 3000)["DeveloperErrorMessage"]
    terms = visma.first("/termsofpayments", "NumberOfDays eq 30")
    odd_currency = visma.post(
        "/customers",
        {
            "Name": "Yen AB",
            "InvoiceCity": "Tokyo",
            "InvoicePostalCode": "100",
            "IsActive": True,
            "IsPrivatePerson": False,
            "TermsOfPaymentId": terms["Id"],
            "CurrencyCode": "JPY",
        },
    )
    assert "JPY" in assert_visma_error(odd_currency, 400)["DeveloperErrorMessage"]
    assert_visma_error(visma.get("/customers/00000000-0000-0000-0000-000000000003"), 404, 3000)


def test_company_switches(fresh: Visma) -> None:
    fresh.admin("/company", {"has_order_module": False})
    body = assert_visma_error(fresh.get("/orders"), 403, 4002)
    assert "No access to module" in body["DeveloperErrorMessage"]
    assert fresh.get("/customers").status_code == 200
    fresh.admin("/company", {"has_order_module": True, "has_open_fiscal_year": False})
    draft = fresh.post(
        "/customerinvoicedrafts",
        {"CustomerId": business_customer(fresh)["Id"], "EuThirdParty": False, "RotReducedInvoicingType": 0},
    )
    assert "fiscal year" in assert_visma_error(draft, 400)["DeveloperErrorMessage"]
    fresh.admin("/company", {"has_open_fiscal_year": True, "api_module_enabled": False})
    body = assert_visma_error(fresh.get("/customers"), 403, 4002)
    assert body["DeveloperErrorMessage"].endswith("No access to module: api_standard")
    fresh.admin("/company", {"api_module_enabled": True})
    assert fresh.get("/orders").status_code == 200


def test_rate_limit_per_client_and_endpoint() -> None:
    app = create_app(settings(seed="empty", rate_limit=RateLimitSettings(limit=5, window_s=30)))
    with start_in_thread(app) as server:
        v = Visma(server.url)
        for _ in range(5):
            assert v.get("/units").status_code == 200
        limited = v.get("/units")
        body = assert_visma_error(limited, 429, 4010)
        assert body["DeveloperErrorMessage"].startswith(
            "API calls quota exceeded! maximum admitted 5 per 30 Seconds."
        )
        assert "Try again in" in body["DeveloperErrorMessage"]
        assert v.get("/currencies").status_code == 200  # another endpoint has its own quota


def test_quota_message_in_visma_words() -> None:
    from shopbridge.sandbox.visma.app import quota_message

    assert quota_message(600, 60, 54.2) == (
        "API calls quota exceeded! maximum admitted 600 per Minute. Try again in 55 seconds."
    )


def test_state_file_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "visma.json"
    with start_in_thread(create_app(settings(seed="empty", state_file=path))) as server:
        v = Visma(server.url)
        terms = v.first("/termsofpayments", "NumberOfDays eq 10")
        made = v.ok(
            v.post(
                "/customers",
                {
                    "Name": "Kvar AB",
                    "InvoiceCity": "Visby",
                    "InvoicePostalCode": "621 55",
                    "IsActive": True,
                    "IsPrivatePerson": False,
                    "TermsOfPaymentId": terms["Id"],
                },
            ),
            201,
        )
        refresh_token = v.tokens["refresh_token"]
    assert path.exists()
    with start_in_thread(create_app(settings(seed="empty", state_file=path))) as server:
        client = httpx.Client(base_url=server.url)
        pair = refresh(client, refresh_token).json()
        got = client.get(
            f"/v2/customers/{made['Id']}", headers={"Authorization": f"Bearer {pair['access_token']}"}
        )
        assert got.status_code == 200 and got.json()["Name"] == "Kvar AB"


def test_unknown_route_and_case_insensitive_paths(visma: Visma) -> None:
    assert_visma_error(visma.get("/nosuchthing"), 404)
    assert visma.get("/Customers").status_code == 200


def test_empty_seed_has_the_basics() -> None:
    with start_in_thread(create_app(settings(seed="empty"))) as server:
        v = Visma(server.url)
        counts = v.summary()["counts"]
        assert counts["customers"] == 0 and counts["articles"] == 0
        assert (
            counts["articleaccountcodings"] >= 8 and counts["units"] >= 4 and counts["termsofpayments"] >= 4
        )
        codes = {c["Code"] for c in v.ok(v.get("/currencies"))["Data"]}
        assert {"SEK", "EUR", "NOK", "USD"} <= codes


def test_demo_seed_is_deterministic(visma: Visma) -> None:
    from shopbridge.sandbox import catalog

    expected = {v.sku for p in catalog.demo_catalog() for v in p.variants if catalog.in_visma(v.sku)}
    numbers: set[str] = set()
    page = 1
    while True:
        body = visma.ok(visma.get("/articles", **{"$page": page, "$pagesize": 1000, "$select": "Number"}))
        numbers |= {a["Number"] for a in body["Data"]}
        if page >= body["Meta"]["TotalNumberOfPages"]:
            break
        page += 1
    assert expected <= numbers and {"FRAKT", "FAKTURAAVGIFT"} <= numbers
    other = create_app(settings(seed="demo"))
    assert other.state.visma.state.tables["articles"].keys() == visma_tables(visma)


def visma_tables(visma: Visma) -> set[str]:
    ids: set[str] = set()
    page = 1
    while True:
        body = visma.ok(visma.get("/articles", **{"$page": page, "$pagesize": 1000, "$select": "Id,Number"}))
        ids |= {a["Id"] for a in body["Data"] if not a["Number"].startswith("T")}
        if page >= body["Meta"]["TotalNumberOfPages"]:
            return ids
        page += 1


def test_price_list_credit_invoice_and_direct_invoice(fresh: Visma) -> None:
    reseller = fresh.first("/salespricelists", "Name eq 'Återförsäljare'")
    price = fresh.ok(fresh.get(f"/salespricelists/prices/{reseller['Id']}", **{"$pagesize": 1}))["Data"][0]
    customer = business_customer(fresh)
    assert customer["SalesPriceListId"] == reseller["Id"]
    row = {
        "ArticleId": price["ArticleId"],
        "Quantity": 1,
        "IsTextRow": False,
        "ReversedConstructionServicesVatFree": False,
    }
    draft = fresh.ok(
        fresh.post(
            "/customerinvoicedrafts/dryrun",
            {
                "CustomerId": customer["Id"],
                "EuThirdParty": False,
                "RotReducedInvoicingType": 0,
                "Rows": [row],
            },
        )
    )
    assert draft["Rows"][0]["UnitPrice"] == price["NetPrice"]
    invoice = fresh.ok(
        fresh.post(
            "/customerinvoices",
            {
                "CustomerId": customer["Id"],
                "EuThirdParty": False,
                "RotReducedInvoicingType": 0,
                "Rows": [{"ArticleId": price["ArticleId"], "Quantity": 2, "UnitPrice": Decimal("10.00")}],
            },
        ),
        201,
    )
    assert invoice["TotalAmount"] == Decimal("25") and invoice["InvoiceNumber"] >= 1
    positive_credit = fresh.post(
        "/customerinvoicedrafts",
        {
            "CustomerId": customer["Id"],
            "EuThirdParty": False,
            "RotReducedInvoicingType": 0,
            "IsCreditInvoice": True,
            "Rows": [{**row, "UnitPrice": Decimal("10.00")}],
        },
    )
    assert "credit" in assert_visma_error(positive_credit, 400)["DeveloperErrorMessage"]
    credit = fresh.ok(
        fresh.post(
            "/customerinvoicedrafts",
            {
                "CustomerId": customer["Id"],
                "EuThirdParty": False,
                "RotReducedInvoicingType": 0,
                "IsCreditInvoice": True,
                "Rows": [{**row, "Quantity": -2, "UnitPrice": Decimal("10.00")}],
            },
        ),
        201,
    )
    assert credit["TotalAmount"] == Decimal("-25")
    credited = fresh.ok(fresh.post(f"/customerinvoicedrafts/{credit['Id']}/convert"), 201)
    assert credited["IsCreditInvoice"] is True and credited["RemainingAmount"] == Decimal("-25")
    fresh.admin("/company", {"has_invoice_number_series": False})
    again = fresh.ok(
        fresh.post(
            "/customerinvoicedrafts",
            {
                "CustomerId": customer["Id"],
                "EuThirdParty": False,
                "RotReducedInvoicingType": 0,
                "Rows": [row],
            },
        ),
        201,
    )
    refused = fresh.post(f"/customerinvoicedrafts/{again['Id']}/convert")
    assert "number series" in assert_visma_error(refused, 400)["DeveloperErrorMessage"]


def test_declared_query_parameters_are_checked(visma: Visma) -> None:
    assert_visma_error(visma.get("/customerinvoices", modifiedSinceUtc="yesterday"), 400, 2000)
    assert_visma_error(visma.get("/articles", customerId="not-a-guid"), 400, 2000)


def test_real_records_match_the_response_schemas(fresh: Visma) -> None:
    from shopbridge.sandbox.common import get_validator

    validator = get_validator("visma")
    customer = business_customer(fresh)
    article = fresh.first("/articles", "Number eq 'FRAKT'")
    draft = fresh.ok(
        fresh.post(
            "/customerinvoicedrafts",
            {
                "CustomerId": customer["Id"],
                "EuThirdParty": False,
                "RotReducedInvoicingType": 0,
                "InvoiceDate": "2026-11-01",
                "Rows": [
                    {
                        "ArticleId": article["Id"],
                        "Quantity": 1,
                        "IsTextRow": False,
                        "ReversedConstructionServicesVatFree": False,
                    },
                    {"IsTextRow": True, "Text": "Text", "ReversedConstructionServicesVatFree": False},
                ],
            },
        ),
        201,
    )
    invoice = fresh.ok(fresh.post(f"/customerinvoicedrafts/{draft['Id']}/convert"), 201)
    order = fresh.ok(
        fresh.post(
            "/orders",
            {
                "CustomerId": customer["Id"],
                "CurrencyCode": "SEK",
                "EuThirdParty": False,
                "RotReducedInvoicingType": 0,
                "ReverseChargeOnConstructionServices": False,
                "Status": 2,
                "Rows": [
                    {
                        "LineNumber": 1,
                        "ArticleId": article["Id"],
                        "Quantity": 1,
                        "IsTextRow": False,
                        "IsWorkCost": False,
                        "EligibleForReverseChargeOnVat": False,
                    }
                ],
            },
        ),
        201,
    )
    reseller = fresh.first("/salespricelists", "Name eq 'Återförsäljare'")
    checks = {
        ("/customers/{customerId}", f"/customers/{customer['Id']}"),
        ("/articles/{articleId}", f"/articles/{article['Id']}"),
        ("/customerinvoices/{invoiceId}", f"/customerinvoices/{invoice['Id']}"),
        ("/customerinvoices", "/customerinvoices"),
        ("/orders/{id}", f"/orders/{order['Id']}"),
        ("/companysettings", "/companysettings"),
        ("/articleaccountcodings", "/articleaccountcodings"),
        ("/vatcodes", "/vatcodes"),
        ("/vatcodesrates", "/vatcodesrates"),
        ("/termsofpayments", "/termsofpayments"),
        ("/bankaccounts", "/bankaccounts"),
        ("/fiscalyears", "/fiscalyears"),
        ("/countries", "/countries"),
        ("/salespricelists/prices/{salesPriceListId}", f"/salespricelists/prices/{reseller['Id']}"),
    }
    for template, path in sorted(checks):
        resp = fresh.get(path)
        assert resp.status_code == 200, (path, resp.text)
        assert validator.validate_response("GET", template, 200, resp.json()) == [], template
    new_draft = fresh.post(
        "/customerinvoicedrafts",
        {"CustomerId": customer["Id"], "EuThirdParty": False, "RotReducedInvoicingType": 0},
    )
    assert validator.validate_response("POST", "/customerinvoicedrafts", 201, new_draft.json()) == []
    bad = fresh.post("/customers", {"Name": "x" * 51})
    assert validator.validate_response("POST", "/customers", 400, bad.json()) == []
