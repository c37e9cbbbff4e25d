"""Plans: feature gates and the monthly order quota, end to end over real HTTP, plus `shopbridge usage`.

The month is moved by replacing the usage clock (`shopbridge.store.usage.clock`): each test works in
a month of its own, so the figures start at zero whatever ran before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from shopbridge import plans
from shopbridge.store import TransferState
from shopbridge.store import usage as usage_mod
from shopbridge.sync.settings import ConnectionSettings
from status_env import events, setup_status, ship, skus, status_log, sweep, transferred
from store_backends import BACKENDS, store_for_test

from e2e import Env, env_fixture

in_session_loop = pytest.mark.asyncio(loop_scope="session")


async def _setup(e: Env) -> None:
    e.ids = await setup_status(e)  # type: ignore[attr-defined]


env = env_fixture("plans", _setup)


def at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    """Make `when` the usage clock's now (the month the quota and the counting use)."""
    monkeypatch.setattr(usage_mod, "clock", lambda: when)


def conn_id(env: Env) -> int:
    return env.store.connections.find(env.name).id


async def new_orders(env: Env, n: int) -> list[str]:
    [sku] = await skus(env, 1)
    out = []
    for _ in range(n):
        order = await env.new_order([{"sku": sku, "quantity": 1, "unitPrice": 100, "vatRate": 25}])
        out.append(str(order["orderId"]))
    return out


def states(env: Env, ids: list[str]) -> dict[str, str]:
    return {oid: env.transfer(oid).state for oid in ids}


# ---------------------------------------------------------------------- the plans, no I/O
def test_feature_matrix_and_quotas() -> None:
    def s(**kw: Any) -> ConnectionSettings:
        return ConnectionSettings.model_validate(kw)

    assert plans.features(s(plan="100")) == {"orders", "customers", "products"}
    assert plans.features(s(plan="200")) == {"orders", "customers", "products", "order_status", "stock"}
    assert plans.allows(s(plan="400"), plans.PRICES) and plans.allows(s(plan="400"), "multishop")
    assert not plans.allows(s(plan="400"), plans.PLUGINS) and plans.allows(s(plan="800"), plans.PLUGINS)
    assert plans.features(s()) == set(plans.FEATURES)  # premium is the default: every feature
    assert [plans.quota(s(plan=p)) for p in ("100", "200", "400", "800", "premium")] == [
        100,
        200,
        400,
        800,
        None,
    ]
    assert plans.quota(s(plan="premium", custom_quota=5000)) == 5000
    custom = s(plan="custom", custom_quota=3, custom_features=["stock"])
    assert plans.quota(custom) == 3 and plans.features(custom) == {"orders", "customers", "products", "stock"}
    assert plans.features(s(custom_features=["prices"])) == {"orders", "customers", "products", "prices"}
    assert s(plan=200).plan == "200"  # `connection set X plan 200` parses the value as JSON: a number
    assert s(shop_fee="49.50").shop_fee == Decimal("49.50")
    with pytest.raises(ValueError, match="unknown feature 'stok'"):
        plans.allows(s(), "stok")
    with pytest.raises(ValidationError, match="custom needs custom_quota"):
        s(plan="custom")
    with pytest.raises(ValidationError, match="unknown feature"):
        s(custom_features=["stok"])
    with pytest.raises(ValidationError):
        s(plan="50")


@pytest.mark.parametrize("backend", BACKENDS)
def test_reservation_counts_orders_in_flight(backend: str, tmp_path: Path) -> None:
    """The recorded intent is the reservation: two claimed orders cannot both take the last place."""
    when = datetime(2031, 3, 5, tzinfo=UTC)
    with store_for_test(backend, tmp_path) as store:
        c = store.connections.create("shop")
        for oid in (1, 2, 3):
            store.transfers.upsert_pending(c.id, oid, now=when)
        store.usage.increment(c.id, "2031-03", orders=1)
        a, b, d = store.transfers.claim_due(c.id, when)
        ok = store.transfers.reserve_quota(a, "Starweb 1", limit=2, month="2031-03", now=when)
        assert ok.allowed and ok.used == 2 and store.transfers.get(a.id).intent_key == "Starweb 1"
        refused = store.transfers.reserve_quota(b, "Starweb 2", limit=2, month="2031-03", now=when)
        assert not refused.allowed and refused.used == 2 and store.transfers.get(b.id).intent_key is None
        assert store.transfers.quota_used(c.id, "2031-03") == 2
        store.transfers.mark_transferred(a, "doc-1", now=when)  # counted once: usage now holds it
        assert store.transfers.quota_used(c.id, "2031-03") == 2
        assert store.transfers.reserve_quota(d, "Starweb 3", limit=None, month="2031-03").allowed
        next_month = usage_mod.next_month_start("2031-03")
        store.transfers.mark_waiting(b, "quota", next_month, state=TransferState.WAITING_FOR_QUOTA, now=when)
        assert store.transfers.claim_due(c.id, when) == []
        assert store.transfers.wake_quota_waiting(c.id, 0, now=when) == 0
        assert store.transfers.wake_quota_waiting(c.id, 5, now=when) == 1
        [again] = store.transfers.claim_due(c.id, when)
        assert again.id == b.id


