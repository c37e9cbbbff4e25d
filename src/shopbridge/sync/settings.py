"""A connection's settings: what the user chooses about how orders and customers reach Visma.

Stored as JSON on the connection row, edited with `shopbridge connection set KEY VALUE`. Every value
typed by a person goes through `parse_setting` (one parser, driven by the field's type) and then the
model; a refusal raises `SettingError` with one sentence, and nothing is stored.
"""

from __future__ import annotations

import json
import types
import typing
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shopbridge.features import FEATURES

DocumentType = Literal["invoice_draft", "order", "invoice"]
CaptureOn = Literal["delivered", "invoiced"]
InvoiceDelivery = Literal["email", "einvoice", "none"]

DOCUMENT_TYPES: dict[str, str] = {
    "invoice_draft": "an invoice draft: someone reviews and books it in Visma; no Visma event says "
    "delivered, so cards and Klarna are captured in the shop or with capture_on invoiced",
    "order": "a Visma order: stock is reserved at once; shipped and invoiced in Visma, "
    "delivered captures the payment",
    "invoice": "a booked customer invoice at once: paid-at-checkout orders are settled on their bank "
    "account, the others sent to the customer; Invoiced (and Paid) reach the shop right away",
}
"""Each document type and its accounting consequence, in one line (`connection show`, docs)."""
MissingArticle = Literal["wait", "create", "fallback"]
ReferenceField = Literal["YourReference", "OurReference"]
Preset = Literal["ecom-master", "erp-master", "combo"]
Direction = Literal["to_visma", "to_starweb", "off"]
StockSource = Literal["available", "balance"]
Rounding = Literal["0.01", "0.00", "0.90", "0.95", "9.00"]
ZeroTotal = Literal["skip", "transfer"]
UpdateCustomers = Literal["always", "never"]
FOREIGN_CHARGE_DEFAULTS = {
    "shipping_eu": "FRAKT-EU",
    "shipping_export": "FRAKT-EXPORT",
    "fee_eu": "AVGIFT-EU",
    "fee_export": "AVGIFT-EXPORT",
}
"""Shipping and fee articles of EU reverse-charge (`_eu`) and export (`_export`) sales."""


class PriceRule(BaseModel):
    """A shop pricelist computed from the master price: `master × factor × (1 − discount_percent/100)`,
    then the price incl. VAT raised to the next ending in `rounding` (0.01 = to the öre/cent only),
    incl. the VAT of the pricelist's market (`vat_country`, else its only country, else Swedish VAT)."""

    model_config = ConfigDict(extra="forbid")

    factor: Decimal = Decimal("1")
    discount_percent: Decimal = Decimal("0")
    rounding: Rounding = "0.01"
    # the market whose VAT rate the rounding uses (e.g. "FI"); default: the pricelist's one country
    vat_country: str | None = Field(None, pattern=r"^[A-Z]{2}$")


