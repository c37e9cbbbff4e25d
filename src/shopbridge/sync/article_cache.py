"""Visma's articles as a connection keeps them between sweeps: one packed record per article.

A list row is parsed into an `ArticleRecord` (the fields the flows read) and packed at once into a
`PackedArticle` (its id and one `bytes` of the rest), about a quarter of the record's size: a
catalogue of 20,000 articles costs a few MB, and reading it whole does not hold 20,000 records. The
`ArticleCache` unpacks an article when it is looked up.
"""

from __future__ import annotations

import marshal
import sys
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict, TypeAdapter
from pydantic.dataclasses import dataclass as pydantic_dataclass


@pydantic_dataclass(slots=True, config=ConfigDict(extra="ignore"))
class ArticleRecord:
    """What the flows read of a Visma article: parsed straight from a list row (the other fields are
    not even read) or taken from a full `Article` (which weighs ~10 KB)."""

    Id: str
    Number: str | None = None
    Name: str | None = None
    CodingId: str | None = None
    UnitId: str | None = None
    IsActive: bool | None = None
    IsStock: bool | None = None
    IsServiceArticle: bool | None = None
    SendToWebshop: bool | None = None
    NetPrice: Decimal | None = None
    NetPriceWithDiscount: Decimal | None = None
    StockBalance: Decimal | None = None
    StockBalanceAvailable: Decimal | None = None
    ChangedUtc: datetime | None = None

    def __post_init__(self) -> None:
        """A company has a few codings and units: one string each is kept, not one per article."""
        self.CodingId = sys.intern(self.CodingId) if self.CodingId else self.CodingId
        self.UnitId = sys.intern(self.UnitId) if self.UnitId else self.UnitId

    @classmethod
    def model_validate(cls, row: Any) -> ArticleRecord:
        """One list row."""
        return _RECORD.validate_python(row)

    @classmethod
    def of(cls, article: Any) -> ArticleRecord:
        """The record of a full `Article` (a create's or update's answer)."""
        return cls(**{name: getattr(article, name, None) for name in FIELDS})


_RECORD: TypeAdapter[ArticleRecord] = TypeAdapter(ArticleRecord)
FIELDS: tuple[str, ...] = ArticleRecord.__slots__  # type: ignore[attr-defined]
_DECIMALS = frozenset(("NetPrice", "NetPriceWithDiscount", "StockBalance", "StockBalanceAvailable"))
_SHARED_FIELDS = frozenset(("CodingId", "UnitId"))  # a company has a few: packed as an index into _SHARED
_SHARED: list[str] = []
_SHARED_INDEX: dict[str, int] = {}
_SHARED_LOCK = threading.Lock()  # contexts of several threads pack articles; an index is given once


def article_key(number: str) -> str:
    """Article numbers and SKUs match case-insensitively, ignoring surrounding blanks."""
    return number.strip().upper()


class PackedArticle:
    """One article packed: its id, and the other fields marshalled (decimals and times as text)."""

    __slots__ = ("Id", "data")

    def __init__(self, record: ArticleRecord) -> None:
        self.Id = record.Id
        values = [_plain(name, getattr(record, name)) for name in FIELDS[1:]]
        self.data = marshal.dumps(tuple(values))

    @classmethod
    def model_validate(cls, row: Any) -> PackedArticle:
        """One list row, packed (what `VismaClient.changed_since` calls per row)."""
        return cls(_RECORD.validate_python(row))

    def unpack(self) -> ArticleRecord:
        return _unpack(self.Id, self.data)

    @property
    def Number(self) -> str | None:
        return self.unpack().Number

    @property
    def ChangedUtc(self) -> datetime | None:
        return self.unpack().ChangedUtc


def _unpack(article_id: str, data: bytes) -> ArticleRecord:
    record = object.__new__(ArticleRecord)
    object.__setattr__(record, "Id", article_id)
    for name, value in zip(FIELDS[1:], marshal.loads(data), strict=True):
        if value is not None and name in _DECIMALS:
            value = Decimal(value)
        elif value is not None and name == "ChangedUtc":
            value = datetime.fromisoformat(value)
        elif name in _SHARED_FIELDS and isinstance(value, int):
            value = _SHARED[value]
        object.__setattr__(record, name, value)
    return record


def _plain(name: str, value: Any) -> Any:
    if name in _SHARED_FIELDS and value:
        index = _SHARED_INDEX.get(value)
        if index is None:
            with _SHARED_LOCK:
                index = _SHARED_INDEX.get(value)
                if index is None:
                    _SHARED.append(value)
                    index = _SHARED_INDEX[value] = len(_SHARED) - 1
        return index
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _number(data: bytes) -> str | None:
    """The article number of packed fields (the first of them)."""
    number: str | None = marshal.loads(data)[0]
    return number


class ArticleCache(Mapping[str, Any]):
    """Visma articles by key (`article_key` of the number), packed; a lookup unpacks an
    `ArticleRecord`, or the list of them when two articles share a key."""

    def __init__(self) -> None:
        self._packed: dict[str, bytes] = {}  # Visma id -> its other fields (`PackedArticle.data`)
        self._ids: dict[str, str | tuple[str, ...]] = {}  # key -> id(s), the newest last

    def remember(self, article: ArticleRecord | PackedArticle) -> None:
        packed = article if isinstance(article, PackedArticle) else PackedArticle(article)
        number = _number(packed.data)
        if not number:
            return
        key, article_id = article_key(number), str(packed.Id)
        before = self._packed.get(article_id)
        old = _number(before) if before is not None else None
        if old and article_key(old) != key:  # renamed in Visma: its old number is free
            self._drop(article_key(old), article_id)
        self._packed[article_id] = packed.data
        have = self._ids.get(key)
        if have is None or have == article_id:
            self._ids[key] = article_id
        elif isinstance(have, tuple):
            self._ids[key] = (*(i for i in have if i != article_id), article_id)
        else:
            self._ids[key] = (have, article_id)

    def _drop(self, key: str, article_id: str) -> None:
        have = self._ids.get(key)
        if have == article_id:
            del self._ids[key]
        elif isinstance(have, tuple):
            rest = tuple(i for i in have if i != article_id)
            self._ids[key] = rest[0] if len(rest) == 1 else rest

    def by_key(self, key: str) -> ArticleRecord | None:
        """The article with this key remembered last."""
        have = self._ids.get(key)
        if have is None:
            return None
        article_id = have[-1] if isinstance(have, tuple) else have
        return _unpack(article_id, self._packed[article_id])

    def __getitem__(self, key: str) -> Any:
        have = self._ids[key]
        if isinstance(have, tuple):
            return [_unpack(i, self._packed[i]) for i in have]
        return _unpack(have, self._packed[have])

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, key: object) -> bool:
        return key in self._ids
