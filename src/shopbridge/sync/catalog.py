"""What both catalogue flows share: the shop's variants read into one neutral row, the plan a flow
makes before it writes (create / update / unchanged / conflict / skipped / error, with reasons), and
its table and CSV.

Matching is on SKU = article number, case and surrounding blanks ignored (`article_key`). A key found
twice on one side is a conflict for every item carrying it: nothing is written for them until a
person renames one.
"""

from __future__ import annotations

import asyncio
import csv
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from shopbridge.starweb.client import StarwebClient
from shopbridge.starweb.schemas import Product, Variant
from shopbridge.sync.base import SweepReport
from shopbridge.sync.plan_log import ActionLog
from shopbridge.sync.reference import ReferenceData, article_key
from shopbridge.sync.spool import Spool

PRODUCT_INCLUDE = "primaryVariant,primaryVariant.prices,primaryVariant.attributeValues,languages"
VARIANT_INCLUDE = "prices,attributeValues"
SETTLED_S = 5  # seconds after which the shop stamps nothing more with a given second
SEVERAL_BATCH = 64  # products with several variants whose variants are read together (8 at a time)
KINDS = ("create", "update", "unchanged", "conflict", "skipped", "error")


@dataclass(slots=True)
class ShopVariant:
    """One Starweb variant with what the catalogue flows compare."""

    product_id: int
    variant_id: int
    sku: str
    product_name: str
    attributes: list[str]
    vat_rate: Decimal | None  # None: the shop's default rate
    is_active: bool
    visibility: str | None
    prices: dict[int, tuple[Decimal | None, Decimal | None]]  # pricelist id -> (price, campaign), ex VAT
    stock: Decimal | None
    stock_status_id: int | None
    modified_at: str | None = None
    several: bool = False  # the product has more than one variant
    variant_active: bool = True  # the variant's own flag (`is_active` also counts a hidden product)
    product: dict[str, Any] | None = None  # the product as read (kept for plugins and field mappings)

    @property
    def key(self) -> str:
        return article_key(self.sku)

    @property
    def ref(self) -> str:
        """The binding id of this variant: ``productId:variantId``."""
        return f"{self.product_id}:{self.variant_id}"

    @property
    def name(self) -> str:
        return " ".join([self.product_name, *self.attributes]).strip()


class VariantRef(NamedTuple):
    """What a planned write keeps of a shop variant: the rest of the row is let go once planned, so a
    plan of the whole catalogue holds no prices, names or product data."""

    ref: str
    key: str
    sku: str

    @classmethod
    def of(cls, v: ShopVariant) -> VariantRef:
        return cls(v.ref, v.key, v.sku)


def parse_ref(ref: str) -> tuple[int, int]:
    product_id, variant_id = ref.split(":")
    return int(product_id), int(variant_id)


def _lang_name(languages: Iterable[Any] | None, lang: str) -> str:
    items = [x if isinstance(x, dict) else x.model_dump() for x in languages or []]
    for item in items:
        if item.get("langCode") == lang and item.get("name"):
            return str(item["name"])
    return str(items[0].get("name") or "") if items else ""


def shop_variant(product: Product, variant: Variant, language: str, *, keep: bool = False) -> ShopVariant:
    """The neutral row of one variant (the product read with `PRODUCT_INCLUDE`); `keep` keeps the
    product's wire form on it."""
    attributes = [_lang_name(a.languages, language) for a in variant.attributeValues or []]
    return ShopVariant(
        product_id=int(product.productId or 0),
        variant_id=int(variant.variantId or 0),
        sku=(variant.sku or "").strip(),
        product_name=_lang_name(product.languages, language),
        attributes=[a for a in attributes if a],
        vat_rate=product.defaultVatRate,
        is_active=variant.isActive is not False and product.visibility != "hidden",
        visibility=product.visibility,
        prices={p.pricelistId: (p.priceExVat, p.specialPriceExVat) for p in variant.prices or []},
        stock=Decimal(variant.stockQuantity) if variant.stockQuantity is not None else None,
        stock_status_id=variant.stockStatusId,
        modified_at=product.modifiedAt,
        several=bool(product.hasSeveralVariants),
        variant_active=variant.isActive is not False,
        product=product.model_dump(mode="json", exclude_none=True) if keep else None,
    )


