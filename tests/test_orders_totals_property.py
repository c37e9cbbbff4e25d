"""Property: for generated orders, the Visma document's total and VAT per rate equal the shop's, to the öre,
with one Visma row per shop line plus at most one öre adjustment row per VAT rate.

Orders are generated (items with any price, quantity, VAT rate, percent or amount discount; shipping;
payment fee; private or company buyer; SEK or EUR), created in the Starweb sandbox, transferred over
real HTTP, and the resulting Visma draft is compared with the Starweb order.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from shopbridge.store import TransferState
from shopbridge.sync.base import Hint
from shopbridge.sync.orders import OrderFlow
from shopbridge.visma.mapping import visma_rate

from e2e import Env, dec

RATES = ["25", "12", "6"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Any:
    e = Env(tmp_path_factory.mktemp("property"))
    loop = asyncio.new_event_loop()
    loop.run_until_complete(e.connect())
    e.loop = loop  # type: ignore[attr-defined]
    e.skus = loop.run_until_complete(skus_by_rate(e))  # type: ignore[attr-defined]
    e.buyers = loop.run_until_complete(buyers(e))  # type: ignore[attr-defined]
    e.ctx = e.context()  # type: ignore[attr-defined]  # one context: reference data stays cached
    yield e
    loop.run_until_complete(e.ctx.aclose())  # type: ignore[attr-defined]
    loop.close()
    e.close()


async def skus_by_rate(env: Env) -> dict[str, list[str]]:
    codings = {
        c["Id"]: visma_rate(c["VatRatePercent"])
        for c in (await env.visma_get("articleaccountcodings"))["Data"]
    }
    out: dict[str, list[str]] = {r: [] for r in RATES}
    for a in (await env.visma_get("articles", **{"$pagesize": 500}))["Data"]:
        rate = codings.get(a["CodingId"])
        if a["IsActive"] and a["Number"].startswith("SW-") and rate is not None and str(rate) in out:
            out[str(rate)].append(a["Number"])
    return out


async def buyers(env: Env) -> dict[str, int]:
    out: dict[str, int] = {}
    body = await env.shop("GET", "customers", params={"include": "addresses"})
    for c in body["data"]:
        vat = c.get("vatNo") or ""
        addresses = (c.get("addresses") or {}).get("data") or {}
        country = (
            {a.get("countryCode") for a in addresses.values() if isinstance(a, dict)}
            if isinstance(addresses, dict)
            else set()
        )
        if c["type"] == "person" and not vat and country == {"SE"}:
            out.setdefault("private", c["customerId"])
        if c["type"] == "company" and vat.startswith("SE"):
            out.setdefault("company", c["customerId"])
    return out


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999.99"), places=2)
item = st.fixed_dictionaries(
    {
        "rate": st.sampled_from(RATES),
        "quantity": st.integers(min_value=1, max_value=25),
        "price": money,
        "discount": st.one_of(
            st.none(),
            st.tuples(st.just("percent"), st.integers(min_value=1, max_value=60)),
            st.tuples(
                st.just("amount"), st.decimals(min_value=Decimal("0.01"), max_value=Decimal("50"), places=2)
            ),
        ),
    }
)


@settings(
    max_examples=int(os.environ.get("SHOPBRIDGE_PROPERTY_EXAMPLES", "30")),
    phases=[
        Phase.explicit,
        Phase.reuse,
        Phase.generate,
        *([] if os.environ.get("NO_SHRINK") else [Phase.shrink]),
    ],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    items=st.lists(item, min_size=1, max_size=5),
    shipping=st.one_of(st.none(), st.decimals(min_value=Decimal("0"), max_value=Decimal("199"), places=2)),
    fee=st.booleans(),
    buyer=st.sampled_from(["private", "company"]),
    currency=st.sampled_from(["SEK", "SEK", "EUR"]),
)
def test_visma_totals_equal_the_shops(
    env: Any, items: list[dict[str, Any]], shipping: Decimal | None, fee: bool, buyer: str, currency: str
) -> None:
    rows = []
    for i, it in enumerate(items):
        sku = env.skus[it["rate"]][i % len(env.skus[it["rate"]])]
        row: dict[str, Any] = {
            "sku": sku,
            "quantity": it["quantity"],
            "unitPrice": it["price"],
            "vatRate": int(it["rate"]),
        }
        if it["discount"]:
            kind, value = it["discount"]
            if kind == "amount" and value >= it["price"] * it["quantity"]:
                value = Decimal("0.01")
            row.update(discountType=kind, discount=value)
        rows.append(row)
    fields: dict[str, Any] = {"customerId": env.buyers[buyer], "currencyCode": currency}
    assume(
        any(_line_net(r) > 0 for r in rows)
    )  # an order of nothing is refused on purpose (tested elsewhere)
    if shipping is not None:
        fields["shippingCost"] = shipping
    if fee:
        fields["paymentMethodId"] = 3
    loop = env.loop
    order = loop.run_until_complete(env.new_order(_json(rows), **_json(fields)))
    loop.run_until_complete(OrderFlow(env.ctx).sweep([Hint("order", str(order["orderId"]))]))
    t = env.transfer(order["orderId"])
    assert t.state == TransferState.TRANSFERRED, (t.state, t.last_error, t.details, rows, fields)
    [draft] = loop.run_until_complete(env.documents_for(order["orderId"]))
    shown = (rows, fields, order["totalAmount"], order["totalVat"], draft["IncludesVat"], draft["Rows"])
    if os.environ.get("PROPERTY_DUMP"):
        with open(os.environ["PROPERTY_DUMP"], "w") as fh:
            fh.write(repr({"order": order, "draft": draft}))
    assert dec(draft["TotalAmount"]) - dec(draft.get("TotalRoundings") or 0) == dec(order["totalAmount"]), (
        shown
    )
    assert dec(draft["TotalVatAmount"]) == dec(order["totalVat"])
    assert draft["InvoiceCurrencyCode"] == order["currencyCode"]
    shop_vat = _shop_vat_per_rate(order)
    visma_gross: dict[Decimal, Decimal] = {}
    for r in draft["Rows"]:
        rate = visma_rate(r["VatRate"])
        visma_gross[rate] = visma_gross.get(rate, Decimal(0)) + dec(r["Amount"])
    for rate, (net, vat) in shop_vat.items():
        expected = net + vat if draft["IncludesVat"] else net
        assert visma_gross.get(rate, Decimal(0)) == expected, (rate, visma_gross, shop_vat)
    # one row per shop line, plus at most one öre adjustment row per VAT rate (docs/invoice-rows.md)
    lines = len(rows) + (shipping is not None and shipping > 0) + (dec(order.get("paymentFee") or 0) > 0)
    adjustments = [r for r in draft["Rows"] if r["ArticleNumber"].startswith("ORESJUST")]
    assert len(draft["Rows"]) == lines + len(adjustments), shown
    assert len({visma_rate(r["VatRate"]) for r in adjustments}) == len(adjustments), shown
    for shop_row, visma_row in zip(rows, draft["Rows"], strict=False):  # the shop's quantity and percent
        assert dec(visma_row["Quantity"]) == shop_row["quantity"], shown
        if shop_row.get("discountType") == "percent":
            assert dec(visma_row["DiscountPercentage"]) * 100 == shop_row["discount"], shown
    bound = Decimal("0.005") * (sum(it["quantity"] for it in items) + lines + 1)  # per-row roundings at most
    assert all(abs(dec(r["Amount"])) <= bound for r in adjustments), shown


def _line_net(row: dict[str, Any]) -> Decimal:
    gross = Decimal(str(row["unitPrice"])) * row["quantity"]
    disc = Decimal(str(row.get("discount") or 0))
    if row.get("discountType") == "amount":
        return gross - disc
    return gross - (gross * disc / 100).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")


def _shop_vat_per_rate(order: dict[str, Any]) -> dict[Decimal, tuple[Decimal, Decimal]]:
    """Net and VAT per rate as the shop computes them (VAT per rate on the summed nets)."""
    nets: dict[Decimal, Decimal] = {}
    for it in order["items"]["data"]:
        gross = (dec(it["unitPrice"]) * dec(it["quantity"])).quantize(Decimal("0.01"))
        disc = dec(it.get("discount") or 0)
        if it.get("discountType") == "amount":
            net = gross - disc
        else:
            net = gross - (gross * disc / 100).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        rate = dec(it["vatRate"]).normalize()
        nets[rate] = nets.get(rate, Decimal(0)) + net
    for amount, rate in (
        (order.get("shippingCost"), order.get("shippingVatRate")),
        (order.get("paymentFee"), order.get("paymentVatRate")),
    ):
        if amount and dec(amount):
            r = dec(rate).normalize()
            nets[r] = nets.get(r, Decimal(0)) + dec(amount)
    return {
        visma_rate(r): (n, (n * r / 100).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP"))
        for r, n in nets.items()
    }


def _json(value: Any) -> Any:
    """Decimals as JSON numbers (strings would be refused by the spec)."""
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


# ---------------------------------------------------------------------- drift: moves and edits
PLACES = [
    ("Storgatan 1", "11122", "Stockholm"),
    ("Nygatan 5", "22233", "Lund"),
    ("Ågatan 9", "75320", "Uppsala"),
]
plain_item = st.fixed_dictionaries(
    {
        "rate": st.sampled_from(RATES),
        "quantity": st.integers(min_value=1, max_value=25),
        "price": money,
        "percent": st.one_of(st.none(), st.integers(min_value=1, max_value=60)),
    }
)
edit = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "quantity": st.integers(min_value=1, max_value=30),
            "shipping": st.one_of(
                st.none(), st.decimals(min_value=Decimal("0"), max_value=Decimal("199"), places=2)
            ),
            "drop_last": st.booleans(),
        }
    ),
)


@settings(
    max_examples=int(os.environ.get("SHOPBRIDGE_PROPERTY_DRIFT_EXAMPLES", "8")),
    phases=[
        Phase.explicit,
        Phase.reuse,
        Phase.generate,
        *([] if os.environ.get("NO_SHRINK") else [Phase.shrink]),
    ],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    items=st.lists(plain_item, min_size=2, max_size=4),
    moves=st.lists(st.integers(min_value=0, max_value=len(PLACES) - 1), min_size=2, max_size=3),
    change=edit,
)
def test_a_customer_who_moves_and_an_order_edited_after_transfer_stay_equal_in_visma(
    env: Any, items: list[dict[str, Any]], moves: list[int], change: dict[str, Any] | None
) -> None:
    """One guest (one e-mail) orders from each place in turn; the last order may be edited after its
    transfer. The Visma customer and document follow the order; totals and VAT per rate stay the shop's."""
    loop = env.loop
    email = f"drift-{uuid.uuid4().hex[:10]}@example.se"
    rows = []
    for i, it in enumerate(items):
        row: dict[str, Any] = {
            "sku": env.skus[it["rate"]][i % len(env.skus[it["rate"]])],
            "quantity": it["quantity"],
            "unitPrice": it["price"],
            "vatRate": int(it["rate"]),
        }
        if it["percent"]:
            row.update(discountType="percent", discount=it["percent"])
        rows.append(row)
    order: dict[str, Any] = {}
    for where in moves:
        street, postal, city = PLACES[where]
        place = {"firstName": "Drift", "lastName": "Kund", "address": street, "postalCode": postal}
        place.update(city=city, countryCode="SE")
        fields = {"customerId": None, "originalCustomerEmail": email}
        fields["addresses"] = {"customerInvoice": place, "customerDelivery": dict(place)}
        order = loop.run_until_complete(env.new_order(_json(rows), **fields))
        loop.run_until_complete(OrderFlow(env.ctx).sweep([Hint("order", str(order["orderId"]))]))
        t = env.transfer(order["orderId"])
        assert t.state == TransferState.TRANSFERRED, (t.state, t.last_error)
    oid = order["orderId"]
    if change is not None:
        loop.run_until_complete(OrderFlow(env.ctx).sweep())  # the watch has seen it as transferred
        data = order["items"]["data"]
        first, last = data[0], data[-1]
        loop.run_until_complete(
            env.shop("PATCH", f"orders/{oid}/items/{first['itemId']}", json={"quantity": change["quantity"]})
        )
        if change["drop_last"]:
            loop.run_until_complete(env.shop("DELETE", f"orders/{oid}/items/{last['itemId']}"))
        if change["shipping"] is not None:
            loop.run_until_complete(
                env.shop("PATCH", f"orders/{oid}", json=_json({"shippingCost": change["shipping"]}))
            )
        loop.run_until_complete(OrderFlow(env.ctx).sweep())
        t = env.transfer(oid)
        assert t.state == TransferState.TRANSFERRED, (t.state, t.last_error, t.details)
    now = loop.run_until_complete(env.shop("GET", f"orders/{oid}", params={"include": "items"}))["data"]
    [draft] = loop.run_until_complete(env.documents_for(oid))
    street, postal, city = PLACES[moves[-1]]
    assert (draft["InvoiceAddress1"], draft["InvoicePostalCode"], draft["InvoiceCity"]) == (
        street,
        postal,
        city,
    )
    customer = loop.run_until_complete(env.visma_get(f"customers/{draft['CustomerId']}"))
    assert (customer["InvoiceAddress1"], customer["InvoiceCity"]) == (street, city)
    assert dec(draft["TotalAmount"]) - dec(draft.get("TotalRoundings") or 0) == dec(now["totalAmount"])
    assert dec(draft["TotalVatAmount"]) == dec(now["totalVat"])
    visma_gross: dict[Decimal, Decimal] = {}
    for r in draft["Rows"]:
        if r.get("IsTextRow"):
            continue
        rate = visma_rate(r["VatRate"])
        visma_gross[rate] = visma_gross.get(rate, Decimal(0)) + dec(r["Amount"])
    for rate, (net, vat) in _shop_vat_per_rate(now).items():
        assert visma_gross.get(rate, Decimal(0)) == (net + vat if draft["IncludesVat"] else net)
