"""Plugins and field mappings in the catalogue flows: applied to what is written, and a raising plugin
fails only the item it touched, with its name in the item's issue."""

from __future__ import annotations

import textwrap

import pytest

from catalog_env import CatalogEnv, catalog_env_fixture

pytestmark = pytest.mark.asyncio(loop_scope="session")

env = catalog_env_fixture("cat_plugins")

PRICE = [{"pricelistId": 1, "priceExVat": 100}]


async def test_article_field_map_writes_a_product_field_onto_the_article(env: CatalogEnv) -> None:
    env.configure(preset="ecom-master", article_field_map={"moreInfoUrl": "Note"})
    try:
        await env.new_product("Med länk", [{"sku": "MAP-1", "prices": PRICE}], moreInfoUrl="https://x.se/a")
        plan, done, _ = await env.plan_out()
        assert "failed" not in done, [a.reason for a in plan.actions if a.kind == "error"]
        assert (await env.articles())["MAP-1"]["Note"] == "https://x.se/a"

        # a changed source field is a change of the article (the mapped field is kept in step)
        [product] = (await env.shop("GET", "products", params={"filterSku": "MAP-1"}))["data"]
        await env.shop("PATCH", f"products/{product['productId']}", json={"moreInfoUrl": "https://x.se/b"})
        plan, _, writes = await env.plan_out(full=False)
        assert [a.kind for a in plan.actions if a.key == "MAP-1"] == ["update"]
        assert (await env.articles())["MAP-1"]["Note"] == "https://x.se/b"
        assert writes == 1  # the article's PUT, nothing for the rest of the catalogue
    finally:
        env.configure(preset=None, article_field_map=None)


async def test_a_raising_product_plugin_fails_only_its_item(env: CatalogEnv) -> None:
    folder = env.data_dir / "plugins"
    folder.mkdir(exist_ok=True)
    (folder / "picky.py").write_text(
        textwrap.dedent(
            """
            from shopbridge.plugins import hookimpl

            @hookimpl
            def shopbridge_product_body(body, article):
                if article["Number"].startswith("PLUG-BAD"):
                    raise ValueError("no thanks")
                body["moreInfoUrl"] = "https://plugin.example/" + article["Number"]
            """
        )
    )
    env.configure(preset="erp-master", plugins=["picky"])
    try:
        for number in ("PLUG-OK", "PLUG-BAD"):
            env.visma_admin("/catalog", {"articles": 1, "prefix": number, "start": 1})
        plan, done, _ = await env.plan_in()
        assert done["failed"] == 1
        by_label = {a.label: a for a in plan.actions}
        ok, bad = by_label["PLUG-OK-000001"], by_label["PLUG-BAD-000001"]
        assert ok.kind == "create" and bad.kind == "error"
        assert "picky" in bad.reason and "no thanks" in bad.reason
        created = await env.shop_variant("PLUG-OK-000001")
        assert created["_product"]["moreInfoUrl"] == "https://plugin.example/PLUG-OK-000001"
        issue = {i.key: i for i in env.store.catalog_issues.all(env.conn_id)}["PLUG-BAD-000001"]
        assert issue.level == "error" and "picky" in issue.message
    finally:
        (folder / "picky.py").unlink()
        env.configure(preset=None, plugins=None)
