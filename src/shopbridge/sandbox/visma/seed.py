"""Deterministic seeds for the Visma sandbox: "empty" (a bare Swedish company) and "demo".

* empty: company "Demo AB sandbox" (SEK), account codings, units, terms of payment, currencies,
  VAT codes, countries, bank accounts and fiscal years.
* demo: empty + delivery methods and terms, ~20 customers (private and business, a few abroad),
  articles for the catalogue SKUs where `in_visma(sku)` (name, price, coding by VAT rate, unit, stock),
  a shipping article "FRAKT" and an invoice fee article "FAKTURAAVGIFT" (25 %), and sales price lists.
* both: users, accounts, cost centres, and for the demo projects, labels, notes, message threads,
  opening balances and the read-only fields the real API fills (see `seed_details.py`).

Ids are uuid5 of fixed names, so the same seed gives the same ids on every machine.
"""

from __future__ import annotations

import uuid
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shopbridge.sandbox import catalog

from .clock import iso, iso_date
from .pricing import ZERO, q2
from .schemas import SpecModel
from .state import VismaState

NS = uuid.UUID("6f1c2a8e-2b7d-4f0e-9a51-5e1f0c7a9d30")
COMPANY_NAME = "Demo AB sandbox"
SEED_TIME = datetime(2026, 1, 1, 8, 0, 0, tzinfo=UTC)


def goods_article(
    *,
    net: Decimal,
    gross: Decimal,
    coding: tuple[str, str | None],
    unit: tuple[str, str | None, str | None],
    stock: Decimal,
    purchase: Decimal,
    stamp: Any,
) -> dict[str, Any]:
    """The price, coding, unit and stock fields of a goods (stock) article sold on the web.

    `coding` is (id, name), `unit` (id, name, abbreviation)."""
    return {
        "NetPrice": net,
        "NetPriceWithDiscount": net,
        "GrossPrice": gross,
        "CodingId": coding[0],
        "CodingName": coding[1],
        "UnitId": unit[0],
        "UnitName": unit[1],
        "UnitAbbreviation": unit[2],
        "StockBalance": stock,
        "StockBalanceReserved": ZERO,
        "StockBalanceAvailable": stock,
        "CreatedUtc": stamp,
        "ChangedUtc": stamp,
        "PurchasePrice": purchase,
        "SendToWebshop": True,
        "IsStock": True,
        "ShowStockInformation": True,
        "IsServiceArticle": False,
        "StockValue": q2(stock * purchase),
    }


def sid(kind: str, key: str) -> str:
    """Deterministic id for a seeded record."""
    return str(uuid.uuid5(NS, f"{kind}:{key}"))


EU = [
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "HU",
    "IE",
    "IT",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
]
COUNTRIES = {
    "SE": ("Sverige", "Sweden"),
    "DK": ("Danmark", "Denmark"),
    "FI": ("Finland", "Finland"),
    "NO": ("Norge", "Norway"),
    "IS": ("Island", "Iceland"),
    "DE": ("Tyskland", "Germany"),
    "NL": ("Nederländerna", "Netherlands"),
    "BE": ("Belgien", "Belgium"),
    "FR": ("Frankrike", "France"),
    "ES": ("Spanien", "Spain"),
    "IT": ("Italien", "Italy"),
    "PL": ("Polen", "Poland"),
    "EE": ("Estland", "Estonia"),
    "LV": ("Lettland", "Latvia"),
    "LT": ("Litauen", "Lithuania"),
    "AT": ("Österrike", "Austria"),
    "IE": ("Irland", "Ireland"),
    "PT": ("Portugal", "Portugal"),
    "GR": ("Grekland", "Greece"),
    "CZ": ("Tjeckien", "Czech Republic"),
    "SK": ("Slovakien", "Slovakia"),
    "SI": ("Slovenien", "Slovenia"),
    "HU": ("Ungern", "Hungary"),
    "RO": ("Rumänien", "Romania"),
    "BG": ("Bulgarien", "Bulgaria"),
    "HR": ("Kroatien", "Croatia"),
    "CY": ("Cypern", "Cyprus"),
    "MT": ("Malta", "Malta"),
    "LU": ("Luxemburg", "Luxembourg"),
    "GB": ("Storbritannien", "United Kingdom"),
    "CH": ("Schweiz", "Switzerland"),
    "US": ("USA", "United States"),
    "CA": ("Kanada", "Canada"),
    "JP": ("Japan", "Japan"),
    "CN": ("Kina", "China"),
    "AU": ("Australien", "Australia"),
}
# SEK per unit of currency (fixed, so totals are reproducible).
CURRENCIES = {
    "SEK": Decimal("1"),
    "EUR": Decimal("11.45"),
    "NOK": Decimal("0.98"),
    "DKK": Decimal("1.535"),
    "USD": Decimal("10.62"),
    "GBP": Decimal("13.40"),
}

