"""Sales documents (invoice drafts, invoices, orders): customer look-up, VAT rules, row pricing, totals.

VAT of a row comes from the article's account coding (`VatRatePercent`, a fraction: 0.25 = 25 %), or
from the row's `VatRateId` (a /v2/vatcodes Id) when given, adjusted for the customer like Visma does:
EU business customers with a VAT number and customers outside the EU get 0 % (reverse charge / export).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from .api_base import Api, new_id, norm_id
from .clock import iso_date, parse_datetime
from .errors import business_error, reference_not_found, validation_error
from .pricing import ZERO, DocumentTotals, compute_totals, dec, q2, row_amount
from .routes_dimensions import check_dimensions

ONE = Decimal(1)
_DECIMALS = re.compile(r"\{1,(\d+)\}\)\?$")  # "[-]?\d+(.\d{1,2})?": at most 2 decimals


def _pattern_places(prop: dict[str, Any]) -> int | None:
    """The decimals a number field allows, read from its spec pattern (JSON Schema applies patterns to
    strings only, so numbers are checked here)."""
    found = _DECIMALS.search(str(prop.get("pattern") or ""))
    return int(found.group(1)) if found else None


@dataclass
class Priced:
    """A priced document: rows in wire shape plus totals in the document currency."""

    customer: dict[str, Any]
    currency: str
    rate: Decimal
    includes_vat: bool
    rows: list[dict[str, Any]]
    totals: DocumentTotals
    article_qty: dict[str, Decimal] = field(default_factory=dict)  # stock articles -> quantity


class Sales:
    """Helpers shared by the draft, invoice and order endpoints."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.state = api.state
        self.spec = api.spec

    # ---- look-ups ------------------------------------------------------------------------------
    def customer(self, customer_id: Any, field_name: str = "CustomerId") -> dict[str, Any]:
        cid = norm_id(str(customer_id or ""))
        rec = self.state.table("customers").get(cid)
        if rec is None:
            raise reference_not_found(field_name, "Customer", customer_id)
        if not rec.get("IsActive", True):
            raise business_error(
                f"{field_name}: customer {rec.get('CustomerNumber')} is inactive", field_name
            )
        return rec

    def terms(self, terms_id: Any, field_name: str = "TermsOfPaymentId") -> dict[str, Any]:
        rec = self.state.table("termsofpayments").get(norm_id(str(terms_id or "")))
        if rec is None:
            raise reference_not_found(field_name, "Terms of payment", terms_id)
        return rec

    def company_currency(self) -> str:
        return str(self.state.company.get("CurrencyCode") or "SEK")

    def currency_rate(self, code: str, field_name: str = "CurrencyCode") -> Decimal:
        rec = self.state.table("currencies").get(code.upper())
        if rec is None:
            raise business_error(
                f"{field_name}: the currency '{code}' is not activated for this company", field_name
            )
        return dec(rec.get("_Rate"), ONE)

    def is_eu(self, country: str) -> bool:
        rec = self.state.table("countries").get(country.upper())
        return bool(rec and rec.get("IsEuMember"))

    def includes_vat(self, customer: dict[str, Any]) -> bool:
        return bool(self.state.flags.show_prices_excl_vat_pc and customer.get("IsPrivatePerson"))

    def rounds_to_units(self, currency: str) -> bool:
        return self.state.flags.domestic_currency_rounding == 1 and currency == self.company_currency()

    def customer_vat_factor(self, customer: dict[str, Any]) -> bool:
        """False when the customer's sales carry no Swedish VAT (EU reverse charge or export)."""
        home = str(self.state.company.get("CountryCode") or "SE")
        country = customer.get("InvoiceCountryCode") or home
        if customer.get("DeliveryBasedVat") and customer.get("DeliveryCountryCode"):
            country = customer["DeliveryCountryCode"]
        country = str(country).upper()
        if country == home:
            return True
        if self.is_eu(country):
            return bool(customer.get("IsPrivatePerson") or not customer.get("VatNumber"))
        return bool(customer.get("ForceBookkeepVat"))

    # ---- rows ------------------------------------------------------------------------------------
    def price_rows(
        self,
        raw_rows: list[dict[str, Any]] | None,
        *,
        kind: str,
        customer: dict[str, Any],
        currency: str,
        rate: Decimal,
        replace_zero: bool = False,
    ) -> Priced:
        """Validate and price rows for `kind` in ("draft", "invoice", "order")."""
        schema = {
            "draft": "CustomerInvoiceDraftRowApi",
            "invoice": "CustomerInvoiceRowApi",
            "order": "OrderRowApi",
        }[kind]
        props = self.spec.properties(schema)
        read_only = self.spec.read_only(schema)
        includes_vat = self.includes_vat(customer)
        vat_applies = self.customer_vat_factor(customer)
        articles = self.state.table("articles")
        codings = self.state.table("articleaccountcodings")
        units = self.state.table("units")
        vatcodes = self.state.table("vatcodes")
        pricelist_id = customer.get("SalesPriceListId")
        pricelist = self.state.table("salespricelists").get(norm_id(pricelist_id)) if pricelist_id else None
        foreign = currency != self.company_currency()
        home = str(self.state.company.get("CountryCode") or "SE")
        abroad = str(customer.get("InvoiceCountryCode") or home).upper() != home
        price_quantum = Decimal("0.0001") if foreign or abroad else Decimal("0.01")
        out_rows: list[dict[str, Any]] = []
        pairs: list[tuple[Decimal, Decimal]] = []
        qty_by_article: dict[str, Decimal] = {}
        for idx, raw in enumerate(raw_rows or []):
            where = f"Rows[{idx}]"
            row = self.spec.blank(schema)
            for key, value in raw.items():
                if key in props and (
                    key not in read_only or key in ("IsDiscountInFixedAmount", "DiscountFixedAmount")
                ):
                    row[key] = value
            row["Id"] = new_id()
            check_dimensions(self.api, row, where)
            if kind == "order":
                row["LineNumber"] = raw.get("LineNumber", idx + 1)
            elif "LineNumber" in row:
                row["LineNumber"] = idx + 1
            article_id = raw.get("ArticleId")
            is_text = bool(raw.get("IsTextRow")) if kind != "invoice" else not article_id
            if kind != "invoice" and not is_text and not article_id:
                raise validation_error(
                    f"{where}.ArticleId: required when IsTextRow is false", f"{where}.ArticleId"
                )
            if "IsTextRow" in row:
                row["IsTextRow"] = is_text
            if is_text:
                text = raw.get("Text")
                if not text or not str(text).strip():
                    raise validation_error(
                        f"{where}.Text: a text row needs at least one character", f"{where}.Text"
                    )
                for key in (
                    "ArticleId",
                    "ArticleNumber",
                    "UnitId",
                    "VatRate",
                    "VatRateId",
                    "DiscountFixedAmount",
                ):
                    if key in row:
                        row[key] = None
                for key in (
                    "UnitPrice",
                    "Quantity",
                    "Amount",
                    "AmountNoVat",
                    "PercentVat",
                    "DiscountPercentage",
                    "DeliveredQuantity",
                    "PurchasePrice",
                ):
                    if key in row:
                        row[key] = ZERO
                row["IsDiscountInFixedAmount"] = False
                out_rows.append(row)
                continue
            article = articles.get(norm_id(str(article_id)))
            if article is None:
                raise reference_not_found(f"{where}.ArticleId", "Article", article_id)
            if not article.get("IsActive"):
                raise business_error(
                    f"{where}.ArticleId: article {article['Number']} is inactive", f"{where}.ArticleId"
                )
            coding = codings.get(norm_id(str(article.get("CodingId") or "")))
            if coding is None or not coding.get("IsActive", True):
                raise business_error(
                    f"{where}.ArticleId: article {article['Number']} has no valid account coding (CodingId)",
                    f"{where}.ArticleId",
                )
            vat_rate = dec(coding.get("VatRatePercent"))
            vat_id = raw.get("VatRateId")
            if vat_id:
                vat_code = vatcodes.get(norm_id(str(vat_id)))
                if vat_code is None:
                    raise reference_not_found(f"{where}.VatRateId", "VAT rate", vat_id)
                vat_rate = dec(vat_code.get("VatRate"))
            if not vat_applies:
                vat_rate = ZERO
            quantity = dec(raw.get("Quantity"))
            unit_price = raw.get("UnitPrice")
            if unit_price is None or (
                dec(unit_price) == 0 and (replace_zero or raw.get("ReplaceUnitPriceWhenZero"))
            ):
                unit_price = self.article_price(
                    article, coding, pricelist, currency, rate, includes_vat, foreign
                )
            unit_price = dec(unit_price)
            for key in ("Quantity", "DiscountPercentage"):  # the spec's "Format: N decimals" (its pattern)
                places = _pattern_places(props.get(key) or {})
                value = raw.get(key)
                if (
                    places is not None
                    and value is not None
                    and dec(value) != dec(value).quantize(ONE.scaleb(-places))
                ):
                    raise validation_error(
                        f"{where}.{key}: at most {places} decimals, got {value}", f"{where}.{key}"
                    )
            if unit_price != unit_price.quantize(price_quantum):  # the spec: 2 decimals, 4 when foreign
                raise validation_error(
                    f"{where}.UnitPrice: at most {-price_quantum.as_tuple().exponent} decimals for this "
                    "customer and currency (2 when both are domestic, 4 otherwise)",
                    f"{where}.UnitPrice",
                )
            discount_pct = dec(raw.get("DiscountPercentage"))
            fixed_flag = bool(raw.get("IsDiscountInFixedAmount"))
            fixed = dec(raw.get("DiscountFixedAmount")) if fixed_flag else None
            amount = row_amount(quantity, unit_price, discount_pct, fixed)
            unit = units.get(norm_id(str(article.get("UnitId") or "")), {})
            is_service = coding.get("Type") == "Service"
            values = {
                "ArticleId": article["Id"],
                "ArticleNumber": article["Number"],
                "IsServiceArticle": is_service,
                "UnitId": article.get("UnitId"),
                "UnitAbbreviation": unit.get("Abbreviation"),
                "UnitAbbreviationEnglish": unit.get("AbbreviationEnglish"),
                "UnitName": unit.get("Name"),
                "Text": raw.get("Text") or article["Name"],
                "UnitPrice": unit_price,
                "Quantity": quantity,
                "DiscountPercentage": discount_pct if not fixed_flag else ZERO,
                "IsDiscountInFixedAmount": fixed_flag,
                "DiscountFixedAmount": fixed,
                "VatRate": vat_rate,
                "PercentVat": vat_rate,
                "VatRateId": self.vat_code_id(vat_rate),
                "Amount": amount,
                "AmountNoVat": q2(amount / (1 + vat_rate)) if includes_vat else amount,
                "PurchasePrice": dec(article.get("PurchasePrice")),
                "FreightCosts": dec(article.get("FreightCosts")),
                "IsVatFree": vat_rate == 0,
            }
            for key, value in values.items():
                if key in row:
                    row[key] = value
            out_rows.append(row)
            pairs.append((amount, vat_rate))
            if article.get("IsStock"):
                qty_by_article[article["Id"]] = qty_by_article.get(article["Id"], ZERO) + quantity
        totals = compute_totals(pairs, includes_vat, self.rounds_to_units(currency))
        return Priced(
            customer=customer,
            currency=currency,
            rate=rate,
            includes_vat=includes_vat,
            rows=out_rows,
            totals=totals,
            article_qty=qty_by_article,
        )

    def article_price(
        self,
        article: dict[str, Any],
        coding: dict[str, Any],
        pricelist: dict[str, Any] | None,
        currency: str,
        rate: Decimal,
        includes_vat: bool,
        foreign: bool,
    ) -> Decimal:
        """The article's price for this customer and currency (price list first)."""
        net: Decimal | None = None
        if pricelist is not None:
            row = self.state.table("salespricelistrows").get(f"{pricelist['Id']}:{article['Id']}")
            if row is not None and (row.get("CurrencyCode") or self.company_currency()) == currency:
                net = dec(row.get("NetPrice"))
                foreign = False
        if net is None:
            net = dec(article.get("NetPrice"))
        if foreign and rate:
            net = q2(net / rate)
        if includes_vat:
            return q2(net * (1 + dec(coding.get("VatRatePercent"))))
        return net

    def vat_code_id(self, rate: Decimal) -> str | None:
        for code in self.state.table("vatcodes").values():
            if code.get("_Sales") and dec(code.get("VatRate")) == rate:
                return str(code["Id"])
        return None

    # ---- header helpers --------------------------------------------------------------------------
    def fill_addresses(
        self, doc: dict[str, Any], customer: dict[str, Any], body: dict[str, Any], read_only: frozenset[str]
    ) -> None:
        """Copy invoice and delivery addresses from the customer where the body left them empty.

        Fields the schema marks read-only always come from the customer; values are cut to the
        schema's maxLength (the customer allows 100-character delivery names, documents 50).
        """
        pairs = {
            "InvoiceCustomerName": "Name",
            "InvoiceAddress1": "InvoiceAddress1",
            "InvoiceAddress2": "InvoiceAddress2",
            "InvoicePostalCode": "InvoicePostalCode",
            "InvoiceCity": "InvoiceCity",
            "InvoiceCountryCode": "InvoiceCountryCode",
            "DeliveryCustomerName": "DeliveryCustomerName",
            "DeliveryAddress1": "DeliveryAddress1",
            "DeliveryAddress2": "DeliveryAddress2",
            "DeliveryPostalCode": "DeliveryPostalCode",
            "DeliveryCity": "DeliveryCity",
            "DeliveryCountryCode": "DeliveryCountryCode",
        }
        for target, source in pairs.items():
            if target not in doc:
                continue
            if target in read_only or body.get(target) is None:
                value = customer.get(source)
                if target == "InvoiceCountryCode" and not value:
                    value = self.state.company.get("CountryCode") or "SE"
                doc[target] = value
            else:
                doc[target] = body[target]

    def clip(self, doc: dict[str, Any], schema: str) -> None:
        """Cut strings copied from elsewhere to the schema's maxLength, then refuse (400) a document
        whose computed values break the spec's bounds (e.g. a row's LineNumber past 1000)."""
        for key, prop in self.spec.properties(schema).items():
            limit = prop.get("maxLength")
            value = doc.get(key)
            if limit is not None and isinstance(value, str) and len(value) > limit:
                doc[key] = value[:limit]
        self.api.ensure_in_spec(doc, schema)

    def due_date(self, invoice_date: str | None, terms: dict[str, Any]) -> str | None:
        if not invoice_date:
            return None
        start = parse_datetime(invoice_date)
        days = int(terms.get("NumberOfDays") or 0)
        if terms.get("TermsOfPaymentTypeId") == 1:  # current month
            nxt = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
            return iso_date(nxt - timedelta(days=1) + timedelta(days=days))
        return iso_date(start + timedelta(days=days))

    def today(self) -> str:
        return iso_date(self.api.now()) or ""

    def require_fiscal_year(self) -> None:
        if not self.state.flags.has_open_fiscal_year:
            raise business_error(
                "FiscalYearDoesNotExistException - There is no open fiscal year for the document date. "
                "Create a fiscal year in the company's settings."
            )

    def require_invoice_series(self) -> None:
        if not self.state.flags.has_invoice_number_series:
            raise business_error(
                "No invoice number series is set up for customer invoices. Set a start number under "
                "Settings > Invoicing (number series)."
            )

    # ---- stock -----------------------------------------------------------------------------------
    def move_stock(self, qty: dict[str, Decimal], *, balance_sign: int = 0, reserved_sign: int = 0) -> None:
        """Change stock balance and/or reservations of stock articles; bumps their ChangedUtc."""
        if not qty:
            return
        stamp = self.api.stamp()
        articles = self.state.table("articles")
        for article_id, amount in qty.items():
            art = articles.get(article_id)
            if art is None:
                continue
            balance = dec(art.get("StockBalance")) + balance_sign * amount
            reserved = dec(art.get("StockBalanceReserved")) + reserved_sign * amount
            art["StockBalance"] = balance
            art["StockBalanceReserved"] = max(reserved, ZERO)
            art["StockBalanceAvailable"] = balance - art["StockBalanceReserved"]
            art["ChangedUtc"] = stamp
        self.state.touch()


def ocr_reference(number: int) -> str:
    """Swedish OCR reference: number + length digit + Luhn check digit."""
    base = f"{number}{(len(str(number)) + 2) % 10}"
    total = 0
    for i, ch in enumerate(reversed(base)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return base + str((10 - total % 10) % 10)


def parse_date_field(value: Any, name: str) -> str | None:
    """Normalise a date(-time) from a request body to Visma's date form, or None."""
    if value in (None, "") or str(value).startswith("0001-01-01"):
        return None  # .NET's DateTime.MinValue means "not set"
    try:
        return iso_date(parse_datetime(str(value)))
    except ValueError as exc:
        raise validation_error(f"{name}: '{value}' is not a valid date", name) from exc


def now_date(dt: datetime) -> str:
    return iso_date(dt) or ""
