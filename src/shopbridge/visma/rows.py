"""Shop lines → Visma rows: one row per line with the shop's quantity, unit price and discount.

The arithmetic (worked examples in `docs/invoice-rows.md`, each one a test):

* Visma's row amount is ``round_half_up(Quantity x UnitPrice x (1 - DiscountPercentage), 2)``, in the
  document's price basis: excl. VAT, or incl. VAT when the document's ``IncludesVat`` is true (a
  private customer of a company that shows private customers prices incl. VAT).
* Visma's VAT of a rate is computed on the sum of that rate's rows. So when a rate's rows add up to the
  shop's amount of that rate (its net; incl. VAT: its net plus the shop's VAT), that rate's VAT, and
  with it the document's totals, equal the shop's to the öre.
* Each shop line becomes one row: its quantity; its unit price (incl. VAT when the document's prices
  are: ``unit price x (1 + rate)``), rounded half up to the decimals Visma takes (2, or 4 for a foreign
  customer or currency); its percent discount as ``DiscountPercentage`` (a fraction, 4 decimals). Visma
  takes no fixed-amount discount on rows it receives, so an amount discount becomes the
  ``DiscountPercentage`` that comes closest to the row's amount, or the discounted unit price when
  that comes closer.
* What per-row rounding leaves between a rate's rows and the shop's amount of that rate (an öre or two)
  goes on one öre adjustment row of that rate (`adjustment_rows`), never into a second row of a line.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shopbridge.domain.models import LineKind, Order, OrderLine
from shopbridge.domain.money import ZERO, round_half_up

ONE = Decimal(1)
HUNDRED = Decimal(100)
DISCOUNT_PLACES = 4  # DiscountPercentage: a fraction with 4 decimals (0.1250 = 12.5 %)


@dataclass(frozen=True)
class PlannedRow:
    """One Visma row: the shop line it stands for (None: the öre adjustment) and Visma's amount."""

    line: OrderLine | None
    rate: Decimal  # the shop's VAT rate in percent: the rows of a rate add up to the shop's amount
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal | None  # DiscountPercentage, a fraction: 0.15 is 15 %
    amount: Decimal  # what Visma computes for the row

    @property
    def is_adjustment(self) -> bool:
        return self.line is None


def visma_row_amount(quantity: Decimal, unit_price: Decimal, discount: Decimal | None = None) -> Decimal:
    """A row's amount as Visma computes it: one rounding, half up, per row."""
    return round_half_up(quantity * unit_price * (ONE - (discount or ZERO)), 2)


def unit_price(line: OrderLine, *, gross: bool, places: int) -> Decimal:
    """The line's unit price as the shop shows it: excl. VAT, or incl. VAT when `gross`."""
    price = line.unit_price_ex_vat
    if gross:
        price = price * (HUNDRED + line.vat_rate) / HUNDRED
    return round_half_up(price, places)


def line_amount(line: OrderLine, *, gross: bool) -> Decimal:
    """The shop's amount of the line alone: its net, or its net plus VAT when `gross`."""
    net = line.line_total_ex_vat
    return round_half_up(net * (HUNDRED + line.vat_rate) / HUNDRED, 2) if gross else net


def _fraction(value: Decimal) -> Decimal | None:
    """A discount as Visma's 4-decimal fraction, within 0..1; None for no discount."""
    fraction = min(max(round_half_up(value, DISCOUNT_PLACES), ZERO), ONE)
    return fraction.normalize() if fraction else None


def row_for_line(line: OrderLine, *, gross: bool, places: int) -> PlannedRow:
    """The one row of a shop line."""
    price = unit_price(line, gross=gross, places=places)
    q = line.quantity
    if line.discount_amount:
        target = line_amount(line, gross=gross)
        base = q * price
        choices: list[tuple[Decimal, Decimal | None]] = [] if q else [(price, None)]
        if base:  # the shop's unit price with the percentage that comes closest
            choices.append((price, _fraction((base - target) / base)))
        if q:  # the discounted unit price, when that comes closer
            choices.append((round_half_up(target / q, places), None))
        price, discount = min(choices, key=lambda c: abs(visma_row_amount(q, *c) - target))  # tie: first
    else:
        discount = _fraction(line.discount_percent / HUNDRED) if line.discount_percent else None
    amount = visma_row_amount(q, price, discount)
    return PlannedRow(line, line.vat_rate, q, price, discount, amount)


def rate_targets(order: Order, lines: list[OrderLine], *, gross: bool) -> dict[Decimal, Decimal]:
    """The shop's amount per VAT rate of `lines`: net, or net plus the shop's VAT when `gross`."""
    nets: dict[Decimal, Decimal] = {}
    for line in lines:
        nets[line.vat_rate] = nets.get(line.vat_rate, ZERO) + line.line_total_ex_vat
    if not gross:
        return nets
    summary = order.stated_summary()
    return {rate: summary.get(rate).gross for rate in nets}


def plan_rows(order: Order, *, gross: bool, places: int) -> list[PlannedRow]:
    """One row per sales line (a shipping, fee or discount line of nothing is left out), then at most
    one öre adjustment row per VAT rate whose rows do not add up to the shop's amount."""
    lines = order.sales_lines()
    rows = [
        row_for_line(line, gross=gross, places=places)
        for line in lines
        if line.kind is LineKind.ITEM or line.line_total_ex_vat
    ]
    return rows + adjustment_rows(rows, rate_targets(order, lines, gross=gross))


def adjustment_rows(rows: list[PlannedRow], targets: dict[Decimal, Decimal]) -> list[PlannedRow]:
    """The öre adjustment row of each rate whose rows miss the shop's amount (highest rate first)."""
    out: list[PlannedRow] = []
    for rate in sorted(targets, reverse=True):
        diff = targets[rate] - sum((r.amount for r in rows if r.rate == rate), ZERO)
        if diff:
            out.append(PlannedRow(None, rate, ONE, diff, None, diff))
    return out
