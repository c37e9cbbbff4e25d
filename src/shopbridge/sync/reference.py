"""Reference data a connection's flows look up again and again, fetched once and kept fresh cheaply.

Visma articles are read in full once, then only what changed since the last `ServerTimeUtc`
(`ChangedUtc` cursor), so a sweep over many orders costs one list call for all its articles.
Codings, terms of payment, units, currencies and Starweb order statuses are small lists refreshed
every few minutes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from shopbridge.domain.money import normalize_rate
from shopbridge.starweb.client import StarwebClient
from shopbridge.sync.article_cache import ArticleCache, ArticleRecord, PackedArticle, article_key
from shopbridge.visma.client import VismaClient
from shopbridge.visma.mapping import ArticleRef, visma_rate
from shopbridge.visma.shared_reads import company_value, forget_value

T = TypeVar("T")
SMALL_LIST_TTL_S = 300.0


@dataclass
class ReferenceData:
    """Per-connection cache; lives as long as the connection's context."""

    starweb: StarwebClient
    visma: VismaClient
    _small: dict[str, tuple[float, Any]] = field(default_factory=dict)
    _articles: ArticleCache = field(default_factory=ArticleCache)  # by key, packed
    _article_cursor: datetime | None = None
    _articles_fresh: bool = False
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)  # Visma id -> customer, as last seen
    _loading: dict[str, asyncio.Future[Any]] = field(default_factory=dict)  # loads under way, by name

    async def cached(self, name: str, load: Callable[[], Awaitable[T]], *, visma: bool = False) -> T:
        """`load()`'s value, kept for a few minutes under `name`; loaded once however many ask at once.
        A Visma list (`visma`) is loaded once for every shop of a company with several
        (`visma.shared_reads.company_value`)."""
        hit = self._small.get(name)
        if hit and time.monotonic() - hit[0] < SMALL_LIST_TTL_S:
            return hit[1]
        shared = getattr(self.visma, "shared_reads", None)

        async def fetch() -> T:
            if visma and shared is not None:
                company, reader = shared
                value = await company_value((company, name), reader, load)
            else:
                value = await load()
            self._small[name] = (time.monotonic(), value)
            return value

        return await self.once(name, fetch)

    async def once(self, name: str, load: Callable[[], Awaitable[T]]) -> T:
        """Run `load` once for every caller that asks while it runs (a sweep's workers start together)."""
        running = self._loading.get(name)
        if running is None or running.get_loop() is not asyncio.get_running_loop():
            running = self._loading[name] = asyncio.ensure_future(load())
            running.add_done_callback(
                lambda f: self._loading.pop(name, None) if self._loading.get(name) is f else None
            )
        return await asyncio.shield(running)

    def forget(self, name: str) -> None:
        self._small.pop(name, None)
        shared = getattr(self.visma, "shared_reads", None)
        if shared is not None:
            forget_value((shared[0], name))

    # -- Starweb ----------------------------------------------------------------------------------
    async def order_statuses(self) -> list[Any]:
        return await self.cached("statuses", self.starweb.list_order_statuses)

    async def status_ids(self, wanted: list[str]) -> tuple[set[int], list[str]]:
        """Starweb status ids for settings values (ids or idCodes); and the values that match none."""
        statuses = await self.order_statuses()
        by_code = {str(s.idCode): s.statusId for s in statuses if getattr(s, "idCode", None)}
        ids = {s.statusId for s in statuses}
        found: set[int] = set()
        unknown: list[str] = []
        for value in wanted:
            value = str(value).strip()
            if value.isdigit() and int(value) in ids:
                found.add(int(value))
            elif value in by_code:
                found.add(by_code[value])
            else:
                unknown.append(value)
        return found, unknown

    # -- Visma ------------------------------------------------------------------------------------
    async def codings(self) -> dict[str, Decimal]:
        """Article account coding id -> VAT rate percent."""

        async def load() -> dict[str, Decimal]:
            out: dict[str, Decimal] = {}
            for c in await self.visma.article_account_codings.list():
                if c.Id and c.VatRatePercent is not None:
                    out[str(c.Id)] = visma_rate(c.VatRatePercent)
            return out

        return await self.cached("codings", load, visma=True)

    async def coding_for_rate(self, rate: Decimal, configured: dict[str, str]) -> str | None:
        """The coding to give a new article of `rate`: the configured one, else the first domestic one."""
        from shopbridge.sync.settings import rate_key

        if rate_key(rate) in configured:
            return configured[rate_key(rate)]
        for coding_id, coding_rate in (await self.codings()).items():
            if coding_rate == normalize_rate(rate):
                return coding_id
        return None

    async def coding_for_treatment(self, charge: str, configured: dict[str, str]) -> str | None:
        """The goods coding for a shipping or fee article of EU reverse-charge (`*_eu`) or export
        (`*_export`) sales: the one in `coding_by_rate` under `eu`/`export`, else an active goods coding
        with an account for that treatment, one made for it (0 %, no account for the other) first."""
        where = charge.rsplit("_", 1)[-1]
        if where in configured:
            return configured[where]
        field, other = (
            ("ForeignSalesVatExemptWithinEuAccountNumber", "ForeignSalesVatExemptOutsideEuAccountNumber")
            if where == "eu"
            else ("ForeignSalesVatExemptOutsideEuAccountNumber", "ForeignSalesVatExemptWithinEuAccountNumber")
        )
        codings = await self.cached("coding_records", self.visma.article_account_codings.list, visma=True)
        fits = [
            c
            for c in codings
            if c.Id and c.IsActive is not False and c.Type == "Goods" and getattr(c, field, None)
        ]
        fits.sort(key=lambda c: (bool(c.VatRatePercent), getattr(c, other, None) is not None))
        return str(fits[0].Id) if fits else None

    async def currencies(self) -> set[str]:
        async def load() -> set[str]:
            return {str(c.Code).upper() for c in await self.visma.currencies.list() if c.Code}

        return await self.cached("currencies", load, visma=True)

    async def terms_of_payment(self) -> list[Any]:
        return await self.cached("terms", self.visma.terms_of_payment.list, visma=True)

    async def default_terms_id(self, configured: str | None) -> str | None:
        if configured:
            return configured
        terms = await self.terms_of_payment()
        sales = [t for t in terms if t.AvailableForSales is not False and t.Id]
        by_days = sorted(sales, key=lambda t: (abs((t.NumberOfDays or 0) - 30), t.Name or ""))
        return str(by_days[0].Id) if by_days else None

    async def units(self) -> list[Any]:
        return await self.cached("units", self.visma.units.list, visma=True)

    async def default_unit_id(self, configured: str | None) -> str | None:
        if configured:
            return configured
        units = await self.units()
        for u in units:
            if (u.Code or u.Abbreviation or u.Name or "").lower() in ("st", "styck", "pcs"):
                return str(u.Id)
        return str(units[0].Id) if units else None

    @property
    def article_cursor(self) -> datetime | None:
        """Visma's `ServerTimeUtc` of the last article read (everything changed before it is known)."""
        return self._article_cursor

    def mark_stale(self) -> None:
        """A new sweep begins: the next article look-up first fetches what changed in Visma."""
        self._articles_fresh = False

    async def refresh_articles(self) -> None:
        """Load all articles the first time, then only those changed since the last cursor."""

        async def load() -> None:
            page = await self.visma.articles.changed_since(self._article_cursor, model=PackedArticle)
            for article in page.items:
                self.remember_article(article)
            self._article_cursor = page.cursor
            self._articles_fresh = True

        await self.once("articles", load)

    async def article(self, number: str) -> ArticleRef | None:
        """The Visma article whose number equals `number` (case and blanks ignored)."""
        if not self._articles_fresh:
            await self.refresh_articles()
        article = self._articles.by_key(article_key(number))
        if article is None:
            return None
        return await self.article_ref(article)

    async def article_ref(self, article: Any) -> ArticleRef:
        codings = await self.codings()
        rate = codings.get(str(article.CodingId))
        if rate is None and article.CodingId:
            self.forget("codings")
            rate = (await self.codings()).get(str(article.CodingId))
        return ArticleRef(
            id=str(article.Id),
            number=str(article.Number),
            vat_rate=rate if rate is not None else Decimal("-1"),
            name=article.Name or "",
            is_active=article.IsActive is not False,
        )

    def remember_article(self, article: Any) -> None:
        """Keep (a packed record of) an article read or written in Visma."""
        if article.Number:
            self._articles.remember(
                article if isinstance(article, (ArticleRecord, PackedArticle)) else ArticleRecord.of(article)
            )

    def articles_by_key(self) -> Mapping[str, Any]:
        """Every known article by key (call `refresh_articles` first), unpacked as it is looked up; a
        key two articles share maps to the list of both."""
        return self._articles
