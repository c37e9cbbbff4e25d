"""Neutral domain: order models, money and VAT rules, text rules. No I/O here."""

from .models import Address, Customer, CustomerKind, LineKind, Order, OrderLine, TransferWarning, Warning
from .money import (
    VatLine,
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
from .text import shorten

__all__ = [
    "Address",
    "Customer",
    "CustomerKind",
    "LineKind",
    "Order",
    "OrderLine",
    "TransferWarning",
    "VatLine",
    "VatSummary",
    "Warning",
    "allocate",
    "gross_from_net",
    "net_from_gross",
    "normalize_rate",
    "round_half_up",
    "shorten",
    "to_decimal",
    "vat_from_gross",
    "vat_from_net",
]
