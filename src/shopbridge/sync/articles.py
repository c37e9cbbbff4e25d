"""Products Starweb → Visma (presets ecom-master and combo): every variant SKU is one Visma article.

Article number = SKU (at most 40 characters, else the variant waits with an error), name = product
name + attribute values in `product_language` (shortened to 50 on a word boundary, with a warning),
NetPrice = the master pricelist's price ex VAT rounded half up to öre as Visma keeps it (so an
unchanged price compares equal; GrossPrice from the coding's VAT rate, half up), account coding by
VAT rate, unit, active flag (variant active and product not hidden), stock-article flag. In combo
Visma owns the price: it is sent when the article is created and never after; at go-live a price
that differs is listed as a conflict. The shop's stock becomes a new article's opening stock.

Change detection: products by `modifiedAt` (`updatedSince` cursor, the newest `modifiedAt` seen, read
again inclusively) plus the product web hooks as hints; a content hash per binding, so an unchanged
catalogue costs one list page and no write. An existing article with the same number is adopted
(bound), never duplicated; a lost create is reconciled by number before any repeat (`Articles.create`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import partial
from typing import Any

import structlog

from shopbridge.domain.money import gross_from_net, round_half_up
from shopbridge.domain.text import shorten
from shopbridge.http.errors import ApiError, NotFoundError
from shopbridge.plugins import PluginError
from shopbridge.store import content_hash
from shopbridge.sync.base import Hint
from shopbridge.sync.catalog import (
    Action,
    CatalogFlow,
    CatalogPlan,
    ItemError,
    ShopVariant,
    VariantRef,
    duplicates,
    next_cursor,
    parse_ref,
    parse_time,
    read_shop,
    shop_variant,
)
from shopbridge.sync.context import ConnectionContext
from shopbridge.sync.directions import direction
from shopbridge.sync.reference import article_key
from shopbridge.sync.spool import Spool

log = structlog.get_logger(__name__)

ENTITY = "article"  # binding: Starweb "productId:variantId" -> Visma article id (number kept)
CURSOR = "catalog_out.products_modified"
TWINS = "catalog_out.twins"  # JSON {key: [refs]}: shop variants whose SKUs are equal but for case/blanks
SLICE = "catalog_out.full_slice"  # the slice of products with several variants the next full check reads
FULL_CHECK_SLICES = 6  # a sweep's full check reads the variants of 1/6 of those products (+ the changed)
MAX_NUMBER = 40
MAX_NAME = 50


class ArticleExportFlow(CatalogFlow):
    """Starweb variants → Visma articles (see the module docstring)."""

    name = "articles"
    prefix = "article"
    full_at = "catalog_out.full_at"

    def __init__(
        self, ctx: ConnectionContext, *, on_progress: Callable[[str, int], None] | None = None
    ) -> None:
        super().__init__(ctx, on_progress=on_progress)

    @property
    def active(self) -> bool:
        return direction(self.settings, "products") == "to_visma"

    @property
    def _keep_products(self) -> bool:
        """Field mappings and plugins see the product as read; nothing else needs it."""
        return bool(self.settings.article_field_map or self.ctx.plugins.names)

    @property
    def sends_price(self) -> bool:
        return direction(self.settings, "prices") == "to_visma"

    async def plan(
        self, *, full: bool = True, hints: list[Hint] | None = None, go_live: bool = False
    ) -> CatalogPlan:
        """Compare the shop's variants (all, or changed since the cursor) with Visma's articles.

        `go_live` (the initial sync): a price that differs while Visma owns prices is listed as a
        conflict with both values, and a shop stock that will drop to 0 is counted. When stock flows to
        the shop, an article created gets the shop's stock as its opening balance (`_opening_stock`).
        """
        self.go_live = go_live
        self.carried = self.zeroed = 0
        since = None if full else self.store.cursors.get(self.ctx.id, CURSOR)
        plan = CatalogPlan("starweb")
        variants, newest = await read_shop(
            self.ctx.starweb,
            language=self.settings.product_language,
            keep_products=self._keep_products,
            since=since,
            on_progress=(lambda n: self.on_progress("read", n)) if self.on_progress else None,
            several_wanted=self._rolling_slice(plan) if full and self.scheduled else None,
        )
        variants.extend(await self._retry_items(variants, hints))
        if len(variants):
            await self._plan_variants(variants, plan, full=full)
        if newest is not None:
            value = next_cursor(newest, since, self.ctx.starweb.server_date)
            plan.commits.append(lambda: self.store.cursors.set(self.ctx.id, CURSOR, value))
        if self.carried:
            plan.notes.append(
                f"{self.carried} new stock article(s) get the shop's stock as their opening stock balance "
                "in Visma (else the shop would show 0 once Visma's stock flows to it)"
            )
        if self.zeroed:
            plan.notes.append(
                f"{self.zeroed} shop stock(s) will become 0: Visma counts 0 or less for these existing "
                "articles (correct the stock in Visma first if the shop's count is right)"
            )
        return plan

    def _rolling_slice(self, plan: CatalogPlan) -> Callable[[Any], bool]:
        """Which products with several variants a sweep's full check reads the variants of: those in
        this check's slice (product id modulo `FULL_CHECK_SLICES`; the slice is stored and moved on
        once the plan is done) and those modified since the `updatedSince` cursor (not read yet: the
        full check moves the cursor past them), all before the first cursor. Each is compared with
        Visma at least every `FULL_CHECK_SLICES` checks; the product list (one variant per product) is
        read whole each time."""
        stored = self.store.cursors.get(self.ctx.id, SLICE)
        current = int(stored) % FULL_CHECK_SLICES if stored and stored.isdigit() else 0
        after = parse_time(self.store.cursors.get(self.ctx.id, CURSOR))
        value = str((current + 1) % FULL_CHECK_SLICES)
        plan.commits.append(lambda: self.store.cursors.set(self.ctx.id, SLICE, value))

        def wanted(product: Any) -> bool:
            if after is None or int(product.productId or 0) % FULL_CHECK_SLICES == current:
                return True
            modified = parse_time(product.modifiedAt)
            return modified is None or modified >= after

        return wanted

    async def _retry_items(self, variants: Spool[ShopVariant], hints: list[Hint] | None) -> list[ShopVariant]:
        """Variants that failed before (retried every sweep), hinted products and every product of a
        stored SKU twin (so a twin stays a conflict until one is renamed), read one by one unless
        `variants` (those read already) has them."""
        out: list[ShopVariant] = []
        product_ids = {int(h.ref) for h in hints or [] if h.kind == "product" and str(h.ref).isdigit()}
        twins: dict[str, list[str]] = json.loads(self.store.cursors.get(self.ctx.id, TWINS) or "{}")
        product_ids |= {parse_ref(ref)[0] for refs in twins.values() for ref in refs}
        for key in self.store.catalog_issues.keys(self.ctx.id, ENTITY) - set(twins):
            product = await self.ctx.starweb.find_product_by_sku(key)
            if product is None:
                self.store.catalog_issues.clear(self.ctx.id, ENTITY, key)
            elif product.productId:
                product_ids.add(int(product.productId))
        if not product_ids:
            return out
        seen = {v.ref for v in variants if v.product_id in product_ids}
        for pid in product_ids - {int(ref.split(":")[0]) for ref in seen}:
            try:
                product = await self.ctx.starweb.get_product(pid, include="languages,metaData")
            except NotFoundError:  # deleted in the shop
                continue
            for v in await self.ctx.starweb.list_variants(pid, include="prices,attributeValues"):
                row = shop_variant(product, v, self.settings.product_language, keep=self._keep_products)
                if row.ref not in seen:
                    out.append(row)
        return out

    async def _plan_variants(self, variants: Spool[ShopVariant], plan: CatalogPlan, *, full: bool) -> None:
        bound = self.store.bindings.index(self.ctx.id, ENTITY)
        self.issue_keys = self.store.catalog_issues.keys(
            self.ctx.id, ENTITY
        ) | self.store.catalog_issues.keys(self.ctx.id, ENTITY, level="warning")
        dup_shop = duplicates(v.key for v in variants if v.key)
        refs: dict[str, list[str]] = {k: [] for k in sorted(dup_shop)}
        for v in variants if dup_shop else ():
            if v.key in refs:
                refs[v.key].append(v.ref)
        twins = {k: sorted(r) for k, r in refs.items()}
        if json.loads(self.store.cursors.get(self.ctx.id, TWINS) or "{}") != twins:
            self.store.cursors.set(self.ctx.id, TWINS, json.dumps(twins))
        articles: Mapping[str, Any] | None = None
        master = await self._master_pricelist()
        for v in variants:  # read back from the spool: each row is let go once planned (see `VariantRef`)
            label = v.sku or v.ref
            if not v.sku:
                plan.add(Action("skipped", v.ref, label, "the variant has no SKU"))
                continue
            if v.key in dup_shop:
                self._issue(
                    plan, v, "conflict", f"SKU {v.sku!r} is used by more than one variant in the shop"
                )
                continue
            try:
                body, warnings = await self._desired(v, master)
            except ItemError as exc:
                self._issue(plan, v, "error", str(exc))
                continue
            digest = content_hash(self._compared(body))
            binding = bound.get(v.ref)
            if not full and binding is not None and binding.content_hash == digest:
                plan.add(Action("unchanged", v.key, label))
                continue
            if articles is None:
                articles = await self._articles()
            found = articles.get(v.key)
            if isinstance(found, list):
                self._issue(plan, v, "conflict", f"Visma has more than one article numbered {v.sku!r}")
                continue
            self._plan_one(plan, v, body, digest, found, warnings, binding)

    def _plan_one(
        self,
        plan: CatalogPlan,
        v: ShopVariant,
        body: dict[str, Any],
        digest: str,
        found: Any,
        warnings: list[str],
        binding: Any = None,
    ) -> None:
        reason = "; ".join(warnings)
        if found is None:
            opening = self._opening_stock(v, body)
            if opening is not None:
                self.carried += 1
                reason = "; ".join([*warnings, f"opening stock {opening:f} from the shop"])
                body = {**body, "StockBalance": opening}
            item = VariantRef.of(v)
            plan.add(
                Action(
                    "create", v.key, v.sku, reason, run=partial(self._create, item, body, digest, warnings)
                )
            )
            return
        if self.go_live:
            self._go_live_checks(plan, v, body, found)
        changes = [k for k, want in self._compared(body).items() if _differs(getattr(found, k, None), want)]
        if not changes:
            plan.add(Action("unchanged", v.key, v.sku, run=None))
            if binding is None or binding.visma_id != str(found.Id) or binding.content_hash != digest:
                self._bind(v, str(found.Id), found.Number, digest)
            if warnings or v.key in self.issue_keys:
                self._clear(v, warnings)
            return
        item, article_id = VariantRef.of(v), str(found.Id)
        plan.add(
            Action(
                "update",
                v.key,
                v.sku,
                reason,
                changes=changes,
                run=partial(self._update, item, article_id, body, digest, warnings),
            )
        )

    def _opening_stock(self, v: ShopVariant, body: dict[str, Any]) -> Decimal | None:
        """The shop's stock for a new stock article when Visma's stock flows back to the shop (combo):
        carried into Visma once, so the shop does not drop to 0 (at go-live and for products added later)."""
        if not (body.get("IsStock") and direction(self.settings, "stock") == "to_starweb"):
            return None
        return v.stock if v.stock is not None and v.stock > 0 else None

    def _go_live_checks(self, plan: CatalogPlan, v: ShopVariant, body: dict[str, Any], found: Any) -> None:
        """What the initial sync tells before an existing article is taken over: a price that differs
        while Visma owns prices (a conflict with both values; Visma's stays), a stock that drops to 0."""
        shop, visma = body.get("NetPrice"), found.NetPrice
        owned = not self.sends_price and direction(self.settings, "prices") == "to_starweb"
        if owned and shop is not None and visma is not None and _differs(visma, shop):
            kept = round_half_up(Decimal(str(visma)), 2)
            plan.add(
                Action(
                    "conflict",
                    v.key,
                    v.sku,
                    f"price: the shop has {shop:f}, Visma {kept:f} (ex VAT); Visma owns prices, so the "
                    "shop will show Visma's",
                )
            )
        counted = Decimal(str(found.StockBalanceAvailable or 0))
        stock_flows = direction(self.settings, "stock") == "to_starweb"
        if stock_flows and found.IsStock and v.stock is not None and v.stock > 0 and counted <= 0:
            self.zeroed += 1

    # -- desired state ----------------------------------------------------------------------------
    async def _desired(self, v: ShopVariant, master: int | None) -> tuple[dict[str, Any], list[str]]:
        warnings: list[str] = []
        if len(v.sku) > MAX_NUMBER:
            raise ItemError(
                f"SKU {v.sku!r} has {len(v.sku)} characters; "
                f"a Visma article number holds at most {MAX_NUMBER}"
            )
        name, warning = shorten(v.name or v.sku, MAX_NAME)
        if warning is not None:
            warnings.append(f"name shortened to {MAX_NAME} characters: {name!r}")
        rate = v.vat_rate if v.vat_rate is not None else await self._shop_vat_rate()
        coding = await self.ref.coding_for_rate(rate, self.settings.coding_by_rate)
        if coding is None:
            raise ItemError(f"no Visma account coding has VAT {rate:f} %: set coding_by_rate.{rate:f}")
        unit = await self.ref.default_unit_id(self.settings.unit_id)
        price = (v.prices.get(master) or (None, None))[0] if master is not None else None
        body: dict[str, Any] = {
            "Number": v.sku,
            "Name": name,
            "CodingId": coding,
            "UnitId": unit,
            "IsActive": v.is_active,
            "IsStock": self.settings.articles_are_stock,
        }
        if price is not None:  # in Visma's precision (it keeps öre), so an unchanged price compares equal
            body["NetPrice"] = round_half_up(Decimal(price), 2)
            body["GrossPrice"] = gross_from_net(Decimal(price), rate)
        try:  # article_field_map and code plugins (shopbridge_article_body)
            body = await self.ctx.plugins.article_body(body, product=v.product)
        except PluginError as exc:
            raise ItemError(str(exc)) from exc
        return body, warnings

    def _compared(self, body: dict[str, Any]) -> dict[str, Any]:
        """The fields an update keeps in step: all but those only a create sets (unit, stock flag;
        the price too unless prices flow to Visma). Fields a plugin adds are kept in step."""
        create_only = {"UnitId", "IsStock", "GrossPrice"} | (set() if self.sends_price else {"NetPrice"})
        return {k: v for k, v in body.items() if k not in create_only}

    async def _master_pricelist(self) -> int | None:
        lists = await self.ref.cached("pricelists", self.ctx.starweb.list_pricelists)
        for p in lists:
            if p.isMaster:
                return p.pricelistId
        return lists[0].pricelistId if lists else None

    async def _shop_vat_rate(self) -> Decimal:
        rates = await self.ref.cached("vat_rates", self.ctx.starweb.list_vat_rates)
        for r in rates:
            if r.countryCode == "SE" and r.defaultVatRate is not None:
                return Decimal(r.defaultVatRate)
        return Decimal("25")

    async def _articles(self) -> Mapping[str, Any]:
        """Visma articles by key; a key held by two articles maps to the list of them."""
        await self.ref.refresh_articles()
        return self.ref.articles_by_key()

    # -- writes -----------------------------------------------------------------------------------
    async def _create(self, v: VariantRef, body: dict[str, Any], digest: str, warnings: list[str]) -> None:
        try:
            article = await self.ctx.visma.articles.create(body)
        except ApiError as exc:
            raise self._failed(v, exc) from exc
        self.ref.remember_article(article)
        self._bind(v, str(article.Id), article.Number, digest)
        self._clear(v, warnings)

    async def _update(
        self, v: VariantRef, article_id: str, body: dict[str, Any], digest: str, warnings: list[str]
    ) -> None:
        """PUT replaces the whole article: send what Visma has now with our fields changed."""
        try:
            current = (await self.ctx.visma.articles.get(article_id)).to_wire()
            merged = {k: val for k, val in current.items() if val is not None}
            merged.update(self._compared(body))
            if self.sends_price and "GrossPrice" in body:
                merged["GrossPrice"] = body["GrossPrice"]
            article = await self.ctx.visma.articles.update(article_id, merged)
        except ApiError as exc:
            raise self._failed(v, exc) from exc
        self.ref.remember_article(article)
        self._bind(v, str(article.Id), article.Number, digest)
        self._clear(v, warnings)

    def _failed(self, v: ShopVariant | VariantRef, exc: ApiError) -> ItemError:
        message = f"Visma refused article {v.sku!r}: {getattr(exc, 'hint', None) or exc.message}"
        self.store.catalog_issues.report(self.ctx.id, ENTITY, v.key, message)
        log.warning("article_failed", sku=v.sku, error=message)
        return ItemError(message)

    def _bind(self, v: ShopVariant | VariantRef, article_id: str, number: str | None, digest: str) -> None:
        self.store.bindings.bind(
            self.ctx.id, ENTITY, v.ref, article_id, visma_number=number, content_hash=digest
        )

    def _issue(self, plan: CatalogPlan, v: ShopVariant, kind: str, message: str) -> None:
        plan.add(Action(kind, v.key, v.sku or v.ref, message))
        self.store.catalog_issues.report(self.ctx.id, ENTITY, v.key or v.ref, message)

    def _clear(self, v: ShopVariant | VariantRef, warnings: list[str]) -> None:
        if warnings:
            self.store.catalog_issues.report(self.ctx.id, ENTITY, v.key, "; ".join(warnings), level="warning")
        else:
            self.store.catalog_issues.clear(self.ctx.id, ENTITY, v.key)


def _differs(have: Any, want: Any) -> bool:
    if isinstance(want, Decimal):
        try:
            return have is None or Decimal(str(have)) != want
        except ArithmeticError:
            return True
    return have != want


__all__ = ["ENTITY", "ArticleExportFlow", "article_key"]
