"""Visma → Starweb: products (erp-master), prices and pricelists (erp-master, combo), stock (both).

Per Visma article, what the shop should show is worked out in three parts, each with its own content
hash on its own binding, so a stock change writes only the stock:

* product (`variant` binding, Starweb ``productId:variantId`` ↔ article id): name in
  `product_language`, VAT rate from the account coding, hidden when the article is inactive (never
  deleted). A new active article becomes a product with one variant, SKU = article number.
* prices (`price` binding): `NetPrice` → the master pricelist's `priceExVat`, `NetPriceWithDiscount`
  → `specialPriceExVat` (`campaign_prices`); other pricelists from a Visma sales price list (by
  `pricelist_map`, else the one with the pricelist's currency) or from `price_rules`.
* stock (`stock` binding, stock articles only): Visma's available stock (or balance) minus what the
  shop sold that Visma does not reflect yet (every complete order, whatever its status: held_back.py)
  minus `stock_buffer`, never below 0, with the stock status by `few_left_at`, written to one stock
  location. The initial sync uses the same rule.

Change detection: articles by `ChangedUtc` and price list rows by their `ChangedUtc`, both with Visma's
`ServerTimeUtc` as the cursor; the whole catalogue every `catalog_full_check_s`. An unchanged sweep
reads list pages and writes nothing. Items that failed are retried every sweep.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from functools import partial
from typing import Any

import structlog

from shopbridge.domain.vat import HOME_COUNTRY
from shopbridge.http.errors import ApiError
from shopbridge.plugins import PluginError
from shopbridge.store import content_hash
from shopbridge.sync.base import Hint
from shopbridge.sync.catalog import (
    Action,
    CatalogFlow,
    CatalogPlan,
    ItemError,
    ShopVariant,
    next_cursor,
    parse_ref,
    read_shop,
    shop_variant,
)
from shopbridge.sync.context import ConnectionContext
from shopbridge.sync.directions import direction
from shopbridge.sync.held_back import not_drawn, record_shop_orders
from shopbridge.sync.pricing import campaign_price, rule_price
from shopbridge.sync.reference import article_key
from shopbridge.visma.client import parse_server_time
from shopbridge.visma.schemas import SalesPriceListRow

log = structlog.get_logger(__name__)

VARIANT, PRICE, STOCK = "variant", "price", "stock"  # binding entity types, see the module docstring
ISSUE = "product"
ROWLESS = "pricelist_rows"  # issue entity: articles a followed Visma price list has no row for
CURSOR = "catalog_in.articles_changed"
ROWS_CURSOR = "catalog_in.price_rows_changed"  # Visma's ServerTimeUtc of the last price list row read
SHOP_CURSOR = "catalog_in.shop_modified"  # the shop's products read back: `updatedSince` cursor
HELD_BACK = "catalog_in.held_back"  # JSON {key: quantity}: what the last sweep held back, per SKU
SKU_OK = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
LOOKUP_LIMIT = 50  # more unbound articles than this: read the whole shop instead of one look-up each


@dataclass(slots=True)
class Desired:
    """What the shop should show for one article, part by part (None = this part does not flow)."""

    product: dict[str, Any] | None
    prices: dict[str, list[str | None]] | None  # pricelist id -> [price, campaign] as strings
    stock: dict[str, Any] | None  # {"quantity": int, "status": int, "location": int}


class ShopCatalogFlow(CatalogFlow):
    """Visma articles → Starweb products, prices, pricelists and stock (see the module docstring)."""

    name = "shop_catalog"
    prefix = "product"
    full_at = "catalog_in.full_at"

    def __init__(
        self, ctx: ConnectionContext, *, on_progress: Callable[[str, int], None] | None = None
    ) -> None:
        super().__init__(ctx, on_progress=on_progress)
        self.parts = {e for e in ("products", "prices", "pricelists", "stock") if self._to_shop(e)}

    @property
    def active(self) -> bool:
        return bool(self.parts)

    def _to_shop(self, entity: str) -> bool:
        return direction(self.settings, entity) == "to_starweb"

    # -- planning ---------------------------------------------------------------------------------
    async def plan(
        self, *, full: bool = True, hints: list[Hint] | None = None, observe: bool = False
    ) -> CatalogPlan:
        """What to write for the articles changed since the cursor (all when `full`).

        What the shop shows is compared too, not only the hash of what was last written: the products
        the shop changed since its cursor are read every sweep, the whole shop on a full check and
        when `observe` (initial sync: nothing is bound yet, so an item already right is bound without
        a write). A part the shop changed although Visma owns it is restored and counted as drift.
        """
        self._commits: list[Callable[[], None]] = []
        await self.ref.refresh_articles()
        by_key = self.ref.articles_by_key()
        since = None if full else self.store.cursors.get(self.ctx.id, CURSOR)
        cursor = self.ref.article_cursor
        self.lookup = await self._lookup_tables()
        if "pricelists" in self.parts:
            self._report_rowless(by_key)
        changed = await self._changed_keys(by_key, since) | self._held_back_moved(by_key)
        plan = CatalogPlan("visma")
        bound = {b.visma_id: b for b in self.store.bindings.index(self.ctx.id, VARIANT).values()}
        self.lookup["sizes"] = Counter(b.starweb_id.split(":")[0] for b in bound.values())
        shop = await self._read_shop(full or observe, by_key, changed, bound)
        changed |= set(shop) & set(by_key)
        hashes = {
            e: {ref: b.content_hash for ref, b in self.store.bindings.index(self.ctx.id, e).items()}
            for e in (PRICE, STOCK)
        }
        for key in sorted(changed):
            article = by_key[key]
            if _is_list(article):
                numbers = ", ".join(repr(a.Number) for a in article)
                self._issue(
                    plan, key, str(article[0].Number), "conflict", f"Visma has several articles {numbers}"
                )
                continue
            matches = shop.get(key, [])
            if len(matches) > 1:
                self._issue(
                    plan, key, article.Number, "conflict", f"SKU {article.Number!r} is on several variants"
                )
                continue
            binding = bound.get(str(article.Id))
            ref = binding.starweb_id if binding else (matches[0].ref if matches else None)
            try:
                desired = await self._desired(article, key)
            except ItemError as exc:
                self._issue(plan, key, article.Number, "error", str(exc))
                continue
            observed = next((m for m in matches if m.ref == ref), None)
            self._plan_article(plan, article, key, ref, desired, binding, hashes, observed)
        if cursor is not None:
            plan.commits.append(lambda: self.store.cursors.set(self.ctx.id, CURSOR, cursor.isoformat()))
        plan.commits.extend(self._commits)
        return plan

    async def _read_shop(
        self, whole: bool, by_key: Mapping[str, Any], changed: set[str], bound: dict[str, Any]
    ) -> dict[str, list[ShopVariant]]:
        """The shop's variants by key: all (`whole`, or more unbound articles than `LOOKUP_LIMIT`), else
        those of products changed since the shop cursor plus one look-up per unbound changed article."""
        since = None if whole else self.store.cursors.get(self.ctx.id, SHOP_CURSOR)
        unbound = [k for k in changed if not _is_list(by_key[k]) and str(by_key[k].Id) not in bound]
        if len(unbound) > LOOKUP_LIMIT:
            since = None
        rows, newest = await read_shop(self.ctx.starweb, language=self.settings.product_language, since=since)
        shop: dict[str, list[ShopVariant]] = {}
        for row in rows:
            shop.setdefault(row.key, []).append(row)
        if since is not None:
            for key in unbound:
                if key not in shop:
                    shop[key] = await self._find_in_shop(by_key[key].Number)
        if newest is not None:
            value = next_cursor(newest, since, self.ctx.starweb.server_date)
            self._commits.append(lambda: self.store.cursors.set(self.ctx.id, SHOP_CURSOR, value))
        return shop

    def _held_back_moved(self, by_key: Mapping[str, Any]) -> set[str]:
        """Keys whose held-back quantity changed since the last sweep (an order came, or was invoiced
        or cancelled): their stock is worked out again even though nothing changed in Visma. What was
        held back is stored, so the next sweep (another process, after a restart) compares with it."""
        if "stock" not in self.parts:
            return set()
        now = {k: f"{v:f}" for k, v in self.lookup["not_drawn"].items() if v}
        stored = self.store.cursors.get(self.ctx.id, HELD_BACK)
        before = json.loads(stored) if stored else None
        if before != now:
            value = json.dumps(now, sort_keys=True)
            self._commits.append(lambda: self.store.cursors.set(self.ctx.id, HELD_BACK, value))
        if before is None:
            return set()
        return {k for k in set(before) | set(now) if before.get(k) != now.get(k)} & set(by_key)

    async def _changed_keys(self, by_key: Mapping[str, Any], since: str | None) -> set[str]:
        if since is None:
            keys = set(by_key)
        else:
            after = parse_server_time(since) or datetime.min.replace(tzinfo=UTC)
            keys = {k for k, a in by_key.items() if any(_changed_after(x, after) for x in _as_list(a))}
            keys |= self._price_rows_changed(by_key, after)
        keys |= self.store.catalog_issues.keys(self.ctx.id, ISSUE) & set(by_key)
        return keys

    def _plan_article(
        self,
        plan: CatalogPlan,
        article: Any,
        key: str,
        ref: str | None,
        desired: Desired,
        binding: Any,
        hashes: dict[str, dict[str, str | None]],
        observed: ShopVariant | None,
    ) -> None:
        label = str(article.Number)
        if ref is None:
            if key in self.lookup["row_articles"]:
                plan.add(Action("skipped", key, label, "used for shipping, fee or discount rows"))
            elif article.SendToWebshop is False or article.IsServiceArticle:
                plan.add(
                    Action(
                        "skipped", key, label, "not for the web shop (service article or SendToWebshop off)"
                    )
                )
            elif desired.product is None:
                plan.add(Action("skipped", key, label, "not in the shop (the shop owns its products)"))
            elif not desired.product["active"]:
                plan.add(Action("skipped", key, label, "inactive in Visma and not in the shop"))
            elif not set(label) <= SKU_OK:
                self._issue(
                    plan, key, label, "error", f"{label!r} is no valid Starweb SKU (letters, digits, . _ -)"
                )
            else:
                plan.add(Action("create", key, label, run=partial(self._create, article, key, desired)))
            return
        several = observed.several if observed else self.lookup["sizes"].get(ref.split(":")[0], 0) > 1
        if not several and observed is None and binding is not None and desired.product is not None:
            # bound from a shop product with several variants of which Visma has only some
            several = binding.content_hash == content_hash(_variant_only(desired.product))
        if several and desired.product is not None:  # the product's name belongs to all its variants
            desired.product = _variant_only(desired.product)
        parts: dict[str, tuple[str, Any]] = {}
        drifted: list[str] = []
        for entity, want, have in (
            (VARIANT, desired.product, binding.content_hash if binding else None),
            (PRICE, desired.prices, hashes[PRICE].get(ref)),
            (STOCK, desired.stock, hashes[STOCK].get(ref)),
        ):
            if want is None:
                continue
            digest = content_hash(want)
            # a variant shows its e-commerce stock only: stock written elsewhere is compared by hash
            seen = observed if entity != STOCK or self.lookup.get("observable") else None
            shows = seen is not None and _shows(seen, entity, want)
            if (seen is None and digest != have) or (seen is not None and not shows):
                parts[entity] = (digest, want)
                if digest == have:  # we wrote it, the shop changed it since: the owner's value goes back
                    drifted.append(entity)
            elif digest != have or binding is None:
                parts.setdefault("_bind_" + entity, (digest, want))
        writes = [e for e in parts if not e.startswith("_bind_")]
        if drifted:
            plan.drift += 1
            log.info(
                "catalog.drift", sku=label, parts=[_PART_NAMES[e] for e in drifted], restored_from="visma"
            )
        if not writes:
            if parts:
                self._record(article, ref, parts)
            self._settle(key, desired.stock)
            plan.add(Action("unchanged", key, label))
            return
        reason = (
            f"the shop changed {', '.join(_PART_NAMES[e] for e in drifted)}: Visma's restored"
            if drifted
            else ""
        )
        plan.add(
            Action(
                "update",
                key,
                label,
                reason,
                changes=[_PART_NAMES[e] for e in writes],
                run=partial(self._update, article, key, ref, parts),
            )
        )

    async def _desired(self, article: Any, key: str) -> Desired:
        rate = (await self.ref.codings()).get(str(article.CodingId))
        if rate is None:
            raise ItemError(f"article {article.Number!r} has an account coding without a VAT rate")
        product = None
        if "products" in self.parts:
            product = {
                "name": article.Name or article.Number,
                "active": article.IsActive is not False,
                "vat": f"{rate:f}",
            }
        prices = await self._prices(article, rate) if self.parts & {"prices", "pricelists"} else None
        stock = None
        if "stock" in self.parts and article.IsStock:
            stock = self._stock(article, key)
        return Desired(product, prices, stock)

    async def _prices(self, article: Any, rate: Decimal) -> dict[str, list[str | None]]:
        out: dict[str, list[str | None]] = {}
        net = article.NetPrice
        for pl in self.lookup["pricelists"]:
            pid = str(pl.pricelistId)
            if pl.isMaster:
                if "prices" in self.parts and net is not None:
                    special = (
                        campaign_price(net, article.NetPriceWithDiscount)
                        if self.settings.campaign_prices
                        else None
                    )
                    out[pid] = [_s(net), _s(special)]
                continue
            if "pricelists" not in self.parts:
                continue
            list_id, rule = self.lookup["sources"].get(pid), self.lookup["rules"].get(pid)
            row = self.lookup["rows"].get((list_id, str(article.Id))) if list_id else None
            if row is not None and row.NetPrice is not None:  # the Visma sales price list's row
                out[pid] = [_s(row.NetPrice), None]
            elif rule is not None and net is not None:  # the rule; also for articles the list lacks
                out[pid] = [_s(rule_price(Decimal(net), self._market_rate(pid, rate), rule)), None]
        return out

    def _market_rate(self, pid: str, rate: Decimal) -> Decimal:
        """The VAT rate a rule's rounding uses: the pricelist market's standard rate for an article at
        the home standard rate (a reduced rate cannot be mapped across countries: kept)."""
        market = self.lookup["market"].get(pid)
        return market if market is not None and rate == self.lookup["home_rate"] else rate

    def _stock(self, article: Any, key: str) -> dict[str, Any]:
        figure = (
            article.StockBalanceAvailable
            if self.settings.stock_source == "available"
            else article.StockBalance
        )
        figure = Decimal(figure or 0)
        quantity = figure - self.lookup["not_drawn"].get(key, Decimal(0)) - self.settings.stock_buffer
        quantity = max(quantity, Decimal(0)).to_integral_value(ROUND_FLOOR)
        statuses = self.lookup["stock_statuses"]
        if quantity <= 0:
            status = statuses["out_of_stock"]
        elif quantity <= self.settings.few_left_at:
            status = statuses["few_left"]
        else:
            status = statuses["in_stock"]
        out = {"quantity": int(quantity), "status": status, "location": self.lookup["location"]}
        if figure < 0:
            out["note"] = f"Visma shows {figure:f} in stock; the shop gets 0"
        return out

    # -- lookups ----------------------------------------------------------------------------------
    async def _lookup_tables(self) -> dict[str, Any]:
        sw = self.ctx.starweb
        pricelists = await self.ref.cached("pricelists", sw.list_pricelists)
        out: dict[str, Any] = {"pricelists": pricelists, "sources": {}, "rows": {}, "not_drawn": {}}
        out.update(rules={}, market={}, home_rate=None)
        st = self.settings
        row_articles = [
            *st.shipping_articles.values(),
            *st.fee_articles.values(),
            *st.discount_articles.values(),
            *st.adjustment_articles.values(),
            *st.foreign_charge_articles.values(),
        ]
        out["row_articles"] = {article_key(n) for n in [*row_articles, st.fallback_article] if n}
        if "pricelists" in self.parts:
            out["sources"], out["rows"] = await self._pricelist_sources(pricelists)
            out["rules"], out["market"], out["home_rate"] = await self._rules(pricelists)
        if "stock" in self.parts:
            out["location"], out["observable"] = await self._stock_location()
            out["stock_statuses"] = await self._stock_statuses()
            await record_shop_orders(self.ctx, self.ref)  # every complete order, whatever its status
            out["not_drawn"] = not_drawn(self.ctx)
        return out

    async def _pricelist_sources(self, pricelists: list[Any]) -> tuple[dict[str, Any], dict[Any, Any]]:
        """Per non-master shop pricelist: a Visma sales price list id (str), a PriceRule, or nothing."""
        try:
            visma_lists = await self.ref.cached(
                "visma_pricelists", self.ctx.visma.price_lists.list, visma=True
            )
        except ApiError:  # no Pro variant: rules only
            visma_lists = []
        sources: dict[str, Any] = {}
        self.store.catalog_issues.clear_entity(self.ctx.id, "pricelist")  # checked again below
        known = {str(pl.pricelistId) for pl in pricelists}
        for pid in sorted((set(self.settings.pricelist_map) | set(self.settings.price_rules)) - known):
            self.store.catalog_issues.report(
                self.ctx.id,
                "pricelist",
                pid,
                f"the settings name pricelist {pid}, which the shop does not have",
            )
        for pl in pricelists:
            pid = str(pl.pricelistId)
            if pl.isMaster:
                continue
            mapped = self.settings.pricelist_map.get(pid)
            if mapped == "":
                continue
            chosen = None
            if mapped:
                chosen = next((v for v in visma_lists if mapped in (str(v.Id), v.Name)), None)
                if chosen is None:
                    self.store.catalog_issues.report(
                        self.ctx.id,
                        "pricelist",
                        pid,
                        f"pricelist_map.{pid} names {mapped!r}: no such Visma price list",
                    )
                    continue
            else:  # the list in the pricelist's currency; a rule prices what it lacks
                chosen = next(
                    (
                        v
                        for v in visma_lists
                        if v.CurrencyCode == pl.currencyCode and not v.IsStandard and v.IsActive
                    ),
                    None,
                )
            if chosen is not None:
                if (chosen.CurrencyCode or "SEK") != (pl.currencyCode or "SEK"):
                    self.store.catalog_issues.report(
                        self.ctx.id,
                        "pricelist",
                        pid,
                        f"Visma price list {chosen.Name!r} is in {chosen.CurrencyCode}, "
                        f"the shop's pricelist {pl.name!r} in {pl.currencyCode}",
                    )
                    continue
                sources[pid] = str(chosen.Id)
            self.store.catalog_issues.clear(self.ctx.id, "pricelist", pid)
        rows: dict[Any, Any] = {}
        if any(isinstance(s, str) for s in sources.values()):
            rows = await self._price_rows()
        return sources, rows

    async def _rules(self, pricelists: list[Any]) -> tuple[dict[str, Any], dict[str, Decimal], Decimal]:
        """Per pricelist its rule (`price_rules`, not for one mapped to ''), the VAT rate of its market
        for the rounding (`vat_country`, else its only country), and the home standard rate."""
        rates = {
            r.countryCode: Decimal(r.defaultVatRate)
            for r in await self.ref.cached("vat_rates", self.ctx.starweb.list_vat_rates)
            if r.countryCode and r.defaultVatRate is not None
        }
        rules: dict[str, Any] = {}
        market: dict[str, Decimal] = {}
        for pl in pricelists:
            pid = str(pl.pricelistId)
            rule = self.settings.price_rules.get(pid)
            if pl.isMaster or rule is None or self.settings.pricelist_map.get(pid) == "":
                continue
            rules[pid] = rule
            countries = pl.countryCodes or []
            country = rule.vat_country or (countries[0] if len(countries) == 1 else None)
            if country in rates:
                market[pid] = rates[country]
            elif country:
                message = f"price_rules.{pid}.vat_country {country!r}: the shop has no VAT rate for it"
                self.store.catalog_issues.report(self.ctx.id, "pricelist", pid, message)
        return rules, market, rates.get(HOME_COUNTRY, Decimal(25))

    def _report_rowless(self, by_key: Mapping[str, Any]) -> None:
        """Tell, per pricelist following a Visma list, which articles that list has no row for and
        how they are priced instead (by the rule, or not at all): a warning while it lasts."""
        names = {str(pl.pricelistId): pl.name for pl in self.lookup["pricelists"]}
        self.store.catalog_issues.clear_entity(self.ctx.id, ROWLESS)  # checked again below
        for pid, list_id in self.lookup["sources"].items():
            lacking = (
                a.Number
                for k, a in by_key.items()
                if not _is_list(a)
                and k not in self.lookup["row_articles"]  # shipping, fee and discount rows
                and a.IsActive is not False
                and not a.IsServiceArticle
                and a.SendToWebshop is not False
                and (list_id, str(a.Id)) not in self.lookup["rows"]
            )
            n, first = _count_and_first(lacking, 5)
            if not n:
                continue
            shown = ", ".join(first) + (f" and {n - 5} more" if n > 5 else "")
            if pid in self.lookup["rules"]:
                how = f"priced from the master price by price_rules.{pid}"
            else:
                how = (
                    f"no price in the shop's pricelist {names.get(pid)!r}: add rows or set price_rules.{pid}"
                )
            message = f"{n} article(s) have no row in the Visma price list ({shown}): {how}"
            self.store.catalog_issues.report(self.ctx.id, ROWLESS, pid, message, level="warning")
            log.info(
                "catalog.pricelist_rows_missing",
                pricelist=pid,
                articles=n,
                rule=pid in self.lookup["rules"],
            )

    async def _price_rows(self) -> dict[Any, Any]:
        """Every Visma sales price list row by (list id, article id), kept fresh by its ChangedUtc.

        A process reads every row once, then only the changed ones. Which rows changed since the last
        sweep is judged by the stored cursor (`ROWS_CURSOR`), so a row changed between two processes
        (`sync --once` from cron) is not missed.
        """
        cache = self.ctx.cache.setdefault("price_rows", {"rows": {}, "cursor": None})
        stored = parse_server_time(self.store.cursors.get(self.ctx.id, ROWS_CURSOR))
        page = await self.ctx.visma.changed_since(
            "salespricelists/prices", model=SalesPriceListRow, since=cache["cursor"], order_by=None
        )
        for row in page.items:
            cache["rows"][(str(row.SalesPriceListId), str(row.ArticleId))] = row
        cache["changed"] = (
            {
                str(r.ArticleId): r.ChangedUtc
                for r in page.items
                if r.ChangedUtc is None or (parse_server_time(r.ChangedUtc) or stored) > stored
            }
            if stored is not None
            else {}
        )
        cache["cursor"] = page.cursor or cache["cursor"]
        if cache["cursor"] is not None and page.cursor is not None:
            value = page.cursor.isoformat()
            self._commits.append(lambda: self.store.cursors.set(self.ctx.id, ROWS_CURSOR, value))
        return cache["rows"]

    def _price_rows_changed(self, by_key: Mapping[str, Any], after: datetime) -> set[str]:
        """Keys of articles whose price list rows changed after `after` (read with the rows)."""
        cache = self.ctx.cache.get("price_rows")
        if not cache or "pricelists" not in self.parts:
            return set()
        by_id = {str(a.Id): k for k, a in by_key.items() if not _is_list(a)}
        return {
            by_id[i]
            for i, at in cache.get("changed", {}).items()
            if i in by_id and (at is None or parse_server_time(at) > after)
        }

    async def _stock_location(self) -> tuple[int, bool]:
        """The stock location written to, and whether it is the e-commerce one (whose stock a variant
        shows, so what the shop shows there can be compared)."""
        locations = await self.ref.cached("stock_locations", self.ctx.starweb.list_stock_locations)
        ecom = next((int(x.stockLocationId) for x in locations if x.ecommerceStockLocation), None)
        if self.settings.stock_location:
            return int(self.settings.stock_location), int(self.settings.stock_location) == ecom
        if ecom is not None:
            return ecom, True
        if not locations:
            raise ItemError("the shop has no stock location")
        return int(locations[0].stockLocationId), False

    async def _stock_statuses(self) -> dict[str, int]:
        statuses = await self.ref.cached("stock_statuses", self.ctx.starweb.list_stock_statuses)
        by_code = {s.idCode: s.stockStatusId for s in statuses if s.idCode}
        ids = {s.stockStatusId for s in statuses}
        out: dict[str, int] = {}
        for level in ("in_stock", "out_of_stock", "few_left"):
            value = str(self.settings.stock_statuses.get(level) or "").strip()
            if not value and level == "few_left":
                out[level] = out["in_stock"]
            elif value.isdigit() and int(value) in ids:
                out[level] = int(value)
            elif value in by_code:
                out[level] = int(by_code[value])
            else:
                raise ItemError(f"stock_statuses.{level} = {value!r} is no stock status of the shop")
        return out

    async def _find_in_shop(self, number: str) -> list[ShopVariant]:
        if not set(number.strip()) <= SKU_OK:
            return []
        product = await self.ctx.starweb.find_product_by_sku(number.strip(), include="languages")
        if product is None:
            return []
        variants = await self.ctx.starweb.list_variants(int(product.productId or 0), include="prices")
        rows = [shop_variant(product, v, self.settings.product_language) for v in variants]
        return [r for r in rows if r.key == article_key(number)]

    # -- writes -----------------------------------------------------------------------------------
    async def _create(self, article: Any, key: str, desired: Desired) -> None:
        assert desired.product is not None
        prices = [
            {"pricelistId": int(pid), "priceExVat": Decimal(p), "specialPriceExVat": _d(s)}
            for pid, (p, s) in (desired.prices or {}).items()
            if p is not None
        ]
        variant: dict[str, Any] = {"sku": str(article.Number).strip(), "isActive": True, "prices": prices}
        if desired.stock is not None:
            variant["stockStatusId"] = desired.stock["status"]
        body = {
            "visibility": "visible",
            "defaultVatRate": desired.product["vat"],
            "languages": [{"langCode": self.settings.product_language, "name": desired.product["name"]}],
            "variants": [variant],
        }
        try:
            body = await self.ctx.plugins.product_body(
                body, article=dataclasses.asdict(article), product=None
            )
            product = await self.ctx.starweb.create_product(body)
            variants = product.all_variants() or await self.ctx.starweb.list_variants(
                int(product.productId or 0)
            )
        except ApiError as exc:
            raise self._failed(article, key, exc) from exc
        except PluginError as exc:
            raise self._failed(article, key, None, str(exc)) from exc
        found = next((v for v in variants if article_key(v.sku or "") == key), None)
        if found is None:
            raise self._failed(article, key, None, "the shop made the product but not its variant")
        ref = f"{product.productId}:{found.variantId}"
        parts = {VARIANT: (content_hash(desired.product), desired.product)}
        if desired.prices is not None:
            parts[PRICE] = (content_hash(desired.prices), desired.prices)
        self._record(article, ref, parts)
        if desired.stock is not None:
            await self._update(article, key, ref, {STOCK: (content_hash(desired.stock), desired.stock)})
        else:
            self._settle(key, None)

    async def _update(self, article: Any, key: str, ref: str, parts: dict[str, tuple[str, Any]]) -> None:
        product_id, variant_id = parse_ref(ref)
        sw = self.ctx.starweb
        try:
            if VARIANT in parts and parts[VARIANT][1].get("variant_only"):
                await sw.update_variant(product_id, variant_id, {"isActive": parts[VARIANT][1]["active"]})
            elif VARIANT in parts:
                want = parts[VARIANT][1]
                changes = {
                    "visibility": "visible" if want["active"] else "hidden",
                    "defaultVatRate": want["vat"],
                    "languages": [{"langCode": self.settings.product_language, "name": want["name"]}],
                }
                product = {"productId": product_id}
                changes = await self.ctx.plugins.product_body(
                    changes, article=dataclasses.asdict(article), product=product
                )
                await sw.update_product(product_id, changes)
            if PRICE in parts:
                for pid, (price, special) in parts[PRICE][1].items():
                    if price is not None:
                        await sw.set_variant_price(
                            product_id,
                            variant_id,
                            int(pid),
                            priceExVat=Decimal(price),
                            specialPriceExVat=_d(special),
                        )
            if STOCK in parts:
                want = parts[STOCK][1]
                await sw.set_variant_stock(
                    product_id, variant_id, want["location"], want["quantity"], stock_status_id=want["status"]
                )
        except ApiError as exc:
            raise self._failed(article, key, exc) from exc
        except PluginError as exc:
            raise self._failed(article, key, None, str(exc)) from exc
        self._record(article, ref, parts)
        self._settle(key, (parts.get(STOCK) or (None, None))[1])

    def _settle(self, key: str, stock: dict[str, Any] | None) -> None:
        """The item went through: its issue is cleared, but a warning whose cause is still there (Visma
        shows negative stock) stays until the cause is gone, whether or not this sweep wrote."""
        note = (stock or {}).get("note")
        if note:
            self.store.catalog_issues.report(self.ctx.id, ISSUE, key, note, level="warning")
        else:
            self.store.catalog_issues.clear(self.ctx.id, ISSUE, key)

    def _record(self, article: Any, ref: str, parts: dict[str, tuple[str, Any]]) -> None:
        """Bind the variant and store the hash of every part now shown in the shop."""
        for name, (digest, _) in parts.items():
            entity = name.removeprefix("_bind_")
            self.store.bindings.bind(
                self.ctx.id, entity, ref, str(article.Id), visma_number=article.Number, content_hash=digest
            )
        unbound = VARIANT not in parts and "_bind_" + VARIANT not in parts
        if unbound and self.store.bindings.get(self.ctx.id, VARIANT, ref) is None:
            self.store.bindings.bind(self.ctx.id, VARIANT, ref, str(article.Id), visma_number=article.Number)

    def _failed(self, article: Any, key: str, exc: ApiError | None, message: str | None = None) -> ItemError:
        if exc is None:
            full = f"{article.Number!r}: {message or 'failed'}"
        else:
            full = f"the shop refused {article.Number!r}: {getattr(exc, 'hint', None) or exc.message}"
        self.store.catalog_issues.report(self.ctx.id, ISSUE, key, full)
        log.warning("product_failed", number=article.Number, error=full)
        return ItemError(full)

    def _issue(self, plan: CatalogPlan, key: str, label: str, kind: str, message: str) -> None:
        plan.add(Action(kind, key, label, message))
        self.store.catalog_issues.report(self.ctx.id, ISSUE, key, message)


_PART_NAMES = {VARIANT: "product", PRICE: "prices", STOCK: "stock"}


def _shows(observed: ShopVariant, entity: str, want: dict[str, Any]) -> bool:
    """Whether the shop shows `want` (the e-commerce location's stock, for `STOCK`)."""
    if entity == VARIANT:  # what `_update` writes: the variant's flag, or the product's name and visibility
        if want.get("variant_only"):
            return observed.variant_active == want["active"]
        return observed.product_name == want["name"] and (observed.visibility != "hidden") == want["active"]
    if entity == PRICE:
        for pid, (price, special) in want.items():
            have = observed.prices.get(int(pid))
            if have is None or _d(price) != have[0] or _d(special) != have[1]:
                return False
        return True
    if entity == STOCK:
        return observed.stock == want["quantity"] and observed.stock_status_id == want["status"]
    return False


def _variant_only(product: dict[str, Any]) -> dict[str, Any]:
    """The product part for a variant of a product with several: only its active flag is ours."""
    return {"active": product["active"], "variant_only": True}


def _count_and_first(values: Iterable[str], k: int) -> tuple[int, list[str]]:
    """How many values there are and the first `k` of them sorted, without holding them all."""
    n, first = 0, []
    for value in values:
        n += 1
        first = sorted([*first, value])[:k]
    return n, first


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _changed_after(article: Any, after: datetime) -> bool:
    changed = parse_server_time(article.ChangedUtc)
    return changed is None or changed > after


def _s(value: Decimal | None) -> str | None:
    return None if value is None else format(Decimal(value).normalize(), "f")


def _d(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
