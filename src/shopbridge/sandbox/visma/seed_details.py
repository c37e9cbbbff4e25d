"""The seed's second layer: what a company carries besides customers and articles.

* every company: its users (who write notes and messages), a small BAS chart of accounts, the three
  cost centres Visma offers (inactive until named), no projects, no labels.
* demo: cost centre "Säljkanal" (items WEBB, BUTIK, B2B) and "Region" (NORR, SYD), two projects, article
  and customer labels, notes and message threads attached to customers and articles, opening balances
  of the first fiscal year, and the read-only customer and article fields the real API fills
  (`PayToAccountId`, `LastInvoiceDate`, labels, `Notes`, `MessageThreads`, barcodes, English names,
  "manually changed" stamps), so clients parse real shapes, not nulls.

Ids are uuid5 of fixed names (`seed.sid`), the same on every machine: `DEMO_COST_CENTER_ITEMS` and
`DEMO_PROJECTS` name the ones tests and examples use.
"""

from __future__ import annotations

import zlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

from .clock import iso, iso_date
from .schemas import SpecModel
from .seed import sid
from .state import VismaState

# Document types of notes and message threads (NoteApi.DocumentType) and the table holding each.
DOCUMENT_TABLES = {
    1: "customerinvoices",
    2: "customerinvoicedrafts",
    6: "orders",
    9: "customers",
    11: "articles",
    21: "orders",  # an order draft is an order with Status 1
}

USERS = (("sandra", "Sandra Sandbox"), ("bo", "Bo Bokförare"))

# A slice of the Swedish BAS chart: number, name, active.
ACCOUNTS = (
    (1460, "Lager av handelsvaror", True),
    (1510, "Kundfordringar", True),
    (1910, "Kassa", True),
    (1930, "Företagskonto / checkkonto / affärskonto", True),
    (1940, "Övriga bankkonton", False),
    (2081, "Aktiekapital", True),
    (2091, "Balanserad vinst eller förlust", True),
    (2440, "Leverantörsskulder", True),
    (2611, "Utgående moms på försäljning inom Sverige, 25 %", True),
    (2641, "Debiterad ingående moms", True),
    (2650, "Redovisningskonto för moms", True),
    (3001, "Försäljning inom Sverige, 25 % moms", True),
)
DEMO_OPENING_BALANCES = {
    1460: Decimal("180000.00"),
    1510: Decimal("45000.00"),
    1930: Decimal("250000.00"),
    2081: Decimal("-50000.00"),
    2091: Decimal("-320000.00"),
    2440: Decimal("-105000.00"),
}

# cost centre number -> (name, active, items: short name, name)
DEMO_COST_CENTERS = {
    1: ("Säljkanal", True, (("WEBB", "Webbshop"), ("BUTIK", "Butik Stockholm"), ("B2B", "Återförsäljare"))),
    2: ("Region", True, (("NORR", "Norra Sverige"), ("SYD", "Södra Sverige"))),
    3: ("Kostnadsställe 3", False, ()),
}
# project number -> (name, status 1 ongoing / 2 finished, start, end, customer number or None)
DEMO_PROJECT_ROWS = {
    "P1001": ("Vårkampanj 2026", 1, "2026-03-01", None, None),
    "P1002": ("Julmarknad 2025", 2, "2025-11-15", "2025-12-23", None),
    "P1003": ("Inredning Lundqvist", 1, "2026-01-10", None, "1011"),
}
ARTICLE_LABELS = (
    ("Nyhet", "Nytt i sortimentet"),
    ("Rea", "Ingår i pågående rea"),
    ("Utgående", "Säljs slut, köps inte in igen"),
)
CUSTOMER_LABELS = (
    ("Stamkund", "Handlar ofta"),
    ("Återförsäljare", "Köper för vidareförsäljning"),
    ("Export", "Kund utanför Sverige"),
)


def cost_center_item_id(number: int, short_name: str) -> str:
    """Id of a demo cost centre item, e.g. `cost_center_item_id(1, "WEBB")`."""
    return sid("costcenteritem", f"{number}:{short_name}")


DEMO_COST_CENTER_ITEMS = {
    f"{number}:{short}": cost_center_item_id(number, short)
    for number, (_n, _a, items) in DEMO_COST_CENTERS.items()
    for short, _name in items
}
DEMO_PROJECTS = {number: sid("project", number) for number in DEMO_PROJECT_ROWS}
API_USER_ID = sid("user", USERS[0][0])


def _record(spec: SpecModel, schema: str, values: dict[str, Any]) -> dict[str, Any]:
    rec = spec.blank(schema)
    rec.update(values)
    return rec


