"""Admin-side catalogue helpers of the Visma sandbox (routes in `admin.py`).

* `seed_articles`: bulk-create N active stock articles straight in the tables (benches, big tests).
* `change_stock`: what a POS sale or a manual stock count in Visma's UI does to an article.
* `change_price`: a price or campaign change made in Visma's UI.

Every change bumps the articles' ``ChangedUtc`` (one server stamp per call), so polling with
``$filter=ChangedUtc gt <Meta.ServerTimeUtc>`` sees it.  Errors are `AdminError` (status + message).
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from .api_base import Api
from .errors import VismaError
from .pricing import ZERO, dec, q2
from .seed import goods_article, sid

SCHEMA = "ArticleApi"
MAX_ARTICLES = 500_000
NUMBER_MAX = 40
_PREFIX_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
VIEW_FIELDS = (
    "Id",
    "Number",
    "Name",
    "IsActive",
    "NetPrice",
    "NetPriceWithDiscount",
    "GrossPrice",
    "StockBalance",
    "StockBalanceReserved",
    "StockBalanceAvailable",
    "StockBalanceManuallyChangedUtc",
    "ChangedUtc",
)


class AdminError(Exception):
    """A refused admin request: HTTP status and a plain message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _number(value: Any, name: str, *, minimum: Decimal | None = None) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise AdminError(400, f"{name} must be a number")
    try:
        number = dec(value)
    except (ValueError, InvalidOperation) as exc:
        raise AdminError(400, f"{name} must be a number") from exc
    if not number.is_finite() or abs(number) >= Decimal(10) ** 12:
        raise AdminError(400, f"{name} is out of range")
    if minimum is not None and number < minimum:
        raise AdminError(400, f"{name} must be at least {minimum}")
    return number