# ---------------------------------------------------------------------- end to end
@in_session_loop
async def test_quota_crossed_mid_sweep_then_raised_then_next_month(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    at(monkeypatch, datetime(2031, 1, 15, 12, tzinfo=UTC))
    env.configure(plan="custom", custom_quota=3, custom_features=[], document_type="invoice_draft")
    ids = await new_orders(env, 5)
    report = await env.sweep()

    now = states(env, ids)
    done = [oid for oid, st in now.items() if st == TransferState.TRANSFERRED]
    waiting = [oid for oid, st in now.items() if st == TransferState.WAITING_FOR_QUOTA]
    assert len(done) == 3 and len(waiting) == 2, now  # none lost: every order is in one of the two
    assert report.counts["transferred"] == 3 and report.counts["waiting_for_quota"] == 2
    for oid in waiting:
        t = env.transfer(oid)
        assert "monthly quota of plan 'custom' is used up (3 of 3 orders in 2031-01)" in t.last_error
        assert "2031-02-01" in t.last_error and report.waiting[oid] == t.last_error
        assert t.next_attempt_at == datetime(2031, 2, 1, tzinfo=UTC)
        assert await env.documents_for(oid) == []  # nothing was created in Visma
    for oid in done:
        assert len(await env.documents_for(oid)) == 1
    assert "3 of the 3 orders" in report.waiting["quota"] and report.counts["quota_warning"] == 1
    assert env.store.usage.orders(conn_id(env), "2031-01") == 3

    # nothing frees: a sweep leaves them waiting and creates nothing
    report = await env.sweep()
    assert (
        report.counts["transferred"] == 0
        and sorted(states(env, waiting).values()) == ["waiting_for_quota"] * 2
    )

    # the plan is raised by one order: the next sweep takes exactly one of them (the oldest)
    env.configure(custom_quota=4)
    report = await env.sweep()
    assert report.counts["transferred"] == 1, report.waiting
    first, second = sorted(waiting, key=int)
    assert states(env, waiting) == {first: "transferred", second: "waiting_for_quota"}
    assert env.store.usage.orders(conn_id(env), "2031-01") == 4

    # the month turns: the last one goes, counted in the new month
    at(monkeypatch, datetime(2031, 2, 1, 0, 5, tzinfo=UTC))
    report = await env.sweep()
    assert env.transfer(second).state == TransferState.TRANSFERRED, env.transfer(second).last_error
    assert len(await env.documents_for(second)) == 1
    assert env.store.usage.orders(conn_id(env), "2031-02") == 1
    assert env.store.usage.orders(conn_id(env), "2031-01") == 4
    env.configure(plan="premium", custom_quota=None)


@in_session_loop
async def test_warning_at_80_percent(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    at(monkeypatch, datetime(2031, 5, 10, tzinfo=UTC))
    env.configure(plan="custom", custom_quota=5, shop_fee="49.50")
    settings = ConnectionSettings.model_validate(env.store.connections.find(env.name).settings)
    await new_orders(env, 3)
    with capture_logs() as logs:
        report = await env.sweep()
    assert report.counts["transferred"] == 3 and "quota" not in report.waiting  # 60 %: quiet
    assert not [e for e in logs if e["event"] == "quota.warning"]
    assert plans.quota_status(env.store, conn_id(env), settings).warning is None

    await new_orders(env, 1)
    with capture_logs() as logs:
        report = await env.sweep()
    assert report.counts["transferred"] == 1
    assert report.waiting["quota"] == "4 of the 5 orders of plan 'custom' are used in 2031-05 (80 %)"
    [warned] = [e for e in logs if e["event"] == "quota.warning"]
    assert warned["used"] == 4 and warned["quota"] == 5 and warned["log_level"] == "warning"
    status = plans.quota_status(env.store, conn_id(env), settings)
    assert status.used == 4 and status.remaining == 1 and status.percent == 80 and status.warning


@in_session_loop
async def test_usage_command_table_and_json(env: Env) -> None:
    """`shopbridge usage` in its own process, on the env's store (May 2031 from the test before)."""
    environ = {**os.environ, "SHOPBRIDGE_HOME": str(env.data_dir), "COLUMNS": "200"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "shopbridge", "usage", *args]
        return subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=120)

    out = run("--month", "2031-05", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    [line] = json.loads(out.stdout)
    assert line["connection"] == "e2e" and line["month"] == "2031-05" and line["plan"] == "custom"
    assert line["transferred_orders"] == 4 and line["quota"] == 5 and line["shops"] == 1
    assert line["shop_fee"] == "49.50" and line["fee_total"] == "49.50"

    table = run("--connection", "e2e", "--month", "2031-05")
    assert table.returncode == 0, table.stdout + table.stderr
    row = next(x for x in table.stdout.splitlines() if "2031-05" in x)
    cells = [c.strip() for c in row.split("│") if c.strip()]
    assert cells == ["e2e", "2031-05", "custom", "4", "5 (80 %)", "0", "1", "49.50 (1 × 49.50)"], row

    history = json.loads(run("--history", "--json").stdout)
    assert {(x["month"], x["transferred_orders"]) for x in history} >= {
        ("2031-01", 4),
        ("2031-02", 1),
        ("2031-05", 4),
    }
    bad = run("--month", "May")
    assert bad.returncode == 2 and "not YYYY-MM" in bad.stdout
    env.configure(plan="premium", custom_quota=None, shop_fee=None)


@in_session_loop
async def test_status_flow_is_off_on_plan_100(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    at(monkeypatch, datetime(2031, 8, 1, tzinfo=UTC))
    env.configure(plan="100")
    order = await transferred(env, kind="order")  # the order flow is in every plan
    await ship(env, order["visma_id"], tracking="1")
    before = status_log(env, order["orderId"])

    report = await sweep(env)  # every flow: the status flow does nothing at all
    assert events(env, order["orderId"]) == {}
    assert status_log(env, order["orderId"]) == before
    assert not [k for k in report.counts if k.startswith(("event_", "status_"))], report.counts

    env.configure(plan="200")  # order status is in 200: the shipment now reaches the shop
    await sweep(env)
    assert "delivered" in events(env, order["orderId"])
    env.configure(plan="premium")