def seed_company_details(state: VismaState, spec: SpecModel, *, demo: bool) -> None:
    """Accounts and cost centres for every company; names, items and projects for the demo."""
    t = state.tables
    for number, name, active in ACCOUNTS:
        t["accounts"][str(number)] = {"Number": number, "Name": name, "IsActive": active}
    stamp = iso(state.clock.current())
    for number, (name, active, items) in DEMO_COST_CENTERS.items():
        cid = sid("costcenter", str(number))
        t["costcenters"][cid] = {
            "Id": cid,
            "Number": number,
            "Name": name if demo else f"Kostnadsställe {number}",
            "IsActive": active and demo,
        }
        for short, item_name in items if demo else ():
            iid = cost_center_item_id(number, short)
            t["costcenteritems"][iid] = {
                "Id": iid,
                "CostCenterId": cid,
                "Name": item_name,
                "ShortName": short,
                "IsActive": True,
                "CreatedUtc": stamp,
            }


def seed_demo_details(state: VismaState, spec: SpecModel, *, seed_time: Any) -> None:
    """Projects, labels, notes, message threads, opening balances and the read-only fields."""
    t = state.tables
    stamp = iso(seed_time)
    customers_by_number = {str(c["CustomerNumber"]): c for c in t["customers"].values()}
    for number, (name, status, start, end, customer_number) in DEMO_PROJECT_ROWS.items():
        customer = customers_by_number.get(customer_number or "")
        pid = DEMO_PROJECTS[number]
        t["projects"][pid] = _record(
            spec,
            "ProjectApi",
            {
                "Id": pid,
                "Number": number,
                "Name": name,
                "StartDate": f"{start}T00:00:00Z",
                "EndDate": f"{end}T00:00:00Z" if end else None,
                "CustomerId": customer["Id"] if customer else None,
                "CustomerName": customer["Name"] if customer else None,
                "Notes": "Kampanjintäkter följs upp per projekt" if status == 1 else None,
                "Status": status,
                "ModifiedUtc": stamp,
            },
        )
    article_labels = _labels(t["articlelabels"], "articlelabel", ARTICLE_LABELS)
    customer_labels = _labels(t["customerlabels"], "customerlabel", CUSTOMER_LABELS)
    first_year = min(t["fiscalyears"].values(), key=lambda y: y["StartDate"], default=None)
    if first_year is not None:
        for number, balance in DEMO_OPENING_BALANCES.items():
            t["openingbalances"][str(number)] = {"AccountNumber": number, "Balance": balance}
    pay_to = next((b["Id"] for b in t["bankaccounts"].values() if b.get("IsDefaultChequeAccount")), None)
    for customer in t["customers"].values():
        _customer_details(state, customer, customer_labels, pay_to, seed_time)
    for article in t["articles"].values():
        _article_details(state, article, article_labels, seed_time)


