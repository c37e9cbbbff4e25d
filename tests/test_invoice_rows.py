"""Shop lines → Visma rows (issue 10 §2): the worked examples of docs/invoice-rows.md, each one a test.

Unit-level on the row planner (`visma/rows.py`) with orders mapped from Starweb wire data, then end to
end through both sandboxes: the draft's rows look like the shop's receipt, and Visma's totals and VAT
per rate (read from the invoice the draft becomes) equal the shop's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shopbridge.domain.models import Order
from shopbridge.sandbox.starweb.orders import item_net
from shopbridge.starweb.mapping import order_from_wire
from shopbridge.store import TransferState
from shopbridge.sync.base import Hint
from shopbridge.visma.mapping import visma_rate
from shopbridge.visma.rows import PlannedRow, plan_rows, visma_row_amount
from test_orders_flow import customers, visma_skus

from e2e import Env, dec, env_fixture

D = Decimal


def shop_order(items: list[dict[str, Any]], *, shipping: str | None = None, ship_rate: str = "25") -> Order:
    """A Starweb order (wire data, totals as Starweb computes them) mapped to the domain."""
    wire_items = [
        {
            "itemId": i,
            "sku": it.get("sku", f"SKU-{i}"),
            "description": it.get("name", f"Vara {i}"),
            "quantity": it["quantity"],
            "unitPrice": D(it["price"]),
            "vatRate": D(it.get("rate", "25")),
            "discount": D(it["discount"]) if "discount" in it else None,
            "discountType": it.get("type", "percent"),
        }
        for i, it in enumerate(items, start=1)
    ]
    nets: dict[Decimal, Decimal] = {}
    for it in wire_items:
        nets[it["vatRate"]] = nets.get(it["vatRate"], D(0)) + item_net(it)
    if shipping:
        nets[D(ship_rate)] = nets.get(D(ship_rate), D(0)) + D(shipping)
    vat = sum(((n * r / 100).quantize(D("0.01"), rounding="ROUND_HALF_UP") for r, n in nets.items()), D(0))
    wire = {
        "orderId": 1,
        "createdAt": "2026-11-02T10:00:00Z",
        "currencyCode": "SEK",
        "items": wire_items,
        "shippingCost": D(shipping) if shipping else None,
        "shippingVatRate": D(ship_rate),
        "totalAmount": sum(nets.values(), D(0)) + vat,
        "totalVat": vat,
    }
    return order_from_wire(wire)


def receipt(rows: list[PlannedRow]) -> list[tuple[str, str, str | None, str]]:
    """Rows as (quantity, unit price, discount, amount), adjustment rows marked 'adj'."""
    return [
        (
            "adj" if r.is_adjustment else str(r.quantity),
            str(r.unit_price),
            None if r.discount is None else str(r.discount),
            str(r.amount),
        )
        for r in rows
    ]


def per_rate(rows: list[PlannedRow]) -> dict[Decimal, Decimal]:
    out: dict[Decimal, Decimal] = {}
    for r in rows:
        out[r.rate] = out.get(r.rate, D(0)) + r.amount
    return out


# ------------------------------------------------------------------ worked examples (docs/invoice-rows.md)


def test_example_1_net_prices_rows_are_the_shops() -> None:
    """A company buyer (prices excl. VAT), two rates and shipping: every row is the shop's, no adjustment."""
    order = shop_order(
        [{"quantity": 2, "price": "159.20"}, {"quantity": 1, "price": "45.50", "rate": "12"}],
        shipping="39.20",
    )
    rows = plan_rows(order, gross=False, places=2)
    assert receipt(rows) == [
        ("2", "159.20", None, "318.40"),
        ("1", "45.50", None, "45.50"),
        ("1", "39.20", None, "39.20"),
    ]
    assert per_rate(rows) == {D(25): D("357.60"), D(12): D("45.50")}


def test_example_2_incl_vat_percent_discount_stays_a_discount() -> None:
    """The issue's line: 1 × 1599.00 excl. VAT less 15 %, shown incl. VAT: 1 × 1998.75 less 15 %."""
    order = shop_order([{"quantity": 1, "price": "1599.00", "discount": "15"}])
    rows = plan_rows(order, gross=True, places=2)
    assert receipt(rows) == [("1", "1998.75", "0.15", "1698.94")]
    assert order.total_inc_vat == D("1698.94")  # the shop: 1359.15 + 339.79


