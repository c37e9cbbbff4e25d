"""A catalogue plan and the shop's rows kept out of memory (`Spool`, `ActionLog`), and the packed Visma
article cache (`ArticleCache`): same items, same order, same writes, exactly once (issue 15 §3)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from shopbridge.sync import spool
from shopbridge.sync.article_cache import ArticleCache, ArticleRecord, PackedArticle
from shopbridge.sync.catalog import Action, CatalogPlan, ItemError


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool, "CHUNK", 3)  # most items go to the file


class Writer:
    def __init__(self) -> None:
        self.done: list[str] = []

    async def write(self, sku: str, body: dict[str, Any]) -> None:
        if body.get("bad"):
            raise ItemError(f"{sku} refused")
        self.done.append(sku)


def test_spool_keeps_order_and_length() -> None:
    rows: spool.Spool[dict[str, int]] = spool.Spool()
    rows.extend({"n": n} for n in range(8))
    assert len(rows) == 8
    assert [r["n"] for r in rows] == list(range(8))
    assert [r["n"] for r in rows] == list(range(8))  # read again


async def test_plan_spooled_writes_run_once_in_order() -> None:
    writer, plan = Writer(), CatalogPlan("starweb")
    for n in range(7):
        body = {"price": Decimal("1.50"), "bad": n == 4}
        plan.add(Action("create", f"K{n}", f"SKU{n}", run=partial(writer.write, f"SKU{n}", body)))
        plan.add(Action("unchanged", f"U{n}", f"U{n}"))
    plan.add(Action("update", "L", "LAMBDA", run=lambda: writer.write("LAMBDA", {})))  # kept in memory
    assert plan.counts["create"] == 7 and plan.counts["unchanged"] == 7 and plan.write_count == 8
    assert [r["sku"] for r in plan.rows(limit=3)] == ["SKU0", "SKU1", "SKU2"]

    done = await plan.apply(concurrency=3)
    assert done == {"create": 6, "update": 1, "failed": 1}
    assert sorted(writer.done) == sorted([f"SKU{n}" for n in range(7) if n != 4] + ["LAMBDA"])
    assert plan.counts["error"] == 1 and plan.counts["create"] == 6
    errors = [a for a in plan.actions if a.kind == "error"]
    assert [(a.label, a.reason) for a in errors] == [("SKU4", "SKU4 refused")]
    assert all(a.run is None for a in plan.actions) and len(plan.actions) == 15
    assert await plan.apply() == {}  # nothing is written twice
    assert len(writer.done) == 7


async def test_part_of_a_plan_is_a_plan() -> None:
    writer, plan = Writer(), CatalogPlan("visma")
    for n in range(5):
        plan.add(Action("create", f"K{n}", f"SKU{n}", run=partial(writer.write, f"SKU{n}", {})))
    part = CatalogPlan(plan.source, plan.writes[:2])
    assert await part.apply() == {"create": 2}
    assert writer.done == ["SKU0", "SKU1"]


def _record(article_id: str, number: str, **kw: Any) -> ArticleRecord:
    return ArticleRecord(Id=article_id, Number=number, **kw)


def test_packed_article_unpacks_the_same_record() -> None:
    row = {
        "Id": "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "Number": "A-1",
        "Name": "Tröja blå",
        "CodingId": "c1",
        "UnitId": "u1",
        "IsActive": True,
        "IsStock": True,
        "NetPrice": 199.2,
        "StockBalanceAvailable": -2,
        "ChangedUtc": "2026-12-06T10:00:00.123Z",
        "Unused": "not kept",
    }
    record = PackedArticle.model_validate(row).unpack()
    assert record == ArticleRecord.model_validate(row)
    assert record.NetPrice == Decimal("199.2") and isinstance(record.StockBalanceAvailable, Decimal)
    assert record.ChangedUtc == datetime(2026, 12, 6, 10, 0, 0, 123000, tzinfo=UTC)


def test_article_cache_by_key_renames_and_shared_keys() -> None:
    cache = ArticleCache()
    cache.remember(_record("1", "a-1 ", Name="one"))
    cache.remember(PackedArticle(_record("2", "B-2")))
    assert cache["A-1"].Name == "one" and set(cache) == {"A-1", "B-2"}
    cache.remember(_record("1", "C-3", Name="renamed"))  # renamed in Visma: the old number is gone
    assert "A-1" not in cache and cache.by_key("C-3").Name == "renamed"
    cache.remember(_record("3", "c-3", Name="twin"))  # two articles share a key
    assert sorted(a.Id for a in cache["C-3"]) == ["1", "3"]
    assert cache.by_key("C-3").Name == "twin"  # the newest
    cache.remember(_record("3", "D-4"))
    assert cache["C-3"].Id == "1" and len(cache) == 3
