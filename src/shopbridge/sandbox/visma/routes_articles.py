"""`/v2/articles`: list, create, read, update (Visma has no DELETE for articles; set IsActive false).

Number (required, not blank, at most 40 characters) is unique (400, ErrorCode 4000, field Number); Name
(required, not blank) at most 50; a blank Number or Name is a 400 DataModelValidation (2000) naming it.
`CodingId` must name an active article account coding; its VAT rate links NetPrice and GrossPrice:
NetPrice wins when both are sent, else GrossPrice is converted (half up to öre).
Stock: StockBalanceAvailable = StockBalance - reserved (ongoing orders reserve, invoices draw stock down).
"""

from __future__ import annotations

from typing import Any

from .api_base import Api, Call, new_id, norm_id
from .errors import (
    CONFLICT,
    VismaError,
    business_error,
    not_found,
    reference_not_found,
    validation_error,
)
from .pricing import ZERO, dec, q2
from .routes_labels import ARTICLE_LABELS, resolve_labels

SCHEMA = "ArticleApi"


def build_article(api: Api, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    state = api.state
    ro = api.spec.read_only(SCHEMA)
    rec = dict(existing) if existing else api.spec.blank(SCHEMA)
    for key, value in body.items():
        if key in rec and key not in ro:
            rec[key] = value
    if "ArticleLabels" in body:
        rec["ArticleLabels"] = resolve_labels(api, ARTICLE_LABELS, body["ArticleLabels"])
    for name in ("Number", "Name"):
        if not str(rec.get(name) or "").strip():
            raise validation_error(f"{name}: the field is required and can not be empty", name)
    stamp = api.stamp()
    if existing is None:
        rec["Id"] = new_id()
        rec["CreatedUtc"] = stamp
        if "SendToWebshop" not in body:
            rec["SendToWebshop"] = True
    coding = state.table("articleaccountcodings").get(norm_id(str(rec.get("CodingId") or "")))
    if coding is None:
        raise reference_not_found("CodingId", "Article account coding", rec.get("CodingId"))
    if not coding.get("IsActive", True):
        raise business_error(f"CodingId: the account coding '{coding.get('Name')}' is inactive", "CodingId")
    unit = state.table("units").get(norm_id(str(rec.get("UnitId") or "")))
    if unit is None:
        raise reference_not_found("UnitId", "Unit", rec.get("UnitId"))
    rec["CodingId"], rec["UnitId"] = coding["Id"], unit["Id"]
    rec["CodingName"] = coding.get("Name")
    rec["UnitName"] = unit.get("Name")
    rec["UnitAbbreviation"] = unit.get("Abbreviation")
    is_service = coding.get("Type") == "Service"
    rec["IsServiceArticle"] = is_service
    if rec.get("IsStock") and is_service:
        raise business_error(
            "IsStock: only goods articles can be stock articles (the coding is a service)", "IsStock"
        )
    rec["ShowStockInformation"] = bool(rec.get("IsStock")) and not is_service
    # prices
    vat = dec(coding.get("VatRatePercent"))
    if "NetPrice" in body or ("GrossPrice" not in body and existing is not None):
        net = q2(dec(rec.get("NetPrice")))
        rec["NetPrice"] = net
        rec["GrossPrice"] = q2(net * (1 + vat))
    elif "GrossPrice" in body:
        gross = q2(dec(body.get("GrossPrice")))
        rec["GrossPrice"] = gross
        rec["NetPrice"] = q2(gross / (1 + vat))
    else:
        rec["NetPrice"] = q2(dec(rec.get("NetPrice")))
        rec["GrossPrice"] = q2(rec["NetPrice"] * (1 + vat))
    rec["NetPriceWithDiscount"] = rec["NetPrice"]
    rec["PurchasePrice"] = q2(dec(rec.get("PurchasePrice")))
    # stock
    balance = dec(rec.get("StockBalance"))
    if existing is not None and "StockBalance" in body and dec(existing.get("StockBalance")) != balance:
        rec["StockBalanceManuallyChangedUtc"] = stamp
    reserved = dec(rec.get("StockBalanceReserved"), ZERO)
    rec["StockBalance"] = balance
    rec["StockBalanceReserved"] = reserved
    rec["StockBalanceAvailable"] = balance - reserved
    rec["StockValue"] = q2(balance * rec["PurchasePrice"]) if rec.get("IsStock") else ZERO
    api.ensure_in_spec(rec, SCHEMA)  # e.g. a GrossPrice computed above the spec's maximum
    # number
    number = str(rec.get("Number") or "")
    owner = state.article_numbers.get(number)
    if owner is not None and owner != rec["Id"]:
        raise VismaError(
            400,
            CONFLICT,
            f"Number: an article with number '{number}' already exists",
            [{"Field": "Number", "ErrorCode": str(CONFLICT), "Message": "Duplicate", "Key": None}],
        )
    return rec


def store_article(api: Api, rec: dict[str, Any], previous_number: str | None = None) -> None:
    state = api.state
    if previous_number is not None and state.article_numbers.get(previous_number) == rec["Id"]:
        del state.article_numbers[previous_number]
    rec["ChangedUtc"] = api.stamp()
    state.table("articles")[rec["Id"]] = rec
    state.article_numbers[str(rec["Number"])] = rec["Id"]
    state.touch()


def register(api: Api) -> None:
    state = api.state
    articles = state.table("articles")

    async def list_articles(call: Call) -> Any:
        customer_id = call.query.get("customerId")
        if customer_id and norm_id(customer_id) not in state.table("customers"):
            raise reference_not_found("customerId", "Customer", customer_id)
        return api.list_response(call, list(articles.values()), SCHEMA)

    async def create(call: Call) -> Any:
        rec = build_article(api, call.body or {}, None)
        store_article(api, rec)
        return rec

    async def get(call: Call) -> Any:
        rec = articles.get(call.path["articleId"])
        if rec is None:
            raise not_found("Article", call.path["articleId"])
        return rec

    async def update(call: Call) -> Any:
        existing = articles.get(call.path["articleId"])
        if existing is None:
            raise not_found("Article", call.path["articleId"])
        rec = build_article(api, call.body or {}, existing)
        store_article(api, rec, str(existing.get("Number")))
        return rec

    api.route("GET", "/articles", list_articles)
    api.route("POST", "/articles", create, status=201)
    api.route("GET", "/articles/{articleId}", get)
    api.route("PUT", "/articles/{articleId}", update)
