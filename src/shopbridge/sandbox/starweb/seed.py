"""Seeds of the Starweb sandbox: "empty" (reference data only) and "demo".

The demo shop (deterministic: `random.Random(DEMO_SEED + shop_no)`; timestamps relative to an anchor,
by default today 00:00 Stockholm time) has:

* the 224 products / 303 variants of `shopbridge.sandbox.catalog` with SEK (pricelist 1) and EUR
  (pricelist 2) prices, campaign prices as ``specialPriceExVat``, VAT 25/12/6 %, stock in both locations;
* 54 customers: Swedish private persons (some without account), Swedish companies (org.nr 556xxx-xxxx,
  VAT SE556xxxxxxx01), companies in Germany, Finland and Denmark (EU VAT numbers, reverse charge),
  two EU private persons and one Norwegian private person (NOK, export without VAT);
* 340 orders over the last 120 days in all statuses, paid by Klarna, card, invoice and Swish in SEK, EUR
  and NOK, with per-row percent and amount discounts, discount codes, shipping and invoice fees; about
  5 % are not complete (abandoned payments, `isComplete` false).

All SKUs exist and all data is valid; about 40 % of the SKUs are missing in the Visma demo company by design
(`catalog.in_visma`).
"""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from shopbridge.sandbox.catalog import EUR_PER_SEK, CatalogProduct, demo_catalog

from . import reference as ref
from .orders import compute_totals, discount_rows, item_net
from .state import Customer, Order, Product, ShopState, Variant
from .wire import SHOP_TZ, fmt_ts, q2

DEMO_SEED = 4711
ORDER_COUNT = 340


def default_anchor() -> datetime:
    """Today 00:00 in the shop's time zone: demo timestamps lie before it."""
    return datetime.combine(datetime.now(SHOP_TZ).date(), time(0, 0), tzinfo=SHOP_TZ)


def build_shop(shop_no: int, seed: str = "demo", anchor: datetime | None = None) -> ShopState:
    """A fresh shop: reference data, plus the demo content when `seed == "demo"`."""
    if seed not in ("demo", "empty"):
        raise ValueError(f"unknown Starweb sandbox seed {seed!r} (use 'demo' or 'empty')")
    state = ShopState(shop_no=shop_no)
    ref.seed_reference(state)
    if seed == "demo":
        DemoSeeder(state, anchor or default_anchor()).run()
        tag_customers(state)
        add_volume_prices(state)
    state.rebuild_indexes()
    return state


def tag_customers(state: ShopState) -> None:
    """Demo customer tags: companies are Grossist (2), every 4th customer Stamkund (1), every 3rd
    subscribes to the newsletter (Nyhetsbrev, 3)."""
    for customer in state.customers.values():
        cid = customer.id
        picks = [(1, cid % 4 == 0), (2, customer.data.get("type") == "company"), (3, cid % 3 == 0)]
        customer.tags = [tag for tag, hit in picks if hit]


def add_volume_prices(state: ShopState) -> None:
    """Demo volume prices in the master pricelist for every 6th product: 10 % off from 10 items,
    20 % off from 50."""
    master = state.master_pricelist()
    if master is None:
        return
    list_id = master["pricelistId"]
    for product in state.products.values():
        if product.id % 6:
            continue
        for variant in product.variants.values():
            price = variant.prices.get(list_id)
            if price is None or not price.get("priceExVat"):
                continue
            base = Decimal(price["priceExVat"])
            price["volume"] = [
                {
                    "pricelistId": list_id,
                    "quantity": qty,
                    "priceExVat": (base * factor).quantize(Decimal("0.01")),
                }
                for qty, factor in ((10, Decimal("0.90")), (50, Decimal("0.80")))
            ]


# --- helpers ------------------------------------------------------------------------------


def luhn_digit(digits: str) -> str:
    """Check digit of Swedish personnummer / organisationsnummer (Luhn over the 9 digits)."""
    total = 0
    for i, ch in enumerate(digits):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


def ean13(twelve: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(twelve))
    return twelve + str((10 - total % 10) % 10)


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


