"""`VismaClient`: the Visma eAccounting v2 API over the shared request loop.

What it adds to `ApiClient`:
- a bearer token from `VismaOAuth`, refreshed shortly before expiry and once on a 401;
- the rate limit: one limiter per client id (`shared_limiter`: per process, or with Redis across
  every process and machine), one bucket per endpoint (the first path segment after /v2, which is
  how Visma counts: 600 per minute each), or per endpoint and company with `rate_scope`; a 429
  with ErrorCode 4010 is waited out ("Try again in N seconds") and the call repeated;
- Visma's error body as typed exceptions (`shopbridge.visma.errors`);
- exact money: JSON numbers decoded as `Decimal` and sent back digit for digit;
- `$page`/`$pagesize` paging, `$filter` cursors on `ChangedUtc`/`ModifiedUtc` that use
  `Meta.ServerTimeUtc` as the next cursor;
- one service object per resource (`client.customers.create(...)`).

Idempotency of writes (how a lost answer is handled):
  PUT (customers, articles, drafts, orders, price lists, prices, company settings) and DELETE are
  idempotent and repeated after a lost answer. POSTs are not: each create takes a `reconcile` that
  looks for the effect of the lost call before anything is sent again. Built in: customers (by
  CustomerNumber, else EmailAddress/CorporateIdentityNumber + Name, new since the call), articles
  (Number), delivery methods/terms (Code, else Name), draft and order conversion (the invoice
  created from that draft/order). Drafts, orders, invoices, payments, e-invoices and price lists need
  a caller-supplied reconcile (e.g. `drafts.match("YourReference", ref)`); without one an ambiguous
  failure is raised, never repeated blindly (an invoice e-mail leaves nothing to look for, so it is
  never repeated). `/dryrun` calls store nothing and are repeated freely.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar
from urllib.parse import quote
from uuid import UUID

import httpx

from shopbridge.http import (
    ApiClient,
    ApiError,
    PageNumberPaginator,
    RetryPolicy,
    paginate,
    parse_retry_after,
    shared_limiter,
)
from shopbridge.visma import wire
from shopbridge.visma.errors import VismaNotFoundError, from_body
from shopbridge.visma.oauth import TokenSet, VismaOAuth
from shopbridge.visma.odata import odata_and, odata_datetime, odata_eq, odata_gt
from shopbridge.visma.schemas import (
    Article,
    ArticleAccountCoding,
    BankAccount,
    CompanySettings,
    CostCenter,
    CostCenterItem,
    Currency,
    Customer,
    CustomerInvoice,
    CustomerInvoiceDraft,
    CustomerInvoiceDraftValidation,
    DeliveryMethod,
    DeliveryTerm,
    InvoicePayment,
    Order,
    OrderConversion,
    Project,
    SalesPriceList,
    SalesPriceListRow,
    TermsOfPayment,
    Unit,
    VatCode,
    VatCodeRate,
)
from shopbridge.visma.shared_reads import shared_read
from shopbridge.visma.wire import VismaModel

DEFAULT_API_BASE = "https://eaccountingapi.vismaonline.com/v2"
DEFAULT_PAGE_SIZE = 500

M = TypeVar("M", bound=VismaModel)
Body = VismaModel | Mapping[str, Any]
Reconcile = Callable[[], Awaitable[Any]]

_used_token: ContextVar[TokenSet | None] = ContextVar("visma_used_token", default=None)


@dataclass
class ChangedPage(Generic[M]):
    """Everything changed since a cursor, and the cursor for the next poll.

    `cursor` is `Meta.ServerTimeUtc` of the first page (the server's clock, never ours). When the
    list kept changing while it was read (`complete=False`), `cursor` stays at the `since` that was
    asked for, so nothing can be skipped; the next poll reads the same range again.
    """

    items: list[M]
    cursor: datetime | None
    complete: bool = True
    pages: int = 0


def parse_server_time(value: Any) -> datetime | None:
    """A Visma timestamp as an aware UTC datetime (naive values are UTC)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _wire(body: Body) -> dict[str, Any]:
    return body.to_wire() if isinstance(body, VismaModel) else dict(body)


def _parse(model: type[M], data: Any) -> M:
    if isinstance(data, model):
        return data
    if isinstance(data, VismaModel):
        return model.model_validate(data.to_wire(read_only=True))
    return model.model_validate(data or {})


def _seg(value: str | UUID) -> str:
    return quote(str(value), safe="")


def _params(params: Mapping[str, Any] | None, filter: str | None) -> dict[str, Any]:
    out = dict(params or {})
    if filter:
        out["$filter"] = odata_and(filter, out.get("$filter"))
    return out


class VismaClient(ApiClient):
    """Async client for Visma eAccounting / eEkonomi API v2 (see the module docstring)."""

    service = "visma"

    def __init__(
        self,
        oauth: VismaOAuth,
        *,
        api_base: str = DEFAULT_API_BASE,
        rate_limit: int = 600,
        rate_window_s: float = 60.0,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        refresh_margin_s: float = 60.0,
        reconcile_delay_s: float = 1.0,
        rate_scope: str = "",
        shared_reads: tuple[Hashable, Hashable] | None = None,
    ) -> None:
        """`rate_scope`: counted per client id and endpoint ("") or also per this scope (a company).
        `shared_reads`: (company, reader) when change lists are shared by the company's shops
        (`visma.shared_reads`); None reads every list itself."""
        self.rate_scope = rate_scope
        self.shared_reads = shared_reads
        super().__init__(
            api_base,
            timeout=timeout,
            retry=retry,
            limiter=shared_limiter(f"visma:{oauth.client_id}", rate_limit, rate_window_s),
            transport=transport,
            user_agent="shopbridge (visma)",
        )
        self.oauth = oauth
        self.page_size = page_size
        self.refresh_margin_s = refresh_margin_s
        self.reconcile_delay_s = reconcile_delay_s
        self.customers = Customers(self)
        self.articles = Articles(self)
        self.article_account_codings = ArticleAccountCodings(self)
        self.units = Units(self)
        self.terms_of_payment = TermsOfPayments(self)
        self.currencies = Currencies(self)
        self.vat_codes = VatCodes(self)
        self.company_settings = CompanySettingsService(self)
        self.drafts = CustomerInvoiceDrafts(self)
        self.invoices = CustomerInvoices(self)
        self.orders = Orders(self)
        self.price_lists = SalesPriceLists(self)
        self.delivery_methods = DeliveryMethods(self)
        self.delivery_terms = DeliveryTerms(self)
        self.bank_accounts = BankAccounts(self)
        self.cost_centers = CostCenters(self)
        self.cost_center_items = CostCenterItems(self)
        self.projects = Projects(self)

    # -- ApiClient hooks --------------------------------------------------------------------------
    async def auth_headers(self) -> dict[str, str]:
        token = await self.oauth.valid_token(self.refresh_margin_s)
        _used_token.set(token)  # per task: on_unauthorized knows which pair the failed call used
        return {"Authorization": f"Bearer {token.access_token}"}

    async def on_unauthorized(self) -> bool:
        await self.oauth.refresh(stale=_used_token.get())
        return True

    def limit_key(self, method: str, path: str) -> str:
        segment = path.split("?", 1)[0].strip("/").split("/", 1)[0].lower()
        if self.rate_scope:
            return f"{self.oauth.client_id}:{self.rate_scope}:{segment}"
        return f"{self.oauth.client_id}:{segment}"

    def decode(self, response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return wire.loads(response.content)
        except ValueError:
            return {"raw": response.text[:2000]}

    def encode(self, payload: Any) -> bytes | None:
        return wire.dumps(payload).encode("utf-8")

    def error_from_response(self, response: httpx.Response, method: str, path: str) -> ApiError:
        return from_body(
            response.status_code,
            self.decode(response),
            method=method,
            path=path,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    # -- generic reads ----------------------------------------------------------------------------
    async def get_model(self, path: str, model: type[M], params: Mapping[str, Any] | None = None) -> M:
        """GET one resource as `model`."""
        return _parse(model, await self.request("GET", path, params=dict(params or {})))

    def paginator(self, page_size: int | None = None) -> PageNumberPaginator:
        """Visma's paging: `$page` (from 1) and `$pagesize`, `Meta.TotalNumberOfPages`, items in `Data`."""
        return PageNumberPaginator(
            page_param="$page",
            size_param="$pagesize",
            page_size=page_size or self.page_size,
            items_path=("Data",),
            total_pages_path=("Meta", "TotalNumberOfPages"),
        )

    async def iter_pages(
        self, path: str, params: Mapping[str, Any] | None = None, *, page_size: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield each page's body (`{"Meta": ..., "Data": [...]}`), filters kept on every page."""

        async def fetch(query: dict[str, Any]) -> Any:
            return await self.request("GET", path, params=query)

        async for body in paginate(fetch, self.paginator(page_size), dict(params or {})):
            yield body if isinstance(body, dict) else {}

    async def iter_all(
        self,
        path: str,
        model: type[M],
        params: Mapping[str, Any] | None = None,
        *,
        page_size: int | None = None,
    ) -> AsyncIterator[M]:
        """Yield every item of a list endpoint as `model`, page by page."""
        async for body in self.iter_pages(path, params, page_size=page_size):
            for item in body.get("Data") or []:
                yield model.model_validate(item)

    async def list_all(self, path: str, model: type[M], params: Mapping[str, Any] | None = None) -> list[M]:
        """Every item of a list endpoint."""
        return [item async for item in self.iter_all(path, model, params)]

    async def first(self, path: str, model: type[M], filter: str) -> M | None:
        """The first item matching `filter`, or None."""
        body = await self.request("GET", path, params={"$filter": filter, "$page": 1, "$pagesize": 1})
        data = body.get("Data") if isinstance(body, dict) else None
        return model.model_validate(data[0]) if data else None

    async def changed_since(
        self,
        path: str,
        *,
        model: type[M],
        since: datetime | None,
        field: str = "ChangedUtc",
        params: Mapping[str, Any] | None = None,
        since_param: str | None = None,
        lag_s: float = 0.0,
        order_by: str | None = "",
        attempts: int = 3,
    ) -> ChangedPage[M]:
        """Items whose `field` is after `since` (all items when None) and the next cursor.

        The filter is `$filter=<field> gt <since - lag_s>` (or the query parameter `since_param`,
        e.g. `modifiedSinceUtc` for customer invoices). The next cursor is `Meta.ServerTimeUtc` of the
        first page. Pages are ordered by `field` (`order_by=None` leaves the server's order); when the
        list changes while it is being read (the total moves, or an item changed after the first
        page was served), the read is repeated up to `attempts` times, then returned with the old
        cursor (`complete=False`) so nothing is skipped.
        """
        start = None if since is None else since - timedelta(seconds=lag_s)

        async def read() -> ChangedPage[M]:
            return await self._read_changed(
                path, model, since, start, field, params, since_param, order_by, attempts
            )

        if self.shared_reads is None:
            return await read()
        company, reader = self.shared_reads
        query_key = tuple(sorted((k, str(v)) for k, v in (params or {}).items()))
        key = (company, path, model, field, since_param, order_by, query_key)

        def changed_after(item: Any, after: datetime) -> bool:
            at = parse_server_time(getattr(item, field, None))
            return at is None or at >= after

        return await shared_read(key, reader, since, start, read, changed_after)

    async def _read_changed(
        self,
        path: str,
        model: type[M],
        since: datetime | None,
        start: datetime | None,
        field: str,
        params: Mapping[str, Any] | None,
        since_param: str | None,
        order_by: str | None,
        attempts: int,
    ) -> ChangedPage[M]:
        query = dict(params or {})
        if start is not None:
            if since_param:
                query[since_param] = odata_datetime(start)
            else:
                query["$filter"] = odata_and(odata_gt(field, start), query.get("$filter"))
        if order_by == "":
            order_by = f"{field} asc"
        if order_by:
            query.setdefault("$orderby", order_by)
        items: list[M] = []
        pages = 0
        for _ in range(max(attempts, 1)):
            items, pages, cursor, total, stable = [], 0, None, None, True
            async for body in self.iter_pages(path, query):
                pages += 1
                meta = body.get("Meta") or {}
                if pages == 1:
                    cursor = parse_server_time(meta.get("ServerTimeUtc"))
                    total = meta.get("TotalNumberOfResults")
                elif meta.get("TotalNumberOfResults") != total:
                    stable = False
                # parsed page by page: a large list never sits in memory twice (raw and parsed)
                items.extend(model.model_validate(i) for i in body.get("Data") or [])
            if pages > 1 and cursor is not None:
                stable = stable and not any(
                    (changed := parse_server_time(getattr(item, field, None))) is not None
                    and changed > cursor
                    for item in items
                )
            if stable:
                return ChangedPage(items, cursor, True, pages)
        unique = {str(getattr(i, "Id", None)): i for i in items}  # keep the last copy of rows read twice
        return ChangedPage(list(unique.values()), since, False, pages)

    # -- generic writes ---------------------------------------------------------------------------
    async def write(
        self,
        method: str,
        path: str,
        model: type[M],
        body: Any,
        *,
        params: Mapping[str, Any] | None = None,
        reconcile: Reconcile | None = None,
        idempotent: bool | None = None,
    ) -> M:
        """Send a write and parse the answer as `model` (see the module docstring on idempotency)."""
        payload = _wire(body) if isinstance(body, VismaModel | Mapping) else body
        result = await self.request(
            method,
            path,
            params=dict(params or {}),
            json=payload,
            reconcile=self._settled(reconcile) if reconcile is not None else None,
            idempotent=idempotent,
        )
        return _parse(model, result)

    def _settled(self, reconcile: Reconcile) -> Reconcile:
        """Give a lost call a moment to land before looking for its effect."""

        async def run() -> Any:
            if self.reconcile_delay_s > 0:
                await asyncio.sleep(self.reconcile_delay_s)
            found = await reconcile()
            return found.to_wire(read_only=True) if isinstance(found, VismaModel) else found

        return run


# -- resources --------------------------------------------------------------------------------------
class _Resource(Generic[M]):
    """A list endpoint with `iter`, `list` and `get`."""

    path: ClassVar[str]
    model: type[M]

    def __init__(self, client: VismaClient) -> None:
        self._c = client

    def iter(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        filter: str | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[M]:
        """Every item, page by page (`filter` is an OData `$filter`, see `shopbridge.visma.odata`)."""
        return self._c.iter_all(self.path, self.model, _params(params, filter), page_size=page_size)

    async def list(self, params: Mapping[str, Any] | None = None, *, filter: str | None = None) -> list[M]:
        """Every item as a list."""
        return [item async for item in self.iter(params, filter=filter)]

    async def get(self, item_id: str | UUID) -> M:
        """One item by id (`VismaNotFoundError` when it does not exist)."""
        return await self._c.get_model(f"{self.path}/{_seg(item_id)}", self.model)

    async def first(self, filter: str) -> M | None:
        """The first item matching an OData `$filter`, or None."""
        return await self._c.first(self.path, self.model, filter)

    def match(self, field: str, value: Any) -> Reconcile:
        """A `reconcile` callback that finds the item whose `field` equals `value` (or None)."""

        async def find() -> M | None:
            return await self.first(odata_eq(field, value))

        return find


class Customers(_Resource[Customer]):
    """`/v2/customers` (polling field `ChangedUtc`)."""

    path = "customers"
    model = Customer

    async def find_by_number(self, number: str) -> Customer | None:
        return await self.first(odata_eq("CustomerNumber", number))

    async def find_by_email(self, email: str) -> list[Customer]:
        return await self.list(filter=odata_eq("EmailAddress", email))

    async def find_by_org_number(self, org_number: str) -> list[Customer]:
        """Customers by `CorporateIdentityNumber` (org.nr, or personnummer for private persons)."""
        return await self.list(filter=odata_eq("CorporateIdentityNumber", org_number))

    async def create(self, customer: Body, *, reconcile: bool | Reconcile = True) -> Customer:
        """POST /customers. Not idempotent; reconciled after a lost answer (see below).

        With `reconcile=True`: by `CustomerNumber` when given (same number and Name), else by
        `EmailAddress`/`CorporateIdentityNumber` + Name, counting only customers that did not match
        before the call (one extra GET before the POST). Without any of these keys, a lost answer
        is raised. Pass a callable for your own rule, or False to never reconcile.
        """
        data = _wire(customer)
        rec: Reconcile | None = reconcile if callable(reconcile) else None
        if reconcile is True:
            rec = await self._default_reconcile(data)
        return await self._c.write("POST", self.path, Customer, data, reconcile=rec)

    async def _default_reconcile(self, data: dict[str, Any]) -> Reconcile | None:
        name = data.get("Name")
        if data.get("CustomerNumber"):
            flt = odata_eq("CustomerNumber", data["CustomerNumber"])
            before: set[str | None] = set()
        else:
            keys = [odata_eq(k, data[k]) for k in ("EmailAddress", "CorporateIdentityNumber") if data.get(k)]
            if not keys:
                return None
            flt = odata_and(*keys)
            before = {c.Id for c in await self.list(filter=flt)}

        async def find() -> Customer | None:
            for found in await self.list(filter=flt):
                if found.Id not in before and found.Name == name:
                    return found
            return None

        return find

    async def update(self, customer_id: str | UUID, customer: Body) -> Customer:
        """PUT /customers/{id} (the whole customer). Idempotent."""
        return await self._c.write("PUT", f"{self.path}/{_seg(customer_id)}", Customer, customer)

    async def delete(self, customer_id: str | UUID) -> None:
        """DELETE /customers/{id}. Idempotent (a repeat gets 404)."""
        await self._c.request("DELETE", f"{self.path}/{_seg(customer_id)}")

    async def changed_since(self, since: datetime | None, **kw: Any) -> ChangedPage[Customer]:
        return await self._c.changed_since(self.path, model=Customer, since=since, field="ChangedUtc", **kw)


class Articles(_Resource[Article]):
    """`/v2/articles` (polling field `ChangedUtc`)."""

    path = "articles"
    model = Article

    async def get_by_number(self, number: str) -> Article | None:
        return await self.first(odata_eq("Number", number))

    async def create(self, article: Body, *, reconcile: bool | Reconcile = True) -> Article:
        """POST /articles. Not idempotent; reconciled by `Number` (unique in Visma) and Name."""
        data = _wire(article)
        rec: Reconcile | None = reconcile if callable(reconcile) else None
        if reconcile is True and data.get("Number"):
            number, name = data["Number"], data.get("Name")

            async def find() -> Article | None:
                found = await self.get_by_number(number)
                return found if found is not None and found.Name == name else None

            rec = find
        return await self._c.write("POST", self.path, Article, data, reconcile=rec)

    async def update(self, article_id: str | UUID, article: Body) -> Article:
        """PUT /articles/{id}. Idempotent."""
        return await self._c.write("PUT", f"{self.path}/{_seg(article_id)}", Article, article)

    async def changed_since(
        self, since: datetime | None, *, model: type[Any] = Article, **kw: Any
    ) -> ChangedPage[Any]:
        """Articles changed after `since` (all when None); `model` may be a slimmer parse of them."""
        return await self._c.changed_since(self.path, model=model, since=since, field="ChangedUtc", **kw)


class ArticleAccountCodings(_Resource[ArticleAccountCoding]):
    """`/v2/articleaccountcodings`: which VAT rate and accounts an article books to."""

    path = "articleaccountcodings"
    model = ArticleAccountCoding

    async def get_on(self, coding_id: str | UUID, vat_rate_date: str | None = None) -> ArticleAccountCoding:
        """One coding with the VAT rate valid on `vat_rate_date` (YYYY-MM-DD)."""
        params = {"vatRateDate": vat_rate_date} if vat_rate_date else None
        return await self._c.get_model(f"{self.path}/{_seg(coding_id)}", ArticleAccountCoding, params)


class Units(_Resource[Unit]):
    """`/v2/units`."""

    path = "units"
    model = Unit


class TermsOfPayments(_Resource[TermsOfPayment]):
    """`/v2/termsofpayments`."""

    path = "termsofpayments"
    model = TermsOfPayment


class Currencies(_Resource[Currency]):
    """`/v2/currencies` (list only)."""

    path = "currencies"
    model = Currency


class VatCodes(_Resource[VatCode]):
    """`/v2/vatcodes` and `/v2/vatcodesrates` (scope ea:accounting or ea:accounting_readonly)."""

    path = "vatcodes"
    model = VatCode

    def rates(self, params: Mapping[str, Any] | None = None) -> AsyncIterator[VatCodeRate]:
        """VAT codes with their rates over time (`/v2/vatcodesrates`)."""
        return self._c.iter_all("vatcodesrates", VatCodeRate, params)


class CompanySettingsService:
    """`/v2/companysettings`."""

    def __init__(self, client: VismaClient) -> None:
        self._c = client

    async def get(self) -> CompanySettings:
        return await self._c.get_model("companysettings", CompanySettings)

    async def update(self, settings: Body) -> CompanySettings:
        """PUT /companysettings. Idempotent."""
        return await self._c.write("PUT", "companysettings", CompanySettings, settings)


class CustomerInvoiceDrafts(_Resource[CustomerInvoiceDraft]):
    """`/v2/customerinvoicedrafts` (drafts have no ModifiedUtc)."""

    path = "customerinvoicedrafts"
    model = CustomerInvoiceDraft

    async def create(
        self,
        draft: Body,
        *,
        reconcile: Reconcile | None = None,
        override_customer_is_private_person: bool | None = None,
    ) -> CustomerInvoiceDraft:
        """POST /customerinvoicedrafts. Not idempotent: pass `reconcile` (e.g. `match("YourReference", ref)`)
        or an ambiguous failure is raised."""
        params = (
            {"overrideCustomerIsPrivatePerson": str(override_customer_is_private_person).lower()}
            if override_customer_is_private_person is not None
            else None
        )
        return await self._c.write(
            "POST", self.path, CustomerInvoiceDraft, draft, params=params, reconcile=reconcile
        )

    async def dryrun(self, draft: Body) -> CustomerInvoiceDraft:
        """POST /customerinvoicedrafts/dryrun: validate and compute without storing. Idempotent."""
        return await self._c.write(
            "POST", f"{self.path}/dryrun", CustomerInvoiceDraft, draft, idempotent=True
        )

    async def update(self, draft_id: str | UUID, draft: Body) -> CustomerInvoiceDraft:
        """PUT /customerinvoicedrafts/{id}. Idempotent."""
        return await self._c.write("PUT", f"{self.path}/{_seg(draft_id)}", CustomerInvoiceDraft, draft)

    async def delete(self, draft_id: str | UUID) -> None:
        """DELETE /customerinvoicedrafts/{id}. Idempotent (a repeat gets 404)."""
        await self._c.request("DELETE", f"{self.path}/{_seg(draft_id)}")

    async def convert(
        self,
        draft_id: str | UUID,
        validation: CustomerInvoiceDraftValidation | Mapping[str, Any] | None = None,
        *,
        keep_original_draft_date: bool | None = None,
        reconcile: bool | Reconcile = True,
    ) -> CustomerInvoice:
        """POST /customerinvoicedrafts/{id}/convert -> the invoice. Not idempotent (the draft is gone
        afterwards); reconciled by the invoice whose `CreatedFromDraftId` is this draft."""
        params = (
            {"keepOriginalDraftDate": str(keep_original_draft_date).lower()}
            if keep_original_draft_date is not None
            else None
        )
        rec: Reconcile | None = reconcile if callable(reconcile) else None
        if reconcile is True:
            rec = self._c.invoices.match("CreatedFromDraftId", UUID(str(draft_id)))
        return await self._c.write(
            "POST",
            f"{self.path}/{_seg(draft_id)}/convert",
            CustomerInvoice,
            validation if validation is not None else {},
            params=params,
            reconcile=rec,
        )


class CustomerInvoices(_Resource[CustomerInvoice]):
    """`/v2/customerinvoices` (polling: `modifiedSinceUtc`)."""

    path = "customerinvoices"
    model = CustomerInvoice

    async def changed_since(self, since: datetime | None, **kw: Any) -> ChangedPage[CustomerInvoice]:
        """Invoices modified after `since` via the `modifiedSinceUtc` parameter; cursor = ServerTimeUtc."""
        kw.setdefault("since_param", "modifiedSinceUtc")
        return await self._c.changed_since(
            self.path, model=CustomerInvoice, since=since, field="ModifiedUtc", **kw
        )

    async def create(self, invoice: Body, *, reconcile: Reconcile | None = None) -> CustomerInvoice:
        """POST /customerinvoices. Not idempotent: pass `reconcile` or an ambiguous failure is raised."""
        return await self._c.write("POST", self.path, CustomerInvoice, invoice, reconcile=reconcile)

    async def create_payment(
        self, invoice_id: str | UUID, payment: Body, *, reconcile: Reconcile | None = None
    ) -> InvoicePayment:
        """POST /customerinvoices/{id}/payments (scope ea:sales per the spec). Not idempotent: a repeat
        pays twice; pass `reconcile` (e.g. compare `RemainingAmount`) or a lost answer is raised."""
        return await self._c.write(
            "POST", f"{self.path}/{_seg(invoice_id)}/payments", InvoicePayment, payment, reconcile=reconcile
        )

    async def email(self, invoice_id: str | UUID, email: Body | None = None) -> None:
        """POST /customerinvoices/{id}/email (EmailApi; empty: to the customer's address). Not idempotent
        and leaves nothing to read back: an ambiguous failure is raised, never repeated."""
        payload = _wire(email) if email is not None else {}
        await self._c.request("POST", f"{self.path}/{_seg(invoice_id)}/email", json=payload)

    async def einvoice(
        self, invoice_id: str | UUID, send_type: int, *, reconcile: Reconcile | None = None
    ) -> None:
        """POST /customerinvoices/{id}/einvoice through AutoInvoice (`SendType` 1 electronic, 2 print,
        3 B2C, 4 Kivra). Not idempotent; the invoice's `SendType` shows it was sent (pass `reconcile`)."""
        await self._c.request(
            "POST",
            f"{self.path}/{_seg(invoice_id)}/einvoice",
            json={"SendType": send_type},
            reconcile=self._c._settled(reconcile) if reconcile is not None else None,
        )


class Orders(_Resource[Order]):
    """`/v2/orders` (order module; polling field `ModifiedUtc`).

    `Status`: 1 Draft, 2 Ongoing, 3 Shipped, 4 Invoiced.
    """

    path = "orders"
    model = Order

    async def changed_since(self, since: datetime | None, **kw: Any) -> ChangedPage[Order]:
        return await self._c.changed_since(self.path, model=Order, since=since, field="ModifiedUtc", **kw)

    async def create(self, order: Body, *, reconcile: Reconcile | None = None) -> Order:
        """POST /orders. Not idempotent: pass `reconcile` (e.g. `match("YourReference", ref)`)."""
        return await self._c.write("POST", self.path, Order, order, reconcile=reconcile)

    async def dryrun(self, order: Body) -> Order:
        """POST /orders/dryrun: validate and compute without storing. Idempotent."""
        return await self._c.write("POST", f"{self.path}/dryrun", Order, order, idempotent=True)

    async def update(self, order_id: str | UUID, order: Body) -> Order:
        """PUT /orders/{id}. Idempotent."""
        return await self._c.write("PUT", f"{self.path}/{_seg(order_id)}", Order, order)

    async def delete(self, order_id: str | UUID) -> None:
        """DELETE /orders/{id}. Idempotent (a repeat gets 404)."""
        await self._c.request("DELETE", f"{self.path}/{_seg(order_id)}")

    async def convert(
        self,
        order_id: str | UUID,
        conversion: OrderConversion | Mapping[str, Any] | None = None,
        *,
        reconcile: bool | Reconcile = True,
    ) -> CustomerInvoice:
        """POST /orders/{id}/convert -> the invoice. Not idempotent; reconciled by a new invoice whose
        `CreatedFromOrderId` is this order (one extra GET before the call)."""
        rec: Reconcile | None = reconcile if callable(reconcile) else None
        if reconcile is True:
            flt = odata_eq("CreatedFromOrderId", UUID(str(order_id)))
            before = {i.Id for i in await self._c.invoices.list(filter=flt)}

            async def find() -> CustomerInvoice | None:
                fresh = [i for i in await self._c.invoices.list(filter=flt) if i.Id not in before]
                return fresh[0] if fresh else None

            rec = find
        return await self._c.write(
            "POST",
            f"{self.path}/{_seg(order_id)}/convert",
            CustomerInvoice,
            conversion if conversion is not None else {},
            reconcile=rec,
        )


class SalesPriceLists(_Resource[SalesPriceList]):
    """`/v2/salespricelists` and their prices (Pro variant)."""

    path = "salespricelists"
    model = SalesPriceList

    async def create(self, price_list: Body, *, reconcile: Reconcile | None = None) -> SalesPriceList:
        """POST /salespricelists. Not idempotent: pass `reconcile` (e.g. `match("Name", name)`)."""
        return await self._c.write("POST", self.path, SalesPriceList, price_list, reconcile=reconcile)

    async def update(self, price_list_id: str | UUID, price_list: Body) -> SalesPriceList:
        """PUT /salespricelists/{id}. Idempotent."""
        return await self._c.write("PUT", f"{self.path}/{_seg(price_list_id)}", SalesPriceList, price_list)

    async def delete(self, price_list_id: str | UUID) -> None:
        """DELETE /salespricelists/{id}. Idempotent (a repeat gets 404)."""
        await self._c.request("DELETE", f"{self.path}/{_seg(price_list_id)}")

    def prices(
        self, price_list_id: str | UUID | None = None, params: Mapping[str, Any] | None = None
    ) -> AsyncIterator[SalesPriceListRow]:
        """Price rows of one list (`/salespricelists/prices/{id}`) or of all lists."""
        path = f"{self.path}/prices" + (f"/{_seg(price_list_id)}" if price_list_id is not None else "")
        return self._c.iter_all(path, SalesPriceListRow, params)

    async def price(self, price_list_id: str | UUID, article_id: str | UUID) -> SalesPriceListRow:
        """One article's row in one list."""
        return await self._c.get_model(
            f"{self.path}/prices/{_seg(price_list_id)}/{_seg(article_id)}", SalesPriceListRow
        )

    async def set_prices(
        self,
        price_list_id: str | UUID,
        rows: list[SalesPriceListRow] | list[Mapping[str, Any]],
        *,
        update_recurring_invoices: bool | None = None,
    ) -> list[SalesPriceListRow]:
        """PUT /salespricelists/{id}/prices (absolute prices per article). Idempotent."""
        params = (
            {"updateRecurringInvoices": str(update_recurring_invoices).lower()}
            if update_recurring_invoices is not None
            else None
        )
        payload = [_wire(r) for r in rows]
        body = await self._c.request(
            "PUT", f"{self.path}/{_seg(price_list_id)}/prices", params=params, json=payload
        )
        data = body.get("Data") if isinstance(body, dict) else body
        return [SalesPriceListRow.model_validate(r) for r in data or []]


class BankAccounts(_Resource[BankAccount]):
    """`/v2/bankaccounts` (scope ea:purchase or ea:purchase_readonly): where payments are booked."""

    path = "bankaccounts"
    model = BankAccount


class _Named(_Resource[M]):
    """Delivery methods and terms: create reconciled by Code (or Name)."""

    async def create(self, item: Body, *, reconcile: bool | Reconcile = True) -> M:
        """POST. Not idempotent; reconciled by `Code` when given, else `Name`."""
        data = _wire(item)
        rec: Reconcile | None = reconcile if callable(reconcile) else None
        if reconcile is True:
            key = "Code" if data.get("Code") else "Name"
            if data.get(key):
                rec = self.match(key, data[key])
        return await self._c.write("POST", self.path, self.model, data, reconcile=rec)


class DeliveryMethods(_Named[DeliveryMethod]):
    """`/v2/deliverymethods` (leveranssätt)."""

    path = "deliverymethods"
    model = DeliveryMethod


class DeliveryTerms(_Named[DeliveryTerm]):
    """`/v2/deliveryterms` (leveransvillkor)."""

    path = "deliveryterms"
    model = DeliveryTerm


# -- cost accounting dimensions (read) ---------------------------------------------------------------
class CostCenters(_Resource[CostCenter]):
    """`/v2/costcenters`: the company's (up to three) cost centres, each with its `Items`.

    The API has no GET by id for a cost centre: `get` reads the list and picks it out.
    """

    path = "costcenters"
    model = CostCenter

    async def get(self, item_id: str | UUID) -> CostCenter:
        """One cost centre by id (`VismaNotFoundError` when the company has none with that id)."""
        wanted = str(item_id).lower()
        for center in await self.list():
            if str(center.Id).lower() == wanted:
                return center
        raise VismaNotFoundError(
            f"no cost center with id {item_id}", service="visma", status=404, method="GET", path=self.path
        )


class CostCenterItems:
    """`/v2/costcenteritems`: one item by id; `list()` gives the items of every cost centre."""

    path = "costcenteritems"

    def __init__(self, client: VismaClient) -> None:
        self._c = client

    async def get(self, item_id: str | UUID) -> CostCenterItem:
        """One cost centre item (`VismaNotFoundError` when it does not exist)."""
        return await self._c.get_model(f"{self.path}/{_seg(item_id)}", CostCenterItem)

    async def list(self) -> list[CostCenterItem]:
        return [item for center in await self._c.cost_centers.list() for item in center.Items or []]


class Projects(_Resource[Project]):
    """`/v2/projects` (`Status` 1 ongoing, 2 finished)."""

    path = "projects"
    model = Project
