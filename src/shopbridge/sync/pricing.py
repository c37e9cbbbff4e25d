"""Shop prices from Visma: the ordinary and campaign price, and pricelists by mapping or by rule."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from shopbridge.domain.money import round_half_up
from shopbridge.sync.settings import PriceRule

HUNDRED = Decimal(100)


def campaign_price(net: Decimal | None, discounted: Decimal | None) -> Decimal | None:
    """Visma's `NetPriceWithDiscount` as the shop's campaign price: only when it is really lower."""
    if net is None or discounted is None or discounted <= 0 or discounted >= net:
        return None
    return discounted


def rule_price(master: Decimal, vat_rate: Decimal, rule: PriceRule) -> Decimal:
    """A pricelist price ex VAT from the master price ex VAT.

    `master × factor × (1 − discount_percent/100)`; then, unless `rounding` is 0.01, the price the
    customer sees (incl. VAT) is raised to the next price ending in `rounding` (0.00 whole, 0.90,
    0.95, 9.00 = …9) and turned back into ex VAT with four decimals, so the shop shows exactly it.
    """
    ex = master * rule.factor * (1 - rule.discount_percent / HUNDRED)
    if rule.rounding == "0.01":
        return round_half_up(ex, 2)
    factor = 1 + vat_rate / HUNDRED
    gross = round_half_up(ex * factor, 2)
    if rule.rounding == "9.00":
        shown = (gross / 10).to_integral_value(ROUND_FLOOR) * 10 + 9
        if shown < gross:
            shown += 10
    else:
        ending = Decimal(rule.rounding)
        shown = gross.to_integral_value(ROUND_FLOOR) + ending
        if shown < gross:
            shown += 1
    return round_half_up(shown / factor, 4)