FIRST_F = [
    "Anna",
    "Eva",
    "Maria",
    "Karin",
    "Sara",
    "Lena",
    "Emma",
    "Kerstin",
    "Ingrid",
    "Elin",
    "Johanna",
    "Linnea",
    "Maja",
    "Astrid",
    "Ebba",
    "Sofia",
    "Ida",
    "Britt",
]
FIRST_M = [
    "Erik",
    "Lars",
    "Karl",
    "Anders",
    "Johan",
    "Per",
    "Nils",
    "Mikael",
    "Oskar",
    "Gustav",
    "Olof",
    "Henrik",
    "Axel",
    "Viktor",
    "Fredrik",
    "Magnus",
    "Sven",
    "Jonas",
]
LAST = [
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Gustafsson",
    "Pettersson",
    "Jonsson",
    "Lindberg",
    "Lindqvist",
    "Lundgren",
    "Berg",
    "Bergström",
    "Sandberg",
    "Holm",
    "Åkesson",
    "Öberg",
    "Sjöberg",
    "Ekström",
    "Lindholm",
    "Hedlund",
    "Forsberg",
]
STREETS = [
    "Storgatan",
    "Drottninggatan",
    "Kungsgatan",
    "Vasagatan",
    "Sveavägen",
    "Linnégatan",
    "Järnvägsgatan",
    "Skolgatan",
    "Kyrkogatan",
    "Björkvägen",
    "Ekvägen",
    "Granstigen",
    "Tallvägen",
    "Åsgatan",
    "Östra Långgatan",
    "Västra Hamngatan",
    "Prästgårdsvägen",
    "Sjövägen",
]
CITIES = [
    ("113 51", "Stockholm"),
    ("116 46", "Stockholm"),
    ("411 06", "Göteborg"),
    ("413 04", "Göteborg"),
    ("211 19", "Malmö"),
    ("753 20", "Uppsala"),
    ("582 24", "Linköping"),
    ("702 10", "Örebro"),
    ("903 26", "Umeå"),
    ("972 31", "Luleå"),
    ("352 30", "Växjö"),
    ("831 30", "Östersund"),
    ("621 55", "Visby"),
    ("791 71", "Falun"),
    ("851 70", "Sundsvall"),
    ("252 20", "Helsingborg"),
    ("302 44", "Halmstad"),
    ("553 16", "Jönköping"),
    ("722 12", "Västerås"),
    ("652 24", "Karlstad"),
]
SE_COMPANIES = [
    "Lindqvist Bygg AB",
    "Fjällstugan i Åre AB",
    "Café Kanel & Kardemumma AB",
    "Hemma Inredning AB",
    "Norrlands Presentbod AB",
    "Gotlands Ullspinneri AB",
    "Konferens & Kök i Sigtuna AB",
    "Bokhandeln Tranan AB",
    "Sjöbodens Restaurang AB",
    "Ekologiska Skafferiet i Lund AB",
]
EU_COMPANIES = [  # name, country, vat no, street, postcode, city, contact
    (
        "Nordlicht Handels GmbH",
        "DE",
        "DE284517936",
        "Mönckebergstraße 7",
        "20095",
        "Hamburg",
        ("Jonas", "Becker"),
    ),
    (
        "Kahvila Kaneli Oy",
        "FI",
        "FI27461835",
        "Aleksanterinkatu 15",
        "00100",
        "Helsinki",
        ("Aino", "Virtanen"),
    ),
    ("Hyggeligt ApS", "DK", "DK38215476", "Vesterbrogade 41", "1620", "København V", ("Mette", "Nielsen")),
]
EU_PRIVATE = [
    ("Lukas", "Schmidt", "DE", "Bergmannstraße 12", "10961", "Berlin"),
    ("Emilia", "Korhonen", "FI", "Hämeenkatu 8", "33100", "Tampere"),
]
COMMENTS = [
    "Lämna paketet hos grannen om ingen är hemma.",
    "Presentinslagning tack!",
    "Ring innan leverans.",
    "Levereras till kontoret, fråga efter receptionen.",
    "Kan ni skicka så det kommer fram före fredag?",
]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "")


