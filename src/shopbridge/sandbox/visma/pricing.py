"""Money arithmetic for sales documents, the way Visma does it: Decimal only, rounding half up.

Rules (documented for the Visma client author):

* A row's amount is ``quantity x unit price x (1 - DiscountPercentage)`` (DiscountPercentage is a
  fraction, 0.1 = 10 %), or ``quantity x unit price - DiscountFixedAmount`` when
  ``IsDiscountInFixedAmount`` is true; rounded half up to 2 decimals.
* ``UnitPrice`` takes 2 decimals when the customer and the currency are domestic, 4 otherwise (the spec's
  "Format"); ``Quantity`` and ``DiscountPercentage`` the decimals their spec pattern allows (drafts 2
  and 4, orders 4 and 4). More is refused with a validation error (`documents.Sales.price_rows`).
* The row amount is in the document's price basis: excluding VAT, or including VAT when the document's
  ``IncludesVat`` is true.
* VAT is computed per VAT rate on the sum of that rate's row amounts, rounded half up to 2 decimals:
  ``net x rate`` when prices exclude VAT, ``gross x rate / (1 + rate)`` when they include it.
* The document total (``TotalAmount`` / order ``Amount``) includes VAT. With öre rounding switched on
  (company ``DomesticCurrencyRounding`` = 1, documents in the company currency) the total is rounded half
  up to whole units and the difference is reported as ``TotalRoundings`` / ``RoundingsAmount``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
UNIT = Decimal("1")
ZERO = Decimal("0")


def q2(value: Decimal) -> Decimal:
    """Round half up to 2 decimals."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def q0(value: Decimal) -> Decimal:
    """Round half up to whole units."""
    return value.quantize(UNIT, rounding=ROUND_HALF_UP)


def dec(value: Any, default: Decimal = ZERO) -> Decimal:
    """A Decimal from a JSON value (parsed with parse_float=Decimal); None -> default."""
    if value is None:
        return default
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError("boolean is not a number")
    if isinstance(value, int):
        return Decimal(value)
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc


def row_amount(
    quantity: Decimal, unit_price: Decimal, discount_pct: Decimal, fixed_discount: Decimal | None
) -> Decimal:
    """Row amount rounded half up to öre (fixed discount wins when given)."""
    gross = quantity * unit_price
    if fixed_discount is not None:
        return q2(gross - fixed_discount)
    return q2(gross * (1 - discount_pct))


@dataclass
class RateTotal:
    """Amounts of one VAT rate on a document."""

    rate: Decimal  # fraction, 0.25
    net: Decimal = ZERO
    vat: Decimal = ZERO


@dataclass
class DocumentTotals:
    """Totals of a document in its own currency."""

    net: Decimal = ZERO
    vat: Decimal = ZERO
    roundings: Decimal = ZERO
    total: Decimal = ZERO  # incl. VAT and roundings
    per_rate: list[RateTotal] = field(default_factory=list)


def compute_totals(
    rows: list[tuple[Decimal, Decimal]], includes_vat: bool, round_to_units: bool
) -> DocumentTotals:
    """Totals from (row amount, VAT rate fraction) pairs; text rows are simply not passed in."""
    sums: dict[Decimal, Decimal] = {}
    for amount, rate in rows:
        sums[rate] = sums.get(rate, ZERO) + amount
    totals = DocumentTotals()
    for rate in sorted(sums, reverse=True):
        amount = sums[rate]
        if includes_vat:
            vat = q2(amount * rate / (1 + rate))
            net = amount - vat
        else:
            net = amount
            vat = q2(net * rate)
        totals.per_rate.append(RateTotal(rate=rate, net=net, vat=vat))
        totals.net += net
        totals.vat += vat
    gross = totals.net + totals.vat
    if round_to_units:
        totals.roundings = q0(gross) - gross
    totals.total = gross + totals.roundings
    return totals


def to_base(amount: Decimal, currency_rate: Decimal) -> Decimal:
    """Invoice-currency amount in the company currency, rounded half up."""
    return q2(amount * currency_rate)
