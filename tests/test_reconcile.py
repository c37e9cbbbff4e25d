"""`shopbridge reconcile` end to end over real HTTP: a clean month is accounted for (exit 0); each kind of
difference made on purpose through the sandboxes is reported (exit 1), in tables, --json and --csv; the
engine's daily run puts each difference on its order, in /metrics and where the portal shows it.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shopbridge.store import TransferState
from shopbridge.sync.reconcile import (
    AMOUNTS_DIFFER,
    MISSING_IN_VISMA,
    NO_TRANSFER,
    TWO_DOCUMENTS,
    UNEXPLAINED_DOCUMENT,
    Period,
    latest_result,
    reconcile,
    reconcile_due,
    running_months,
)
from status_env import skus

from e2e import STARWEB_LIMIT, Env, env_fixture

pytestmark = pytest.mark.asyncio(loop_scope="session")

env = env_fixture("reconcile")
MONTH = running_months(datetime.now(UTC), ZoneInfo("Europe/Stockholm"))[0]


def cli(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "COLUMNS": "250"}
    cmd = [sys.executable, "-m", "shopbridge", "--data-dir", str(env.data_dir), "reconcile", *args]
    return subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=240)


async def transferred_order(env: Env, quantity: int = 2) -> dict[str, Any]:
    [sku] = await skus(env, 1)
    order = await env.new_order(
        [{"sku": sku, "quantity": quantity, "unitPrice": Decimal("100"), "vatRate": 25}]
    )
    await env.sweep()
    t = env.transfer(order["orderId"])
    assert t.state == TransferState.TRANSFERRED, t.last_error
    return order


async def draft_of(env: Env, order: dict[str, Any]) -> dict[str, Any]:
    return await env.visma_get(f"customerinvoicedrafts/{env.transfer(order['orderId']).visma_document_id}")


async def visma(env: Env, method: str, path: str, **kw: Any) -> Any:
    async with env.context() as ctx:
        return await ctx.visma.request(method, path, **kw)


def copy_of(draft: dict[str, Any], **fields: Any) -> dict[str, Any]:
    keep = ("ArticleId", "Quantity", "UnitPrice", "Text", "VatRate")
    rows = [
        {**{k: r[k] for k in keep if r.get(k) is not None}, "IsTextRow": False}
        | {"ReversedConstructionServicesVatFree": False}
        for r in draft["Rows"]
        if not r.get("IsTextRow")
    ]
    head = {"CustomerId": draft["CustomerId"], "YourReference": draft["YourReference"]}
    return {**head, "EuThirdParty": False, "RotReducedInvoicingType": 0, "Rows": rows, **fields}


async def test_a_clean_month_is_accounted_for_and_exits_0(env: Env) -> None:
    for _ in range(2):
        await transferred_order(env)
    out = cli(env, "--connection", "e2e")
    assert out.returncode == 0, out.stdout + out.stderr
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith(f"{MONTH.label}: ") and "incl. VAT in the shop = in Visma" in last, last
    assert last.endswith("0 unexplained differences"), last
    assert "Traceback" not in out.stdout + out.stderr


async def test_each_kind_of_difference_is_reported_with_exit_1(env: Env, tmp_path: Path) -> None:
    [sku] = await skus(env, 1)
    deleted, doubled, changed = [await transferred_order(env) for _ in range(3)]
    unseen = await env.new_order([{"sku": sku, "quantity": 1, "unitPrice": Decimal("50"), "vatRate": 25}])
    await visma(env, "DELETE", f"customerinvoicedrafts/{env.transfer(deleted['orderId']).visma_document_id}")
    draft = await draft_of(env, doubled)
    await visma(env, "POST", "customerinvoicedrafts", json=copy_of(draft))
    draft = await draft_of(env, changed)
    draft["Rows"][0]["Quantity"] = 5
    await visma(env, "PUT", f"customerinvoicedrafts/{draft['Id']}", json=draft)
    foreign = await visma(
        env, "POST", "customerinvoicedrafts", json=copy_of(draft, YourReference="Starweb 987654321")
    )

    async with env.context() as ctx:
        result = await reconcile(ctx, MONTH)
    found = {(d.kind, d.order_id) for d in result.differences}
    assert (NO_TRANSFER, str(unseen["orderId"])) in found, result.differences
    assert (MISSING_IN_VISMA, str(deleted["orderId"])) in found, result.differences
    assert (TWO_DOCUMENTS, str(doubled["orderId"])) in found, result.differences
    assert (AMOUNTS_DIFFER, str(changed["orderId"])) in found, result.differences
    assert any(
        d.kind == UNEXPLAINED_DOCUMENT and "Starweb 987654321" in d.sentence for d in result.differences
    )
    assert len(result.unexplained) == 5 and result.exit_code == 1
    changed_line = next(d.sentence for d in result.differences if d.kind == AMOUNTS_DIFFER)
    assert "total shop 250" in changed_line and "Visma 625" in changed_line, changed_line

    table = cli(env, "--connection", "e2e", "--month", MONTH.label)
    assert table.returncode == 1, table.stdout + table.stderr
    assert table.stdout.strip().splitlines()[-1].endswith("5 unexplained differences"), table.stdout
    for kind in (NO_TRANSFER, MISSING_IN_VISMA, TWO_DOCUMENTS, AMOUNTS_DIFFER, UNEXPLAINED_DOCUMENT):
        assert kind in table.stdout

    sheet = tmp_path / "month.csv"
    out = cli(env, "--connection", "e2e", "--month", MONTH.label, "--json", "--csv", str(sheet))
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    assert data["exit_code"] == 1
    [r] = data["results"]
    assert r["period"] == MONTH.label and len(r["differences"]) == 5
    assert {d["kind"] for d in r["differences"]} == {
        NO_TRANSFER,
        MISSING_IN_VISMA,
        TWO_DOCUMENTS,
        AMOUNTS_DIFFER,
        UNEXPLAINED_DOCUMENT,
    }
    assert r["verdict"].endswith("5 unexplained differences")
    rows = list(csv.DictReader(sheet.open(encoding="utf-8")))
    by_order = {row["order"]: row for row in rows}
    assert by_order[str(changed["orderId"])]["difference"] == AMOUNTS_DIFFER
    assert Decimal(by_order[str(changed["orderId"])]["visma_total"]) == Decimal("625")
    assert by_order[str(deleted["orderId"])]["group"] == "missing"
    assert any(row["difference"] == UNEXPLAINED_DOCUMENT for row in rows)

    # the engine's daily run: each difference on its order, stored for the portal, counted for /metrics
    async with env.context() as ctx:
        results = await reconcile_due(ctx)
        assert await reconcile_due(ctx) == []  # once a day
    assert [r.period for r in results] == [MONTH.label, MONTH.previous_month().label]
    for order in (deleted, doubled, changed):
        t = env.transfer(order["orderId"])
        assert t.state == TransferState.NEEDS_REVIEW and f"order {order['orderId']}" in t.last_error
    t = env.transfer(unseen["orderId"])
    assert t.state == TransferState.NEEDS_REVIEW and "no transfer row" in t.last_error
    conn = env.store.connections.find("e2e")
    stored = latest_result(env.store, conn.id, MONTH.label)
    assert stored is not None and len(stored.differences) == 5 and "unexplained" in str(stored)

    from shopbridge.engine.metrics import OperationsCollector

    class NoEngine:
        def status(self) -> list[Any]:
            return []

    gauges = {m.name: m for m in OperationsCollector(env.store, NoEngine()).collect()}
    samples = {tuple(s.labels.values()): s.value for s in gauges["shopbridge_reconcile_differences"].samples}
    assert samples[("e2e", MONTH.label)] == 5

    # told: each order's difference waits for review; the foreign document has no order to wait on
    again = cli(env, "--connection", "e2e")
    assert again.returncode == 1, again.stdout
    assert "4 waiting with a reason; 1 unexplained differences" in again.stdout.strip().splitlines()[-1]
    await visma(env, "DELETE", f"customerinvoicedrafts/{foreign['Id']}")
    settled = cli(env, "--connection", "e2e")
    assert settled.returncode == 0, settled.stdout


async def test_periods_are_shop_months() -> None:
    p = Period.month("2026-03")
    start, end = p.bounds(ZoneInfo("Europe/Stockholm"))
    assert start == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)  # CET
    assert end == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)  # CEST after the last Sunday of March
    assert p.label == "2026-03" and p.previous_month().label == "2026-02"
    assert Period(p.first, p.first).label == "2026-03-01..2026-03-01"
    with pytest.raises(ValueError, match="YYYY-MM"):
        Period.month("2026-13")


async def test_the_engine_reconciles_after_a_sweep_once_a_day(env: Env) -> None:
    from shopbridge.engine.embedded import EmbeddedSweeper

    conn = env.store.connections.find("e2e")
    before = latest_result(env.store, conn.id, MONTH.label)
    assert before is not None
    sweeper = EmbeddedSweeper(env.store, reconcile_every=timedelta(0), starweb_rate_limit=STARWEB_LIMIT)
    try:
        await sweeper.sweep(str(conn.id), [])
    finally:
        await sweeper.aclose()
    after = latest_result(env.store, conn.id, MONTH.label)
    assert after is not None and after.ran_at > before.ran_at


async def test_the_portal_shows_the_months_reconciliation(tmp_path: Path) -> None:
    from portal_env import build_tenancy
    from shopbridge.sync.reconcile import ReconcileResult, store_result

    tenancy = build_tenancy(tmp_path)
    conn_id = tenancy.ids["a"]["connection"]
    page = tenancy.client("a").get(f"/shops/{conn_id}/settings")
    assert page.status_code == 200 and 'id="reconciliation"' not in page.text  # nothing reconciled yet
    result = ReconcileResult("shop-a", conn_id, MONTH.label, datetime.now(UTC).isoformat(), orders=3)
    result.shop_gross["SEK"] = result.visma_gross["SEK"] = Decimal("1234.50")
    store_result(tenancy.store, result)
    page = tenancy.client("a").get(f"/shops/{conn_id}/settings")
    assert page.status_code == 200 and 'id="reconciliation"' in page.text
    assert f"{MONTH.label}: 3 orders; 1,234.50 SEK incl. VAT in the shop = in Visma" in page.text
    tenancy.store.close()


async def test_reconcile_exits_0_on_the_demos_data_directory(tmp_path: Path) -> None:
    from shopbridge.demo import restart_sandboxes

    environ = {**os.environ, "COLUMNS": "250"}
    base = [sys.executable, "-m", "shopbridge"]
    demo = subprocess.run(
        [*base, "demo", "--no-serve", "--data-dir", str(tmp_path)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert demo.returncode == 1, demo.stdout + demo.stderr  # the demo's bad orders wait on purpose
    starweb, visma = restart_sandboxes(tmp_path)
    try:
        today = datetime.now(ZoneInfo("Europe/Stockholm")).date()
        span = ["--from", str(today - timedelta(days=200)), "--to", str(today)]
        for period in ([], span):
            out = subprocess.run(
                [*base, "--data-dir", str(tmp_path), "reconcile", *period],
                env=environ,
                capture_output=True,
                text=True,
                timeout=240,
            )
            assert out.returncode == 0, out.stdout + out.stderr
            verdict = out.stdout.strip().splitlines()[-1]
            assert "in the shop = in Visma" in verdict and verdict.endswith("0 unexplained differences")
            assert "waiting with a reason" in verdict
    finally:
        starweb.stop()
        visma.stop()