def _labels(table: dict[str, Any], kind: str, rows: tuple[tuple[str, str], ...]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, description in rows:
        lid = sid(kind, name)
        table[lid] = {"Id": lid, "Name": name, "Description": description}
        out[name] = table[lid]
    return out


def _customer_details(
    state: VismaState,
    customer: dict[str, Any],
    labels: dict[str, dict[str, Any]],
    pay_to: str | None,
    seed_time: Any,
) -> None:
    number = int(customer["CustomerNumber"])
    private = bool(customer.get("IsPrivatePerson"))
    foreign = customer.get("InvoiceCountryCode") not in (None, "SE")
    names = []
    if private and number % 3 == 0:
        names.append("Stamkund")
    if customer.get("SalesPriceListId") and not private:
        names.append("Återförsäljare")
    if foreign:
        names.append("Export")
    customer["CustomerLabels"] = [dict(labels[n]) for n in names]
    customer["PayToAccountId"] = pay_to
    customer["LastInvoiceDate"] = iso_date(seed_time - timedelta(days=30 + number % 200))
    customer["Notes"] = []
    customer["MessageThreads"] = []
    if not private:
        org = str(customer.get("CorporateIdentityNumber") or "").replace("-", "")
        customer["WwwAddress"] = "www." + str(customer.get("EmailAddress") or "x@example.se").split("@")[1]
        customer["Telephone"] = f"0{8 + number % 3}-{number * 37 % 900 + 100} {number % 90 + 10} 00"
        customer["ContactPersonEmail"] = customer.get("EmailAddress")
        customer["EmailAddressOrder"] = customer.get("EmailAddress")
        customer["SalesDocumentLanguage"] = "sv" if not foreign else "en"
        customer["ContactPersonPhone"] = customer["Telephone"]
        customer["EmailAddresses"] = [f"kopia{number}@example.se"] if number % 2 else []
        if number in (1011, 1015):
            customer.update(
                {
                    "DeliveryCustomerName": f"{customer['Name']}, lager",
                    "DeliveryAddress1": "Lagervägen 4",
                    "DeliveryPostalCode": "136 50",
                    "DeliveryCity": "Haninge",
                    "DeliveryCountryCode": "SE",
                }
            )
        if number == 1014:
            customer["InvoiceAddress2"] = "Box 123"
        if number == 1013:
            customer["Note"] = "Levereras bakvägen före kl. 10."
        if org and not foreign:
            customer["ElectronicAddress"] = f"0007:{org}"
            customer["EdiServiceDelivererId"] = "PEPPOL"
            customer["GLN"] = f"735999{number:07d}"
    else:
        customer["WebshopCustomerNumber"] = 50000 + number
    if number in (1003, 1011, 1016):
        subject = "Leverans" if private else "Avtal"
        text = {
            1003: "Ring innan leverans, porten har kod 1234.",
            1011: "Ramavtal 2026: 20 % på hela sortimentet, faktura 30 dagar.",
            1016: "Fakturor på engelska, referens ska alltid anges.",
        }[number]
        _note(state, 9, customer, subject, text, seed_time)
    if number == 1012:
        _thread(state, 9, customer, "Kreditgräns", "Kan vi höja kreditgränsen till 50 000 kr?", seed_time)


def _article_details(
    state: VismaState, article: dict[str, Any], labels: dict[str, dict[str, Any]], seed_time: Any
) -> None:
    crc = zlib.crc32(str(article["Number"]).encode("utf-8"))
    names = [n for n, hit in (("Nyhet", crc % 5 == 0), ("Rea", crc % 7 == 0)) if hit]
    if not article.get("IsActive"):
        names.append("Utgående")
    article["ArticleLabels"] = [dict(labels[n]) for n in names]
    article["Notes"] = []
    article["MessageThreads"] = []
    if article.get("IsServiceArticle"):
        return
    article["NameEnglish"] = None if crc % 4 == 0 else str(article["Name"])[:50]
    article["Barcodes"] = [{"Barcode": f"735{crc % 10**9:09d}0", "BarcodeType": 0}]
    article["CurrencyCode"] = "SEK"
    if article.get("IsStock"):
        article["OrderingPoint"] = Decimal(5 + crc % 10)
        article["StockLocationReference"] = f"Hylla {'ABC'[crc % 3]}{1 + crc % 9}"
    changed = iso(seed_time - timedelta(days=crc % 90))
    if crc % 3 == 0:
        article["StockBalanceManuallyChangedUtc"] = changed
    if crc % 4 == 1:
        article["PurchasePriceManuallyChangedUtc"] = changed
    if crc % 6 == 2:
        article["FreightCostsManuallyChangedUtc"] = changed
    if crc % 11 == 0:
        _note(state, 11, article, "Inköp", "Leverantören höjer priset 1 april.", seed_time)
    if crc % 37 == 0:
        _thread(state, 11, article, "Bilder", "Nya produktbilder är uppladdade i webbshoppen.", seed_time)


def _note(
    state: VismaState, doc_type: int, doc: dict[str, Any], subject: str, text: str, seed_time: Any
) -> None:
    nid = sid("note", f"{doc_type}:{doc['Id']}")
    stamp = iso(seed_time)
    state.tables["notes"][nid] = {
        "Id": nid,
        "UserId": sid("user", USERS[1][0]),
        "AttachedTo": doc["Id"],
        "Text": text,
        "Subject": subject,
        "DocumentType": doc_type,
        "CreatedUtc": stamp,
        "ModifiedUtc": stamp,
        "IsDone": False,
    }
    doc.setdefault("Notes", []).append(nid)


def _thread(
    state: VismaState, doc_type: int, doc: dict[str, Any], subject: str, text: str, seed_time: Any
) -> None:
    tid = sid("messagethread", f"{doc_type}:{doc['Id']}")
    mid = sid("message", tid)
    stamp = iso(seed_time)
    author = sid("user", USERS[1][0])
    message = {
        "Id": mid,
        "Text": text,
        "ModifiedUtc": stamp,
        "CreatedUtc": stamp,
        "CreatedByUserId": author,
        "ModifiedByUserId": author,
        "MessageThreadId": tid,
    }
    state.tables["messages"][mid] = message
    state.tables["messagethreads"][tid] = {
        "Id": tid,
        "DocumentType": doc_type,
        "DocumentId": doc["Id"],
        "DocumentNumber": str(doc.get("CustomerNumber") or doc.get("Number") or ""),
        "Subject": subject,
        "ModifiedUtc": stamp,
        "IsClosed": False,
        "MessageReceivers": [
            {"UserId": sid("user", key), "Status": 1 if key == USERS[0][0] else 2} for key, _ in USERS
        ],
        "_Messages": [mid],
    }
    doc.setdefault("MessageThreads", []).append(tid)
