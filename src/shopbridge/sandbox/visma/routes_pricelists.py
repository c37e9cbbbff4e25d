"""`/v2/salespricelists` and their prices (Pro variant; gated by the company's price list module).

`PUT /salespricelists/{id}/prices` takes at most 1000 rows per call (as documented; more: 400, 2000).
Price rows carry `ChangedUtc` (bumped by that PUT), so `$filter=ChangedUtc gt ...` works on
`/salespricelists/prices` and `/salespricelists/prices/{id}` like on every list.

A customer with `SalesPriceListId` gets the list's NetPrice for an article on new document rows when
the list's currency is the document's currency.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

from .api_base import Api, Call, new_id, norm_id
from .errors import (
    CANNOT_BE_DELETED,
    VismaError,
    business_error,
    not_found,
    reference_not_found,
    validation_error,
)
from .pricing import dec, q2

LIST = "SalesPriceListApi"
ROW = "SalesPriceListRowApi"
MAX_PRICE_ROWS = 1000


def price_row(api: Api, pricelist: dict[str, Any], article: dict[str, Any], net: Any) -> dict[str, Any]:
    coding = api.state.table("articleaccountcodings").get(article.get("CodingId") or "", {})
    net_price = q2(dec(net))
    return {
        "SalesPriceListId": pricelist["Id"],
        "ArticleId": article["Id"],
        "NetPrice": net_price,
        "GrossPrice": q2(net_price * (1 + dec(coding.get("VatRatePercent")))),
        "CurrencyCode": pricelist.get("CurrencyCode"),
        "ChangedUtc": api.stamp(),
    }


def register(api: Api) -> None:
    state = api.state
    lists = state.table("salespricelists")
    rows = state.table("salespricelistrows")

    def get_list(list_id: str) -> dict[str, Any]:
        rec = lists.get(list_id)
        if rec is None:
            raise not_found("Sales price list", list_id)
        return rec

    def build(body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        ro = api.spec.read_only(LIST)
        rec = dict(existing) if existing else api.spec.blank(LIST)
        for key, value in body.items():
            if key in rec and key not in ro:
                rec[key] = value
        currency = str(rec.get("CurrencyCode") or state.company.get("CurrencyCode") or "SEK").upper()
        if currency not in state.table("currencies"):
            raise business_error(
                f"CurrencyCode: the currency '{currency}' is not activated for this company", "CurrencyCode"
            )
        if (
            existing is not None
            and existing.get("CurrencyCode") != currency
            and any(r["SalesPriceListId"] == existing["Id"] for r in rows.values())
        ):
            raise business_error(
                "CurrencyCode: the currency of a price list with prices can not be changed", "CurrencyCode"
            )
        rec["CurrencyCode"] = currency
        if rec.get("IsActive") is None:
            rec["IsActive"] = True
        if not rec.get("Name"):
            raise business_error("Name: a sales price list needs a name", "Name")
        if existing is None:
            rec["Id"] = new_id()
            rec["Number"] = state.series.pricelist
            state.series.pricelist += 1
        rec["ChangedUtc"] = api.stamp()
        return rec

    async def list_lists(call: Call) -> Any:
        return api.list_response(call, list(lists.values()), LIST)

    async def create(call: Call) -> Any:
        rec = build(call.body or {}, None)
        lists[rec["Id"]] = rec
        state.touch()
        return rec

    async def get(call: Call) -> Any:
        return get_list(call.path["salesPriceListId"])

    async def update(call: Call) -> Any:
        rec = build(call.body or {}, get_list(call.path["salesPriceListId"]))
        lists[rec["Id"]] = rec
        state.touch()
        return rec

    async def delete(call: Call) -> Any:
        rec = get_list(call.path["salesPriceListId"])
        if rec.get("IsStandard"):
            raise VismaError(
                400,
                CANNOT_BE_DELETED,
                "CanNotBeDeletedException - The standard price list can not be deleted.",
            )
        if any(c.get("SalesPriceListId") == rec["Id"] for c in state.table("customers").values()):
            raise VismaError(
                400,
                CANNOT_BE_DELETED,
                "CanNotBeDeletedException - The price list is used by customers and can not be deleted.",
            )
        del lists[rec["Id"]]
        for key in [k for k, r in rows.items() if r["SalesPriceListId"] == rec["Id"]]:
            del rows[key]
        state.touch()
        return Response(status_code=200)

    async def all_prices(call: Call) -> Any:
        return api.list_response(call, list(rows.values()), ROW)

    async def list_prices(call: Call) -> Any:
        rec = get_list(call.path["salesPriceListId"])
        return api.list_response(call, [r for r in rows.values() if r["SalesPriceListId"] == rec["Id"]], ROW)

    async def one_price(call: Call) -> Any:
        rec = get_list(call.path["salesPriceListId"])
        row = rows.get(f"{rec['Id']}:{call.path['articleId']}")
        if row is None:
            raise not_found("Sales price", call.path["articleId"])
        return row

    async def put_prices(call: Call) -> Any:
        rec = get_list(call.path["salesPriceListId"])
        body = call.body if isinstance(call.body, list) else []
        if len(body) > MAX_PRICE_ROWS:
            raise validation_error(
                f"At most {MAX_PRICE_ROWS} price list rows can be updated at once, got {len(body)}", "body"
            )
        articles = state.table("articles")
        new_rows = []
        for idx, item in enumerate(body):
            article = articles.get(norm_id(str(item.get("ArticleId") or "")))
            if article is None:
                raise reference_not_found(f"[{idx}].ArticleId", "Article", item.get("ArticleId"))
            new_rows.append(price_row(api, rec, article, item.get("NetPrice")))
        for row in new_rows:
            rows[f"{rec['Id']}:{row['ArticleId']}"] = row
        state.touch()
        return api.list_response(call, [r for r in rows.values() if r["SalesPriceListId"] == rec["Id"]], ROW)

    module = "pricelists"
    api.route("GET", "/salespricelists", list_lists, module=module)
    api.route("POST", "/salespricelists", create, status=201, module=module)
    api.route("GET", "/salespricelists/prices", all_prices, module=module)
    api.route("GET", "/salespricelists/prices/{salesPriceListId}", list_prices, module=module)
    api.route("GET", "/salespricelists/prices/{salesPriceListId}/{articleId}", one_price, module=module)
    api.route("GET", "/salespricelists/{salesPriceListId}", get, module=module)
    api.route("PUT", "/salespricelists/{salesPriceListId}", update, module=module)
    api.route("DELETE", "/salespricelists/{salesPriceListId}", delete, module=module)
    api.route("PUT", "/salespricelists/{salesPriceListId}/prices", put_prices, module=module)