class ConnectionSettings(BaseModel):
    """Everything a sweep needs to know about one connection's choices."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    preset: Preset | None = Field(
        None,
        description="Who owns the catalogue: ecom-master, erp-master or combo (see sync/directions.py); "
        "unset: orders only, no catalogue sync",
    )
    document_type: DocumentType = Field(
        "invoice_draft",
        description="What an order becomes in Visma: invoice_draft (someone reviews and books it; "
        "capture in the shop or with capture_on invoiced), order (stock reserved; needs the order "
        "module) or invoice (booked at once, paid or sent; see docs/document-types.md)",
    )
    trigger_statuses: list[str] = Field(
        default_factory=lambda: ["completed"],
        description="Starweb order statuses (ids or idCodes) that start a transfer",
    )
    start_date: date | None = Field(
        None, description="Only orders created on or after this date, in the shop's time zone"
    )
    shop_time_zone: str = Field(
        "Europe/Stockholm",
        description="The shop's time zone (IANA name): where start_date begins at midnight",
    )
    zero_total: ZeroTotal = Field(
        "skip",
        description="An order whose total is 0 (a full discount, a free sample): skip (skipped with "
        "the reason) or transfer (a document with the rows at 0)",
    )
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
    update_customers: UpdateCustomers = Field(
        "always",
        description="When the order's name, address, e-mail, phone or VAT number differs from the Visma "
        "customer: always (update the customer, noted on the order) or never (the document still "
        "carries the order's address where Visma allows it)",
    )

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
    adjustment_articles: dict[str, str] = Field(
        default_factory=lambda: {"25": "ORESJUST25", "12": "ORESJUST12", "6": "ORESJUST6", "0": "ORESJUST0"},
        description="VAT rate (percent) -> article number for the öre adjustment row (what Visma's "
        "per-row rounding leaves; see docs/invoice-rows.md)",
    )
    foreign_charge_articles: dict[str, str] = Field(
        default_factory=lambda: dict(FOREIGN_CHARGE_DEFAULTS),
        description="shipping_eu, shipping_export, fee_eu, fee_export -> article number for shipping and "
        "fee rows of EU reverse-charge and export sales (a goods coding: they follow the goods)",
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
    capture_on: CaptureOn = Field(
        "delivered",
        description="The event that captures card and Klarna payments: delivered (as status_process_payment "
        "says) or invoiced (with invoice_draft no Visma event says delivered: capture when it is booked)",
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
        description="Payment method idCode (or 'default') -> Visma bank account (name or id; `connection "
        "set` stores the id). Unmapped methods use 'default', else the company's default cheque account; "
        "listing the accounts needs the ea:purchase scope (`shopbridge connect visma` asks for it)",
    )
    invoice_delivery: InvoiceDelivery = Field(
        "email",
        description="document_type invoice: how an invoice not paid at checkout reaches the customer: "
        "email, einvoice (AutoInvoice, needs the customer's electronic address) or none",
    )
    invoice_delivery_by_payment_method: dict[str, InvoiceDelivery] = Field(
        default_factory=dict,
        description="Payment method idCode -> email, einvoice or none, over invoice_delivery",
    )
    returned_statuses: list[str] = Field(
        default_factory=list,
        description="Starweb statuses meaning returned: an invoiced order gets credited (and refunded when "
        "paid at checkout); one not invoiced yet waits in needs_review",
    )
    void_cancelled: bool = Field(
        True,
        description="Delete our draft or order in Visma when the order is cancelled in the shop while "
        "nothing happened to it in Visma (not shipped, not invoiced); false: it waits in needs_review",
    )
    credit_cancelled: bool = Field(
        False,
        description="An invoiced order cancelled in the shop gets a credit invoice (and refund) like a "
        "return; false: it waits in needs_review",
    )
    deletion_check_interval_s: float = Field(
        900.0, ge=0, description="How often to look for drafts and orders deleted in Visma"
    )
    update_documents: bool = Field(
        True,
        description="An order changed in the shop after its transfer: update its Visma draft or "
        "uninvoiced order (false, or already invoiced: it waits in needs_review with both figures)",
    )
    edit_window_days: int = Field(
        60, ge=0, description="Days after its creation an order is watched for changes in the shop"
    )

    # housekeeping
    retention_days: int = Field(
        90,
        ge=1,
        description="Days the attempt journal, received web hooks and the customer data on finished "
        "orders are kept; the engine purges older ones daily",
    )

    # multishop (set on a further shop, over the settings of the connection it belongs to)
    cost_center_item_id: str | None = Field(
        None, description="Visma cost centre item put on every row of this shop's documents"
    )
    project_id: str | None = Field(
        None, description="Visma project put on every row of this shop's documents"
    )
    product_master: bool = Field(
        True,
        description="In ecom-master and combo, this shop's products become Visma articles "
        "(one shop per Visma company; further shops get false)",
    )

    # catalogue: products, prices, price lists, stock (see sync/directions.py for the presets)
    directions: dict[str, Direction] = Field(
        default_factory=dict,
        description="Entity (products, prices, pricelists, stock) -> to_visma, to_starweb or off; "
        "overrides the preset for that entity",
    )
    product_language: str = Field("sv", description="Starweb language whose names become article names")
    articles_are_stock: bool = Field(True, description="Articles created from the shop are stock articles")
    stock_source: StockSource = Field(
        "available", description="Visma figure sent to the shop: available (balance - reserved) or balance"
    )
    stock_location: str | None = Field(
        None, description="Starweb stock location id for Visma's stock (default: the first e-commerce one)"
    )
    stock_buffer: int = Field(0, ge=0, description="Units held back from the shop per variant")
    stock_reserve_days: int = Field(
        30, ge=0, description="Shop orders this recent that Visma has not drawn yet are held back"
    )
    few_left_at: int = Field(3, ge=0, description="At or below this quantity the stock status is few_left")
    stock_statuses: dict[str, str] = Field(
        default_factory=lambda: {"in_stock": "inStock", "few_left": "", "out_of_stock": "outOfStock"},
        description="in_stock / few_left / out_of_stock -> Starweb stock status id or idCode ('' = in_stock)",
    )
    campaign_prices: bool = Field(
        True, description="Visma's NetPriceWithDiscount becomes the shop's campaign price (specialPriceExVat)"
    )
    pricelist_map: dict[str, str] = Field(
        default_factory=dict,
        description="Starweb pricelist id -> Visma sales price list id or name ('' = leave alone); "
        "unmapped pricelists follow a Visma list of the same currency, else price_rules",
    )
    price_rules: dict[str, PriceRule] = Field(
        default_factory=dict,
        description="Starweb pricelist id -> rule from the master price, e.g. "
        '{"factor": "0.087", "rounding": "0.90", "vat_country": "FI"} for EUR or '
        '{"discount_percent": "10"} for B2B; also prices articles without a row in the Visma list',
    )
    catalog_full_check_s: float = Field(
        3600.0, ge=0, description="How often a sweep compares the whole catalogue, not just what changed"
    )

    # mappings and plugins (see plugins/declarative.py and plugins/manager.py)
    field_map: dict[str, str] = Field(
        default_factory=dict,
        description="Starweb order field (dotted for nested, e.g. customInfo1) -> Visma document field "
        "(e.g. YourReference; not the reference_field)",
    )
    terms_by_payment_method: dict[str, str] = Field(
        default_factory=dict, description="Starweb payment method idCode (or id) -> Visma TermsOfPaymentId"
    )
    delivery_method_by_shipping: dict[str, str] = Field(
        default_factory=dict,
        description="Starweb shipping method id (or name) -> Visma delivery method Id or Code",
    )
    article_field_map: dict[str, str] = Field(
        default_factory=dict,
        description="Starweb product field (meta.<metaDataTypeId> or a dotted path) -> Visma article field",
    )
    plugins: list[str] = Field(
        default_factory=list, description="Code plugins to run, by name (empty: every plugin found)"
    )

    # plan (see plans.py: features and the monthly order quota; `shopbridge usage`)
    plan: Literal["100", "200", "400", "800", "premium", "custom"] = Field(
        "premium",
        description="100, 200, 400, 800 (orders a month, features grow with it), premium (all, no quota) "
        "or custom (custom_quota, custom_features)",
    )
    custom_quota: int | None = Field(
        None,
        ge=0,
        validate_default=True,
        description="Orders a month for plan custom (required) or premium (optional cap)",
    )
    custom_features: list[str] = Field(
        default_factory=list,
        description="Features beyond orders, customers, products for plan custom (and premium, when set): "
        "order_status, stock, prices, multishop, plugins",
    )
    shop_fee: Decimal | None = Field(
        None, ge=0, description="Fee per shop and month, shown by `shopbridge usage` for invoicing"
    )

    @field_validator("plan", mode="before")
    @classmethod
    def _plan_name(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @field_validator("custom_quota")
    @classmethod
    def _custom_needs_quota(cls, value: int | None, info: object) -> int | None:
        if value is None and getattr(info, "data", {}).get("plan") == "custom":
            raise ValueError("plan custom needs custom_quota (orders a month): set custom_quota first")
        return value

    @field_validator("custom_features")
    @classmethod
    def _known_features(cls, value: list[str]) -> list[str]:
        unknown = [f for f in value if f not in FEATURES]
        if unknown:
            raise ValueError(f"unknown feature(s) {', '.join(unknown)}; one of: {', '.join(FEATURES)}")
        return list(dict.fromkeys(value))

    # engine
    poll_interval_s: float = Field(60.0, ge=1.0)
    status_poll_budget_per_min: int = Field(
        60,
        ge=1,
        le=600,
        description="Visma calls per minute that status polls of all connections of one Visma app may use",
    )
    max_attempts: int = Field(8, ge=1, description="Automatic retries before an order waits for a person")
    totals_tolerance: Decimal = Field(Decimal("0.01"), description="Allowed rounding difference per figure")
    order_concurrency: int = Field(8, ge=1, le=64, description="Orders of one connection worked on at once")
    visma_rate_scope: Literal["client", "company"] = Field(
        "client",
        description="Visma's 600/min per endpoint counted per app (client id) or per app and company",
    )
    in_doubt_grace_s: float = Field(
        120.0,
        ge=0.0,
        description="After a create whose answer was lost: seconds to wait before looking again and creating",
    )

    @field_validator("shop_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; an IANA name like Europe/Stockholm") from None
        return value

    @field_validator(
        "shipping_articles", "fee_articles", "discount_articles", "adjustment_articles", "coding_by_rate"
    )
    @classmethod
    def _rate_keys(cls, value: dict[str, str]) -> dict[str, str]:
        from shopbridge.domain.vat import KNOWN_RATES

        keyed: dict[str, str] = {}
        for key, article in value.items():
            try:
                rate = rate_key(key)
            except ArithmeticError:
                rate = ""
            if not rate or Decimal(rate) not in KNOWN_RATES:
                known = ", ".join(rate_key(r) for r in sorted(KNOWN_RATES, reverse=True))
                raise ValueError(f"{key!r} is not a VAT rate a sale can carry (the keys are rates: {known})")
            keyed[rate] = article
        return keyed

    @field_validator("foreign_charge_articles")
    @classmethod
    def _charge_keys(cls, value: dict[str, str]) -> dict[str, str]:
        odd = sorted(set(value) - set(FOREIGN_CHARGE_DEFAULTS))
        if odd:
            raise ValueError(f"unknown key {odd[0]!r}: the keys are {', '.join(FOREIGN_CHARGE_DEFAULTS)}")
        return value


def rate_key(rate: object) -> str:
    """Normalise a VAT rate to a settings key: 25, "25", "25.0", Decimal("25.00") -> "25"."""
    d = Decimal(str(rate)).normalize()
    return format(d, "f")


COMPANY_SETTINGS = ("plan", "custom_quota", "custom_features", "shop_fee")
"""Settings of the Visma company (set on the connection holding the consent), not of one shop."""


class SettingError(ValueError):
    """A setting value was refused; the message says which, why and what it takes, in one sentence."""


FORMS = {
    "bool": "true or false",
    "list": "a list: a,b,c (or one value, or JSON)",
    "dict": 'a map: key=value,key=value or JSON like {"key": "value"}',
    "json": "JSON",
}


def _kind(annotation: Any) -> str:
    """ "bool", "list", "dict" (of plain values), "json" (of objects) or "scalar"."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _kind(args[0])
    if annotation is bool:
        return "bool"
    if origin is list:
        return "list"
    if origin is dict:
        value = typing.get_args(annotation)[1]
        return "json" if isinstance(value, type) and issubclass(value, BaseModel) else "dict"
    return "scalar"


