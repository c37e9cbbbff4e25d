"""Deterministic demo catalogue shared by the Starweb and Visma sandbox seeds.

`demo_catalog()` returns the same list on every call and every machine (no randomness
except `random.Random(CATALOG_SEED)`, no dependence on `hash()`):

* 224 Swedish products (`product_no` "1001" ... "1224") in four groups:
  textiles and home goods (VAT 25 %), food (VAT 12 %), books (VAT 6 %).
* About one product in five has 2-4 variants (sizes S/M/L/XL, colours, pack sizes);
  the rest have one variant.  SKUs are ``SW-<product_no>`` for single-variant products and
  ``SW-<product_no>-<code>`` (e.g. ``SW-1001-M``, ``SW-1010-BLA``) for variants.
* Every variant has a SEK price ex VAT (`price_sek`, derived from a round consumer price
  incl. VAT such as 199 kr, so ex-VAT prices have öre), an EUR price ex VAT (`price_eur`),
  and about one in six has a campaign price (`campaign_price_sek`, 20 % off, ex VAT).
* Stock in two locations, keys of `CatalogVariant.stock` are `STOCK_LOCATIONS`
  ("Huvudlager", "Butik Göteborg"); some variants are out of stock.
* `unit` is one of "st" (piece), "par" (pair), "förp" (package), "kg".

`in_visma(sku)` says (deterministically, about 60 % True) which SKUs the Visma sandbox
seed creates as articles; the other ~40 % are missing in Visma by design, so the sync
engine has something to create.  All money is `Decimal` with two decimals.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

CATALOG_SEED = 20260301
STOCK_LOCATIONS: tuple[str, str] = ("Huvudlager", "Butik Göteborg")
EUR_PER_SEK = Decimal("0.0870")  # fixed conversion used for the EUR pricelist
VAT_RATES = (Decimal("25"), Decimal("12"), Decimal("6"))
TWO = Decimal("0.01")


@dataclass(frozen=True)
class CatalogVariant:
    """One sellable variant (one SKU)."""

    sku: str
    attribute_values: dict[str, str]  # e.g. {"Storlek": "M"}; {} for single-variant products
    price_sek: Decimal  # ex VAT
    campaign_price_sek: Decimal | None  # ex VAT, None when no campaign
    price_eur: Decimal  # ex VAT
    stock: dict[str, int]  # location name (see STOCK_LOCATIONS) -> quantity


@dataclass(frozen=True)
class CatalogProduct:
    """One product with its variants."""

    product_no: str
    name: str
    vat_rate: Decimal  # percent: 25, 12 or 6
    unit: str  # "st", "par", "förp", "kg"
    variants: list[CatalogVariant]
    category: str = ""
    description: str = ""
    attribute_name: str | None = field(default=None)  # "Storlek", "Färg", "Förpackning" or None


# (base name, unit, consumer prices incl. VAT to choose from, variant kind)
_TEXTILES = [
    ("Ullstrumpa", "par", (129, 149, 179), "size"),
    ("Sockor bambu", "par", (79, 99), "size"),
    ("T-shirt ekologisk bomull", "st", (199, 249, 299), "size"),
    ("Mössa merinoull", "st", (249, 299, 349), "colour"),
    ("Vantar lovikka", "par", (349, 399), "colour"),
    ("Halsduk lammull", "st", (399, 449, 549), "colour"),
    ("Stickad tröja", "st", (799, 899, 1199), "size"),
    ("Förkläde linne", "st", (299, 349), "colour"),
    ("Tofflor filt", "par", (399, 459), "size"),
    ("Regnjacka", "st", (999, 1299, 1499), "size"),
    ("Pyjamas flanell", "st", (499, 599), "size"),
    ("Tygkasse", "st", (99, 129, 149), None),
    ("Linneservett", "förp", (149, 199, 249), "pack"),
    ("Kökshandduk", "förp", (99, 149, 179), "pack"),
    ("Badlakan", "st", (299, 349, 399), "colour"),
    ("Pläd ull", "st", (899, 999, 1299), "colour"),
]
_HOME = [
    ("Kaffemugg", "st", (149, 179, 199), "colour"),
    ("Tekopp med fat", "st", (179, 219), None),
    ("Skärbräda ek", "st", (299, 399, 499), None),
    ("Ljusstake mässing", "st", (249, 349, 449), None),
    ("Vas glas", "st", (299, 399, 549), "colour"),
    ("Djup tallrik", "förp", (349, 449), "pack"),
    ("Flat tallrik", "förp", (349, 449), "pack"),
    ("Skål stengods", "st", (129, 159, 189), "colour"),
    ("Dricksglas", "förp", (199, 249, 299), "pack"),
    ("Karaff", "st", (299, 349), None),
    ("Brödkorg", "st", (199, 249), None),
    ("Smörkniv björk", "st", (59, 79, 89), None),
    ("Kaffebryggare", "st", (899, 1199, 1499), None),
    ("Termos", "st", (299, 349, 399), "colour"),
    ("Doftljus", "st", (149, 199, 249), None),
    ("Kruka terrakotta", "st", (99, 149, 199), "size"),
    ("Grytlapp", "st", (49, 69, 89), None),
    ("Ostkniv", "st", (149, 179), None),
    ("Salladsbestick", "st", (199, 249), None),
    ("Serveringsfat", "st", (349, 449, 549), None),
]
_FOOD = [
    ("Kaffe mellanrost 500 g", "förp", (79, 89, 109), None),
    ("Kaffe mörkrost 500 g", "förp", (79, 89, 109), None),
    ("Te Earl Grey", "förp", (59, 69, 89), None),
    ("Honung från Gotland", "st", (89, 119, 139), None),
    ("Knäckebröd råg", "förp", (35, 45, 55), None),
    ("Lingonsylt", "st", (49, 59, 69), None),
    ("Mörk choklad 70 %", "st", (39, 49, 59), None),
    ("Saltlakrits", "förp", (29, 39, 49), None),
    ("Kanelbullemix", "förp", (49, 59), None),
    ("Havregryn", "förp", (25, 32, 39), None),
    ("Rapsolja kallpressad", "st", (79, 99, 119), None),
    ("Senap söt", "st", (35, 45), None),
    ("Pepparkakor", "förp", (39, 49, 59), None),
    ("Kavring", "st", (45, 55), None),
    ("Hjortronsylt", "st", (129, 159), None),
    ("Julmust", "förp", (19, 25), None),
    ("Kaffebröd sortiment", "kg", (149, 199), None),
    ("Rökt lax", "kg", (399, 449), None),
]
_BOOKS = [
    ("Kokbok: Husmanskost", (249, 299, 349)),
    ("Kokbok: Vegetariskt", (229, 279, 329)),
    ("Roman: Skärgårdssommar", (179, 199, 229)),
    ("Deckare: Mord i Ystad", (149, 179, 199)),
    ("Barnbok: Lilla kaninen", (99, 129, 149)),
    ("Bilderbok: Skogen", (129, 149, 169)),
    ("Handbok: Stickning", (199, 249, 279)),
    ("Resebok: Norrland", (229, 279)),
    ("Poesi: Ljusa nätter", (129, 159)),
    ("Historia: Vasatiden", (249, 299, 349)),
]
_SERIES = [
    "Klassisk",
    "Nordisk",
    "Fjäll",
    "Skärgård",
    "Gotland",
    "Dala",
    "Lappland",
    "Öland",
    "Sommar",
    "Vinter",
    "Höst",
    "Vår",
    "Retro",
    "Natur",
]
_BOOK_EDITIONS = ["inbunden", "pocket", "storpocket", "e-bok-kod"]
_SIZES = [("S", "S"), ("M", "M"), ("L", "L"), ("XL", "XL")]
_COLOURS = [("Blå", "BLA"), ("Grön", "GRN"), ("Röd", "ROD"), ("Grå", "GRA"), ("Svart", "SVA"), ("Vit", "VIT")]
_PACKS = [("2-pack", "2P"), ("4-pack", "4P"), ("6-pack", "6P")]
_POTSIZES = [("12 cm", "12"), ("16 cm", "16"), ("20 cm", "20"), ("24 cm", "24")]


def _q(value: Decimal) -> Decimal:
    return value.quantize(TWO, rounding=ROUND_HALF_UP)


def ex_vat(price_incl: Decimal, vat_rate: Decimal) -> Decimal:
    """Price ex VAT from a price incl. VAT, rounded half up to öre."""
    return _q(price_incl / (1 + vat_rate / 100))


def _variant_options(
    kind: str | None, base: str, rng: random.Random
) -> tuple[str | None, list[tuple[str, str]]]:
    if kind == "size":
        if base.startswith("Kruka"):
            n = rng.randint(2, 4)
            return "Storlek", _POTSIZES[:n]
        n = rng.randint(2, 4)
        start = 0 if n == 4 else rng.randint(0, 4 - n)
        return "Storlek", _SIZES[start : start + n]
    if kind == "colour":
        n = rng.randint(2, 4)
        return "Färg", rng.sample(_COLOURS, n)
    if kind == "pack":
        n = rng.randint(2, 3)
        return "Förpackning", _PACKS[:n]
    return None, []


def _build() -> list[CatalogProduct]:
    rng = random.Random(CATALOG_SEED)
    specs: list[tuple[str, str, Decimal, str, tuple[int, ...], str | None, str]] = []
    # Each base appears with several series names, until we have well over 200 products.
    for rounds in range(4):
        for base, unit, prices, kind in _TEXTILES:
            specs.append((base, unit, Decimal(25), "Textil", prices, kind if rounds % 2 == 0 else None, ""))
        for base, unit, prices, kind in _HOME:
            home_kind = kind if rounds % 2 == 1 else None
            specs.append((base, unit, Decimal(25), "Hem & kök", prices, home_kind, ""))
        for base, unit, prices, kind in _FOOD:
            specs.append((base, unit, Decimal(12), "Delikatesser", prices, kind, ""))
        for base, prices in _BOOKS:
            specs.append((base, "st", Decimal(6), "Böcker", prices, None, _BOOK_EDITIONS[rounds]))
    products: list[CatalogProduct] = []
    used_names: set[str] = set()
    for idx, (base, unit, vat, category, prices, kind, edition) in enumerate(specs[:224]):
        product_no = str(1001 + idx)
        if category == "Böcker":
            name = f"{base} ({edition})"
        else:
            series = _SERIES[(idx * 7 + len(base)) % len(_SERIES)]
            name = f"{base} {series}"
            while name in used_names:
                series = _SERIES[(_SERIES.index(series) + 1) % len(_SERIES)]
                name = f"{base} {series}"
        used_names.add(name)
        incl = Decimal(rng.choice(prices))
        if category == "Böcker" and edition == "pocket":
            incl = Decimal(max(79, int(incl) // 2 + 9))
        attribute_name, options = _variant_options(kind, base, rng)
        variants: list[CatalogVariant] = []
        combos = options or [("", "")]
        for opt_idx, (value, code) in enumerate(combos):
            v_incl = incl + (Decimal(20 * opt_idx) if attribute_name in ("Storlek", "Förpackning") else 0)
            price = ex_vat(v_incl, vat)
            campaign = _q(price * Decimal("0.80")) if rng.random() < 0.17 else None
            eur = _q(price * EUR_PER_SEK)
            main = rng.choice([0, 0, 3, 8, 15, 25, 40, 60, 120]) if rng.random() > 0.05 else 0
            shop = rng.choice([0, 0, 1, 2, 5, 10])
            sku = f"SW-{product_no}-{code}" if code else f"SW-{product_no}"
            variants.append(
                CatalogVariant(
                    sku=sku,
                    attribute_values={attribute_name: value} if attribute_name else {},
                    price_sek=price,
                    campaign_price_sek=campaign,
                    price_eur=eur,
                    stock={STOCK_LOCATIONS[0]: main, STOCK_LOCATIONS[1]: shop},
                )
            )
        description = f"{name}. {category} från vårt sortiment, moms {vat} %."
        products.append(
            CatalogProduct(
                product_no=product_no,
                name=name,
                vat_rate=vat,
                unit=unit,
                variants=variants,
                category=category,
                description=description,
                attribute_name=attribute_name,
            )
        )
    return products


@lru_cache(maxsize=1)
def _cached() -> tuple[CatalogProduct, ...]:
    return tuple(_build())


def demo_catalog() -> list[CatalogProduct]:
    """The demo catalogue (same content on every call; treat the items as read-only)."""
    return list(_cached())


def all_skus() -> list[str]:
    """Every SKU of the demo catalogue, in catalogue order."""
    return [v.sku for p in _cached() for v in p.variants]


def in_visma(sku: str) -> bool:
    """Whether the Visma demo seed has an article for this SKU (deterministic, ~60 % True)."""
    return zlib.crc32(sku.encode("utf-8")) % 100 < 60


def find_variant(sku: str) -> tuple[CatalogProduct, CatalogVariant] | None:
    """Look up a SKU in the demo catalogue."""
    return _sku_index().get(sku)


@lru_cache(maxsize=1)
def _sku_index() -> dict[str, tuple[CatalogProduct, CatalogVariant]]:
    return {v.sku: (p, v) for p in _cached() for v in p.variants}
