"""Money rules: Decimal only, half-up rounding, VAT, exact splits, VAT summaries."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopbridge.domain.money import (
    VatSummary,
    allocate,
    gross_from_net,
    net_from_gross,
    normalize_rate,
    round_half_up,
    to_decimal,
    vat_from_gross,
    vat_from_net,
)

amounts = st.decimals(min_value=D("-1000000"), max_value=D("1000000"), places=6, allow_nan=False)
positive = st.decimals(min_value=D("0"), max_value=D("1000000"), places=2, allow_nan=False)
rates = st.sampled_from([D("0"), D("6"), D("12"), D("25"), D("25.5"), D("21"), D("19"), D("24")])


# -- to_decimal


@pytest.mark.parametrize("value", [1.5, 0.1, True, False])
def test_to_decimal_refuses_floats_and_bools(value):
    with pytest.raises(TypeError):
        to_decimal(value)


@pytest.mark.parametrize("value", ["NaN", "inf", "-Infinity", "", "12,50", "abc"])
def test_to_decimal_refuses_non_numbers(value):
    with pytest.raises(ValueError):
        to_decimal(value)


def test_to_decimal_accepts_str_int_decimal():
    assert to_decimal(" 12.50 ") == D("12.50")
    assert to_decimal(7) == D(7)
    assert to_decimal(D("0.1")) == D("0.1")


# -- rounding


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        ("100.45", 1, "100.5"),  # Visma's own example
        ("2.675", 2, "2.68"),  # float would give 2.67
        ("0.125", 2, "0.13"),
        ("-0.125", 2, "-0.13"),  # ties away from zero
        ("-0.005", 2, "-0.01"),
        ("1.004999", 2, "1.00"),
        ("10", 2, "10.00"),
    ],
)
def test_round_half_up_examples(value, places, expected):
    assert round_half_up(value, places) == D(expected)
    assert str(round_half_up(value, places)) == expected


@given(amounts, st.integers(min_value=0, max_value=4))
def test_round_half_up_properties(d, places):
    r = round_half_up(d, places)
    q = D(1).scaleb(-places)
    assert r.as_tuple().exponent == -places  # always exactly `places` decimals
    assert abs(r - d) <= q / 2  # never further than half a unit
    assert round_half_up(r, places) == r  # idempotent
    assert round_half_up(-d, places) == -r  # symmetric: half away from zero
    if abs(r - d) == q / 2:  # a tie goes away from zero
        assert abs(r) > abs(d)


@given(amounts)
def test_round_half_up_is_monotonic(d):
    assert round_half_up(d) <= round_half_up(d + D("0.001"))


# -- VAT


def test_vat_examples():
    assert vat_from_net("100", 25) == D("25.00")
    assert vat_from_net("100.45", 25) == D("25.11")  # 25.1125
    assert vat_from_net("0.02", 25) == D("0.01")  # 0.005 rounds up
    assert gross_from_net("80", 25) == D("100.00")
    assert net_from_gross("125", 25) == D("100.00")
    assert vat_from_gross("125", 25) == D("25.00")
    assert net_from_gross("100", 12) == D("89.29")


@given(positive, rates)
def test_gross_net_roundtrip_within_an_ore(net, rate):
    gross = gross_from_net(net, rate)
    assert gross == round_half_up(net) + vat_from_net(net, rate)
    assert abs(net_from_gross(gross, rate) - net) <= D("0.01")
    assert net_from_gross(gross, rate) + vat_from_gross(gross, rate) == gross


def test_normalize_rate():
    assert normalize_rate("25.00") == normalize_rate(25) == normalize_rate(D("25.0"))
    assert str(normalize_rate(100)) == "100"
    assert str(normalize_rate("12.50")) == "12.5"


# -- exact splits


@given(
    st.decimals(min_value=D("-100000"), max_value=D("100000"), places=2),
    st.lists(st.decimals(min_value=D("0"), max_value=D("10000"), places=2), min_size=1, max_size=8).filter(
        lambda ws: sum(ws) > 0
    ),
)
def test_allocate_is_exact_and_fair(total, weights):
    parts = allocate(total, weights)
    assert sum(parts) == total
    wsum = sum(weights)
    for part, w in zip(parts, weights, strict=True):
        assert abs(part - total * w / wsum) < D("0.01")


def test_allocate_example():
    assert allocate(D("10.00"), [1, 1, 1]) == [D("3.34"), D("3.33"), D("3.33")]
    with pytest.raises(ValueError):
        allocate(D("1"), [0, 0])


# -- VAT summary


def test_vat_summary_from_rows_and_diff_in_words():
    starweb = VatSummary.from_rows([(D("100.00"), 25), (D("50.00"), D("12")), (D("49.00"), "25.0")])
    assert starweb.get(25).net == D("149.00")
    assert starweb.get(25).vat == D("37.25")
    assert starweb.get(12).vat == D("6.00")
    assert starweb.total_gross == D("242.25")
    visma = VatSummary.from_amounts({25: ("149.00", "37.27"), 12: ("50.00", "6.00")})
    assert starweb.diff(visma, tolerance=D("0.05")) == []
    diffs = starweb.diff(visma, labels=("Starweb", "Visma"))
    assert diffs[0] == "VAT at 25 %: 37.25 in Starweb but 37.27 in Visma (difference 0.02)"
    assert any(d.startswith("total incl. VAT") for d in diffs)


def test_vat_summary_missing_rate_is_a_difference():
    a = VatSummary.from_rows([(D("100"), 25), (D("10"), 6)])
    b = VatSummary.from_rows([(D("110"), 25)])
    diffs = a.diff(b)
    assert any("at 6 %" in d for d in diffs)
    assert a != b and a == VatSummary.from_rows([(D("10"), 6), (D("100"), 25)])


@given(
    st.lists(
        st.tuples(st.decimals(min_value=D("-1000"), max_value=D("100000"), places=2), rates), max_size=20
    )
)
def test_vat_summary_properties(rows):
    per_rate = VatSummary.from_rows(rows)
    per_row = VatSummary.from_rows(rows, per_row=True)
    assert per_rate.diff(per_rate, tolerance=0) == []
    assert per_rate.total_net == sum((n for n, _ in rows), D(0))
    assert per_rate.total_gross == per_rate.total_net + per_rate.total_vat
    for line in per_rate.lines:  # per-row rounding drifts at most half an öre per row
        n_rows = sum(1 for _, r in rows if normalize_rate(r) == line.rate)
        assert abs(line.vat - per_row.get(line.rate).vat) <= D("0.005") * n_rows + D("0.005")
