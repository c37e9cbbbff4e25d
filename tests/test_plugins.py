"""Plugins end to end over real HTTP: declarative mappings, folder plugins, a raising plugin, the example."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shopbridge.domain.models import OrderLine
from shopbridge.plugins import PluginError, Plugins, hookimpl
from shopbridge.store import TransferState
from shopbridge.sync.base import Hint
from shopbridge.sync.settings import ConnectionSettings
from status_env import ship, skus, status_env_fixture, status_log, sweep, transferred

from e2e import Env

pytestmark = pytest.mark.asyncio(loop_scope="session")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "plugins"

env = status_env_fixture("plugins")

TAGGER = """
from shopbridge.plugins import hookimpl

@hookimpl
def shopbridge_order_document(document, wire, kind):
    document["BuyersOrderReference"] = f"tagged {wire['orderId']} {kind}"[:35]

@hookimpl
async def shopbridge_customer_body(body, customer):
    body["Note"] = f"from the shop: {customer.name}"
"""

GRUMPY = """
from shopbridge.plugins import hookimpl

@hookimpl
def shopbridge_order_document(document, wire):
    if wire.get("customInfo2") == "boom":
        raise ValueError("cannot stand this order")
"""

QUIET = """
from shopbridge.plugins import hookimpl

@hookimpl
def shopbridge_status_update(update, event):
    if event == "delivered":
        update["onOrderStatusChangeSendEmail"] = False
"""


@pytest.fixture
def plugin_file(env: Env) -> Iterator[Callable[[str, str], None]]:
    """Write a plugin into the data directory's plugins folder and run only it; removed afterwards."""
    folder = env.data_dir / "plugins"
    folder.mkdir(exist_ok=True)
    written: list[Path] = []

    def write(name: str, source: str) -> None:
        path = folder / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        written.append(path)
        env.configure(plugins=[p.stem for p in written])

    yield write
    for path in written:
        path.unlink()
    env.configure(plugins=None)


async def new_order(env: Env, **fields: Any) -> dict[str, Any]:
    [sku] = await skus(env, 1)
    items = [{"sku": sku, "quantity": 2, "unitPrice": 100, "vatRate": 25}]
    return await env.new_order(items, paymentMethodId=3, shippingMethodId=1, **fields)


async def draft_for(env: Env, order_id: int, field: str = "YourReference") -> dict[str, Any]:
    body = await env.visma_get("customerinvoicedrafts", **{"$filter": f"{field} eq 'Starweb {order_id}'"})
    [draft] = body["Data"]
    return draft


async def test_declarative_mappings_on_the_draft(env: Env) -> None:
    terms = (await env.visma_get("termsofpayments"))["Data"]
    methods = (await env.visma_get("deliverymethods"))["Data"]
    order = await new_order(env, customInfo1="PO-77 Anna Svensson")
    assert order["paymentMethodIdCode"]
    chosen = next(t for t in terms if t.get("AvailableForSales") is not False and t["NumberOfDays"] != 30)
    method = next(m for m in methods if m.get("Code"))
    env.configure(
        document_type="invoice_draft",
        reference_field="OurReference",
        field_map={"customInfo1": "YourReference"},
        terms_by_payment_method={order["paymentMethodIdCode"]: chosen["Id"]},
        delivery_method_by_shipping={"1": method["Code"]},
    )
    try:
        await env.sweep([Hint("order", str(order["orderId"]))])
        t = env.transfer(order["orderId"])
        assert t.state == TransferState.TRANSFERRED, t.last_error
        draft = await draft_for(env, order["orderId"], "OurReference")
        assert draft["YourReference"] == "PO-77 Anna Svensson"
        assert draft["TermsOfPaymentId"] == chosen["Id"]
        assert draft["DeliveryMethodCode"] == method["Code"]
    finally:
        cleared = ("reference_field", "field_map", "terms_by_payment_method", "delivery_method_by_shipping")
        env.configure(**dict.fromkeys(cleared))


async def test_field_map_into_the_reference_field_waits_with_a_reason(env: Env) -> None:
    order = await new_order(env, customInfo1="PO-78")
    env.configure(field_map={"customInfo1": "YourReference"})
    try:
        await env.sweep([Hint("order", str(order["orderId"]))])
    finally:
        env.configure(field_map=None)
    t = env.transfer(order["orderId"])
    assert t.state == TransferState.WAITING_FOR_FIX
    assert "field_map" in t.last_error and "reference_field" in t.last_error


async def test_folder_plugin_changes_the_document(env: Env, plugin_file: Callable[[str, str], None]) -> None:
    plugin_file("tagger", TAGGER)
    order = await new_order(env)
    await env.sweep([Hint("order", str(order["orderId"]))])
    t = env.transfer(order["orderId"])
    assert t.state == TransferState.TRANSFERRED, t.last_error
    draft = await draft_for(env, order["orderId"])
    assert draft["BuyersOrderReference"] == f"tagged {order['orderId']} invoice_draft"