_TRUE = {"true", "yes", "on", "1", "y", "t"}
_FALSE = {"false", "no", "off", "0", "n", "f"}


def parse_bool(key: str, text: str) -> bool:
    """true/yes/on/1 or false/no/off/0 (any case); anything else is refused."""
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise SettingError(f"{key} {text!r} refused: it takes true or false; nothing was changed")


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return _NOT_JSON


_NOT_JSON = object()


def _parse_raw(key: str, text: str, kind: str) -> Any:
    stripped = text.strip()
    if stripped == "null":
        return None
    decoded = _decode(stripped)
    if kind == "bool":
        return decoded if isinstance(decoded, bool) else parse_bool(key, text)
    if kind == "list":
        if isinstance(decoded, list):
            return decoded
        return [part.strip() for part in stripped.split(",") if part.strip()]
    if kind in ("dict", "json"):
        if isinstance(decoded, dict):
            return decoded
        pairs = [part for part in stripped.split(",") if part.strip()] if kind == "dict" else []
        if pairs and all("=" in p and p.split("=", 1)[0].strip() for p in pairs):
            return {k.strip(): v.strip() for k, v in (p.split("=", 1) for p in pairs)}
        if stripped in ("", "{}"):
            return {}
        form = FORMS["dict"] if kind == "dict" else 'JSON like {"2": {"factor": "0.087"}}'
        raise SettingError(f"{key} {text!r} refused: it takes {form}; nothing was changed")
    if isinstance(decoded, str):  # a JSON string, e.g. '"Shop2 "' with its blank kept
        return decoded
    return text