def test_example_3_incl_vat_two_books_one_row_and_one_ore() -> None:
    """2 × Bok at 189.62 excl. 6 %: one row 2 × 201.00 (not 200.99 + 201.00) and a −0.01 adjustment."""
    order = shop_order([{"quantity": 2, "price": "189.62", "rate": "6", "name": "Bok"}])
    rows = plan_rows(order, gross=True, places=2)
    assert receipt(rows) == [("2", "201.00", None, "402.00"), ("adj", "-0.01", None, "-0.01")]
    assert rows[1].rate == D(6)
    assert sum(r.amount for r in rows) == order.total_inc_vat == D("401.99")


def test_example_4_net_percent_discount_on_a_half_ore() -> None:
    """1 × 100.10 less 15 %: the shop rounds the discount (15.015 → 15.02, row 85.08), Visma the row
    (85.085 → 85.09). The row stays the shop's; the öre goes on the adjustment row."""
    order = shop_order([{"quantity": 1, "price": "100.10", "discount": "15"}])
    rows = plan_rows(order, gross=False, places=2)
    assert receipt(rows) == [("1", "100.10", "0.15", "85.09"), ("adj", "-0.01", None, "-0.01")]
    assert order.lines[0].line_total_ex_vat == D("85.08")


def test_example_5_amount_discounts() -> None:
    """Amount discounts: the percentage that gives the amount (4 × 25.00 less 20.00 = less 20 %); when
    none does, the closest of that percentage and the discounted unit price, ties to the percentage."""
    order = shop_order(
        [
            {"quantity": 4, "price": "25.00", "discount": "20.00", "type": "amount"},
            {"quantity": 3, "price": "100.00", "discount": "10.00", "type": "amount"},
            {"quantity": 1, "price": "103.20", "discount": "6.00", "type": "amount"},
        ]
    )
    rows = plan_rows(order, gross=False, places=2)
    assert receipt(rows) == [
        ("4", "25.00", "0.2", "80.00"),
        ("3", "100.00", "0.0333", "290.01"),  # 3.33 %: 290.01; 96.67 a piece would be 290.01 too
        ("1", "103.20", "0.0581", "97.20"),  # 6.00 off 103.20 is 5.81 %: 97.204 gives 97.20
        ("adj", "-0.01", None, "-0.01"),
    ]


def test_example_5b_amount_discount_incl_vat() -> None:
    """Incl. VAT, 1 × 129.00 less 7.50 (6.00 excl.): 5.81 % gives 121.51, the unit price 121.50 exactly."""
    order = shop_order([{"quantity": 1, "price": "103.20", "discount": "6.00", "type": "amount"}])
    rows = plan_rows(order, gross=True, places=2)
    assert receipt(rows) == [("1", "121.50", None, "121.50")]


def test_example_6_mixed_rates_incl_vat_one_adjustment_per_rate_at_most() -> None:
    """Each VAT rate's rows add up to the shop's amount of that rate, so each rate's VAT is the shop's."""
    order = shop_order(
        [
            {"quantity": 3, "price": "79.99", "rate": "25"},
            {"quantity": 2, "price": "189.62", "rate": "6"},
            {"quantity": 5, "price": "12.33", "rate": "12"},
        ],
        shipping="39.20",
    )
    rows = plan_rows(order, gross=True, places=2)
    summary = order.stated_summary()
    assert per_rate(rows) == {line.rate: line.gross for line in summary.lines}
    adjustments = [r for r in rows if r.is_adjustment]
    assert len(adjustments) <= len(summary.lines)
    assert len({r.rate for r in adjustments}) == len(adjustments)
    assert len(rows) == len(order.lines) + len(adjustments)


def test_visma_row_amount_rounds_half_up_once() -> None:
    assert visma_row_amount(D(1), D("100.10"), D("0.15")) == D("85.09")
    assert visma_row_amount(D(3), D("100.45")) == D("301.35")
    assert visma_row_amount(D(1), D("-100.45"), D("0.5")) == D("-50.23")  # away from zero


# ------------------------------------------------------------------ end to end through both sandboxes

pytestmark_e2e = pytest.mark.asyncio(loop_scope="session")
env = env_fixture("invoice_rows")


async def transferred_draft(env: Env, order: dict[str, Any]) -> dict[str, Any]:
    await env.sweep([Hint("order", str(order["orderId"]))])
    t = env.transfer(order["orderId"])
    assert t.state == TransferState.TRANSFERRED, t.last_error
    [draft] = await env.documents_for(order["orderId"])
    return draft


