"""Visma sandbox money over real HTTP: company öre rounding, payment types (rounding, bank charge,
refunds on credit invoices), invoice e-mail and e-invoice, bank accounts behind ea:purchase, late answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from shopbridge.sandbox.common import start_in_thread
from shopbridge.sandbox.visma.app import create_app
from test_sandbox_visma import SCOPE, Visma, assert_visma_error, login, settings

BANK_TYPES = {"Företagskonto": 1, "Kassa": 2, "Klarna": 5}


@pytest.fixture(scope="module")
def visma() -> Iterator[Visma]:
    server = start_in_thread(create_app(settings(seed="demo")))
    try:
        v = Visma(server.url)
        v.admin("/company", {"domestic_currency_rounding": 1})
        yield v
    finally:
        server.stop()


def invoice(
    v: Visma, net: str, *, customer: str = "1001", credit_of: dict[str, Any] | None = None, path: str = ""
) -> Any:
    """A booked invoice (or a credit of `credit_of`; or a draft with `path`) of one 25 % row at `net`."""
    cust = v.first("/customers", f"CustomerNumber eq '{customer}'")
    art = v.first("/articles", "Number eq 'FRAKT'")
    quantity = -1 if credit_of else 1
    body = {
        "CustomerId": cust["Id"],
        "IsCreditInvoice": bool(credit_of),
        "EuThirdParty": False,
        "RotReducedInvoicingType": 0,
        "Rows": [
            {
                "ArticleId": art["Id"],
                "Quantity": quantity,
                "UnitPrice": Decimal(net),
                "IsTextRow": False,
                **({"ReversedConstructionServicesVatFree": False} if path else {}),  # a draft row's field
            }
        ],
    }
    return v.ok(v.post(path or "/customerinvoices", body), 201)


def pay(v: Visma, inv: dict[str, Any], amount: str, kind: int, bank: str = "Företagskonto") -> httpx.Response:
    banks = {b["Name"]: b["Id"] for b in v.ok(v.get("/bankaccounts"))["Data"]}
    body = {
        "CompanyBankAccountId": banks[bank],
        "PaymentAmount": Decimal(amount),
        "PaymentCurrency": inv["CurrencyCode"],
        "PaymentType": kind,
    }
    return v.post(f"/customerinvoices/{inv['Id']}/payments", body)


def test_company_rounding_setting_and_rounded_invoices(visma: Visma) -> None:
    assert visma.ok(visma.get("/companysettings"))["DomesticCurrencyRounding"] == 1
    # private customer: prices incl. VAT; 124.99 is rounded to 125, the difference shown as rounding
    inv = invoice(visma, "124.99")
    assert inv["TotalAmountInvoiceCurrency"] == Decimal("125") and inv["TotalRoundings"] == Decimal("0.01")


def test_rounding_payment_settles_both_directions(visma: Visma) -> None:
    up = invoice(visma, "124.99")  # 125.00 to pay, 124.99 paid
    assert_visma_error(pay(visma, up, "126.00", 3), 400)  # a whole krona is no rounding
    partial = visma.ok(pay(visma, up, "124.99", 1), 201)
    assert partial["PaymentType"] == 1
    left = visma.ok(visma.get(f"/customerinvoices/{up['Id']}"))
    assert left["RemainingAmountInvoiceCurrency"] == Decimal("0.01")  # a partial payment leaves a residue

    up = invoice(visma, "124.99")
    visma.ok(pay(visma, up, "124.99", 3), 201)
    settled = visma.ok(visma.get(f"/customerinvoices/{up['Id']}"))
    assert settled["RemainingAmountInvoiceCurrency"] == 0 and settled["PaymentStatus"] == 0

    down = invoice(visma, "125.49")  # 125.00 to pay, 125.49 paid: more than remains, by a rounding
    assert_visma_error(pay(visma, down, "125.49", 2), 400)
    visma.ok(pay(visma, down, "125.49", 3), 201)
    assert visma.ok(visma.get(f"/customerinvoices/{down['Id']}"))["RemainingAmountInvoiceCurrency"] == 0
    booked = {p["_InvoiceId"]: p for p in visma.http.get("/_sandbox/visma/payments").json()["payments"]}
    assert Decimal(str(booked[up["Id"]]["_RoundingAmountInvoiceCurrency"])) == Decimal("0.01")
    assert Decimal(str(booked[down["Id"]]["_RoundingAmountInvoiceCurrency"])) == Decimal("-0.49")


def test_bank_charge_and_refund_on_a_credit_invoice(visma: Visma) -> None:
    inv = invoice(visma, "200")
    visma.ok(pay(visma, inv, "195", 4, bank="Klarna"), 201)  # the provider kept 5 kr
    assert visma.ok(visma.get(f"/customerinvoices/{inv['Id']}"))["RemainingAmountInvoiceCurrency"] == 0
    credit = invoice(visma, "200", credit_of=inv)
    assert credit["RemainingAmountInvoiceCurrency"] == Decimal("-200")
    assert_visma_error(pay(visma, credit, "200", 2), 400)  # a refund is negative
    visma.ok(pay(visma, credit, "-200", 2, bank="Klarna"), 201)
    assert visma.ok(visma.get(f"/customerinvoices/{credit['Id']}"))["RemainingAmountInvoiceCurrency"] == 0


def test_invoice_email_and_einvoice(visma: Visma) -> None:
    inv = invoice(visma, "100", customer="1001")
    assert visma.post(f"/customerinvoices/{inv['Id']}/email", {}).status_code == 200
    bad = visma.post(f"/customerinvoices/{inv['Id']}/email", {"Email": "not-an-address"})
    assert_visma_error(bad, 400)
    missing = "00000000-0000-4000-8000-000000000001"
    assert_visma_error(visma.post(f"/customerinvoices/{missing}/email", {}), 404)
    assert_visma_error(visma.post(f"/customerinvoices/{inv['Id']}/einvoice", {}), 400)  # SendType required
    refused = visma.post(f"/customerinvoices/{inv['Id']}/einvoice", {"SendType": 3})  # B2C: not in Sweden
    assert "not available for Swedish" in refused.json()["DeveloperErrorMessage"]
    sent = visma.http.get("/_sandbox/visma/sent").json()["sent"]
    assert [(s["InvoiceId"], s["Channel"]) for s in sent] == [(inv["Id"], "email")]
    assert sent[0]["Email"] == inv["CustomerEmail"]
    assert visma.ok(visma.get(f"/customerinvoices/{inv['Id']}"))["SendType"] in (None, 0)


def test_einvoice_needs_an_electronic_address(visma: Visma) -> None:
    business = visma.ok(visma.get("/customers", **{"$filter": "IsPrivatePerson eq false"}))["Data"][0]
    inv = invoice(visma, "100", customer=business["CustomerNumber"])
    if not business.get("ElectronicAddress"):
        refused = visma.post(f"/customerinvoices/{inv['Id']}/einvoice", {"SendType": 1})
        assert "electronic address" in refused.json()["DeveloperErrorMessage"]
        visma.ok(visma.put(f"/customers/{business['Id']}", {**business, "ElectronicAddress": "5560000001"}))
    assert visma.post(f"/customerinvoices/{inv['Id']}/einvoice", {"SendType": 1}).status_code == 200
    assert visma.ok(visma.get(f"/customerinvoices/{inv['Id']}"))["SendType"] == 1


def test_bank_accounts_need_ea_purchase(visma: Visma) -> None:
    banks = visma.ok(visma.get("/bankaccounts"))["Data"]
    assert {b["Name"]: b["BankAccountType"] for b in banks} == BANK_TYPES
    assert [b["Name"] for b in banks if b["IsDefaultChequeAccount"]] == ["Företagskonto"]
    narrow = httpx.Client(base_url=visma.url, timeout=10)
    token = login(narrow, SCOPE.replace(" ea:purchase", ""))["access_token"]
    refused = narrow.get("/v2/bankaccounts", headers={"Authorization": f"Bearer {token}"})
    body = assert_visma_error(refused, 403, 4006)
    assert "ea:purchase" in body["DeveloperErrorMessage"]


def test_late_answer_after_the_effect(visma: Visma) -> None:
    draft = [invoice(visma, "80", path="/customerinvoicedrafts")]
    visma.admin("/late", {"path_suffix": "/convert", "after_s": 1.5})
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        visma.http.post(f"/v2/customerinvoicedrafts/{draft[0]['Id']}/convert", json={}, timeout=0.5)
    time.sleep(1.2)  # the conversion happened although the caller saw none of it
    flt = f"CreatedFromDraftId eq '{draft[0]['Id']}'"
    assert visma.ok(visma.get("/customerinvoices", **{"$filter": flt}))["Data"]
    assert time.monotonic() - started >= 1.5
    assert visma.admin("/late", {"clear": True}) == {"late": []}


def test_bank_accounts_created_changed_and_deleted_like_visma(visma: Visma) -> None:
    body = {"Name": "Swish", "BankAccountType": 5, "LedgerAccountNumber": 1935, "Bban": "1234-5678"}
    created = visma.ok(visma.post("/bankaccounts", body))
    assert created["BankAccountTypeDescription"] == "DigitalWalletAccount" and created["IsActive"] is True
    taken = visma.post("/bankaccounts", {**body, "Name": "Swish 2"})
    assert "1935" in assert_visma_error(taken, 400)["DeveloperErrorMessage"]
    assert visma.post("/bankaccounts", {**body, "LedgerAccountNumber": 3001}).status_code == 400
    renamed = visma.ok(visma.put(f"/bankaccounts/{created['Id']}", {**body, "Name": "Swish företag"}))
    assert renamed["Name"] == "Swish företag"
    assert visma.http.delete(f"/v2/bankaccounts/{created['Id']}").status_code in (200, 204)
    assert visma.get(f"/bankaccounts/{created['Id']}").status_code == 404
    klarna = next(b for b in visma.ok(visma.get("/bankaccounts"))["Data"] if b["Name"] == "Klarna")
    inv = invoice(visma, "100.00")
    visma.ok(pay(visma, inv, str(inv["TotalAmount"]), 1, bank="Klarna"), 201)
    used = visma.http.delete(f"/v2/bankaccounts/{klarna['Id']}")
    assert "payments" in assert_visma_error(used, 400)["DeveloperErrorMessage"]


def test_unit_price_decimals_follow_the_customer_and_currency(visma: Visma) -> None:
    """The spec: UnitPrice takes 2 decimals for a domestic customer and currency, 4 otherwise."""
    assert_visma_error(
        visma.post("/customerinvoicedrafts/dryrun", _draft(visma, "1001", "100.005")), 400, 2000
    )
    assert visma.ok(visma.post("/customerinvoicedrafts/dryrun", _draft(visma, "1001", "100.01")))
    german = _draft(visma, "1016", "10.0125")  # EUR, an EU company: 4 decimals
    assert visma.ok(visma.post("/customerinvoicedrafts/dryrun", german))["Rows"][0]["UnitPrice"] == Decimal(
        "10.0125"
    )
    assert_visma_error(
        visma.post("/customerinvoicedrafts/dryrun", _draft(visma, "1016", "10.00125")), 400, 2000
    )


def test_quantity_and_discount_decimals_follow_the_spec(visma: Visma) -> None:
    """A draft row's Quantity takes 2 decimals, DiscountPercentage (a fraction) 4: the spec's formats."""
    for key, fine, too_fine in (("Quantity", "1.25", "1.255"), ("DiscountPercentage", "0.1234", "0.12345")):
        body = _draft(visma, "1001", "100.00")
        body["Rows"][0][key] = Decimal(fine)
        assert visma.ok(visma.post("/customerinvoicedrafts/dryrun", body))
        body["Rows"][0][key] = Decimal(too_fine)
        error = assert_visma_error(visma.post("/customerinvoicedrafts/dryrun", body), 400, 2000)
        assert f"Rows[0].{key}" in error["DeveloperErrorMessage"]


def _draft(v: Visma, customer: str, price: str) -> dict[str, Any]:
    cust = v.first("/customers", f"CustomerNumber eq '{customer}'")
    art = v.first("/articles", "Number eq 'FRAKT'")
    row = {"ArticleId": art["Id"], "Quantity": 1, "UnitPrice": Decimal(price), "IsTextRow": False}
    return {
        "CustomerId": cust["Id"],
        "EuThirdParty": False,
        "RotReducedInvoicingType": 0,
        "Rows": [{**row, "ReversedConstructionServicesVatFree": False}],
    }