def _whole(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise AdminError(400, f"{name} must be a whole number between {low} and {high}")
    return value


def view(rec: dict[str, Any]) -> dict[str, Any]:
    """The stock and price fields of an article (admin answers)."""
    return {k: rec.get(k) for k in VIEW_FIELDS}


# ---- bulk seeding --------------------------------------------------------------------------------


def _coding_for(api: Api, rate_percent: Decimal) -> dict[str, Any]:
    fraction = rate_percent / 100
    goods = [
        c
        for c in api.state.table("articleaccountcodings").values()
        if c.get("IsActive", True) and c.get("Type") == "Goods" and dec(c.get("VatRatePercent")) == fraction
    ]
    if not goods:
        raise AdminError(400, f"no active goods account coding with VAT {rate_percent} % in this company")
    return goods[0]


def _unit_st(api: Api) -> dict[str, Any]:
    for unit in api.state.table("units").values():
        if unit.get("Abbreviation") == "st":
            return unit
    raise AdminError(400, "the company has no unit with the abbreviation 'st'")


def seed_articles(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    """Create `articles` stock articles ``{prefix}-{i:06d}`` (i = start ..); nothing is stored on error."""
    known = {"articles", "prefix", "net_price", "stock", "vat_rate", "start", "purchase_price"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise AdminError(400, f"unknown field(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    count = _whole(body, "articles", 0, 0, MAX_ARTICLES)
    start = _whole(body, "start", 1, 0, 999_999)
    prefix = body.get("prefix", "BULK")
    if not isinstance(prefix, str) or not prefix or not set(prefix) <= _PREFIX_CHARS:
        raise AdminError(400, "prefix must be A-Z a-z 0-9 . _ - characters")
    if len(prefix) + 7 > NUMBER_MAX:
        raise AdminError(400, f"prefix is too long: article numbers are at most {NUMBER_MAX} characters")
    if start + count - 1 > 999_999:
        raise AdminError(400, "start + articles - 1 must stay below 1000000 (six-digit numbers)")
    net = q2(_number(body.get("net_price", "199.00"), "net_price", minimum=ZERO))
    purchase = q2(_number(body.get("purchase_price", "0"), "purchase_price", minimum=ZERO))
    stock = _number(body.get("stock", 10), "stock")
    rate = _number(body.get("vat_rate", 25), "vat_rate", minimum=ZERO)
    coding, unit = _coding_for(api, rate), _unit_st(api)
    state = api.state
    articles = state.table("articles")
    numbers = [f"{prefix}-{i:06d}" for i in range(start, start + count)]
    for number in numbers:
        if number in state.article_numbers:
            raise AdminError(400, f"Number: an article with number '{number}' already exists")
    gross = q2(net * (1 + dec(coding.get("VatRatePercent"))))
    stamp = api.stamp()
    fixed = {"IsActive": True} | goods_article(
        net=net,
        gross=gross,
        coding=(coding["Id"], coding.get("Name")),
        unit=(unit["Id"], unit.get("Name"), unit.get("Abbreviation")),
        stock=stock,
        purchase=purchase,
        stamp=stamp,
    )
    for i, number in zip(range(start, start + count), numbers, strict=True):
        aid = sid("article", number)
        if aid in articles:
            aid = str(uuid.uuid4())
        rec = api.spec.blank(SCHEMA)
        rec.update(fixed)
        rec["Id"] = aid
        rec["Number"] = number
        rec["Name"] = f"Bulk article {i}"
        articles[aid] = rec
        state.article_numbers[number] = aid
    state.touch()
    return {
        "created": count,
        "first_number": numbers[0] if numbers else None,
        "last_number": numbers[-1] if numbers else None,
        "CodingId": coding["Id"],
        "UnitId": unit["Id"],
        "ChangedUtc": stamp,
        "articles_total": len(articles),
    }


# ---- changes made "in Visma's UI" ----------------------------------------------------------------


def _changes(body: dict[str, Any]) -> list[dict[str, Any]]:
    if "changes" in body:
        changes = body["changes"]
        if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
            raise AdminError(400, "changes must be a list of objects")
        return changes
    return [body]


def _article(api: Api, change: dict[str, Any], idx: int) -> dict[str, Any]:
    number = change.get("Number")
    if not isinstance(number, str) or not number:
        raise AdminError(400, f"changes[{idx}].Number is required")
    aid = api.state.article_numbers.get(number)
    rec = api.state.table("articles").get(aid or "")
    if rec is None:
        raise AdminError(404, f"no article with Number '{number}'")
    return rec


def change_stock(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    """Set (``StockBalance``) or move (``StockChange``, e.g. -1 for a POS sale) stock balances."""
    plan = []
    for idx, change in enumerate(_changes(body)):
        rec = _article(api, change, idx)
        if rec.get("IsServiceArticle"):
            raise AdminError(400, f"article '{rec['Number']}' is a service article and keeps no stock")
        if ("StockBalance" in change) == ("StockChange" in change):
            raise AdminError(400, f"changes[{idx}]: give exactly one of StockBalance and StockChange")
        if "StockBalance" in change:
            plan.append((rec, _number(change["StockBalance"], "StockBalance"), False))
        else:
            plan.append((rec, _number(change["StockChange"], "StockChange"), True))
    stamp = api.stamp()
    for rec, amount, relative in plan:
        balance = dec(rec.get("StockBalance")) + amount if relative else amount
        reserved = dec(rec.get("StockBalanceReserved"))
        rec["StockBalance"] = balance
        rec["StockBalanceReserved"] = reserved
        rec["StockBalanceAvailable"] = balance - reserved
        rec["StockValue"] = q2(balance * dec(rec.get("PurchasePrice"))) if rec.get("IsStock") else ZERO
        rec["StockBalanceManuallyChangedUtc"] = stamp
        rec["ChangedUtc"] = stamp
    api.state.touch()
    return {"changed": [view(rec) for rec, _a, _r in plan]}


def change_price(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    """Set ``NetPrice`` (and ``NetPriceWithDiscount``, default NetPrice); GrossPrice follows the coding."""
    plan = []
    for idx, change in enumerate(_changes(body)):
        rec = _article(api, change, idx)
        if "NetPrice" not in change:
            raise AdminError(400, f"changes[{idx}].NetPrice is required")
        net = q2(_number(change["NetPrice"], "NetPrice", minimum=ZERO))
        discounted = net
        if change.get("NetPriceWithDiscount") is not None:
            discounted = q2(_number(change["NetPriceWithDiscount"], "NetPriceWithDiscount", minimum=ZERO))
        plan.append((rec, net, discounted))
    codings = api.state.table("articleaccountcodings")
    stamp = api.stamp()
    priced = []
    for idx, (rec, net, discounted) in enumerate(plan):
        vat = dec(codings.get(rec.get("CodingId") or "", {}).get("VatRatePercent"))
        new = {**rec, "NetPrice": net, "NetPriceWithDiscount": discounted, "GrossPrice": q2(net * (1 + vat))}
        try:
            api.ensure_in_spec(new, "ArticleApi")  # the prices Visma itself would refuse
        except VismaError as exc:
            raise AdminError(400, f"changes[{idx}]: {exc.message}") from None
        priced.append((rec, new))
    for rec, new in priced:
        rec.update({k: new[k] for k in ("NetPrice", "NetPriceWithDiscount", "GrossPrice")})
        rec["ChangedUtc"] = stamp
    api.state.touch()
    return {"changed": [view(rec) for rec, _n, _d in plan]}