# key, name, English name, type, VAT fraction, domestic account, exempt/foreign accounts
CODINGS: list[tuple[str, str, str, str, Decimal, int | None, dict[str, int]]] = [
    (
        "goods25",
        "Varor 25% moms",
        "Goods 25% VAT",
        "Goods",
        Decimal("0.25"),
        3001,
        {
            "DomesticSalesSubjectToReversedConstructionVatAccountNumber": 3231,
            "ForeignSalesSubjectToMossAccountNumber": 3106,
            "ForeignSalesSubjectToThirdPartySalesAccountNumber": 3108,
            "ForeignSalesSubjectToVatWithinEuAccountNumber": 3106,
            "ForeignSalesVatExemptOutsideEuAccountNumber": 3105,
            "ForeignSalesVatExemptWithinEuAccountNumber": 3108,
        },
    ),
    (
        "goods12",
        "Varor 12% moms",
        "Goods 12% VAT",
        "Goods",
        Decimal("0.12"),
        3002,
        {
            "ForeignSalesVatExemptOutsideEuAccountNumber": 3105,
            "ForeignSalesVatExemptWithinEuAccountNumber": 3108,
            "ForeignSalesSubjectToVatWithinEuAccountNumber": 3106,
        },
    ),
    (
        "goods6",
        "Varor 6% moms",
        "Goods 6% VAT",
        "Goods",
        Decimal("0.06"),
        3003,
        {
            "ForeignSalesVatExemptOutsideEuAccountNumber": 3105,
            "ForeignSalesVatExemptWithinEuAccountNumber": 3108,
            "ForeignSalesSubjectToVatWithinEuAccountNumber": 3106,
        },
    ),
    (
        "goods0",
        "Varor momsfri",
        "Goods VAT exempt",
        "Goods",
        Decimal("0"),
        None,
        {
            "DomesticSalesVatExemptAccountNumber": 3004,
            "DomesticSalesVatCodeExemptAccountNumber": 3004,
            "ForeignSalesVatExemptOutsideEuAccountNumber": 3105,
            "ForeignSalesVatExemptWithinEuAccountNumber": 3108,
        },
    ),
    (
        "service25",
        "Tjänster 25% moms",
        "Services 25% VAT",
        "Service",
        Decimal("0.25"),
        3041,
        {
            "ForeignSalesVatExemptOutsideEuAccountNumber": 3305,
            "ForeignSalesVatExemptWithinEuAccountNumber": 3308,
            "ForeignSalesSubjectToVatWithinEuAccountNumber": 3306,
        },
    ),
    (
        "service12",
        "Tjänster 12% moms",
        "Services 12% VAT",
        "Service",
        Decimal("0.12"),
        3042,
        {
            "ForeignSalesVatExemptOutsideEuAccountNumber": 3305,
            "ForeignSalesVatExemptWithinEuAccountNumber": 3308,
        },
    ),
    (
        "service6",
        "Tjänster 6% moms",
        "Services 6% VAT",
        "Service",
        Decimal("0.06"),
        3043,
        {
            "ForeignSalesVatExemptOutsideEuAccountNumber": 3305,
            "ForeignSalesVatExemptWithinEuAccountNumber": 3308,
        },
    ),
    (
        "eu_goods_rc",
        "Varor till EU, omvänd skattskyldighet",
        "Goods to EU, reverse charge",
        "Goods",
        Decimal("0"),
        None,
        {"ForeignSalesVatExemptWithinEuAccountNumber": 3108, "DomesticSalesVatExemptAccountNumber": 3108},
    ),
    (
        "export_goods",
        "Export varor utanför EU",
        "Export of goods outside the EU",
        "Goods",
        Decimal("0"),
        None,
        {"ForeignSalesVatExemptOutsideEuAccountNumber": 3105, "DomesticSalesVatExemptAccountNumber": 3105},
    ),
    (
        "eu_service_rc",
        "Tjänster till EU, omvänd skattskyldighet",
        "Services to EU, reverse charge",
        "Service",
        Decimal("0"),
        None,
        {"ForeignSalesVatExemptWithinEuAccountNumber": 3308},
    ),
]
GOODS_BY_RATE = {Decimal("25"): "goods25", Decimal("12"): "goods12", Decimal("6"): "goods6"}