async def read_shop(
    client: StarwebClient,
    *,
    language: str,
    since: str | None = None,
    concurrency: int = 8,
    on_progress: Callable[[int], None] | None = None,
    keep_products: bool = False,
    several_wanted: Callable[[Product], bool] | None = None,
) -> tuple[Spool[ShopVariant], datetime | None]:
    """The shop's variants (of products modified since `since`, or all) and the newest `modifiedAt` seen.

    Product lists carry only the primary variant, so products with several variants cost one more call;
    `several_wanted` (default: all) says which of them are read (a rolling full check reads a slice),
    a batch at a time as the list is read. `keep_products` keeps each product's wire form (with its
    meta data) on its rows, for plugins. The rows are spooled (`Spool`): a catalogue read whole is not
    held in memory.
    """
    include = PRODUCT_INCLUDE + ",metaData" if keep_products else PRODUCT_INCLUDE
    rows: Spool[ShopVariant] = Spool()
    newest: datetime | None = None
    several: list[Product] = []
    semaphore = asyncio.Semaphore(concurrency)

    async def variants_of(product: Product) -> list[ShopVariant]:
        async with semaphore:
            found = await client.list_variants(int(product.productId or 0), include=VARIANT_INCLUDE)
        if on_progress:
            on_progress(len(found))
        return [shop_variant(product, v, language, keep=keep_products) for v in found]

    async def read_several() -> None:
        for batch in await asyncio.gather(*(variants_of(p) for p in several)):
            rows.extend(batch)
        several.clear()

    async for product in client.iter_products(include=include, updatedSince=since):
        modified = parse_time(product.modifiedAt)
        if modified and (newest is None or modified > newest):
            newest = modified
        if product.hasSeveralVariants:
            if several_wanted is None or several_wanted(product):
                several.append(product)
                if len(several) >= SEVERAL_BATCH:
                    await read_several()
        elif product.primaryVariant is not None:
            rows.append(shop_variant(product, product.primaryVariant, language, keep=keep_products))
            if on_progress:
                on_progress(1)
    await read_several()
    return rows, newest


def parse_time(value: str | None) -> datetime | None:
    """A Starweb timestamp (ISO 8601 with offset) as an aware datetime, or None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def next_cursor(newest: datetime, since: str | None, server_now: datetime | None) -> str:
    """The `updatedSince` cursor after a read whose newest `modifiedAt` was `newest`.

    `updatedSince` is inclusive and `modifiedAt` has whole seconds, so the newest second is read again
    next time (a product changed later in that same second is not missed). Once the shop's clock (its
    `Date` header) is past that second, nothing can be stamped with it any more: the cursor moves one
    second on, and an unchanged shop costs one empty list page.
    """
    if server_now is not None and server_now - newest > timedelta(seconds=SETTLED_S):
        newest = newest + timedelta(seconds=1)
    before = parse_time(since)
    if before is not None and before > newest:
        newest = before
    return newest.isoformat()


def duplicates(keys: Iterable[str]) -> set[str]:
    """Keys that occur more than once."""
    return {k for k, n in Counter(keys).items() if n > 1}


@dataclass(slots=True)
class Action:
    """One item's line in a plan; `run` does the write (None for unchanged, conflicts, skips, errors)."""

    kind: str
    key: str
    label: str
    reason: str = ""
    changes: list[str] = field(default_factory=list)
    run: Callable[[], Awaitable[None]] | None = None


