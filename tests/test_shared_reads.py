"""The rules by which a company's shops share one Visma change-list read (`visma/shared_reads.py`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shopbridge.visma.client import ChangedPage
from shopbridge.visma.shared_reads import company_value, forget_all, forget_value, shared_read

pytestmark = pytest.mark.asyncio(loop_scope="session")

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Item:
    Id: str
    ChangedUtc: datetime


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


class List:
    """A change list that counts its reads; items changed at minutes 1, 5 and 9."""

    def __init__(self, *, complete: bool = True) -> None:
        self.reads = 0
        self.complete = complete

    async def read(self, start: datetime | None) -> ChangedPage[Any]:
        self.reads += 1
        await asyncio.sleep(0.01)  # the others ask while it is being read
        items = [Item(str(m), at(m)) for m in (1, 5, 9) if start is None or at(m) > start]
        return ChangedPage(items, at(10), self.complete, 1)

    async def ask(self, reader: str, since: datetime | None) -> ChangedPage[Any]:
        return await shared_read(
            ("company", "articles"),
            reader,
            since,
            since,
            lambda: self.read(since),
            lambda item, after: item.ChangedUtc >= after,
        )


@pytest.fixture(autouse=True)
def clean() -> Any:
    forget_all()
    yield
    forget_all()


async def test_shops_asking_together_share_one_read_each_from_its_own_cursor() -> None:
    lst = List()
    pages = await asyncio.gather(lst.ask("a", at(0)), lst.ask("b", at(0)), lst.ask("c", at(4)))
    assert lst.reads == 1
    assert [[i.Id for i in p.items] for p in pages] == [["1", "5", "9"], ["1", "5", "9"], ["5", "9"]]
    assert {p.cursor for p in pages} == {at(10)}


async def test_a_shop_asking_again_reads_afresh_and_its_read_is_shared_next() -> None:
    lst = List()
    await lst.ask("a", at(0))
    await lst.ask("a", at(10))
    assert lst.reads == 2
    page = await lst.ask("b", at(0))  # the newer read (from minute 10) does not cover minute 0
    assert lst.reads == 3 and [i.Id for i in page.items] == ["1", "5", "9"]


async def test_a_read_newer_than_nothing_or_incomplete_is_not_shared() -> None:
    lst = List()
    await lst.ask("a", at(0))
    await lst.ask("b", at(10))  # b's cursor is the read's: nothing new in it
    assert lst.reads == 2
    broken = List(complete=False)
    await broken.ask("a", None)
    await broken.ask("b", None)
    assert broken.reads == 2


async def test_reference_lists_are_loaded_once_per_round_and_forgotten_on_demand() -> None:
    loads = 0

    async def load() -> list[str]:
        nonlocal loads
        loads += 1
        return ["list"]

    for reader in ("a", "b", "c"):
        assert await company_value(("company", "units"), reader, load) == ["list"]
    assert loads == 1
    await company_value(("company", "units"), "a", load)  # a again: the next round
    assert loads == 2
    forget_value(("company", "units"))
    await company_value(("company", "units"), "b", load)
    assert loads == 3