UNITS = [  # key (abbreviation), name, code, English abbreviation
    ("st", "Styck", "H87", "pcs"),
    ("kg", "Kilogram", "KGM", "kg"),
    ("m", "Meter", "MTR", "m"),
    ("par", "Par", "PR", "pair"),
    ("förp", "Förpackning", "PK", "pkg"),
    ("h", "Timme", "HUR", "h"),
]
TERMS = [  # key, name, English, days, type id, type text
    ("10", "10 dagar netto", "10 days net", 10, 0, "Normal"),
    ("20", "20 dagar netto", "20 days net", 20, 0, "Normal"),
    ("30", "30 dagar netto", "30 days net", 30, 0, "Normal"),
    ("kontant", "Kontant", "Cash", 0, 2, "Cash"),
    ("kort", "Kortbetalning", "Card payment", 0, 3, "CardPayment"),
]
VATCODES = [  # code, description, rate, sales?, account
    ("10", "Utgående moms 25 %", Decimal("0.25"), True, 2611),
    ("11", "Utgående moms 12 %", Decimal("0.12"), True, 2621),
    ("12", "Utgående moms 6 %", Decimal("0.06"), True, 2631),
    ("42", "Momsfri försäljning", Decimal("0"), True, None),
    ("35", "Försäljning av varor till annat EU-land", Decimal("0"), False, None),
    ("36", "Försäljning av varor utanför EU", Decimal("0"), False, None),
    ("48", "Ingående moms", Decimal("0.25"), False, 2641),
]
DELIVERY_METHODS = [
    ("POSTNORD", "PostNord MyPack", "PostNord MyPack"),
    ("DHL", "DHL Service Point", "DHL Service Point"),
    ("BUDBEE", "Budbee hemleverans", "Budbee home delivery"),
    ("HAMT", "Hämtas i butik", "Pick-up in store"),
]
DELIVERY_TERMS = [
    ("FVL", "Fritt vårt lager", "Ex our warehouse"),
    ("FKL", "Fritt kunds lager", "Free customer's warehouse"),
    ("EXW", "Ex Works", "Ex Works"),
    ("DAP", "Levererat till plats", "Delivered at place"),
]