def parse_setting(key: str, text: str) -> Any:
    """The value a person typed for setting `key`, parsed by the field's type and checked by the
    model on its own (JSON-ready). Raises `SettingError` (one sentence) for an unknown key or a value
    the setting cannot take."""
    field = ConnectionSettings.model_fields.get(key)
    if field is None:
        raise SettingError(f"unknown setting {key!r}; `shopbridge connection show NAME` lists them")
    value = _parse_raw(key, text, _kind(field.annotation))
    return check_value(key, value, given=text)


def check_value(key: str, value: Any, *, given: Any = None) -> Any:
    """`value` for `key` checked by the model on its own (raises `SettingError` when the value itself
    is refused; rules between settings are checked by `validate_settings`). Returns `value`."""
    if value is None:
        return None
    try:
        ConnectionSettings.model_validate({key: value})
    except ValidationError as exc:
        if any(e.get("loc", ("",))[0] == key for e in exc.errors()):
            raise SettingError(refusal(key, given if given is not None else value, exc, only=key)) from None
    return value


def refusal(key: str, given: Any, exc: ValidationError, *, only: str | None = None) -> str:
    """One sentence for a refused value: the setting, what was given, why, what it takes."""
    errors = [e for e in exc.errors() if only is None or e.get("loc", ("",))[0] == only]
    err = errors[0]
    field = ConnectionSettings.model_fields.get(key)
    form = FORMS.get(_kind(field.annotation), "") if field is not None else ""
    loc = [str(p) for p in err.get("loc", ())]
    where = ".".join(loc[1:] if loc[:1] == [key] else loc)
    msg = str(err["msg"]).removeprefix("Value error, ")
    why = f"{where}: {msg}" if where else msg
    takes = f" (it takes {form})" if form and err.get("type", "").endswith(("_type", "parsing")) else ""
    return f"{key} {given!r} refused: {why[0].lower()}{why[1:]}{takes}; nothing was changed"


def validate_settings(
    own: dict[str, Any],
    inherited: dict[str, Any] | None = None,
    *,
    changing: tuple[str, Any] | None = None,
) -> ConnectionSettings:
    """The settings a connection would have with `own` over `inherited` (a further shop's parent);
    raises `SettingError` naming the setting being changed (`changing`: key and the value given)
    or else the first setting refused."""
    merged = {**(inherited or {}), **own}
    try:
        return ConnectionSettings.model_validate(merged)
    except ValidationError as exc:
        if changing is not None:
            key, given = changing
        else:
            key = str(exc.errors()[0].get("loc", ("settings",))[0])
            given = merged.get(key)
        raise SettingError(refusal(key, given, exc)) from None


def defaults() -> dict[str, Any]:
    """Every setting's default, JSON-ready."""
    return ConnectionSettings().model_dump(mode="json")