class DemoSeeder:
    """Fills one shop with the demo content (see the module docstring)."""

    def __init__(self, state: ShopState, anchor: datetime):
        self.state = state
        self.anchor = anchor
        self.rng = random.Random(DEMO_SEED + state.shop_no)
        self.phone_no = 0
        self.customer_meta: dict[int, dict[str, Any]] = {}

    def run(self) -> None:
        self.products()
        self.customers()
        self.orders()

    def ts(self, days_before: float) -> datetime:
        return (self.anchor - timedelta(days=days_before)).replace(microsecond=0)

    # --- products ---------------------------------------------------------------------
    def products(self) -> None:
        state, rng = self.state, self.rng
        value_ids: dict[tuple[str, str], int] = {}
        for cp in demo_catalog():
            created = self.ts(rng.uniform(150, 700))
            modified = created + timedelta(days=rng.uniform(0, (self.anchor - created).days - 1))
            modified = modified.replace(microsecond=0)
            pid = state.next_id("product")
            data = {
                "productId": pid,
                "createdAt": fmt_ts(created),
                "defaultVatRate": f"{cp.vat_rate:.2f}",
                "visibility": "hidden" if rng.random() < 0.03 else "visible",
                "visibilityPricelistIds": [],
                "moreInfoUrl": "",
                "manufacturerId": None,
                "unitId": ref.UNIT_IDS[cp.unit],
                "sortIndex": None,
                "type": "basic",
                "isBackInStockWatchable": True,
                "bundleUseManualPrice": False,
                "accounting": None,
                "modifiedAt": fmt_ts(modified),
            }
            product = Product(data=data, created_ts=created.timestamp(), modified_ts=modified.timestamp())
            product.languages["sv"] = {
                "langCode": "sv",
                "name": cp.name,
                "shortDescription": cp.description,
                "longDescription": f"<p>{cp.description}</p>",
                "permalink": f"{slug(cp.name)}-{cp.product_no}",
                "pageTitle": cp.name[:90],
                "pageMetaDescription": cp.description[:278],
            }
            product.vat_rates["SE"] = {"countryCode": "SE", "vatRate": cp.vat_rate}
            for idx, cv in enumerate(cp.variants):
                vid = state.next_id("variant")
                main, store = cv.stock.values()
                avids = []
                for attr_name, attr_value in cv.attribute_values.items():
                    key = (attr_name, attr_value)
                    if key not in value_ids:
                        av_id = state.next_id("attributeValue")
                        value_ids[key] = av_id
                        state.attribute_values[av_id] = {
                            "attributeValueId": av_id,
                            "attributeId": ref.ATTRIBUTE_IDS[attr_name],
                            "skuSuffix": cv.sku.rsplit("-", 1)[-1],
                            "sortIndex": len(value_ids),
                            "languages": [{"langCode": "sv", "name": attr_value}],
                        }
                    avids.append(value_ids[key])
                vdata = {
                    "variantId": vid,
                    "sku": cv.sku,
                    "isActive": True,
                    "sortIndex": idx + 1,
                    "stockStatusId": self._stock_status(cp, main),
                    "stockQuantity": main,
                    "weightInKg": self._weight(cp),
                    "costPrice": str(q2(cv.price_sek * Decimal("0.45"))),
                    "ean": ean13(f"735001{int(cp.product_no):04d}{idx:02d}"),
                    "mpn": "",
                    "imageFileId": None,
                    "attributeValueLinks": avids,
                    "volumePricingInheritancePricelistIds": [],
                }
                variant = Variant(data=vdata, attribute_value_ids=avids)
                eur_special = q2(cv.campaign_price_sek * EUR_PER_SEK) if cv.campaign_price_sek else None
                variant.prices = {
                    ref.PRICELIST_SEK: {
                        "pricelistId": ref.PRICELIST_SEK,
                        "priceExVat": cv.price_sek,
                        "specialPriceExVat": cv.campaign_price_sek,
                    },
                    ref.PRICELIST_EUR: {
                        "pricelistId": ref.PRICELIST_EUR,
                        "priceExVat": cv.price_eur,
                        "specialPriceExVat": eur_special,
                    },
                }
                variant.stocks = {
                    ref.LOCATION_MAIN: {
                        "stockLocationId": ref.LOCATION_MAIN,
                        "stockStatusId": self._stock_status(cp, main),
                        "stockQuantity": Decimal(main),
                    },
                    ref.LOCATION_STORE: {
                        "stockLocationId": ref.LOCATION_STORE,
                        "stockStatusId": self._stock_status(cp, store),
                        "stockQuantity": Decimal(store),
                    },
                }
                product.variants[vid] = variant
            state.products[pid] = product
        state.rebuild_indexes()

    @staticmethod
    def _stock_status(cp: CatalogProduct, qty: int) -> int:
        if qty > 5:
            return ref.STOCK_IN
        if qty > 0:
            return ref.STOCK_FEW
        return ref.STOCK_ORDER if cp.category == "Böcker" else ref.STOCK_OUT

    def _weight(self, cp: CatalogProduct) -> Decimal:
        low, high = {
            "Textil": (0.1, 1.2),
            "Hem & kök": (0.2, 2.5),
            "Delikatesser": (0.2, 1.0),
            "Böcker": (0.2, 0.9),
        }.get(cp.category, (0.1, 1.0))
        return Decimal(str(round(self.rng.uniform(low, high), 2)))

    # --- customers --------------------------------------------------------------------
    def _phone(self) -> str:
        # 070-174 06 00 .. 99 is reserved by PTS for fiction
        self.phone_no = (self.phone_no + 1) % 100
        return f"+46 70 174 06 {self.phone_no:02d}"

    def _personnummer(self) -> str:
        rng = self.rng
        year = rng.randint(1948, 2004)
        month, day = rng.randint(1, 12), rng.randint(1, 28)
        serial = rng.randint(100, 999)
        nine = f"{year % 100:02d}{month:02d}{day:02d}{serial:03d}"
        return f"{year}{month:02d}{day:02d}-{serial:03d}{luhn_digit(nine)}"

    def _orgnr(self) -> str:
        nine = f"556{self.rng.randint(0, 999999):06d}"
        return f"{nine[:6]}-{nine[6:]}{luhn_digit(nine)}"

    def _se_address(self, first: str, last: str, company: str = "") -> dict[str, Any]:
        rng = self.rng
        postcode, city = rng.choice(CITIES)
        addr = {
            "companyName": company,
            "firstName": first,
            "lastName": last,
            "careOf": "",
            "attention": "",
            "reference": "",
            "address": f"{rng.choice(STREETS)} {rng.randint(1, 64)}",
            "postalCode": postcode,
            "city": city,
            "state": "",
            "countryCode": "SE",
            "phoneNo": "",
            "mobilePhoneNo": self._phone(),
        }
        if company:
            addr["reference"] = f"{first} {last}"
        return addr

    def _add_customer(
        self,
        kind: str,
        email: str,
        national: str,
        vat: str,
        created: datetime,
        invoice: dict[str, Any],
        delivery: dict[str, Any] | None,
        *,
        has_account: bool,
        country: str,
        currency: str,
        lang: str,
        zero_vat: bool,
    ) -> Customer:
        state = self.state
        cid = state.next_id("customer")
        modified = created + timedelta(days=self.rng.uniform(0, 30))
        modified = min(modified, self.anchor - timedelta(hours=2)).replace(microsecond=0)
        data = {
            "customerId": cid,
            "createdAt": fmt_ts(created),
            "type": kind,
            "email": email,
            "nationalIdNo": national,
            "vatNo": vat,
            "customInfo1": "",
            "customInfo2": "",
            "modifiedAt": fmt_ts(modified),
            "approved": True if has_account else None,
            "approvedAt": fmt_ts(created) if has_account else None,
            "pricelistId": ref.PRICELIST_EUR if currency == "EUR" else None,
            "langCode": lang,
        }
        if data["approvedAt"] is None:
            del data["approvedAt"]
        customer = Customer(
            data=data,
            has_account=has_account,
            created_ts=created.timestamp(),
            modified_ts=modified.timestamp(),
        )
        customer.addresses["invoice"] = invoice
        if delivery:
            customer.addresses["delivery"] = delivery
        state.customers[cid] = customer
        self.customer_meta[cid] = {
            "country": country,
            "currency": currency,
            "zero_vat": zero_vat,
            "company": kind == "company",
        }
        return customer

    def customers(self) -> None:
        rng = self.rng
        used_emails: set[str] = set()
        for i in range(38):
            female = i % 2 == 0
            first = rng.choice(FIRST_F if female else FIRST_M)
            last = rng.choice(LAST)
            email = f"{_ascii(first)}.{_ascii(last)}@example.com"
            n = 2
            while email in used_emails:
                email = f"{_ascii(first)}.{_ascii(last)}{n}@example.com"
                n += 1
            used_emails.add(email)
            invoice = self._se_address(first, last)
            delivery = self._se_address(first, last) if rng.random() < 0.15 else dict(invoice)
            created = self.ts(rng.uniform(125, 500) if i < 32 else rng.uniform(5, 120))
            self._add_customer(
                "person",
                email,
                self._personnummer(),
                "",
                created,
                invoice,
                delivery,
                has_account=rng.random() > 0.2,
                country="SE",
                currency="SEK",
                lang="sv",
                zero_vat=False,
            )
        for name in SE_COMPANIES:
            first, last = rng.choice(FIRST_F + FIRST_M), rng.choice(LAST)
            orgnr = self._orgnr()
            invoice = self._se_address(first, last, company=name)
            email = f"info@{slug(name).replace('-ab', '').replace('-', '')[:20]}.example.com"
            self._add_customer(
                "company",
                email,
                orgnr,
                f"SE{orgnr.replace('-', '')}01",
                self.ts(rng.uniform(130, 600)),
                invoice,
                dict(invoice),
                has_account=True,
                country="SE",
                currency="SEK",
                lang="sv",
                zero_vat=False,
            )
        for name, country, vat, street, postcode, city, (first, last) in EU_COMPANIES:
            addr = {
                "companyName": name,
                "firstName": first,
                "lastName": last,
                "careOf": "",
                "attention": "",
                "reference": f"{first} {last}",
                "address": street,
                "postalCode": postcode,
                "city": city,
                "state": "",
                "countryCode": country,
                "phoneNo": "",
                "mobilePhoneNo": "",
            }
            email = (
                f"einkauf@{slug(name).split('-')[0]}.example.com"
                if country == "DE"
                else f"orders@{slug(name).split('-')[0]}.example.com"
            )
            self._add_customer(
                "company",
                email,
                "",
                vat,
                self.ts(rng.uniform(130, 400)),
                addr,
                dict(addr),
                has_account=True,
                country=country,
                currency="EUR",
                lang="en",
                zero_vat=True,
            )
        for first, last, country, street, postcode, city in EU_PRIVATE:
            addr = {
                "companyName": "",
                "firstName": first,
                "lastName": last,
                "careOf": "",
                "attention": "",
                "reference": "",
                "address": street,
                "postalCode": postcode,
                "city": city,
                "state": "",
                "countryCode": country,
                "phoneNo": "",
                "mobilePhoneNo": "",
            }
            self._add_customer(
                "person",
                f"{_ascii(first)}.{_ascii(last)}@example.com",
                "",
                "",
                self.ts(rng.uniform(130, 300)),
                addr,
                dict(addr),
                has_account=True,
                country=country,
                currency="EUR",
                lang="en",
                zero_vat=False,
            )
        addr = {
            "companyName": "",
            "firstName": "Kari",
            "lastName": "Hansen",
            "careOf": "",
            "attention": "",
            "reference": "",
            "address": "Karl Johans gate 22",
            "postalCode": "0159",
            "city": "Oslo",
            "state": "",
            "countryCode": "NO",
            "phoneNo": "",
            "mobilePhoneNo": "",
        }
        self._add_customer(
            "person",
            "kari.hansen@example.com",
            "",
            "",
            self.ts(rng.uniform(130, 300)),
            addr,
            dict(addr),
            has_account=True,
            country="NO",
            currency="NOK",
            lang="en",
            zero_vat=True,
        )

    # --- orders -----------------------------------------------------------------------
    def orders(self) -> None:
        state, rng = self.state, self.rng
        customers = list(state.customers.values())
        weights = [4 if self.customer_meta[c.id]["company"] else 1 for c in customers]
        variants = [(p, v) for p in state.products.values() for v in p.variants.values()]
        drafts = []
        for _ in range(ORDER_COUNT):
            customer = rng.choices(customers, weights)[0]
            start = max(customer.created_ts, (self.anchor - timedelta(days=120)).timestamp())
            end = (self.anchor - timedelta(hours=1)).timestamp()
            created = datetime.fromtimestamp(rng.uniform(start, end), SHOP_TZ).replace(microsecond=0)
            drafts.append((created, customer))
        drafts.sort(key=lambda d: d[0])
        for created, customer in drafts:
            self._order(created, customer, variants)

    def _pick_payment(self, meta: dict[str, Any]) -> int:
        rng = self.rng
        if meta["country"] != "SE":
            return rng.choice([ref.PM_KLARNA, ref.PM_CARD])
        if meta["company"]:
            return ref.PM_INVOICE if rng.random() < 0.7 else ref.PM_CARD
        return rng.choices([ref.PM_KLARNA, ref.PM_CARD, ref.PM_SWISH, ref.PM_INVOICE], [45, 25, 18, 12])[0]

    def _pick_status(self, age_days: float) -> int:
        rng = self.rng
        if age_days > 14:
            return rng.choices(
                [
                    ref.STATUS_COMPLETED,
                    ref.STATUS_SHIPPED,
                    ref.STATUS_CANCELED,
                    ref.STATUS_RETURNED,
                    ref.STATUS_PICKING,
                ],
                [80, 8, 5, 4, 3],
            )[0]
        if age_days > 3:
            return rng.choices(
                [ref.STATUS_SHIPPED, ref.STATUS_COMPLETED, ref.STATUS_PICKING, ref.STATUS_CREATED],
                [40, 30, 20, 10],
            )[0]
        return rng.choices([ref.STATUS_CREATED, ref.STATUS_PICKING, ref.STATUS_SHIPPED], [60, 30, 10])[0]

    def _order(self, created: datetime, customer: Customer, variants: list[tuple[Product, Variant]]) -> None:
        state, rng = self.state, self.rng
        meta = self.customer_meta[customer.id]
        currency = meta["currency"]
        rate = state.currencies[currency]["exchangeRate"]
        age = (self.anchor - created).total_seconds() / 86400
        pm = self._pick_payment(meta)
        se_private = meta["country"] == "SE" and not meta["company"]
        sm = rng.choices(
            [ref.SM_POSTNORD, ref.SM_DHL, ref.SM_HOME, ref.SM_PICKUP],
            [45, 20, 20, 15 if meta["country"] == "SE" else 0],
        )[0]
        complete = not (pm in (ref.PM_KLARNA, ref.PM_CARD) and age < 10 and rng.random() < 0.3)
        status = (
            self._pick_status(age)
            if complete
            else rng.choice([ref.STATUS_CREATED, ref.STATUS_AWAITING_PAYMENT])
        )
        order = Order(data={})
        lines = rng.choices([1, 2, 3, 4, 5], [35, 30, 18, 10, 7])[0]
        chosen = rng.sample(variants, lines)
        for n, (product, variant) in enumerate(chosen, start=1):
            qty = rng.randint(2, 12) if meta["company"] else rng.choices([1, 2, 3], [70, 22, 8])[0]
            if currency == "SEK":
                price = variant.prices[ref.PRICELIST_SEK]
            elif currency == "EUR":
                price = variant.prices[ref.PRICELIST_EUR]
            else:
                sek = variant.prices[ref.PRICELIST_SEK]
                price = {
                    "priceExVat": q2(sek["priceExVat"] * rate),
                    "specialPriceExVat": q2(sek["specialPriceExVat"] * rate)
                    if sek["specialPriceExVat"]
                    else None,
                }
            unit_price = (
                price["specialPriceExVat"]
                if price["specialPriceExVat"] and rng.random() < 0.5
                else price["priceExVat"]
            )
            vat = Decimal(0) if meta["zero_vat"] else Decimal(product.data["defaultVatRate"])
            row = {
                "itemId": n,
                "sku": variant.data["sku"],
                "description": self._title(product, variant),
                "quantity": qty,
                "unitSymbol": self._unit(product),
                "unitPrice": unit_price,
                "vatRate": vat,
                "discount": Decimal(0),
                "discountType": "percent",
                "sortIndex": n - 1,
            }
            roll = rng.random()
            if roll < 0.08:
                row["discount"] = Decimal(rng.choice([10, 15, 20, 25]))
            elif roll < 0.12:
                gross = unit_price * qty
                amount = (
                    Decimal(rng.choice([10, 20, 25])) if currency != "EUR" else Decimal(rng.choice([1, 2, 5]))
                )
                if amount < gross:
                    row["discount"] = amount
                    row["discountType"] = "amount"
            order.items[n] = row
        order.data = {"currencyExchangeRate": rate}
        code = (
            rng.choice(["SOMMAR10", "VALKOMMEN50", "VINTER20"]) if se_private and rng.random() < 0.12 else ""
        )
        for row in discount_rows(state, order, code) if code else []:
            n = len(order.items) + 1
            row.update({"itemId": n, "sortIndex": n - 1})
            order.items[n] = row
        items_net = sum((item_net(i) for i in order.items.values()), Decimal(0))
        shipping = ref.SHIPPING_COST_SEK[sm]
        if sm in (ref.SM_POSTNORD, ref.SM_DHL) and items_net / rate >= ref.FREE_SHIPPING_OVER_SEK:
            shipping = Decimal(0)
        shipping = q2(shipping * rate)
        fee = q2(state.payment_methods[pm]["fee"] * rate)
        zero = meta["zero_vat"]
        order.data = self._order_data(
            created, customer, status, pm, sm, currency, rate, shipping, fee, zero, code, complete, age
        )
        self._addresses(order, customer, pm)
        if rng.random() < 0.08:
            cid = state.next_id("comment")
            order.comments[cid] = {
                "commentId": cid,
                "createdAt": fmt_ts(created),
                "text": rng.choice(COMMENTS),
                "from": "customer",
            }
            order.data["hasComments"] = True
        compute_totals(state, order)
        self._payment_state(order, pm, status, complete)
        compute_totals(state, order)
        oid = state.next_id("order", start=1001)
        order.data["orderId"] = oid
        order.created_ts = created.timestamp()
        order.modified_ts = datetime.fromisoformat(order.data["modifiedAt"]).timestamp()
        state.orders[oid] = order

    def _title(self, product: Product, variant: Variant) -> str:
        name = product.languages["sv"]["name"]
        values = [self.state.attribute_values[a]["languages"][0]["name"] for a in variant.attribute_value_ids]
        return f"{name}, {', '.join(values)}" if values and len(product.variants) > 1 else name

    def _unit(self, product: Product) -> str:
        return self.state.units[product.data["unitId"]]["languages"]["data"][0]["symbol"]

    def _order_data(
        self,
        created: datetime,
        customer: Customer,
        status: int,
        pm: int,
        sm: int,
        currency: str,
        rate: Decimal,
        shipping: Decimal,
        fee: Decimal,
        zero: bool,
        code: str,
        complete: bool,
        age: float,
    ) -> dict[str, Any]:
        state, rng = self.state, self.rng
        progressed = status not in (ref.STATUS_CREATED, ref.STATUS_AWAITING_PAYMENT)
        modified = (
            created + timedelta(days=min(age * 0.9, rng.uniform(0.2, 6)))
            if progressed
            else created + timedelta(minutes=rng.randint(0, 5))
        )
        modified = min(modified, self.anchor - timedelta(minutes=5)).replace(microsecond=0)
        pmeth, smeth = state.payment_methods[pm], state.shipping_methods[sm]
        tracking_no, tracker = "", None
        if status in (ref.STATUS_SHIPPED, ref.STATUS_COMPLETED, ref.STATUS_RETURNED) and sm != ref.SM_PICKUP:
            tracker = {ref.SM_POSTNORD: 1, ref.SM_DHL: 2, ref.SM_HOME: 6}[sm]
            tracking_no = {
                1: f"UA{rng.randint(100000000, 999999999)}SE",
                2: f"JVGL{rng.randint(10**9, 10**10 - 1)}",
                6: f"BB{rng.randint(10**11, 10**12 - 1)}",
            }[tracker]
        data: dict[str, Any] = {
            "orderId": 0,
            "createdAt": fmt_ts(created),
            "modifiedAt": fmt_ts(modified),
            "baseCurrencyCode": "SEK",
            "shopCountryCode": "SE",
            "customerId": customer.id,
            "statusId": status,
            "sendEmailsOnStatusChange": True,
            "shippingMethodId": sm,
            "paymentMethodId": pm,
            "paymentMethodIdCode": pmeth["idCode"],
            "paymentMethodName": pmeth["languages"]["data"][0]["title"],
            "paymentFee": fee,
            "paymentVatRate": Decimal(0) if zero else Decimal(25),
            "shippingMethodName": smeth["languages"]["data"][0]["title"],
            "shippingCost": shipping,
            "shippingVatRate": Decimal(0) if zero else Decimal(25),
            "customInfo1": "",
            "customInfo2": "",
            "customInfo3": "",
            "customInfo4": "",
            "discountCode": code,
            "amountPaid": Decimal(0),
            "isComplete": complete,
            "currencyCode": currency,
            "currencyExchangeRate": rate,
            "currencyPrecision": 2,
            "langCode": customer.data.get("langCode", "sv"),
            "paymentReference": "",
            "paymentStatus": "",
            "isRead": age > 2,
            "hasComments": False,
            "internalComment": "",
            "shippingTrackingNo": tracking_no,
            "originalCustomerEmail": customer.data["email"],
            "originalCustomerNationalIdNo": customer.data["nationalIdNo"],
            "originalCustomerVatNo": customer.data["vatNo"],
            "originalCustomerCustomInfo1": "",
            "originalCustomerCustomInfo2": "",
        }
        if tracker is not None:
            data["shippingTrackerType"] = tracker
        return data

    def _addresses(self, order: Order, customer: Customer, pm: int) -> None:
        invoice = dict(customer.addresses["invoice"])
        delivery = dict(customer.addresses.get("delivery") or invoice)
        order.addresses = {
            "originalInvoice": invoice,
            "originalDelivery": delivery,
            "customerInvoice": dict(invoice),
            "customerDelivery": dict(delivery),
        }
        if pm == ref.PM_KLARNA:
            order.addresses["paymentMethodInvoice"] = dict(invoice)
            order.addresses["paymentMethodDelivery"] = dict(delivery)

    def _payment_state(self, order: Order, pm: int, status: int, complete: bool) -> None:
        rng, data = self.rng, order.data
        total = data["totalAmount"]
        if pm == ref.PM_KLARNA:
            data["paymentReference"] = "-".join(
                f"{rng.getrandbits(b):0{b // 4}x}" for b in (32, 16, 16, 16, 48)
            )
        elif pm == ref.PM_CARD:
            data["paymentReference"] = f"NETS-{rng.getrandbits(64):016x}"
        elif pm == ref.PM_SWISH:
            data["paymentReference"] = f"SW{rng.randint(10**15, 10**16 - 1)}"
        if not complete:
            data["paymentStatus"] = "PENDING"
            return
        if pm == ref.PM_INVOICE:
            return
        if pm == ref.PM_SWISH:
            data["paymentStatus"], data["amountPaid"] = "PAID", total
        elif status == ref.STATUS_CANCELED:
            data["paymentStatus"] = "CANCELLED"
        elif status in (ref.STATUS_COMPLETED, ref.STATUS_RETURNED) or pm == ref.PM_CARD:
            data["paymentStatus"], data["amountPaid"] = "CAPTURED", total
        else:
            data["paymentStatus"] = "AUTHORIZED"