# number, name, private?, email, address, postal code, city, country, currency, corp id, VAT number, terms
CUSTOMERS: list[tuple[str, str, bool, str, str, str, str, str, str, str | None, str | None, str]] = [
    (
        "1001",
        "Anna Andersson",
        True,
        "anna.andersson@example.se",
        "Storgatan 12",
        "111 22",
        "Stockholm",
        "SE",
        "SEK",
        None,
        None,
        "kort",
    ),
    (
        "1002",
        "Erik Johansson",
        True,
        "erik.johansson@example.se",
        "Kungsgatan 4",
        "411 19",
        "Göteborg",
        "SE",
        "SEK",
        None,
        None,
        "kort",
    ),
    (
        "1003",
        "Maria Karlsson",
        True,
        "maria.karlsson@example.se",
        "Södra Förstadsgatan 8",
        "211 43",
        "Malmö",
        "SE",
        "SEK",
        None,
        None,
        "10",
    ),
    (
        "1004",
        "Lars Nilsson",
        True,
        "lars.nilsson@example.se",
        "Drottninggatan 33",
        "753 20",
        "Uppsala",
        "SE",
        "SEK",
        None,
        None,
        "kort",
    ),
    (
        "1005",
        "Karin Eriksson",
        True,
        "karin.eriksson@example.se",
        "Vasagatan 2",
        "722 15",
        "Västerås",
        "SE",
        "SEK",
        None,
        None,
        "10",
    ),
    (
        "1006",
        "Johan Larsson",
        True,
        "johan.larsson@example.se",
        "Hamngatan 7",
        "702 10",
        "Örebro",
        "SE",
        "SEK",
        None,
        None,
        "kort",
    ),
    (
        "1007",
        "Sofia Olsson",
        True,
        "sofia.olsson@example.se",
        "Trädgårdsgatan 5",
        "582 25",
        "Linköping",
        "SE",
        "SEK",
        None,
        None,
        "kontant",
    ),
    (
        "1008",
        "Per Persson",
        True,
        "per.persson@example.se",
        "Kyrkogatan 19",
        "252 23",
        "Helsingborg",
        "SE",
        "SEK",
        None,
        None,
        "kort",
    ),
    (
        "1009",
        "Emma Svensson",
        True,
        "emma.svensson@example.se",
        "Östra Storgatan 1",
        "553 21",
        "Jönköping",
        "SE",
        "SEK",
        None,
        None,
        "10",
    ),
    (
        "1010",
        "Nils Gustafsson",
        True,
        "nils.gustafsson@example.se",
        "Stora Torget 3",
        "903 26",
        "Umeå",
        "SE",
        "SEK",
        None,
        None,
        "kort",
    ),
    (
        "1011",
        "Lundqvist Inredning AB",
        False,
        "faktura@lundqvist-inredning.example.se",
        "Industrivägen 14",
        "171 48",
        "Solna",
        "SE",
        "SEK",
        "556677-8899",
        "SE556677889901",
        "30",
    ),
    (
        "1012",
        "Hemma & Hus i Norr AB",
        False,
        "ekonomi@hemmahus.example.se",
        "Storgatan 55",
        "852 30",
        "Sundsvall",
        "SE",
        "SEK",
        "559012-3456",
        "SE559012345601",
        "30",
    ),
    (
        "1013",
        "Kafé Kanelen HB",
        False,
        "kanelen@example.se",
        "Stora Nygatan 9",
        "111 27",
        "Stockholm",
        "SE",
        "SEK",
        "969712-3344",
        "SE969712334401",
        "20",
    ),
    (
        "1014",
        "Bokhandeln i Lund AB",
        False,
        "inkop@bokhandeln-lund.example.se",
        "Klostergatan 11",
        "222 22",
        "Lund",
        "SE",
        "SEK",
        "556123-4567",
        "SE556123456701",
        "30",
    ),
    (
        "1015",
        "Fjällbutiken Åre AB",
        False,
        "order@fjallbutiken.example.se",
        "Årevägen 80",
        "837 52",
        "Åre",
        "SE",
        "SEK",
        "559876-5432",
        "SE559876543201",
        "20",
    ),
    (
        "1016",
        "Nordisk Design GmbH",
        False,
        "rechnung@nordisk-design.example.de",
        "Hauptstraße 21",
        "20095",
        "Hamburg",
        "DE",
        "EUR",
        None,
        "DE123456789",
        "30",
    ),
    (
        "1017",
        "Hygge ApS",
        False,
        "bogholderi@hygge.example.dk",
        "Vesterbrogade 40",
        "1620",
        "København V",
        "DK",
        "EUR",
        None,
        "DK12345678",
        "30",
    ),
    (
        "1018",
        "Fjord Interiør AS",
        False,
        "faktura@fjord-interior.example.no",
        "Karl Johans gate 10",
        "0154",
        "Oslo",
        "NO",
        "NOK",
        None,
        None,
        "30",
    ),
    (
        "1019",
        "Mikko Virtanen",
        True,
        "mikko.virtanen@example.fi",
        "Mannerheimintie 5",
        "00100",
        "Helsinki",
        "FI",
        "EUR",
        None,
        None,
        "10",
    ),
    (
        "1020",
        "Scandi Home Inc.",
        False,
        "ap@scandihome.example.com",
        "200 Park Avenue",
        "10166",
        "New York",
        "US",
        "USD",
        None,
        None,
        "30",
    ),
]


