"""Who owns what: the three presets and the per-connection overrides.

| entity     | ecom-master | erp-master | combo      |
| ---------- | ----------- | ---------- | ---------- |
| orders     | to_visma    | to_visma   | to_visma   |
| products   | to_visma    | to_starweb | to_visma   |
| prices     | to_visma    | to_starweb | to_starweb |
| pricelists | off         | to_starweb | to_starweb |
| stock      | off         | to_starweb | to_starweb |

`products` is the article/product itself (number, name, VAT, active); `prices` the ordinary and
campaign price; `pricelists` the shop's other pricelists; `stock` quantity and stock status. In
ecom-master the price travels with the product to Visma; in combo the article's price is set once when
it is created and Visma owns it after that. Order status follows `status_map` (sync/status.py).
Without a preset only orders (and order status) flow. Plan gates (plans.py) switch entities off
whatever the direction says.
"""

from __future__ import annotations

from typing import Literal

from shopbridge import plans
from shopbridge.sync.settings import ConnectionSettings

Direction = Literal["to_visma", "to_starweb", "off"]
ENTITIES = ("products", "prices", "pricelists", "stock")

PRESETS: dict[str, dict[str, Direction]] = {
    "ecom-master": {"products": "to_visma", "prices": "to_visma", "pricelists": "off", "stock": "off"},
    "erp-master": {
        "products": "to_starweb",
        "prices": "to_starweb",
        "pricelists": "to_starweb",
        "stock": "to_starweb",
    },
    "combo": {
        "products": "to_visma",
        "prices": "to_starweb",
        "pricelists": "to_starweb",
        "stock": "to_starweb",
    },
}

# the plan feature each entity needs (see plans.py)
FEATURE = {"products": "products", "prices": "prices", "pricelists": "prices", "stock": "stock"}


def direction(settings: ConnectionSettings, entity: str) -> Direction:
    """Where `entity` flows for this connection: the override, else the preset; off when the plan lacks it."""
    if entity not in ENTITIES:
        raise ValueError(f"unknown catalogue entity {entity!r} (one of {', '.join(ENTITIES)})")
    preset = PRESETS[settings.preset] if settings.preset else {}
    chosen = settings.directions.get(entity) or preset.get(entity, "off")
    if chosen == "to_visma" and not settings.product_master:  # multishop: one shop owns the articles
        return "off"
    if chosen != "off" and not plans.allows(settings, FEATURE[entity]):
        return "off"
    return chosen


def one_way(settings: ConnectionSettings, source: str) -> ConnectionSettings:
    """The settings for an initial sync from `source` (starweb or visma).

    With a preset its directions hold: the initial sync obeys who owns what (in combo Visma's prices
    stay, the shop's are not written over them). Without one every catalogue entity flows from
    `source`. The connection's own overrides win either way."""
    if settings.preset:
        return settings
    to: Direction = "to_visma" if source == "starweb" else "to_starweb"
    directions: dict[str, Direction] = {
        "products": to,
        "prices": to,
        "pricelists": "to_starweb" if to == "to_starweb" else "off",
        "stock": "to_starweb" if to == "to_starweb" else "off",
    }
    return settings.model_copy(update={"directions": {**directions, **settings.directions}})
