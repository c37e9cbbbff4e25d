"""A connection's settings: what the user chooses about how orders and customers reach Visma.

Stored as JSON on the connection row, edited with `shopbridge connection set KEY VALUE`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DocumentType = Literal["invoice_draft", "order"]
MissingArticle = Literal["wait", "create", "fallback"]
ReferenceField = Literal["YourReference", "OurReference"]
Preset = Literal["ecom-master", "erp-master", "combo"]


class ConnectionSettings(BaseModel):
    """Everything a sweep needs to know about one connection's choices."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    preset: Preset = "ecom-master"
    document_type: DocumentType = Field(
        "invoice_draft", description="What an order becomes in Visma: an invoice draft or an order"
    )
    trigger_statuses: list[str] = Field(
        default_factory=lambda: ["completed"],
        description="Starweb order statuses (ids or idCodes) that start a transfer",
    )
    start_date: date | None = Field(None, description="Only orders created on or after this date")
    reference_field: ReferenceField = Field(
        "YourReference", description="Where the Starweb order number goes on the Visma document"
    )
    reference_prefix: str = Field("Starweb ", description="Text before the order number in the reference")

    # customers
    collective_customer_number: str | None = Field(
        None, description="Put every private customer on this one Visma customer number"
    )
    terms_of_payment_id: str | None = Field(None, description="Terms of payment for new customers")
    customer_number_prefix: str = Field("", description="Prefix for customer numbers we create")

    # rows
    missing_article: MissingArticle = Field(
        "wait", description="A line whose SKU has no article: wait for a fix, create it, or use a fallback"
    )
    fallback_article: str | None = Field(None, description="Article used when missing_article=fallback")
    shipping_articles: dict[str, str] = Field(
        default_factory=lambda: {"25": "FRAKT", "12": "FRAKT12", "6": "FRAKT6"},
        description="VAT rate (percent) -> article number for shipping rows",
    )
    fee_articles: dict[str, str] = Field(
        default_factory=lambda: {"25": "FAKTURAAVGIFT"},
        description="VAT rate (percent) -> article number for payment fee rows",
    )
    discount_articles: dict[str, str] = Field(
        default_factory=lambda: {"25": "RABATT25", "12": "RABATT12", "6": "RABATT6"},
        description="VAT rate (percent) -> article number for discount-code rows",
    )
    coding_by_rate: dict[str, str] = Field(
        default_factory=dict,
        description="VAT rate (percent) -> Visma article account coding id (found by rate when empty)",
    )
    uses_oss: bool = Field(False, description="The company reports EU private sales through OSS")
    unit_id: str | None = Field(None, description="Unit for articles we create (default: the 'st' unit)")

    # status feedback Visma -> Starweb, payments and credits (see sync/status.py)
    status_map: dict[str, str] = Field(
        default_factory=dict,
        description="Event (delivered, invoiced, paid, cancelled) -> Starweb status id or idCode; "
        "empty turns status feedback off, '' ignores one event, a missing event is an error",
    )
    status_mail: list[str] = Field(
        default_factory=lambda: ["delivered"], description="Events that mail the customer"
    )
    status_process_payment: list[str] = Field(
        default_factory=lambda: ["delivered", "cancelled"],
        description="Events that let the payment method act (capture on delivered, cancel on cancelled)",
    )
    tracking_field: str | None = Field(
        None, description="Field on the Visma order holding the tracking number (e.g. BuyersOrderReference)"
    )
    tracking_pattern: str | None = Field(
        None, description="Regex on the Visma order's delivery texts and references; group 1 = the number"
    )
    tracker_type: str | None = Field(
        None, description="Starweb shipping tracker type (number or name, e.g. PostNord) sent with it"
    )
    paid_payment_methods: list[str] = Field(
        default_factory=list,
        description="Payment methods (idCodes, e.g. klarna_checkout,card,swish) paid at checkout: "
        "their payment is registered on the Visma invoice (needs payment_accounts)",
    )
    payment_accounts: dict[str, str] = Field(
        default_factory=dict,
        description="Payment method idCode (or 'default') -> Visma CompanyBankAccountId (default: the first)",
    )
    returned_statuses: list[str] = Field(
        default_factory=list, description="Starweb statuses meaning returned: an invoiced order gets credited"
    )
    void_cancelled: bool = Field(
        True, description="Delete our draft or order in Visma when the order is cancelled in the shop"
    )
    deletion_check_interval_s: float = Field(
        900.0, ge=0, description="How often to look for drafts and orders deleted in Visma"
    )

    # engine
    poll_interval_s: float = Field(60.0, ge=1.0)
    max_attempts: int = Field(8, ge=1, description="Automatic retries before an order waits for a person")
    totals_tolerance: Decimal = Field(Decimal("0.01"), description="Allowed rounding difference per figure")

    @field_validator("shipping_articles", "fee_articles", "discount_articles", "coding_by_rate")
    @classmethod
    def _rate_keys(cls, value: dict[str, str]) -> dict[str, str]:
        return {rate_key(k): v for k, v in value.items()}


def rate_key(rate: object) -> str:
    """Normalise a VAT rate to a settings key: 25, "25", "25.0", Decimal("25.00") -> "25"."""
    d = Decimal(str(rate)).normalize()
    return format(d, "f")