@dataclass
class CatalogPlan:
    """What a catalogue flow would do, item by item, before it writes anything. The actions are kept
    in an `ActionLog` (a temporary file once there are many), so a plan of the whole catalogue holds
    counters in memory, not its items."""

    source: str  # starweb or visma
    actions: ActionLog | Iterable[Action] = field(default_factory=ActionLog)
    # what the plan learnt, stored once its writes are done (cursors, snapshots): a dry run keeps none
    commits: list[Callable[[], None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # sentences for the person reading the plan
    drift: int = 0  # items the other side changed although we own them (restored by the writes)

    def __post_init__(self) -> None:
        if not isinstance(self.actions, ActionLog):
            given, self.actions = self.actions, ActionLog()
            for action in given:
                self.actions.append(action)

    @property
    def log(self) -> ActionLog:
        assert isinstance(self.actions, ActionLog)
        return self.actions

    def add(self, action: Action) -> Action:
        self.log.append(action)
        return action

    @property
    def counts(self) -> dict[str, int]:
        return {k: self.log.kinds.get(k, 0) for k in KINDS}

    @property
    def writes(self) -> list[Action]:
        return [a for a in self.log if a.run is not None]

    @property
    def write_count(self) -> int:
        """How many actions write (what `apply` has to do), without reading them back."""
        return self.log.writes

    def rows(self, *, include_unchanged: bool = False, limit: int | None = None) -> list[dict[str, str]]:
        """One dict per item (kind, sku, changes, reason), for the table and the CSV; the first
        `limit` of them when given."""
        out: list[dict[str, str]] = []
        for a in self.log:
            if limit is not None and len(out) >= limit:
                break
            if include_unchanged or a.kind != "unchanged":
                out.append(
                    {"kind": a.kind, "sku": a.label, "changes": ", ".join(a.changes), "reason": a.reason}
                )
        return out

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=["kind", "sku", "changes", "reason"])
            writer.writeheader()
            writer.writerows(self.rows(include_unchanged=True))

    async def apply(
        self, *, concurrency: int = 16, on_done: Callable[[Action], None] | None = None
    ) -> Counter[str]:
        """Run every write with `concurrency` workers (the client's rate limiter paces them), read back
        from the log as they go; a failure stays on its item (and is retried by the next sweep). Then
        store what the plan learnt (`commits`).

        Returns outcomes counted: the action kinds that succeeded, and ``failed``.
        """
        done: Counter[str] = Counter()
        queue = self.log.take()

        async def worker() -> None:
            for index, action, run in queue:
                try:
                    await run()
                    done[action.kind] += 1
                except ItemError as exc:
                    self.log.fail(index, action, str(exc))
                    done["failed"] += 1
                if on_done:
                    on_done(action)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        for commit in self.commits:
            commit()
        self.commits = []
        return done


class ItemError(Exception):
    """One catalogue item cannot be written; the message says why in plain words."""


class CatalogFlow:
    """The template both catalogue flows share: a sweep plans what changed (everything every
    `catalog_full_check_s`), applies the writes, and reports errors and conflicts by SKU.

    A subclass sets `name`, `prefix` (of its report counts) and `full_at` (its cursor name), and
    gives `active` and `plan(full=..., hints=...)`.
    """

    name = "catalog"
    prefix = "catalog"
    full_at = "catalog.full_at"

    def __init__(self, ctx: Any, *, on_progress: Callable[[str, int], None] | None = None) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.settings = ctx.settings
        self.on_progress = on_progress
        self.ref: ReferenceData = ctx.cache.setdefault("reference", ReferenceData(ctx.starweb, ctx.visma))
        self.scheduled = False

    @property
    def active(self) -> bool:
        raise NotImplementedError

    async def plan(self, *, full: bool = True, hints: list[Any] | None = None) -> CatalogPlan:
        raise NotImplementedError

    async def sweep(self, hints: list[Any] | None = None) -> SweepReport:
        report = SweepReport(self.ctx.name)
        if not self.active:
            return report
        calls = self.ctx.api_calls
        full = self._full_due()
        self.scheduled = True  # a sweep's full check, not a plan a person asked for
        plan = await self.plan(full=full, hints=hints)
        done = await plan.apply()
        for action in plan.actions:
            if action.kind in ("error", "conflict"):
                report.add(f"{self.prefix}_{action.kind}", action.label, action.reason)
        for kind, n in done.items():
            report.counts[f"{self.prefix}_{kind}"] += n
        if plan.drift:
            report.counts[f"{self.prefix}_drift"] += plan.drift
        if full:
            self.store.cursors.set(self.ctx.id, self.full_at, str(time.time()))
        report.api_calls = self.ctx.api_calls - calls
        return report

    def _full_due(self) -> bool:
        last = self.store.cursors.get(self.ctx.id, self.full_at)
        return last is None or time.time() - float(last) >= self.settings.catalog_full_check_s