def _record(spec: SpecModel, schema: str, values: dict[str, Any]) -> dict[str, Any]:
    rec = spec.blank(schema)
    rec.update(values)
    return rec


def seed_company(state: VismaState, spec: SpecModel) -> None:
    """The bare company every seed starts with."""
    stamp = iso(SEED_TIME)
    year = state.clock.current().year
    t = state.tables
    for key, name, english, kind, rate, domestic, accounts in CODINGS:
        cid = sid("coding", key)
        values: dict[str, Any] = {
            "Id": cid,
            "Name": name,
            "NameEnglish": english,
            "Type": kind,
            "VatRate": f"{int(rate * 100)}%",
            "IsActive": True,
            "VatRatePercent": rate,
            "DomesticSalesSubjectToVatAccountNumber": domestic,
            "ChangedUtc": stamp,
        }
        values.update(accounts)
        t["articleaccountcodings"][cid] = _record(spec, "ArticleAccountCodingApi", values)
    for abbr, name, code, english in UNITS:
        uid = sid("unit", abbr)
        t["units"][uid] = _record(
            spec,
            "UnitApi",
            {"Id": uid, "Name": name, "Code": code, "Abbreviation": abbr, "AbbreviationEnglish": english},
        )
    for key, name, english, days, type_id, type_text in TERMS:
        tid = sid("terms", key)
        t["termsofpayments"][tid] = _record(
            spec,
            "TermsOfPaymentApi",
            {
                "Id": tid,
                "Name": name,
                "NameEnglish": english,
                "NumberOfDays": days,
                "TermsOfPaymentTypeId": type_id,
                "TermsOfPaymentTypeText": type_text,
                "AvailableForSales": True,
                "AvailableForPurchase": type_id == 0,
            },
        )
    for code, rate in CURRENCIES.items():
        t["currencies"][code] = {"Code": code, "_Rate": rate}
    for code, description, rate, sales, account in VATCODES:
        vid = sid("vatcode", code)
        t["vatcodes"][vid] = _record(
            spec,
            "VatCodeApi",
            {
                "Id": vid,
                "Code": code,
                "Description": description,
                "VatRate": rate,
                "OssCodeType": 0,
                "RelatedAccounts": {
                    "AccountNumber1": account,
                    "AccountNumber2": None,
                    "AccountNumber3": None,
                },
                "_Sales": sales,
            },
        )
    for code, (name, english) in COUNTRIES.items():
        t["countries"][code] = {"Name": name, "NameEnglish": english, "Code": code, "IsEuMember": code in EU}
    for key, name, kind, ledger, default in (
        ("cheque", "Företagskonto", 1, 1930, True),
        ("cash", "Kassa", 2, 1910, False),
    ):
        bid = sid("bank", key)
        t["bankaccounts"][bid] = _record(
            spec,
            "BankAccountApi",
            {
                "Id": bid,
                "Name": name,
                "NameEnglish": name,
                "BankAccountType": kind,
                "BankAccountTypeDescription": "ChequeAccount" if kind == 1 else "CashAccount",
                "LedgerAccountNumber": ledger,
                "IsActive": True,
                "IsDefaultChequeAccount": default,
                "CurrencyCode": "SEK",
                "ModifiedUtc": stamp,
                "Bban": "5000-1234567" if kind == 1 else None,
                "Balance": {"Balance": ZERO, "Date": iso_date(SEED_TIME)},
            },
        )
    for y in (year - 1, year):
        fid = sid("fiscalyear", str(y))
        t["fiscalyears"][fid] = _record(
            spec,
            "FiscalYearApi",
            {
                "Id": fid,
                "StartDate": f"{y}-01-01T00:00:00Z",
                "EndDate": f"{y}-12-31T00:00:00Z",
                "IsLockedForAccounting": False,
                "BookkeepingMethod": 0,
            },
        )
    company = spec.blank("CompanySettingsApi")
    company.update(
        {
            "Name": COMPANY_NAME,
            "Email": "info@demo-ab.example.se",
            "Phone": "08-123 456 78",
            "Address1": "Sandlådegatan 1",
            "PostalCode": "111 20",
            "City": "Stockholm",
            "CountryCode": "SE",
            "Website": "https://demo-ab.example.se",
            "OurReference": "Sandra Sandbox",
            "CurrencyCode": "SEK",
            "TermsOfPaymentId": sid("terms", "30"),
            "CorporateIdentityNumber": "559999-0001",
            "VatCode": "SE559999000101",
            "BankGiro": "123-4567",
            "BankAccount": "5000-1234567",
            "Iban": "SE4550000000050001234567",
            "AccountNumberDigits": 4,
            "TypeOfBusiness": 1,
            "VatPeriod": 3,
            "CompanyStatus": 1,
            "CompanyIdentifier": sid("company", COMPANY_NAME),
            "UsesPaymentReferenceNumber": True,
            "KeepOriginalDraftDate": False,
            "UseAutomaticVatCalculation": True,
            "AccountingLockedTo": "0001-01-01T00:00:00Z",
            "LatePaymentFee": Decimal("60"),
        }
    )
    state.company = company
    state.series.customer = 1
    state.series.invoice = 1
    state.series.order = 1
    state.series.pricelist = 1


