"""Presets, overrides and plan gates decide which catalogue entity flows where."""

from __future__ import annotations

import pytest

from shopbridge.sync.directions import ENTITIES, PRESETS, direction, one_way
from shopbridge.sync.settings import ConnectionSettings


def settings(**kw: object) -> ConnectionSettings:
    return ConnectionSettings.model_validate(kw)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_preset_is_the_table(preset: str) -> None:
    s = settings(preset=preset)
    assert {e: direction(s, e) for e in ENTITIES} == PRESETS[preset]


def test_without_a_preset_only_orders_flow() -> None:
    assert {direction(settings(), e) for e in ENTITIES} == {"off"}


def test_an_override_wins_and_can_switch_off() -> None:
    s = settings(preset="erp-master", directions={"stock": "off", "products": "to_visma"})
    assert direction(s, "stock") == "off"
    assert direction(s, "products") == "to_visma"
    assert direction(s, "prices") == "to_starweb"


@pytest.mark.parametrize(
    ("plan", "stock", "prices"),
    [("100", "off", "off"), ("200", "to_starweb", "off"), ("400", "to_starweb", "to_starweb")],
)
def test_plan_gates_stock_from_200_and_price_structures_from_400(plan: str, stock: str, prices: str) -> None:
    s = settings(preset="erp-master", plan=plan)
    assert direction(s, "products") == "to_starweb"  # product information is in every plan
    assert direction(s, "stock") == stock
    assert direction(s, "prices") == prices
    assert direction(s, "pricelists") == prices


def test_only_the_product_master_shop_sends_articles() -> None:
    assert direction(settings(preset="ecom-master", product_master=False), "products") == "off"
    assert direction(settings(preset="combo", product_master=False), "stock") == "to_starweb"


def test_the_initial_sync_obeys_the_preset_and_without_one_everything_flows_from_the_source() -> None:
    combo = one_way(settings(preset="combo"), "starweb")
    assert direction(combo, "products") == "to_visma"
    assert direction(combo, "prices") == "to_starweb", "combo: Visma's prices are never overwritten"
    bare = one_way(settings(), "starweb")
    assert direction(bare, "products") == direction(bare, "prices") == "to_visma"
