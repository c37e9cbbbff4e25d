"""VismaClient against the Visma sandbox over real HTTP: paging, cursors, limits, faults, errors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from shopbridge.http import RetryPolicy, ServerError, TransportError
from shopbridge.sandbox.common import start_in_thread
from shopbridge.sandbox.common.defaults import VISMA_CLIENT_ID, VISMA_CLIENT_SECRET
from shopbridge.sandbox.settings import SandboxSettings
from shopbridge.visma import (
    MemoryTokenStore,
    VismaBadRequestError,
    VismaClient,
    VismaError,
    VismaNotFoundError,
    VismaOAuth,
    VismaPermissionDeniedError,
    odata_eq,
)
from shopbridge.visma.schemas import (
    Article,
    Customer,
    CustomerInvoiceDraft,
    CustomerInvoiceDraftRow,
    DeliveryMethod,
    Order,
    OrderRow,
    SalesPriceList,
    SalesPriceListRow,
)

REDIRECT = "http://127.0.0.1:8765/visma/callback"
SCOPES = ("ea:api", "offline_access", "ea:sales", "ea:accounting", "ea:purchase_readonly")
FAST = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05)


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    from shopbridge.sandbox.visma.app import create_app

    settings = SandboxSettings(client_id=VISMA_CLIENT_ID, client_secret=VISMA_CLIENT_SECRET, seed="demo")
    server = start_in_thread(create_app(settings))
    settings.public_url = server.url
    try:
        yield server.url
    finally:
        server.stop()


async def admin(url: str, path: str, body: dict[str, Any] | None = None, *, method: str = "POST") -> Any:
    async with httpx.AsyncClient(base_url=url) as http:
        answer = await http.request(method, f"/_sandbox{path}", json=body)
        answer.raise_for_status()
        return answer.json()


@pytest.fixture(scope="module")
async def oauth(sandbox: str) -> AsyncIterator[VismaOAuth]:
    auth = VismaOAuth(
        VISMA_CLIENT_ID,
        VISMA_CLIENT_SECRET,
        REDIRECT,
        identity_url=sandbox,
        scopes=SCOPES,
        token_store=MemoryTokenStore(),
        retry=FAST,
    )
    url, state = auth.authorize_url()
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(url, follow_redirects=False)
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    auth.check_state(state, query["state"][0])
    await auth.exchange_code(query["code"][0])
    yield auth
    await auth.aclose()


@pytest.fixture
async def client(sandbox: str, oauth: VismaOAuth) -> AsyncIterator[VismaClient]:
    await admin(sandbox, "/faults?replace=true", {})
    await admin(sandbox, "/ratelimit", {"limit": 600, "window_s": 60, "enabled": True, "reset": True})
    async with VismaClient(oauth, api_base=f"{sandbox}/v2", retry=FAST, reconcile_delay_s=0.02) as c:
        yield c
    await admin(sandbox, "/faults?replace=true", {})


async def new_customer(client: VismaClient, **fields: Any) -> Customer:
    terms = (await client.terms_of_payment.list())[0]
    body = {
        "Name": f"Testkund {uuid.uuid4().hex[:8]}",
        "InvoiceCity": "Stockholm",
        "InvoicePostalCode": "11122",
        "IsActive": True,
        "IsPrivatePerson": True,
        "TermsOfPaymentId": terms.Id,
        **fields,
    }
    return await client.customers.create(Customer(**body))


# -- reading ----------------------------------------------------------------------------------------
async def test_paging_over_all_customers(client: VismaClient) -> None:
    first = await client.request("GET", "customers", params={"$page": 1, "$pagesize": 7})
    total = first["Meta"]["TotalNumberOfResults"]
    assert total > 7
    seen = [c async for c in client.customers.iter(page_size=7)]
    assert len(seen) == total
    assert len({c.Id for c in seen}) == total
    assert client.calls["GET customers"] == 1 + first["Meta"]["TotalNumberOfPages"]
    # filters ride along on every page
    private = [c async for c in client.customers.iter(filter=odata_eq("IsPrivatePerson", True), page_size=3)]
    assert private and all(c.IsPrivatePerson for c in private)
    assert len(private) < total


async def test_changed_since_uses_server_time_cursor(client: VismaClient) -> None:
    everything = await client.customers.changed_since(None)
    assert everything.complete and everything.items and everything.cursor is not None
    created = await new_customer(client)
    later = await client.customers.changed_since(everything.cursor)
    assert [c.Id for c in later.items] == [created.Id]
    assert later.cursor is not None and later.cursor > everything.cursor
    again = await client.customers.changed_since(later.cursor)
    assert again.items == []
    # an update moves it past the cursor again
    created.Name = created.Name + " AB"
    await client.customers.update(created.Id, created)
    updated = await client.customers.changed_since(again.cursor)
    assert [c.Name for c in updated.items] == [created.Name]


async def test_reference_data_and_money_as_decimal(client: VismaClient) -> None:
    codings = await client.article_account_codings.list()
    assert codings and any(c.VatRatePercent == Decimal("0.25") for c in codings)
    assert all(isinstance(c.VatRatePercent, Decimal | None) for c in codings)
    assert await client.units.list()
    assert {c.Code for c in await client.currencies.list()} >= {"SEK", "EUR"}
    assert await client.vat_codes.list()
    assert [r async for r in client.vat_codes.rates()]
    assert (await client.company_settings.get()).CurrencyCode == "SEK"
    articles = await client.articles.list()
    priced = next(a for a in articles if a.NetPrice)
    assert isinstance(priced.NetPrice, Decimal)
    assert (await client.articles.get_by_number(priced.Number)).Id == priced.Id
    unit = await client.units.get(priced.UnitId)
    assert unit.Id == priced.UnitId
    assert await client.delivery_methods.list()
    assert await client.delivery_terms.list()


async def test_cost_centers_items_and_projects(client: VismaClient) -> None:
    """What a multishop `cost_center_item_id` / `project_id` is checked against."""
    centers = await client.cost_centers.list()
    assert [c.Number for c in centers] == [1, 2, 3]
    sales = centers[0]
    assert sales.Name == "Säljkanal" and sales.IsActive
    assert {i.ShortName for i in sales.Items or []} == {"WEBB", "BUTIK", "B2B"}
    assert (await client.cost_centers.get(str(sales.Id).upper())).Id == sales.Id
    with pytest.raises(VismaNotFoundError):
        await client.cost_centers.get(uuid.uuid4())
    web = next(i for i in sales.Items or [] if i.ShortName == "WEBB")
    item = await client.cost_center_items.get(web.Id)
    assert item.CostCenterId == sales.Id and item.IsActive and item.CreatedUtc is not None
    assert {i.Id for i in await client.cost_center_items.list()} >= {web.Id}
    with pytest.raises(VismaNotFoundError):
        await client.cost_center_items.get(uuid.uuid4())
    projects = await client.projects.list()
    ongoing = next(p for p in projects if p.Status == 1)
    assert (await client.projects.get(ongoing.Id)).Number == ongoing.Number
    assert any(p.Status == 2 for p in projects)
    with pytest.raises(VismaNotFoundError):
        await client.projects.get(uuid.uuid4())


async def test_read_only_fields_parse_on_real_shapes(client: VismaClient) -> None:
    """The demo seed fills what the real API fills: labels, notes, threads, PayToAccountId, barcodes."""
    customers = await client.customers.list()
    assert all(c.PayToAccountId for c in customers)
    labelled = [c for c in customers if c.CustomerLabels]
    assert labelled and all(label.Id and label.Name for c in labelled for label in c.CustomerLabels or [])
    assert any(c.Notes for c in customers) and any(c.MessageThreads for c in customers)
    assert any(c.LastInvoiceDate for c in customers)
    articles = await client.articles.list()
    assert any(a.ArticleLabels for a in articles) and any(a.Notes for a in articles)
    assert any(a.Barcodes and a.Barcodes[0].Barcode for a in articles)


# -- typed errors ---------------------------------------------------------------------------------------
async def test_too_long_name_is_a_typed_bad_request(client: VismaClient) -> None:
    before = await client.request("GET", "customers", params={"$pagesize": 1})
    with pytest.raises(VismaBadRequestError) as info:
        await new_customer(client, Name="N" * 60)
    err = info.value
    assert err.status == 400 and isinstance(err, VismaError)
    assert isinstance(err.error_code, int) and err.error_code == err.code
    assert err.error_id and err.request_id == err.error_id
    assert "Name" in err.developer_message
    after = await client.request("GET", "customers", params={"$pagesize": 1})
    assert after["Meta"]["TotalNumberOfResults"] == before["Meta"]["TotalNumberOfResults"]
    with pytest.raises(VismaNotFoundError):
        await client.customers.get(uuid.uuid4())


async def test_onboarding_errors_explained(sandbox: str, client: VismaClient) -> None:
    try:
        await admin(sandbox, "/visma/company", {"api_module_enabled": False})
        with pytest.raises(VismaPermissionDeniedError) as info:
            await client.units.list()
        assert "api_standard" in info.value.developer_message
        assert "API add-on (Integration) is not enabled" in (info.value.hint or "")
        await admin(sandbox, "/visma/company", {"api_module_enabled": True, "has_open_fiscal_year": False})
        customer = await new_customer(client)
        with pytest.raises(VismaError) as info:
            await client.drafts.create(draft_for(customer, await any_article_id(client)))
        assert "fiscal year" in (info.value.hint or "")
        await admin(
            sandbox, "/visma/company", {"has_open_fiscal_year": True, "has_invoice_number_series": False}
        )
        draft = await client.drafts.create(draft_for(customer, await any_article_id(client)))
        with pytest.raises(VismaError) as info:
            await client.drafts.convert(draft.Id)
        assert "number series" in (info.value.hint or "")
    finally:
        await admin(
            sandbox,
            "/visma/company",
            {"api_module_enabled": True, "has_open_fiscal_year": True, "has_invoice_number_series": True},
        )


# -- rate limits ------------------------------------------------------------------------------------------
async def test_burst_of_2000_calls_stays_under_the_limit(sandbox: str, oauth: VismaOAuth) -> None:
    await admin(sandbox, "/ratelimit", {"limit": 100, "window_s": 1.0, "enabled": True, "reset": True})
    await admin(sandbox, "/stats/reset")
    paths = ["units", "currencies"]  # 2 x 100/s: on a fast machine the client limiter sets the pace
    try:
        async with VismaClient(
            oauth, api_base=f"{sandbox}/v2", rate_limit=100, rate_window_s=1.0, retry=FAST
        ) as client:
            calls = iter(range(2000))

            async def worker() -> None:  # 8 calls in flight at a time, like a busy sync run
                for i in calls:
                    await client.request("GET", paths[i % len(paths)], params={"$pagesize": 1})

            await asyncio.gather(*(worker() for _ in range(8)))
            assert client.total_calls == 2000
        stats = await admin(sandbox, "/stats", method="GET")
        assert stats["rate_limited"] == 0
        assert stats["by_status"].get("429", 0) == 0
        assert stats["total"] == 2000
    finally:
        await admin(sandbox, "/ratelimit", {"limit": 600, "window_s": 60, "reset": True})


async def test_429_with_4010_is_waited_out_without_losing_calls(sandbox: str, oauth: VismaOAuth) -> None:
    await admin(sandbox, "/ratelimit", {"limit": 20, "window_s": 1.0, "enabled": True, "reset": True})
    await admin(sandbox, "/stats/reset")
    try:
        async with VismaClient(
            oauth, api_base=f"{sandbox}/v2", rate_limit=200, rate_window_s=1.0, retry=FAST
        ) as client:
            results = await asyncio.gather(*(client.request("GET", "units") for _ in range(40)))
        assert all(r["Data"] for r in results)
        stats = await admin(sandbox, "/stats", method="GET")
        assert stats["rate_limited"] > 0  # the server did push back ...
        assert stats["by_status"]["200"] == 40  # ... and every call still went through once
    finally:
        await admin(sandbox, "/ratelimit", {"limit": 600, "window_s": 60, "reset": True})


# -- faults ------------------------------------------------------------------------------------------------
async def test_gets_are_retried_on_5xx_and_hangs(sandbox: str, oauth: VismaOAuth) -> None:
    await admin(sandbox, "/faults?replace=true", {"seed": 7, "error_rate": 0.4, "paths": ["/v2/units"]})
    async with VismaClient(oauth, api_base=f"{sandbox}/v2", retry=FAST, timeout=0.4) as client:
        for _ in range(10):
            assert await client.units.list()
        faults = await admin(sandbox, "/faults", method="GET")
        assert faults["counts"]["error"] > 0
        await admin(
            sandbox,
            "/faults?replace=true",
            {"seed": 3, "hang_rate": 0.4, "hang_s": 0.8, "paths": ["/v2/units"]},
        )
        for _ in range(5):
            assert await client.units.list()
        faults = await admin(sandbox, "/faults", method="GET")
        assert faults["counts"]["hang"] > 0
    await admin(sandbox, "/faults?replace=true", {})


async def any_article_id(client: VismaClient) -> str:
    article = await client.articles.first(odata_eq("IsActive", True))
    assert article is not None and article.Id
    return article.Id


def draft_for(customer: Customer, article_id: str, reference: str | None = None) -> CustomerInvoiceDraft:
    return CustomerInvoiceDraft(
        CustomerId=customer.Id,
        EuThirdParty=False,
        RotReducedInvoicingType=0,
        YourReference=reference or f"ref-{uuid.uuid4().hex[:10]}",
        Rows=[
            CustomerInvoiceDraftRow(
                ArticleId=article_id,
                IsTextRow=False,
                ReversedConstructionServicesVatFree=False,
                Quantity=Decimal("3"),
                UnitPrice=Decimal("100.45"),
            )
        ],
    )


async def test_draft_post_under_faults_lands_exactly_once(sandbox: str, client: VismaClient) -> None:
    customer = await new_customer(client)
    article_id = await any_article_id(client)
    await admin(
        sandbox,
        "/faults?replace=true",
        {"seed": 11, "error_rate": 0.3, "reset_rate": 0.2, "paths": ["/v2/customerinvoicedrafts"]},
    )
    refs = [f"order-{uuid.uuid4().hex[:8]}" for _ in range(6)]
    for ref in refs:
        await client.drafts.create(
            draft_for(customer, article_id, ref), reconcile=client.drafts.match("YourReference", ref)
        )
    faults = await admin(sandbox, "/faults", method="GET")
    assert faults["counts"]["error"] + faults["counts"]["reset"] > 0
    await admin(sandbox, "/faults?replace=true", {})
    for ref in refs:
        found = await client.drafts.list(filter=odata_eq("YourReference", ref))
        assert len(found) == 1, ref
    # without a reconcile an ambiguous failure is raised, never repeated blindly
    await admin(sandbox, "/faults?replace=true", {"error_rate": 1.0, "paths": ["/v2/customerinvoicedrafts"]})
    with pytest.raises((ServerError, TransportError)):
        await client.drafts.create(draft_for(customer, article_id, "never"))
    await admin(sandbox, "/faults?replace=true", {})
    assert await client.drafts.list(filter=odata_eq("YourReference", "never")) == []


async def test_customer_create_under_faults_is_reconciled_by_number(
    sandbox: str, client: VismaClient
) -> None:
    terms = (await client.terms_of_payment.list())[0]
    await admin(sandbox, "/faults?replace=true", {"seed": 5, "error_rate": 0.35, "paths": ["/v2/customers"]})
    numbers = [f"T{uuid.uuid4().hex[:10]}" for _ in range(5)]
    for number in numbers:
        created = await client.customers.create(
            {
                "CustomerNumber": number,
                "Name": f"Kund {number}",
                "InvoiceCity": "Malmö",
                "InvoicePostalCode": "21120",
                "IsActive": True,
                "IsPrivatePerson": False,
                "TermsOfPaymentId": terms.Id,
            }
        )
        assert created.CustomerNumber == number
    emails = [f"kund-{uuid.uuid4().hex[:8]}@example.se" for _ in range(4)]
    for email in emails:  # no CustomerNumber: reconciled by EmailAddress + Name
        created = await client.customers.create(
            {
                "Name": f"Kund {email}",
                "EmailAddress": email,
                "InvoiceCity": "Malmö",
                "InvoicePostalCode": "21120",
                "IsActive": True,
                "IsPrivatePerson": True,
                "TermsOfPaymentId": terms.Id,
            }
        )
        assert created.EmailAddress == email
    faults = await admin(sandbox, "/faults", method="GET")
    assert faults["counts"]["error"] > 0
    await admin(sandbox, "/faults?replace=true", {})
    for number in numbers:
        assert len(await client.customers.list(filter=odata_eq("CustomerNumber", number))) == 1
    for email in emails:
        assert len(await client.customers.find_by_email(email)) == 1


# -- documents -------------------------------------------------------------------------------------------
async def test_draft_dryrun_convert_and_payment(client: VismaClient) -> None:
    customer = await new_customer(client)
    article_id = await any_article_id(client)
    draft = draft_for(customer, article_id)
    checked = await client.drafts.dryrun(draft)
    assert isinstance(checked.TotalAmount, Decimal) and checked.TotalAmount > 0
    assert await client.drafts.list(filter=odata_eq("YourReference", draft.YourReference)) == []
    stored = await client.drafts.create(
        draft, reconcile=client.drafts.match("YourReference", draft.YourReference)
    )
    assert stored.TotalAmount == checked.TotalAmount
    assert (await client.drafts.get(stored.Id)).YourReference == draft.YourReference
    invoice = await client.drafts.convert(stored.Id)
    assert invoice.CreatedFromDraftId == stored.Id and invoice.InvoiceNumber
    with pytest.raises(VismaNotFoundError):
        await client.drafts.get(stored.Id)
    since = await client.invoices.changed_since(None)
    banks = await client.request("GET", "bankaccounts")
    bank_id = banks["Data"][0]["Id"]
    await client.invoices.create_payment(
        invoice.Id,
        {
            "CompanyBankAccountId": bank_id,
            "PaymentAmount": invoice.TotalAmount,
            "PaymentCurrency": "SEK",
            "PaymentType": 1,
            "PaymentDate": "2026-02-01",
        },
    )
    paid = await client.invoices.get(invoice.Id)
    assert paid.RemainingAmount == Decimal("0")
    changed = await client.invoices.changed_since(since.cursor)
    assert invoice.Id in {i.Id for i in changed.items}


async def test_orders_articles_price_lists_and_delivery_methods(client: VismaClient) -> None:
    customer = await new_customer(client)
    template = await client.articles.first(odata_eq("IsActive", True))
    assert template is not None
    number = f"SB-{uuid.uuid4().hex[:8]}"
    article = await client.articles.create(
        Article(
            Number=number,
            Name="Testartikel",
            IsActive=True,
            CodingId=template.CodingId,
            UnitId=template.UnitId,
            NetPrice=Decimal("80.00"),
        )
    )
    assert article.Number == number and article.NetPrice == Decimal("80.00")
    article.Name = "Testartikel v2"
    assert (await client.articles.update(article.Id, article)).Name == "Testartikel v2"

    since = (await client.orders.changed_since(None)).cursor
    order = Order(
        CustomerId=customer.Id,
        CurrencyCode="SEK",
        EuThirdParty=False,
        ReverseChargeOnConstructionServices=False,
        RotReducedInvoicingType=0,
        Status=1,
        YourReference=f"web-{uuid.uuid4().hex[:8]}",
        Rows=[
            OrderRow(
                ArticleId=article.Id,
                IsTextRow=False,
                IsWorkCost=False,
                EligibleForReverseChargeOnVat=False,
                LineNumber=0,
                Quantity=Decimal("2"),
                UnitPrice=Decimal("80.00"),
            )
        ],
    )
    checked = await client.orders.dryrun(order)
    assert checked.Amount == Decimal("160") and checked.VatAmount and checked.VatAmount > 0
    created = await client.orders.create(
        order, reconcile=client.orders.match("YourReference", order.YourReference)
    )
    assert created.Number and created.Amount == checked.Amount
    created.Status = 2
    assert (await client.orders.update(created.Id, created)).Status == 2
    changed = await client.orders.changed_since(since)
    assert created.Id in {o.Id for o in changed.items}
    invoice = await client.orders.convert(created.Id)
    assert invoice.CreatedFromOrderId == created.Id
    assert (await client.orders.get(created.Id)).Status == 4

    price_list = await client.price_lists.create(
        SalesPriceList(Name=f"Test {uuid.uuid4().hex[:6]}", CurrencyCode="SEK", IsActive=True)
    )
    rows = await client.price_lists.set_prices(
        price_list.Id, [SalesPriceListRow(ArticleId=article.Id, NetPrice=Decimal("75.50"))]
    )
    assert [r.NetPrice for r in rows if r.ArticleId == article.Id] == [Decimal("75.50")]
    row = await client.price_lists.price(price_list.Id, article.Id)
    assert row.NetPrice == Decimal("75.50") and row.GrossPrice == Decimal("94.38")  # 75.50 * 1.25 half up
    assert [r async for r in client.price_lists.prices(price_list.Id)]

    code = f"T{uuid.uuid4().hex[:6]}"
    method = await client.delivery_methods.create(DeliveryMethod(Name="Testfrakt", Code=code))
    assert (await client.delivery_methods.get(method.Id)).Code == code