async def invoice_of(env: Env, draft: dict[str, Any]) -> dict[str, Any]:
    """The draft converted into a customer invoice: Visma's own VAT per rate (`VatSpecification`)."""
    async with env.context() as ctx:
        return await ctx.visma.request("POST", f"customerinvoicedrafts/{draft['Id']}/convert", json={})


def shop_vat_per_rate(order: dict[str, Any]) -> dict[Decimal, tuple[Decimal, Decimal]]:
    """(net, VAT) per rate as Starweb computes them."""
    nets: dict[Decimal, Decimal] = {}
    for it in order["items"]["data"]:
        it = {**it, "unitPrice": dec(it["unitPrice"]), "quantity": dec(it["quantity"])}
        it["discount"] = dec(it["discount"]) if it.get("discount") else None
        nets[dec(it["vatRate"])] = nets.get(dec(it["vatRate"]), D(0)) + item_net(it)
    for amount, rate in (
        (order["shippingCost"], order["shippingVatRate"]),
        (order["paymentFee"], order["paymentVatRate"]),
    ):
        if dec(amount):
            nets[dec(rate)] = nets.get(dec(rate), D(0)) + dec(amount)
    return {
        visma_rate(r): (n, (n * r / 100).quantize(D("0.01"), rounding="ROUND_HALF_UP"))
        for r, n in nets.items()
    }


def assert_books_equal_shop(order: dict[str, Any], invoice: dict[str, Any]) -> None:
    roundings = dec(invoice.get("TotalRoundingsInvoiceCurrency") or invoice.get("TotalRoundings") or 0)
    assert dec(invoice["TotalAmountInvoiceCurrency"]) - roundings == dec(order["totalAmount"])
    assert dec(invoice["TotalVatAmountInvoiceCurrency"]) == dec(order["totalVat"])
    visma = {
        visma_rate(v["VatPercent"]): (dec(v["AmountInvoiceCurrency"]), dec(v["VatAmountInvoiceCurrency"]))
        for v in invoice["VatSpecification"]
    }
    shop = shop_vat_per_rate(order)
    assert {r: vat for r, (_, vat) in visma.items() if vat or r in shop} == {
        r: vat for r, (_, vat) in shop.items()
    }
    assert {r: net for r, (net, _) in visma.items() if net or r in shop} == {
        r: net for r, (net, _) in shop.items()
    }


@pytestmark_e2e
async def test_e2e_private_incl_vat_receipt_rows(env: Env) -> None:
    """A private customer (prices incl. VAT): 1 × 1998.75 less 15 %, 2 × 201.00 (Bok, 6 %), shipping,
    one öre adjustment at 6 %; Visma's total and VAT per rate equal the shop's."""
    who = await customers(env)
    [sku] = await visma_skus(env, 1)
    [book] = await visma_skus(env, 1, "6")
    order = await env.new_order(
        [
            {
                "sku": sku,
                "quantity": 1,
                "unitPrice": 1599,
                "vatRate": 25,
                "discount": 15,
                "discountType": "percent",
            },
            {"sku": book, "quantity": 2, "unitPrice": 189.62, "vatRate": 6},
        ],
        customerId=who["se_person"],
        shippingCost=39.20,
    )
    draft = await transferred_draft(env, order)
    assert draft["IncludesVat"] is True
    rows = [
        (dec(r["Quantity"]), dec(r["UnitPrice"]), dec(r["DiscountPercentage"]), dec(r["Amount"]))
        for r in draft["Rows"]
    ]
    assert rows == [
        (1, D("1998.75"), D("0.15"), D("1698.94")),
        (2, D("201.00"), 0, D("402.00")),
        (1, D("49.00"), 0, D("49.00")),
        (1, D("-0.01"), 0, D("-0.01")),
    ]
    assert draft["Rows"][3]["ArticleNumber"] == "ORESJUST6"
    [said] = [w for w in env.transfer(order["orderId"]).warnings if w["code"] == "ore_adjustment"]
    assert said["value"] == "-0.01" and "6 %" in said["message"]  # never silent
    assert draft["Rows"][3]["Text"] == "Öresjustering"
    assert visma_rate(draft["Rows"][3]["VatRate"]) == 6
    assert_books_equal_shop(order, await invoice_of(env, draft))


