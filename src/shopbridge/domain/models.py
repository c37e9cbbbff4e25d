"""Neutral models for the order flow: what an order is, independent of Starweb's or Visma's wire format.

The Starweb mapping builds these; the Visma mapping reads them. Amounts are Decimal (floats are
refused), VAT rates are percentages (``25`` = 25 %), ``line_total_ex_vat`` is the row's net amount
after its discounts. The models accept incomplete or odd data (a missing postal code, an invalid
email) on purpose: the flow must see such orders to park them with a reason, not crash on them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .money import ZERO, VatSummary, normalize_rate, round_half_up, to_decimal

__all__ = [
    "Address",
    "Customer",
    "CustomerKind",
    "Dec",
    "LineKind",
    "Order",
    "OrderLine",
    "TransferWarning",
    "Warning",
]


def _decimal(value: object) -> Decimal:
    try:
        return to_decimal(value)  # type: ignore[arg-type]
    except TypeError as exc:  # pydantic reports ValueError as a validation error, not TypeError
        raise ValueError(str(exc)) from None


Dec = Annotated[Decimal, BeforeValidator(_decimal)]
"""A Decimal field that accepts str, int or Decimal and refuses float."""


def _upper_or_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().upper()
    return value or None


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Warning(_Model):
    """Something the transfer did that the shop owner should know about, in plain words.

    ``code`` is a stable key (e.g. ``"shortened"``), ``message`` the sentence shown to people,
    ``field`` the field concerned, ``original`` / ``value`` the value before and after a change.
    """

    code: str
    message: str
    field: str | None = None
    original: str | None = None
    value: str | None = None


TransferWarning = Warning


class Address(_Model):
    """A postal address as on the order (invoice or delivery)."""

    name: str | None = None
    company: str | None = None
    address1: str | None = None
    address2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    region: str | None = None
    country_code: str | None = Field(default=None, description="ISO 3166-1 alpha-2, upper case")
    phone: str | None = None

    _cc = field_validator("country_code")(_upper_or_none)


class CustomerKind(StrEnum):
    PRIVATE = "private"
    COMPANY = "company"


class Customer(_Model):
    """The buyer. ``org_number`` and ``vat_number`` matter for companies (matching, reverse charge)."""

    kind: CustomerKind = CustomerKind.PRIVATE
    source_id: str | None = Field(default=None, description="the customer's id in the shop, if any")
    name: str
    first_name: str | None = None
    last_name: str | None = None
    company_name: str | None = None
    org_number: str | None = None
    vat_number: str | None = None
    country_code: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    currency: str | None = None

    _cc = field_validator("country_code", "currency", "vat_number")(_upper_or_none)

    @field_validator("source_id", mode="before")
    @classmethod
    def _id_as_str(cls, v: object) -> object:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @property
    def is_company(self) -> bool:
        return self.kind is CustomerKind.COMPANY


class LineKind(StrEnum):
    ITEM = "item"
    SHIPPING = "shipping"
    PAYMENT_FEE = "payment_fee"
    DISCOUNT = "discount"
    GIFT_CARD = "gift_card"


class OrderLine(_Model):
    """One row of an order.

    * ``discount_percent`` (0-100) and ``discount_amount`` (off the whole row, excl. VAT) are the
      row's own discounts; percent applies first.
    * ``line_total_ex_vat`` is the net row amount after discounts; computed (rounded half up to
      öre) when not given.
    * ``discount`` lines (discount codes) carry a negative total; ``gift_card`` lines carry the
      amount paid by gift card as a positive total with rate 0 and are a payment: they are left out of
      the sales totals and VAT (see :meth:`Order.sales_lines`).
    """

    kind: LineKind = LineKind.ITEM
    source_id: str | None = None
    sku: str | None = None
    name: str = ""
    quantity: Dec = Decimal(1)
    unit: str | None = None
    unit_price_ex_vat: Dec = ZERO
    vat_rate: Dec = ZERO
    discount_percent: Dec | None = None
    discount_amount: Dec | None = None
    line_total_ex_vat: Dec = Field(default=None, validate_default=False)  # type: ignore[assignment]

    @field_validator("source_id", mode="before")
    @classmethod
    def _id_as_str(cls, v: object) -> object:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("vat_rate")
    @classmethod
    def _rate(cls, v: Decimal) -> Decimal:
        return normalize_rate(v)

    @field_validator("discount_percent")
    @classmethod
    def _pct(cls, v: Decimal | None) -> Decimal | None:
        if v is not None and not (ZERO <= v <= Decimal(100)):
            raise ValueError("discount_percent must be between 0 and 100")
        return v

    @model_validator(mode="after")
    def _fill_total(self) -> OrderLine:
        if self.line_total_ex_vat is None:
            object.__setattr__(self, "line_total_ex_vat", self.computed_total())
        return self

    def computed_total(self) -> Decimal:
        """``quantity * unit_price * (1 - percent/100) - amount``, rounded half up to öre."""
        gross = self.quantity * self.unit_price_ex_vat
        if self.discount_percent:
            gross = gross * (Decimal(100) - self.discount_percent) / Decimal(100)
        if self.discount_amount:
            gross = gross - self.discount_amount
        return round_half_up(gross, 2)

    @property
    def has_discount(self) -> bool:
        return bool(self.discount_percent) or bool(self.discount_amount)


class Order(_Model):
    """An order as the accounting should see it.

    ``total_ex_vat`` / ``total_inc_vat`` and ``vat_per_rate`` (rate → VAT amount) are the shop's own
    figures; :meth:`vat_summary` recomputes them from the rows for the totals check.
    """

    source_shop_id: str
    order_id: str
    number: str
    created_at: datetime
    status_id: int | None = None
    is_complete: bool = False
    currency: str
    currency_rate: Dec | None = None
    payment_method: str | None = None
    payment_method_code: str | None = None
    shipping_method: str | None = None
    customer: Customer
    billing_address: Address | None = None
    delivery_address: Address | None = None
    lines: list[OrderLine] = Field(default_factory=list)
    total_ex_vat: Dec
    total_inc_vat: Dec
    vat_per_rate: dict[Dec, Dec] = Field(default_factory=dict)
    discount_code: str | None = None
    reference: str | None = Field(default=None, description="text for YourReference/OurReference")

    @field_validator("order_id", "number", "source_shop_id", mode="before")
    @classmethod
    def _id_as_str(cls, v: object) -> object:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        v = v.strip().upper()
        if len(v) != 3 or not v.isalpha():
            raise ValueError(f"not an ISO 4217 currency code: {v!r}")
        return v

    @field_validator("created_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None or v.utcoffset() is None:
            raise ValueError("created_at must carry a time zone")
        return v

    @field_validator("vat_per_rate")
    @classmethod
    def _rates(cls, v: dict[Decimal, Decimal]) -> dict[Decimal, Decimal]:
        return {normalize_rate(k): val for k, val in v.items()}

    @property
    def total_vat(self) -> Decimal:
        return self.total_inc_vat - self.total_ex_vat

    def lines_of(self, *kinds: LineKind) -> list[OrderLine]:
        return [line for line in self.lines if line.kind in kinds]

    def sales_lines(self) -> list[OrderLine]:
        """All rows that are sales (items, shipping, fees, discounts): everything but gift cards."""
        return [line for line in self.lines if line.kind is not LineKind.GIFT_CARD]

    @property
    def gift_card_amount(self) -> Decimal:
        return sum((line.line_total_ex_vat for line in self.lines_of(LineKind.GIFT_CARD)), ZERO)

    def vat_summary(self, *, per_row: bool = False) -> VatSummary:
        """Net and VAT per rate computed from the sales rows."""
        return VatSummary.from_rows(self.sales_lines(), per_row=per_row)

    def stated_summary(self) -> VatSummary:
        """The shop's own figures as a summary: net per rate from the rows, VAT from ``vat_per_rate``.

        Falls back to the computed VAT for a rate the shop did not report.
        """
        computed = self.vat_summary()
        summary = VatSummary()
        for line in computed.lines:
            vat = self.vat_per_rate.get(line.rate, line.vat)
            summary.add(line.rate, line.net, to_decimal(vat))
        return summary
