"""Which VAT treatment a sale gets, and whether the shop's VAT fits it.

Swedish sales carry Swedish VAT (25/12/6 %). Outside plain domestic sales:
* an EU company with a VAT number: reverse charge, the shop should charge 0 %;
* an EU private customer: the destination country's rate when the company uses OSS, otherwise
  Swedish VAT;
* a customer outside the EU: export, 0 %.
`check_order_vat` says in plain words when the order's VAT does not fit its treatment, so the
order waits instead of reaching the accounts with the wrong VAT.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum

from shopbridge.domain.models import Order

HOME_COUNTRY = "SE"
SWEDISH_RATES = frozenset(Decimal(r) for r in ("25", "12", "6", "0"))
EU_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()  # noqa: SIM905
)
# Standard and reduced rates an OSS sale may carry, per destination (2026).
OSS_RATES: dict[str, frozenset[Decimal]] = {
    "DE": frozenset(Decimal(r) for r in ("19", "7")),
    "FI": frozenset(Decimal(r) for r in ("25.5", "14", "10")),
    "DK": frozenset(Decimal(r) for r in ("25",)),
    "NL": frozenset(Decimal(r) for r in ("21", "9")),
    "FR": frozenset(Decimal(r) for r in ("20", "10", "5.5")),
}
KNOWN_RATES = SWEDISH_RATES.union(*OSS_RATES.values())
"""Every rate a sale of ours may carry: Swedish, and the OSS destinations' rates."""
_VAT_NUMBER = re.compile(r"^(?P<cc>[A-Z]{2})[0-9A-Z+*.]{2,13}$")


class VatTreatment(StrEnum):
    DOMESTIC = "domestic"
    REVERSE_CHARGE = "reverse_charge"
    EU_PRIVATE_SWEDISH_VAT = "eu_private_swedish_vat"
    OSS = "oss"
    EXPORT = "export"


def valid_vat_number(vat_number: str | None, country: str | None) -> bool:
    """A VAT number in the EU format (country prefix + 2-13 characters) for the customer's country."""
    if not vat_number:
        return False
    m = _VAT_NUMBER.match(vat_number.replace(" ", "").upper())
    if not m:
        return False
    cc = "GR" if m["cc"] == "EL" else m["cc"]
    return country is None or cc == country.upper()


def treatment(order: Order, *, uses_oss: bool) -> VatTreatment:
    """The VAT treatment of `order`, from where the customer is and whether it is a company."""
    country = (order.billing_address.country_code if order.billing_address else None) or (
        order.customer.country_code or HOME_COUNTRY
    )
    if country == HOME_COUNTRY:
        return VatTreatment.DOMESTIC
    if country not in EU_COUNTRIES:
        return VatTreatment.EXPORT
    if order.customer.is_company and valid_vat_number(order.customer.vat_number, country):
        return VatTreatment.REVERSE_CHARGE
    return VatTreatment.OSS if uses_oss else VatTreatment.EU_PRIVATE_SWEDISH_VAT


def check_order_vat(order: Order, kind: VatTreatment) -> str | None:
    """None when the order's VAT rates fit `kind`; otherwise the reason, in words a shop owner reads."""
    rates = {line.vat_rate for line in order.sales_lines() if line.line_total_ex_vat}
    charged = sorted(r for r in rates if r)
    if kind in (VatTreatment.REVERSE_CHARGE, VatTreatment.EXPORT):
        if charged:
            reverse = kind is VatTreatment.REVERSE_CHARGE
            what = "an EU company with a VAT number" if reverse else "a customer outside the EU"
            return f"the shop charged {_rates(charged)} VAT to {what}; 0 % was expected"
        return None
    if kind is VatTreatment.OSS:
        country = order.billing_address.country_code if order.billing_address else order.customer.country_code
        allowed = OSS_RATES.get(country or "", frozenset())
        odd = [r for r in charged if r not in allowed]
        if odd:
            return f"VAT {_rates(odd)} is not an OSS rate for {country}; correct the order or the OSS setting"
        return None
    odd = [r for r in charged if r not in SWEDISH_RATES]
    if odd:
        return f"VAT {_rates(odd)} is not a Swedish rate and the company does not use OSS"
    return None


def _rates(rates: list[Decimal]) -> str:
    return ", ".join(f"{r} %" for r in rates)