@pytestmark_e2e
async def test_e2e_company_net_prices_one_row_per_line(env: Env) -> None:
    """A company buyer (prices excl. VAT), percent and amount discounts over two rates: one row per line."""
    who = await customers(env)
    a, b = await visma_skus(env, 2)
    [food] = await visma_skus(env, 1, "12")
    items = [
        {
            "sku": a,
            "quantity": 3,
            "unitPrice": 159.20,
            "vatRate": 25,
            "discount": 10,
            "discountType": "percent",
        },
        {"sku": b, "quantity": 4, "unitPrice": 25, "vatRate": 25, "discount": 20, "discountType": "amount"},
        {"sku": food, "quantity": 2, "unitPrice": 45.50, "vatRate": 12},
    ]
    order = await env.new_order(items, customerId=who["se_company"], shippingCost=39.20)
    draft = await transferred_draft(env, order)
    assert draft["IncludesVat"] is False
    assert len(draft["Rows"]) == len(items) + 1  # + shipping, no adjustment
    assert [(dec(r["UnitPrice"]), dec(r["DiscountPercentage"])) for r in draft["Rows"]] == [
        (D("159.20"), D("0.1")),
        (D("25"), D("0.2")),
        (D("45.50"), 0),
        (D("39.20"), 0),
    ]
    assert_books_equal_shop(order, await invoice_of(env, draft))


async def coding_of(env: Env, article_number: str) -> dict[str, Any]:
    [article] = (await env.visma_get("articles", **{"$filter": f"Number eq '{article_number}'"}))["Data"]
    codings = (await env.visma_get("articleaccountcodings"))["Data"]
    return next(c for c in codings if c["Id"] == article["CodingId"])


@pytestmark_e2e
@pytest.mark.parametrize("buyer, where", [("eu_company", "eu"), ("no_person", "export")])
async def test_e2e_shipping_and_fee_follow_the_goods(env: Env, buyer: str, where: str) -> None:
    """EU reverse charge and export: freight and fee rows on goods-coded articles made for that treatment
    (EU: account 3108, export: 3105), never the domestic service articles (FRAKT, FAKTURAAVGIFT)."""
    who = await customers(env)
    [sku] = await visma_skus(env, 1)
    order = await env.new_order(
        [{"sku": sku, "quantity": 2, "unitPrice": 200, "vatRate": 0}],
        customerId=who[buyer],
        shippingCost=9.90,
        shippingVatRate=0,
        paymentFee=20,
        paymentVatRate=0,
    )
    draft = await transferred_draft(env, order)
    numbers = [r["ArticleNumber"] for r in draft["Rows"]]
    shipping, fee = (f"FRAKT-{where.upper()}", f"AVGIFT-{where.upper()}")
    assert numbers[1:] == [shipping, fee], numbers
    for row in draft["Rows"][1:]:
        assert row["IsServiceArticle"] is False
        assert dec(row["VatRate"]) == 0
    field = (
        "ForeignSalesVatExemptWithinEuAccountNumber"
        if where == "eu"
        else "ForeignSalesVatExemptOutsideEuAccountNumber"
    )
    for number in (shipping, fee):
        coding = await coding_of(env, number)
        assert coding["Type"] == "Goods"
        assert coding[field] == (3108 if where == "eu" else 3105)
    assert dec(draft["TotalVatAmount"]) == 0
    assert dec(draft["TotalAmount"]) == dec(order["totalAmount"])


@pytestmark_e2e
async def test_e2e_missing_foreign_charge_article_waits_with_a_sentence(env: Env) -> None:
    """Never the domestic service article as a fallback: the order waits and says what to do."""
    who = await customers(env)
    [sku] = await visma_skus(env, 1)
    env.configure(foreign_charge_articles={"shipping_eu": "NO-SUCH-FRAKT"})
    try:
        order = await env.new_order(
            [{"sku": sku, "quantity": 1, "unitPrice": 100, "vatRate": 0}],
            customerId=who["eu_company"],
            shippingCost=9.90,
            shippingVatRate=0,
        )
        await env.sweep([Hint("order", str(order["orderId"]))])
        t = env.transfer(order["orderId"])
        assert t.state == TransferState.WAITING_FOR_FIX
        assert "shipping_eu rows, NO-SUCH-FRAKT, does not exist in Visma" in t.last_error
        assert "doctor --fix" in t.last_error
        assert await env.documents_for(order["orderId"]) == []
    finally:
        env.configure(foreign_charge_articles=None)
