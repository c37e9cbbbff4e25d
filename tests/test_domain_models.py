"""Neutral order models: Decimal fields, computed totals, gift cards as payment, JSON round trip."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from pydantic import ValidationError

from shopbridge.domain.models import Address, Customer, CustomerKind, LineKind, Order, OrderLine, Warning


def _order(**over):
    lines = [
        OrderLine(
            sku="MUG-1",
            name="Mugg",
            quantity=3,
            unit_price_ex_vat="100.00",
            vat_rate=25,
            discount_amount="10",
        ),
        OrderLine(
            sku="BOOK", name="Bok", quantity=1, unit_price_ex_vat="200.00", vat_rate="6", discount_percent=10
        ),
        OrderLine(kind=LineKind.SHIPPING, sku="FRAKT", name="Frakt", unit_price_ex_vat="49.00", vat_rate=25),
        OrderLine(kind=LineKind.DISCOUNT, name="Rabattkod SOMMAR", line_total_ex_vat="-20.00", vat_rate=25),
        OrderLine(kind=LineKind.GIFT_CARD, name="Presentkort", line_total_ex_vat="100.00"),
    ]
    data = {
        "source_shop_id": "demo",
        "order_id": 101,
        "number": 1001,
        "created_at": datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        "status_id": 2,
        "is_complete": True,
        "currency": "sek",
        "customer": Customer(
            kind=CustomerKind.COMPANY,
            name="Kaffe AB",
            org_number="556677-8899",
            vat_number="se556677889901",
            country_code="se",
            email="info@kaffe.se",
        ),
        "billing_address": Address(
            name="Kaffe AB", address1="Storgatan 1", postal_code="111 22", city="Stockholm", country_code="SE"
        ),
        "lines": lines,
        "total_ex_vat": "499.00",
        "total_inc_vat": "589.55",
        "vat_per_rate": {"25.00": "79.75", "6": "10.80"},
    }
    data.update(over)
    return Order(**data)


def test_line_totals_computed_to_the_ore():
    line = OrderLine(sku="A", quantity=3, unit_price_ex_vat="99.99", vat_rate=25, discount_percent="12.5")
    assert line.line_total_ex_vat == D("262.47")  # 299.97 * 0.875 = 262.47375
    assert OrderLine(quantity=3, unit_price_ex_vat="100", discount_amount="10").line_total_ex_vat == D(
        "290.00"
    )
    given = OrderLine(quantity=1, unit_price_ex_vat="10", line_total_ex_vat="9.99")
    assert given.line_total_ex_vat == D("9.99")  # the shop's figure wins when given


def test_floats_refused_everywhere():
    with pytest.raises(ValidationError, match="float"):
        OrderLine(quantity=1.0)
    with pytest.raises(ValidationError, match="float"):
        _order(total_ex_vat=499.0)


def test_order_normalises_and_validates():
    o = _order()
    assert o.order_id == "101" and o.number == "1001" and o.currency == "SEK"
    assert (
        o.customer.country_code == "SE"
        and o.customer.vat_number == "SE556677889901"
        and o.customer.is_company
    )
    assert set(o.vat_per_rate) == {D(25), D(6)}
    with pytest.raises(ValidationError):
        _order(created_at=datetime(2026, 11, 1, 12, 0))  # naive
    with pytest.raises(ValidationError):
        _order(currency="kronor")
    with pytest.raises(ValidationError):
        OrderLine(discount_percent=120)


def test_bad_input_is_accepted_for_the_flow_to_report():
    o = _order(customer=Customer(name="X", email="not-an-email"), billing_address=Address(name="X"))
    assert o.billing_address.postal_code is None and o.customer.email == "not-an-email"


def test_gift_card_is_a_payment_not_a_discount():
    o = _order()
    summary = o.vat_summary()
    assert [x.kind for x in o.sales_lines()].count(LineKind.GIFT_CARD) == 0
    assert o.gift_card_amount == D("100.00")
    assert summary.get(25).net == D("319.00")  # 290 + 49 - 20
    assert summary.get(6).net == D("180.00")
    assert summary.total_net == o.total_ex_vat
    assert summary.total_gross == o.total_inc_vat
    assert o.stated_summary().diff(summary) == []


def test_json_round_trip_keeps_decimals_exact():
    o = _order()
    raw = o.model_dump_json()
    assert '"290.00"' in raw and "290.0," not in raw
    back = Order.model_validate_json(raw)
    assert back == o
    assert isinstance(back.lines[0].unit_price_ex_vat, D)


def test_models_are_frozen_and_strict():
    o = _order()
    with pytest.raises(ValidationError):
        o.number = "2"
    with pytest.raises(ValidationError):
        OrderLine(sku="A", colour="red")


def test_warning_model():
    w = Warning(code="shortened", message="name shortened", field="name", original="a b", value="a")
    assert w.model_dump()["code"] == "shortened"