async def test_raising_plugin_fails_only_its_order(env: Env, plugin_file: Callable[[str, str], None]) -> None:
    plugin_file("grumpy", GRUMPY)
    bad = await new_order(env, customInfo2="boom")
    good = await new_order(env, customInfo2="fine")
    await env.sweep([Hint("order", str(bad["orderId"])), Hint("order", str(good["orderId"]))])
    t_bad, t_good = env.transfer(bad["orderId"]), env.transfer(good["orderId"])
    assert t_good.state == TransferState.TRANSFERRED, t_good.last_error
    assert t_bad.state == TransferState.WAITING_FOR_FIX
    assert "plugin 'grumpy'" in t_bad.last_error and "cannot stand this order" in t_bad.last_error
    assert await env.documents_for(bad["orderId"]) == []  # nothing was sent for it


async def test_plan_gates_code_plugins_not_mappings(
    env: Env, plugin_file: Callable[[str, str], None]
) -> None:
    plugin_file("tagger", TAGGER)
    env.configure(plan="400", plugins=None, field_map={"customInfo3": "BuyersOrderReference"})
    try:
        found = await new_order(env, customInfo3="from the mapping")
        await env.sweep([Hint("order", str(found["orderId"]))])
        env.configure(plugins=["tagger"])
        named = await new_order(env)
        await env.sweep([Hint("order", str(named["orderId"]))])
    finally:
        env.configure(plan=None, field_map=None)
    t = env.transfer(found["orderId"])
    assert t.state == TransferState.TRANSFERRED, t.last_error
    draft = await draft_for(env, found["orderId"])
    assert draft["BuyersOrderReference"] == "from the mapping"  # the mapping ran, the tagger did not
    t = env.transfer(named["orderId"])
    assert t.state == TransferState.WAITING_FOR_FIX
    assert "plugin 'tagger'" in t.last_error and "plan (400) does not include plugins" in t.last_error


async def test_missing_enabled_plugin_parks_orders_naming_it(env: Env) -> None:
    order = await new_order(env)
    env.configure(plugins=["not_installed"])
    try:
        await env.sweep([Hint("order", str(order["orderId"]))])
    finally:
        env.configure(plugins=None)
    t = env.transfer(order["orderId"])
    assert t.state == TransferState.WAITING_FOR_FIX
    assert "plugin 'not_installed'" in t.last_error


async def test_status_plugin_changes_the_status_update(
    env: Env, plugin_file: Callable[[str, str], None]
) -> None:
    plugin_file("quiet", QUIET)
    order = await transferred(env, kind="order")
    await ship(env, order["visma_id"])
    await sweep(env)
    [delivered] = status_log(env, order["orderId"])["statusLog"]
    assert delivered["toStatusIdCode"] == "completed"
    assert delivered["onOrderStatusChangeSendEmail"] is False  # status_mail says True; the plugin said no
    env.configure(document_type="invoice_draft")


async def test_example_plugin_loads_and_runs(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPBRIDGE_PLUGINS_DIR", str(EXAMPLES))
    settings = ConnectionSettings(plugins=["reference_from_note"])
    assert Plugins.load(settings).names == ["reference_from_note"]
    env.configure(plugins=["reference_from_note"])
    try:
        order = await new_order(env, customInfo1="PO 4711, leave it at the back door")
        await env.sweep([Hint("order", str(order["orderId"]))])
    finally:
        env.configure(plugins=None)
    t = env.transfer(order["orderId"])
    assert t.state == TransferState.TRANSFERRED, t.last_error
    draft = await draft_for(env, order["orderId"])
    assert draft["BuyersOrderReference"] == "4711"
    assert any("back door" in (r.get("Text") or "") for r in draft["Rows"] if r.get("IsTextRow"))


# ---------------------------------------------------------------------- the manager on its own
class Recorder:
    """A plugin object (not a module): pluggy takes any object with hookimpl-marked methods."""

    @hookimpl
    def shopbridge_article_body(self, body: dict[str, Any], line: Any) -> dict[str, Any]:
        return {**body, "Note": f"line {line.sku}"}

    @hookimpl
    def shopbridge_product_body(self, body: dict[str, Any], article: dict[str, Any]) -> str:
        return "not a dict"


async def test_manager_helpers_chain_and_name_the_plugin() -> None:
    settings = ConnectionSettings(article_field_map={"meta.7": "NameEnglish", "variants.0.ean": "Barcodes"})
    plugins = Plugins(settings, plugins={"recorder": Recorder()})
    languages = {"data": [{"langCode": "en", "value": "y"}, {"langCode": "sv", "value": "x"}]}
    product = {
        "metaData": {"data": [{"metaDataTypeId": 7, "languages": languages}]},
        "variants": {"data": [{"ean": "7312345678901"}]},
    }
    body = await plugins.article_body({"Number": "A1"}, product=product, line=OrderLine(sku="A1"))
    assert body == {"Number": "A1", "NameEnglish": "x", "Barcodes": "7312345678901", "Note": "line A1"}
    with pytest.raises(PluginError, match="plugin 'recorder' failed on the Starweb product"):
        await plugins.product_body({"x": 1}, article={})
    update = await plugins.status_update({"statusId": 3}, event="paid", order_id="1")
    assert update == {"statusId": 3}


async def test_broken_plugin_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n")
    (tmp_path / "_helper.py").write_text("raise SystemExit('never imported')\n")
    monkeypatch.setenv("SHOPBRIDGE_PLUGINS_DIR", str(tmp_path))
    plugins = Plugins.load(ConnectionSettings())
    with pytest.raises(PluginError, match=r"plugin 'broken' failed.*could not be loaded"):
        await plugins.customer_body({}, order=None)
