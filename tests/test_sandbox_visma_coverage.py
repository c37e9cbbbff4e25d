"""The Visma sandbox's newer operations over real HTTP: cost centres and projects (and rows referring to
them), labels, notes and message threads, fiscal years and opening balances, company sub-settings,
order status steps, documents as PDF, voiding, e-invoice recipients; the validation classes (unknown
fields at any depth, computed values beyond the spec's bounds, a missing required body); and the demo
seed's read-only fields. Answers are checked against the spec's response schemas too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from sandbox_env import VismaSandbox, unique, visma_sandbox
from shopbridge.sandbox.common import get_validator
from shopbridge.sandbox.visma.app import spec_model
from shopbridge.sandbox.visma.seed import sid
from shopbridge.sandbox.visma.seed_details import API_USER_ID, DEMO_PROJECTS, USERS, cost_center_item_id
from shopbridge.sandbox.visma.state import VismaState

SPEC = get_validator("visma")


@pytest.fixture(scope="module")
def v() -> Iterator[VismaSandbox]:
    with visma_sandbox() as sandbox:
        yield sandbox


def conforms(resp: httpx.Response, method: str, template: str) -> Any:
    """The answer's JSON (numbers as Decimal), checked against the spec's response schema for its status."""
    body = json.loads(resp.content, parse_float=Decimal)
    problems = SPEC.validate_response(method, template, resp.status_code, body)
    assert not problems, [p.message for p in problems]
    return body


def error(resp: httpx.Response, status: int, code: int) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["ErrorCode"] == code and body["ErrorId"], body
    return str(body["DeveloperErrorMessage"])


# --------------------------------------------------------------------------- cost centres, projects


def test_cost_centers_and_items(v: VismaSandbox) -> None:
    centers = conforms(v.get("/costcenters"), "GET", "/costcenters")["Data"]
    assert [(c["Number"], c["Name"], c["IsActive"]) for c in centers] == [
        (1, "Säljkanal", True),
        (2, "Region", True),
        (3, "Kostnadsställe 3", False),
    ]
    assert [i["ShortName"] for i in centers[0]["Items"]] == ["B2B", "BUTIK", "WEBB"]
    third = centers[2]
    renamed = v.put(f"/costcenters/{third['Id']}", {"Name": "Projektgrupp", "IsActive": True})
    assert conforms(renamed, "PUT", "/costcenters/{id}")["IsActive"] is True
    created = v.post(
        "/costcenteritems",
        {"CostCenterId": third["Id"], "Name": "Mässor", "ShortName": "MASSA", "IsActive": True},
    )
    item = conforms(created, "POST", "/costcenteritems")
    assert created.status_code == 201 and item["CostCenterId"] == third["Id"] and item["CreatedUtc"]
    again = {"CostCenterId": third["Id"], "Name": "Mässor 2", "ShortName": "massa", "IsActive": True}
    assert "already has an item" in error(v.post("/costcenteritems", again), 400, 4000)
    got = conforms(v.get(f"/costcenteritems/{item['Id']}"), "GET", "/costcenteritems/{itemId}")
    assert got["Name"] == "Mässor"
    moved = {**item, "CostCenterId": centers[0]["Id"]}
    error(v.put(f"/costcenteritems/{item['Id']}", moved), 400, 4002)
    updated = v.put(f"/costcenteritems/{item['Id']}", {**item, "Name": "Mässor och event"})
    assert conforms(updated, "PUT", "/costcenteritems/{costCenterItemId}")["Name"] == "Mässor och event"
    assert any(i["Id"] == item["Id"] for i in v.ok(v.get("/costcenters"))["Data"][2]["Items"])
    error(v.get(f"/costcenteritems/{sid('x', 'nothing')}"), 404, 3000)
    error(v.post("/costcenteritems", {**again, "CostCenterId": sid("x", "no")}), 400, 3000)


def test_projects(v: VismaSandbox) -> None:
    rows = conforms(v.get("/projects"), "GET", "/projects")["Data"]
    assert {p["Number"]: p["Status"] for p in rows} == {"P1001": 1, "P1002": 2, "P1003": 1}
    customer = v.first("/customers", "CustomerNumber eq '1014'")
    body = {"Number": "P2001", "Name": "Bokmässan", "Status": 1, "CustomerId": customer["Id"]}
    created = v.post("/projects", body)
    project = conforms(created, "POST", "/projects")
    assert created.status_code == 201 and project["CustomerName"] == customer["Name"] and project["StartDate"]
    assert "already exists" in error(v.post("/projects", body), 400, 4000)
    error(v.post("/projects", {**body, "Number": "P2002", "CustomerId": sid("x", "no")}), 400, 3000)
    finished = v.put(f"/projects/{project['Id']}", {**project, "Status": 2, "EndDate": "2026-12-31"})
    assert finished.status_code == 201  # as the spec says
    assert conforms(finished, "PUT", "/projects/{id}")["Status"] == 2
    assert v.ok(v.get(f"/projects/{project['Id']}"))["EndDate"].startswith("2026-12-31")
    error(v.get(f"/projects/{sid('x', 'none')}"), 404, 3000)


def test_document_rows_name_existing_dimensions(v: VismaSandbox) -> None:
    web, north = cost_center_item_id(1, "WEBB"), cost_center_item_id(2, "NORR")
    row = {"CostCenterItemId1": web, "CostCenterItemId2": north, "ProjectId": DEMO_PROJECTS["P1001"]}
    draft = v.draft(Rows=[{**v.draft()["Rows"][0], **row}])
    assert {k: draft["Rows"][0][k] for k in row} == row
    base = v.draft()["Rows"][0]
    for bad, status, code in (
        ({"CostCenterItemId1": north}, 400, 4002),  # an item of cost centre 2 in slot 1
        ({"CostCenterItemId1": sid("x", "gone")}, 400, 3000),
        ({"ProjectId": sid("x", "gone")}, 400, 3000),
        ({"ProjectId": DEMO_PROJECTS["P1002"]}, 400, 4002),  # finished
    ):
        answer = v.post(
            "/customerinvoicedrafts",
            {
                **{
                    k: v
                    for k, v in v.draft().items()
                    if k in ("CustomerId", "EuThirdParty", "RotReducedInvoicingType")
                },
                "Rows": [
                    {
                        k: base[k]
                        for k in ("ArticleId", "Quantity", "IsTextRow", "ReversedConstructionServicesVatFree")
                    }
                    | bad
                ],
            },
        )
        message = error(answer, status, code)
        assert "Rows[0]." in message


# --------------------------------------------------------------------------- labels, notes, threads


@pytest.mark.parametrize(
    ("path", "holder", "field"),
    [("/articlelabels", "/articles", "ArticleLabels"), ("/customerlabels", "/customers", "CustomerLabels")],
)
def test_labels_and_the_records_carrying_them(v: VismaSandbox, path: str, holder: str, field: str) -> None:
    template = path + ("/{articleLabelId}" if "article" in path else "/{customerLabelId}")
    listed = conforms(v.get(path), "GET", path)["Data"]
    assert len(listed) == 3
    name = unique("Kampanj ")
    created = v.post(path, {"Name": name, "Description": "Vår 2026"})
    label = conforms(created, "POST", path)
    assert created.status_code == 201
    error(v.post(path, {"Name": name.upper()}), 400, 4000)
    record = v.first(holder, "IsActive eq true")
    keep = {k: x for k, x in record.items() if k not in SPEC_READ_ONLY[holder]}
    tagged = v.ok(v.put(f"{holder}/{record['Id']}", {**keep, field: [{"Name": name}]}))
    assert [x["Id"] for x in tagged[field]] == [label["Id"]]
    error(v.put(f"{holder}/{record['Id']}", {**keep, field: [{"Name": "Finns inte"}]}), 400, 3000)
    renamed = conforms(v.put(f"{path}/{label['Id']}", {"Name": name + " 2"}), "PUT", template)
    assert v.ok(v.get(f"{holder}/{record['Id']}"))[field][0]["Name"] == renamed["Name"]
    assert v.delete(f"{path}/{label['Id']}").status_code == 200
    assert v.ok(v.get(f"{holder}/{record['Id']}"))[field] == []
    error(v.get(f"{path}/{label['Id']}"), 404, 3000)


SPEC_READ_ONLY = {
    "/articles": spec_model().read_only("ArticleApi"),
    "/customers": spec_model().read_only("CustomerApi"),
}


def test_notes_attach_to_documents(v: VismaSandbox) -> None:
    seeded = conforms(v.get("/notes"), "GET", "/notes")["Data"]
    assert seeded and all(n["AttachedTo"] for n in seeded)
    customer = v.first("/customers", "CustomerNumber eq '1005'")
    created = v.post(
        "/notes",
        {
            "Text": "Vill ha faktura via e-post",
            "Subject": "Faktura",
            "AttachedTo": customer["Id"],
            "DocumentType": 9,
        },
    )
    note = conforms(created, "POST", "/notes")
    assert created.status_code == 200 and note["UserId"] == API_USER_ID
    assert note["Id"] in v.ok(v.get(f"/customers/{customer['Id']}"))["Notes"]
    article = v.first("/articles", "IsActive eq true")
    moved = v.put(
        f"/notes/{note['Id']}", {**note, "AttachedTo": article["Id"], "DocumentType": 11, "IsDone": True}
    )
    assert conforms(moved, "PUT", "/notes/{noteId}")["IsDone"] is True
    assert note["Id"] not in v.ok(v.get(f"/customers/{customer['Id']}"))["Notes"]
    assert note["Id"] in v.ok(v.get(f"/articles/{article['Id']}"))["Notes"]
    assert conforms(v.get(f"/notes/{note['Id']}"), "GET", "/notes/{noteId}")["AttachedTo"] == article["Id"]
    error(v.post("/notes", {"Text": "x", "AttachedTo": customer["Id"], "DocumentType": 3}), 400, 3000)
    error(v.post("/notes", {"Text": "x", "AttachedTo": customer["Id"]}), 400, 2000)
    error(v.get(f"/notes/{sid('x', 'none')}"), 404, 3000)


def test_message_threads(v: VismaSandbox) -> None:
    invoice = v.invoice()
    other = sid("user", USERS[1][0])
    body = {
        "Message": "Kunden vill dela upp betalningen",
        "Subject": "Delbetalning",
        "DocumentType": 1,
        "DocumentId": invoice["Id"],
        "MessageReceivers": [{"UserId": other}],
    }
    created = v.post("/messagethreads", body)
    thread = conforms(created, "POST", "/messagethreads")
    assert created.status_code == 201 and thread["DocumentNumber"] == str(invoice["InvoiceNumber"])
    assert {r["UserId"]: r["IsCurrentUser"] for r in thread["MessageReceivers"]} == {
        API_USER_ID: True,
        other: False,
    }
    assert thread["LastMessage"]["Text"] == body["Message"]
    assert thread["Id"] in v.ok(v.get(f"/customerinvoices/{invoice['Id']}"))["MessageThreads"]
    template = "/messagethreads/{messageThreadId}"
    reply = v.post(f"/messagethreads/{thread['Id']}", {"Text": "Två delar går bra."})
    assert reply.status_code == 201 and conforms(reply, "POST", template)["MessageThreadId"] == thread["Id"]
    messages = v.ok(v.get(f"/messagethreads/{thread['Id']}/messages"))
    assert [m["Text"] for m in messages] == [body["Message"], "Två delar går bra."]
    closed = v.put(f"/messagethreads/{thread['Id']}", {"Status": 4})
    assert closed.status_code == 201 and conforms(closed, "PUT", template)["IsClosed"] is True
    error(v.post(f"/messagethreads/{thread['Id']}", {"Text": "Hallå?"}), 400, 4002)
    open_ids = {t["Id"] for t in v.ok(v.get("/messagethreads", excludeClosed="true"))["Data"]}
    assert thread["Id"] not in open_ids and open_ids
    assert v.ok(v.put(f"/messagethreads/{thread['Id']}", {"Status": 3}), 201)["IsClosed"] is False
    everything = conforms(v.get("/messagethreads/messages"), "GET", "/messagethreads/messages")["Data"]
    assert {m["Id"] for m in messages} <= {m["Id"] for m in everything}
    error(
        v.post("/messagethreads", {**body, "MessageReceivers": [{"UserId": sid("x", "nobody")}]}), 400, 3000
    )
    error(v.post("/messagethreads", {**body, "MessageReceivers": []}), 400, 2000)


# --------------------------------------------------------------------------- company, fiscal years


def test_fiscal_years_and_opening_balances() -> None:
    with visma_sandbox() as v:
        years = conforms(v.get("/fiscalyears"), "GET", "/fiscalyears")["Data"]
        last = years[-1]["EndDate"][:4]
        nxt = f"{int(last) + 1}"
        error(
            v.post(
                "/fiscalyears", {"StartDate": f"{int(nxt) + 1}-01-01", "EndDate": f"{int(nxt) + 1}-12-31"}
            ),
            400,
            2000,
        )
        error(v.post("/fiscalyears", {"StartDate": f"{nxt}-01-15", "EndDate": f"{nxt}-12-31"}), 400, 2000)
        error(
            v.post("/fiscalyears", {"StartDate": f"{nxt}-01-01", "EndDate": f"{int(nxt) + 1}-12-31"}),
            400,
            2000,
        )
        created = v.post("/fiscalyears", {"StartDate": f"{nxt}-01-01", "EndDate": f"{nxt}-12-31"})
        year = conforms(created, "POST", "/fiscalyears")
        assert created.status_code == 201 and year["IsLockedForAccounting"] is False
        locked = v.put(f"/fiscalyears/{years[0]['Id']}", {"IsLockedForAccounting": True})
        assert conforms(locked, "PUT", "/fiscalyears/{id}")["IsLockedForAccounting"] is True
        # the literal path is not taken for a fiscal year id
        balances = conforms(v.get("/fiscalyears/openingbalances"), "GET", "/fiscalyears/openingbalances")[
            "Data"
        ]
        assert sum(Decimal(str(b["Balance"])) for b in balances) == 0
        assert {b["Number"]: b["Name"] for b in balances}[1930].startswith("Företagskonto")
        error(
            v.put("/fiscalyears/openingbalances", [{"AccountNumber": 1930, "Balance": 1}]), 400, 4002
        )  # locked
        v.ok(v.put(f"/fiscalyears/{years[0]['Id']}", {"IsLockedForAccounting": False}))
        unbalanced = [{"AccountNumber": 1930, "Balance": 260000}]
        assert "sum to zero" in error(v.put("/fiscalyears/openingbalances", unbalanced), 400, 4002)
        error(v.put("/fiscalyears/openingbalances", [{"AccountNumber": 1234, "Balance": 0}]), 400, 3000)
        error(v.put("/fiscalyears/openingbalances", [{"AccountNumber": 3001, "Balance": 0}]), 400, 4002)
        moved = [{"AccountNumber": 1930, "Balance": 240000}, {"AccountNumber": 1940, "Balance": 10000}]
        error(v.put("/fiscalyears/openingbalances", moved, enableInactiveAccounts="false"), 400, 4002)
        answer = v.ok(v.put("/fiscalyears/openingbalances", moved))
        assert {b["Number"]: Decimal(str(b["Balance"])) for b in answer}[1940] == 10000
        error(v.get(f"/fiscalyears/{sid('x', 'none')}"), 404, 3000)


def test_company_sub_settings(v: VismaSandbox) -> None:
    rot = {
        "RotReducedInvoicingPercent": Decimal("0.3"),
        "RotReducedInvoicingMaxAmount": 50000,
        "RutReducedInvoicingPercent": Decimal("0.5"),
        "RutMaxAmountForPersBelow65Year": 75000,
        "RutMaxAmountForPersOver65Year": 75000,
    }
    settings = conforms(v.put("/companysettings/rotrut", rot), "PUT", "/companysettings/rotrut")
    assert Decimal(str(settings["CompanyRotRutSettings"]["RotReducedInvoicingPercent"])) == Decimal("0.3")
    error(v.put("/companysettings/rotrut", {**rot, "RotReducedInvoicingPercent": 2}), 400, 2000)
    lock = {
        "AccountingLockInterval": 1,
        "AccountingLockedAsOf": {"Year": 2026, "Month": 2},
        "TaxDeclarationDate": {"Month": 5, "Day": 12},
    }
    settings = conforms(
        v.put("/companysettings/accountinglocksettings", lock),
        "PUT",
        "/companysettings/accountinglocksettings",
    )
    assert settings["AccountingLockedTo"].startswith("2026-02-28") and settings["AccountingLockInterval"] == 1
    assert v.ok(v.get("/companysettings"))["TaxDeclarationDate"] == {"Month": 5, "Day": 12}


# --------------------------------------------------------------------------- orders and documents


def test_order_status_steps(v: VismaSandbox) -> None:
    article = v.stock_article()
    reserved = Decimal(str(v.ok(v.get(f"/articles/{article['Id']}"))["StockBalanceReserved"]))
    draft = v.order(status=1, quantity=4)
    error(v.post(f"/orders/{draft['Id']}/completed"), 400, 4002)
    ongoing = conforms(
        v.post(f"/orders/{draft['Id']}/converteddrafttoorder"), "POST", "/orders/{id}/converteddrafttoorder"
    )
    assert ongoing["Status"] == 2
    assert Decimal(str(v.ok(v.get(f"/articles/{article['Id']}"))["StockBalanceReserved"])) == reserved + 4
    shipped = conforms(v.post(f"/orders/{draft['Id']}/completed"), "POST", "/orders/{id}/completed")
    assert (
        shipped["Status"] == 3
        and shipped["ShippedDateTime"]
        and shipped["DeliveredAmount"] == shipped["Amount"]
    )
    assert shipped["Rows"][0]["DeliveredQuantity"] == 4
    voided = conforms(v.post(f"/orders/{draft['Id']}/voided"), "POST", "/orders/{id}/voided")
    assert voided["Status"] == 2 and voided["ShippedDateTime"] is None and voided["DeliveredAmount"] == 0
    error(v.post(f"/orders/{draft['Id']}/voided"), 400, 4002)
    error(v.post(f"/orders/{draft['Id']}/backorder"), 400, 4002)  # nothing delivered yet
    partly = v.ok(
        v.put(f"/orders/{draft['Id']}", {**voided, "Rows": [{**voided["Rows"][0], "DeliveredQuantity": 1}]})
    )
    back = conforms(v.post(f"/orders/{draft['Id']}/backorder"), "POST", "/orders/{id}/backorder")
    assert back["Id"] != draft["Id"] and back["Status"] == 2 and back["Rows"][0]["Quantity"] == 3
    kept = v.ok(v.get(f"/orders/{draft['Id']}"))
    assert kept["Rows"][0]["Quantity"] == 1 and kept["Amount"] + back["Amount"] == partly["Amount"]
    assert kept["DeliveredAmount"] == kept["Amount"]  # what is left on it is what was delivered
    assert Decimal(str(v.ok(v.get(f"/articles/{article['Id']}"))["StockBalanceReserved"])) == reserved + 4
    error(v.post(f"/orders/{sid('x', 'none')}/completed"), 404, 3000)


def test_documents_as_pdf(v: VismaSandbox) -> None:
    invoice = v.invoice(YourReference="PDF-1")
    link = conforms(
        v.get(f"/customerinvoices/{invoice['Id']}/pdf"), "GET", "/customerinvoices/{invoiceId}/pdf"
    )
    assert link["Url"].startswith(v.url)
    anonymous = httpx.get(link["Url"])  # a download link needs no token
    printed = v.get(f"/customerinvoices/{invoice['Id']}/print")
    for answer in (anonymous, printed):
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
        assert answer.content.startswith(b"%PDF-1.4") and answer.content.rstrip().endswith(b"%%EOF")
        assert f"Faktura {invoice['InvoiceNumber']}".encode() in answer.content
    order = v.order()
    for path, title in (("print", b"Orderbekr"), ("deliverynote/print", b"F\xf6ljesedel")):
        answer = v.get(f"/orders/{order['Id']}/{path}")
        assert answer.status_code == 200 and answer.content.startswith(b"%PDF") and title in answer.content
    error(v.get(f"/customerinvoices/{sid('x', 'none')}/print"), 404, 3000)


def test_void_invoice_credits_it_in_full(v: VismaSandbox) -> None:
    article = v.stock_article()
    stock = Decimal(str(v.ok(v.get(f"/articles/{article['Id']}"))["StockBalance"]))
    invoice = v.invoice(YourReference="VOID-1")
    assert Decimal(str(v.ok(v.get(f"/articles/{article['Id']}"))["StockBalance"])) == stock - 1
    answer = v.post(f"/customerinvoices/{invoice['Id']}/void", updateStock="true")
    assert answer.status_code == 200, answer.text
    voided = v.ok(v.get(f"/customerinvoices/{invoice['Id']}"))
    credit_id = voided["CreditedBy"][0]["CreditInvoiceId"]
    credit = v.ok(v.get(f"/customerinvoices/{credit_id}"))
    assert credit["IsCreditInvoice"] and credit["ReferringInvoiceId"] == invoice["Id"]
    assert credit["TotalAmount"] == -invoice["TotalAmount"] and credit["YourReference"] == "VOID-1"
    assert voided["RemainingAmount"] == 0 and credit["RemainingAmount"] == 0
    assert Decimal(str(v.ok(v.get(f"/articles/{article['Id']}"))["StockBalance"])) == stock
    assert "already credited" in error(v.post(f"/customerinvoices/{invoice['Id']}/void"), 400, 4002)
    error(v.post(f"/customerinvoices/{credit_id}/void"), 400, 4002)
    kept = v.invoice()
    v.post(f"/customerinvoices/{kept['Id']}/void")  # without updateStock the goods stay sold
    assert Decimal(str(v.ok(v.get(f"/articles/{article['Id']}"))["StockBalance"])) == stock - 1


def test_auto_invoice_recipients(v: VismaSandbox) -> None:
    template = "/customers/{customerId}/autoinvoicerecipients"
    business = v.first("/customers", "CustomerNumber eq '1011'")
    found = conforms(v.get(f"/customers/{business['Id']}/autoinvoicerecipients"), "GET", template)["Data"]
    assert [r["ElectronicAddress"] for r in found] == [business["ElectronicAddress"]]
    private = v.first("/customers", "CustomerNumber eq '1001'")
    assert v.ok(v.get(f"/customers/{private['Id']}/autoinvoicerecipients"))["Data"] == []


# --------------------------------------------------------------------------- validation classes


def test_unknown_fields_are_refused_at_every_depth(v: VismaSandbox) -> None:
    terms = v.first("/termsofpayments", "NumberOfDays eq 30")
    good = {
        "Name": "Djup AB",
        "InvoiceCity": "Lund",
        "InvoicePostalCode": "22100",
        "IsActive": True,
        "IsPrivatePerson": False,
        "TermsOfPaymentId": terms["Id"],
    }
    for bad, field in (
        ({"Nickname": "x"}, "Nickname"),
        ({"TermsOfPayment": {**terms, "Colour": "red"}}, "TermsOfPayment.Colour"),
        ({"CustomerLabels": [{"Name": "Export", "Weight": 1}]}, "CustomerLabels[0].Weight"),
    ):
        answer = v.post("/customers", {**good, **bad})
        error(answer, 400, 2000)
        assert [e["Field"] for e in answer.json()["Errors"]] == [field]
    order = v.order()
    row = {**order["Rows"][0], "Colour": "red"}
    answer = v.put(f"/orders/{order['Id']}", {**order, "Rows": [row]})
    error(answer, 400, 2000)
    assert answer.json()["Errors"][0]["Field"] == "Rows[0].Colour"
    v.http.post("/_sandbox/visma/company", json={"reject_unknown_fields": False}).raise_for_status()
    try:
        created = v.post("/customers", {**good, "Nickname": "x"})
        assert created.status_code == 201 and created.json()["PayToAccountId"]  # filled like the API does
    finally:
        v.http.post("/_sandbox/visma/company", json={"reject_unknown_fields": True}).raise_for_status()


def test_values_beyond_the_spec_are_refused_computed_ones_too(v: VismaSandbox) -> None:
    article = v.first("/articles", "IsActive eq true and IsStock eq true")
    keep = {k: x for k, x in article.items() if k not in SPEC_READ_ONLY["/articles"]}
    answer = v.put(f"/articles/{article['Id']}", {**keep, "NetPrice": 99_000_001})
    error(answer, 400, 2000)
    assert answer.json()["Errors"][0]["Field"] == "NetPrice"
    # valid NetPrice, but the GrossPrice it makes at 25 % VAT is over GrossPrice's maximum
    answer = v.put(f"/articles/{article['Id']}", {**keep, "NetPrice": 98_000_000})
    error(answer, 400, 2000)
    assert [e["Field"] for e in answer.json()["Errors"]] == ["GrossPrice"]
    assert v.ok(v.get(f"/articles/{article['Id']}"))["NetPrice"] == article["NetPrice"]
    # a draft's rows are numbered by the server: 1001 rows pass LineNumber's maximum of 1000
    draft = v.draft()
    row = {
        k: draft["Rows"][0][k]
        for k in ("ArticleId", "Quantity", "IsTextRow", "ReversedConstructionServicesVatFree")
    }
    body = {
        "CustomerId": draft["CustomerId"],
        "EuThirdParty": False,
        "RotReducedInvoicingType": 0,
        "Rows": [row] * 1001,
    }
    answer = v.post("/customerinvoicedrafts", body)
    error(answer, 400, 2000)
    assert answer.json()["Errors"][0]["Field"] == "Rows[1000].LineNumber"
    # a price change "made in Visma" (admin route) meets the same bounds
    made = v.http.post(
        "/_sandbox/visma/articles/price", json={"Number": article["Number"], "NetPrice": "98000000"}
    )
    assert made.status_code == 400 and "GrossPrice" in made.json()["message"]


# --------------------------------------------------------------------------- the demo seed


def test_demo_seed_fills_read_only_fields_with_real_shapes() -> None:
    """Every read-only field of customers and articles is filled somewhere in the demo, as the real
    API fills it, and every seeded record conforms to its schema (parsing meets real shapes)."""
    from shopbridge.sandbox.visma.seed import seed_state

    state = VismaState()
    spec = spec_model()
    seed_state(state, spec, "demo")
    computed_zero = {"UnpaidInvoicesAmount", "StockBalanceReserved"}  # nothing is invoiced or ordered yet
    for table, schema in (("customers", "CustomerApi"), ("articles", "ArticleApi")):
        rows = list(state.table(table).values())
        empty = [
            f
            for f in spec.read_only(schema) - computed_zero
            if all(r.get(f) in (None, "", [], "0001-01-01T00:00:00Z") for r in rows)
        ]
        assert not empty, (table, empty)
    for table, schema in (
        ("customers", "CustomerApi"),
        ("articles", "ArticleApi"),
        ("projects", "ProjectApi"),
        ("costcenteritems", "CostCenterItemApi"),
        ("articlelabels", "ArticleLabelApi"),
        ("customerlabels", "CustomerLabelApi"),
        ("notes", "NoteApi"),
        ("messages", "MessageApi"),
    ):
        for rec in state.table(table).values():
            public = {k: x for k, x in rec.items() if not k.startswith("_")}
            assert not SPEC.validate_component(schema, public), (table, rec.get("Id"))
    notes = state.table("notes")
    for customer in state.table("customers").values():
        assert all(notes[n]["AttachedTo"] == customer["Id"] for n in customer["Notes"])