def seed_demo(state: VismaState, spec: SpecModel) -> None:
    """Company + delivery data, customers, articles from the demo catalogue, price lists."""
    seed_company(state, spec)
    stamp = iso(SEED_TIME)
    t = state.tables
    for code, name, english in DELIVERY_METHODS:
        did = sid("deliverymethod", code)
        t["deliverymethods"][did] = _record(
            spec, "DeliveryMethodApi", {"Id": did, "Name": name, "NameEnglish": english, "Code": code}
        )
    for code, name, english in DELIVERY_TERMS:
        did = sid("deliveryterm", code)
        t["deliveryterms"][did] = _record(
            spec,
            "DeliveryTermApi",
            {"Id": did, "Name": name, "NameEnglish": english, "Code": code, "Editable": False},
        )
    # price lists (Pro variant)
    standard = sid("pricelist", "standard")
    reseller = sid("pricelist", "reseller")
    euro = sid("pricelist", "eur")
    for number, (pid, name, currency, is_std) in enumerate(
        (
            (standard, "Standard", "SEK", True),
            (reseller, "Återförsäljare", "SEK", False),
            (euro, "Export EUR", "EUR", False),
        ),
        start=1,
    ):
        t["salespricelists"][pid] = _record(
            spec,
            "SalesPriceListApi",
            {
                "Id": pid,
                "Name": name,
                "Number": number,
                "CurrencyCode": currency,
                "IsStandard": is_std,
                "IsActive": True,
                "ChangedUtc": stamp,
                "Note": None,
            },
        )
    state.series.pricelist = 4
    # customers
    for number, name, private, email, address, postal, city, country, currency, corp, vat, terms in CUSTOMERS:
        cid = sid("customer", number)
        tid = sid("terms", terms)
        pricelist = None
        if number in ("1011", "1012", "1014"):
            pricelist = reseller
        elif currency == "EUR" and not private:
            pricelist = euro
        t["customers"][cid] = _record(
            spec,
            "CustomerApi",
            {
                "Id": cid,
                "CustomerNumber": number,
                "Name": name,
                "IsPrivatePerson": private,
                "IsActive": True,
                "EmailAddress": email,
                "InvoiceAddress1": address,
                "InvoicePostalCode": postal,
                "InvoiceCity": city,
                "InvoiceCountryCode": country,
                "CurrencyCode": currency,
                "CorporateIdentityNumber": corp,
                "VatNumber": vat,
                "TermsOfPaymentId": tid,
                "TermsOfPayment": {
                    k: v for k, v in t["termsofpayments"][tid].items() if not k.startswith("_")
                },
                "DeliveryMethodId": sid("deliverymethod", "POSTNORD") if private else None,
                "SalesPriceListId": pricelist,
                "ChangedUtc": stamp,
                "UnpaidInvoicesAmount": ZERO,
                "IsFutureInvoiceDateAllowed": True,
                "ContactPersonName": None if private else "Inköpsavdelningen",
                "MobilePhone": f"070-{int(number) * 7919 % 1000:03d} {int(number) * 104729 % 100:02d} 00"
                if private
                else None,
            },
        )
    state.series.customer = 1021
    # articles from the catalogue
    units = {abbr: sid("unit", abbr) for abbr, *_ in UNITS}
    for product in catalog.demo_catalog():
        coding_key = GOODS_BY_RATE[product.vat_rate]
        rate = product.vat_rate / 100
        for variant in product.variants:
            if not catalog.in_visma(variant.sku):
                continue
            label = ", ".join(variant.attribute_values.values())
            name = f"{product.name} {label}" if label else product.name
            stock = Decimal(sum(variant.stock.values()))
            crc = zlib.crc32(variant.sku.encode("utf-8"))
            aid = sid("article", variant.sku)
            purchase = q2(variant.price_sek * Decimal("0.45"))
            t["articles"][aid] = _record(
                spec,
                "ArticleApi",
                {
                    "Id": aid,
                    "IsActive": crc % 50 != 7,
                    "Number": variant.sku[:40],
                    "Name": name[:50],
                    "NameEnglish": None,
                    **goods_article(
                        net=variant.price_sek,
                        gross=q2(variant.price_sek * (1 + rate)),
                        coding=(sid("coding", coding_key), next(c[1] for c in CODINGS if c[0] == coding_key)),
                        unit=(units.get(product.unit, units["st"]), _unit_name(product.unit), product.unit),
                        stock=stock,
                        purchase=purchase,
                        stamp=stamp,
                    ),
                    "Note": product.description[:4000],
                },
            )
            if crc % 3 == 0:
                key = f"{reseller}:{aid}"
                net = q2(variant.price_sek * Decimal("0.80"))
                t["salespricelistrows"][key] = {
                    "SalesPriceListId": reseller,
                    "ArticleId": aid,
                    "NetPrice": net,
                    "GrossPrice": q2(net * (1 + rate)),
                    "CurrencyCode": "SEK",
                    "ChangedUtc": stamp,
                }
            t["salespricelistrows"][f"{euro}:{aid}"] = {
                "SalesPriceListId": euro,
                "ArticleId": aid,
                "NetPrice": variant.price_eur,
                "GrossPrice": q2(variant.price_eur * (1 + rate)),
                "CurrencyCode": "EUR",
                "ChangedUtc": stamp,
            }
    for number, name, net in (
        ("FRAKT", "Frakt", Decimal("47.20")),
        ("FAKTURAAVGIFT", "Fakturaavgift", Decimal("23.20")),
    ):
        aid = sid("article", number)
        t["articles"][aid] = _record(
            spec,
            "ArticleApi",
            {
                "Id": aid,
                "IsActive": True,
                "Number": number,
                "Name": name,
                "NameEnglish": None,
                "NetPrice": net,
                "NetPriceWithDiscount": net,
                "GrossPrice": q2(net * Decimal("1.25")),
                "CodingId": sid("coding", "service25"),
                "CodingName": "Tjänster 25% moms",
                "UnitId": units["st"],
                "UnitName": "Styck",
                "UnitAbbreviation": "st",
                "CreatedUtc": stamp,
                "ChangedUtc": stamp,
                "SendToWebshop": False,
                "IsStock": False,
                "ShowStockInformation": False,
                "IsServiceArticle": True,
                "StockBalance": ZERO,
                "StockBalanceReserved": ZERO,
                "StockBalanceAvailable": ZERO,
            },
        )


def _unit_name(abbr: str) -> str:
    return next((name for a, name, _c, _e in UNITS if a == abbr), "Styck")


def seed_state(state: VismaState, spec: SpecModel, seed: str | None) -> None:
    """Fill `state` with the named seed ("demo", "empty" or None = empty)."""
    from .seed_details import seed_company_details, seed_demo_details  # builds on this module

    if seed == "demo":
        seed_demo(state, spec)
        seed_company_details(state, spec, demo=True)
        seed_demo_details(state, spec, seed_time=SEED_TIME)
    elif seed in (None, "", "empty"):
        seed_company(state, spec)
        seed_company_details(state, spec, demo=False)
    else:
        raise ValueError(f"unknown Visma sandbox seed {seed!r} (expected 'demo' or 'empty')")
    state.reindex()
    state.dirty = True
