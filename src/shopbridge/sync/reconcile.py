"""Reconciliation: proof that the books match the shop, for one connection and one period.

For a period (a month, or any span of days; order dates in the shop's time zone) it reads, with list
endpoints and paging only (never one document at a time):

1. every complete shop order created in the period (one walk, every status: an order moves on to
   Invoiced or Paid after its transfer, and it still belongs to the period);
2. the transfer log of those orders;
3. Visma's drafts, orders and invoices created since the period began (a document never predates
   its order), this shop's only (`ShopScope`).

A qualifying order (in a trigger status on or after `start_date`, or known to the transfer log) is
**accounted for** when it is transferred and its one Visma document (found by our reference, by the
id the log names, or as the invoice made from that document) has the shop's totals and VAT per rate
(`totals_differences`), or when it waits or was skipped with its reason, or when it was cancelled
in the shop and its document is gone or credited. Everything else is a **difference**:
no transfer row, transferred but missing in Visma, two documents, amounts that differ, cancelled in
the shop while its document stands, and documents carrying our reference that no order explains.
A difference on an order that already waits in `needs_review` is *explained* (someone was told).

`reconcile` reads only. The engine's daily run (`reconcile_due`) also puts each unexplained
difference on its order (`needs_review` with a sentence) and stores the result, which the portal
(`latest_result`) and `/metrics` (`shopbridge_reconcile_differences`) show.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from shopbridge.domain.models import Order
from shopbridge.domain.money import net_from_gross, normalize_rate, vat_from_net
from shopbridge.starweb.mapping import as_dict, order_facts, order_from_wire
from shopbridge.store import Store, TransferState
from shopbridge.store.schema import Transfer, utcnow
from shopbridge.sync.context import ConnectionContext
from shopbridge.sync.orders import CANCELLED_CODES, ORDER_INCLUDE, totals_differences
from shopbridge.sync.reference import ReferenceData
from shopbridge.sync.shops import ShopScope
from shopbridge.visma.mapping import document_vat_rates, visma_rate
from shopbridge.visma.odata import odata_datetime

log = structlog.get_logger("shopbridge.reconcile")

SHOP_TIME_ZONE = "Europe/Stockholm"
"""The shop's time zone: order dates (and so periods) are read in it."""
RESULT_CURSOR = "reconcile.{period}"
LAST_RUN_CURSOR = "reconcile.last_run"
RECONCILE_EVERY = timedelta(days=1)
VISMA_PAGE = 1000  # Visma's largest page: fewest list calls
LOOKUP_BATCH = 500

NO_TRANSFER = "no_transfer"
MISSING_IN_VISMA = "missing_in_visma"
TWO_DOCUMENTS = "two_documents"
AMOUNTS_DIFFER = "amounts_differ"
CANCELLED_IN_SHOP = "cancelled_in_shop"
NOT_IN_SHOP = "not_in_shop"
UNEXPLAINED_DOCUMENT = "unexplained_document"

WAITING_STATES = {
    TransferState.PENDING: "not transferred yet: the next sweep takes it",
    TransferState.IN_PROGRESS: "being transferred right now",
    TransferState.IN_DOUBT: "in doubt: a create's answer was lost; it is looked up again",
    TransferState.WAITING_FOR_FIX: "waits for a fix",
    TransferState.WAITING_FOR_QUOTA: "waits for quota",
    TransferState.NEEDS_REVIEW: "needs review",
}
_KIND_NAME = {"invoice_draft": "draft", "order": "order", "invoice": "invoice"}


# ---------------------------------------------------------------------- the period
@dataclass(frozen=True)
class Period:
    """Days `first` to `last` (inclusive), in the shop's time zone."""

    first: date
    last: date

    @classmethod
    def month(cls, text: str) -> Period:
        """`YYYY-MM`; ValueError otherwise."""
        try:
            first = datetime.strptime(text, "%Y-%m").date()
        except ValueError:
            raise ValueError(f"{text!r} is not a month: write it as YYYY-MM, e.g. 2026-11") from None
        following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        return cls(first, following - timedelta(days=1))

    @classmethod
    def of(cls, day: date) -> Period:
        """The month `day` falls in."""
        return cls.month(day.strftime("%Y-%m"))

    @property
    def label(self) -> str:
        whole = self.first.day == 1 and Period.of(self.first).last == self.last
        return self.first.strftime("%Y-%m") if whole else f"{self.first}..{self.last}"

    def previous_month(self) -> Period:
        return Period.of(self.first - timedelta(days=1))

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The period's first and first-after moments, in UTC."""
        start = datetime.combine(self.first, time.min, tzinfo=tz)
        end = datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=tz)
        return start.astimezone(UTC), end.astimezone(UTC)


def shop_zone(ctx: ConnectionContext) -> ZoneInfo:
    """The shop's time zone (`shop_time_zone`, the one `start_date` is read in)."""
    return ZoneInfo(ctx.settings.shop_time_zone or SHOP_TIME_ZONE)


def local_date(value: Any, tz: ZoneInfo) -> date | None:
    """The date of an ISO-8601 moment in `tz` (naive moments are UTC); None when unreadable."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(tz).date()


# ---------------------------------------------------------------------- the result
@dataclass
class Figures:
    """Net, VAT and gross of some orders (or documents) in one currency at one VAT rate."""

    net: Decimal = Decimal(0)
    vat: Decimal = Decimal(0)
    gross: Decimal = Decimal(0)

    def add(self, net: Decimal, vat: Decimal) -> None:
        self.net += net
        self.vat += vat
        self.gross += net + vat


@dataclass
class Difference:
    """One thing the shop and the books disagree on, in one sentence."""

    kind: str
    sentence: str
    order_id: str | None = None
    document: str | None = None
    explained: bool = False  # the order already waits in needs_review: someone was told
    transfer_id: int | None = None


@dataclass
class OrderLine:
    """One qualifying order as reconciled (for --csv)."""

    order_id: str
    ordered: str
    state: str
    group: str  # transferred, waiting, skipped, cancelled, missing
    currency: str
    shop_total: Decimal
    visma_total: Decimal | None = None
    document: str | None = None
    reason: str = ""


@dataclass
class ReconcileResult:
    """What `reconcile` found for one connection and period."""

    connection: str
    connection_id: int
    period: str
    ran_at: str
    orders: int = 0
    transferred: int = 0
    differences: list[Difference] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)  # order id -> "state: reason"
    shop: dict[str, dict[str, Figures]] = field(default_factory=dict)  # currency -> rate -> figures
    visma: dict[str, dict[str, Figures]] = field(default_factory=dict)
    apart: dict[str, dict[str, dict[str, Figures]]] = field(default_factory=dict)  # group -> currency -> ...
    shop_gross: dict[str, Decimal] = field(default_factory=dict)  # currency -> transferred orders incl. VAT
    visma_gross: dict[str, Decimal] = field(default_factory=dict)
    api_calls: int = 0
    lines: list[OrderLine] = field(default_factory=list)  # not stored

    @property
    def unexplained(self) -> list[Difference]:
        return [d for d in self.differences if not d.explained]

    @property
    def exit_code(self) -> int:
        return 1 if self.unexplained else 0

    def verdict(self) -> str:
        """One line: orders, the money in the shop and in Visma, what waits, what is unexplained."""
        money = []
        for cur in sorted(set(self.shop_gross) | set(self.visma_gross)):
            shop, visma = self.shop_gross.get(cur, Decimal(0)), self.visma_gross.get(cur, Decimal(0))
            same = "=" if not any(d.kind == AMOUNTS_DIFFER for d in self.unexplained) else "vs"
            if shop == visma:
                money.append(f"{_money(shop)} {cur} incl. VAT in the shop {same} in Visma")
            else:
                money.append(f"{_money(shop)} {cur} incl. VAT in the shop, {_money(visma)} {cur} in Visma")
        told = len(self.differences) - len(self.unexplained)
        parts = [f"{self.orders:,} orders", *(money or ["nothing transferred"])]
        parts.append(f"{len(self.waiting):,} waiting with a reason")
        parts.append(f"{len(self.unexplained):,} unexplained differences")
        if told:
            parts[-1] += f" ({told} more already wait for review)"
        return f"{self.period}: " + "; ".join(parts)

    def to_json(self, *, lines: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not lines:
            data.pop("lines")
        data["verdict"] = self.verdict()
        data["exit_code"] = self.exit_code
        return json.loads(json.dumps(data, default=str))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReconcileResult:
        def figures(tree: dict[str, dict[str, Any]]) -> dict[str, dict[str, Figures]]:
            return {
                c: {
                    r: Figures(*(Decimal(str(f[k])) for k in ("net", "vat", "gross")))
                    for r, f in rates.items()
                }
                for c, rates in tree.items()
            }

        return cls(
            connection=data["connection"],
            connection_id=int(data["connection_id"]),
            period=data["period"],
            ran_at=data["ran_at"],
            orders=int(data.get("orders", 0)),
            transferred=int(data.get("transferred", 0)),
            differences=[Difference(**d) for d in data.get("differences", [])],
            waiting=dict(data.get("waiting", {})),
            shop=figures(data.get("shop", {})),
            visma=figures(data.get("visma", {})),
            apart={g: figures(t) for g, t in data.get("apart", {}).items()},
            shop_gross={c: Decimal(str(v)) for c, v in data.get("shop_gross", {}).items()},
            visma_gross={c: Decimal(str(v)) for c, v in data.get("visma_gross", {}).items()},
            api_calls=int(data.get("api_calls", 0)),
        )

    def __str__(self) -> str:
        """The verdict and every difference, one per line (what the portal shows)."""
        out = [self.verdict(), f"(checked {self.ran_at[:16].replace('T', ' ')} UTC)"]
        out += [f"- {d.sentence}" + (" (waits for review)" if d.explained else "") for d in self.differences]
        return "\n".join(out)


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _add(
    tree: dict[str, dict[str, Figures]], currency: str, rate: Decimal, net: Decimal, vat: Decimal
) -> None:
    tree.setdefault(currency, {}).setdefault(str(normalize_rate(rate)), Figures()).add(net, vat)


# ---------------------------------------------------------------------- Visma's side
@dataclass
class Document:
    """A Visma draft, order or invoice as reconciliation reads it (amounts in its own currency)."""

    kind: str
    raw: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.raw.get("Id"))

    @property
    def name(self) -> str:
        number = self.raw.get("Number") or self.raw.get("InvoiceNumber")
        what = _KIND_NAME[self.kind]
        return f"{what} {number}" if number else f"{what} {self.id}"

    @property
    def source(self) -> str | None:
        """The draft or order an invoice was made from."""
        found = self.raw.get("CreatedFromDraftId") or self.raw.get("CreatedFromOrderId")
        return str(found) if found else None

    @property
    def currency(self) -> str:
        return str(self.raw.get("InvoiceCurrencyCode") or self.raw.get("CurrencyCode") or "SEK")

    def totals_view(self) -> dict[str, Any]:
        """The document as `totals_differences` reads a draft: an invoice's own-currency figures."""
        if self.kind != "invoice":
            return self.raw
        spec = self.raw.get("VatSpecification") or []
        total = Decimal(str(self.raw.get("TotalAmountInvoiceCurrency") or 0))
        parts = sum(
            (
                Decimal(str(s.get("AmountInvoiceCurrency") or 0))
                + Decimal(str(s.get("VatAmountInvoiceCurrency") or 0))
            )
            for s in spec
        )
        view = dict(self.raw)
        view["TotalAmount"] = total
        view["TotalVatAmount"] = self.raw.get("TotalVatAmountInvoiceCurrency")
        view["TotalRoundings"] = total - parts if spec else Decimal(0)
        return view

    def gross(self) -> Decimal:
        """Incl. VAT, without Visma's öre rounding (what the shop's total compares with)."""
        view = self.totals_view()
        total = Decimal(str(view.get("TotalAmount", view.get("Amount")) or 0))
        return total - Decimal(str(view.get("TotalRoundings", view.get("RoundingsAmount")) or 0))

    def per_rate(self) -> dict[Decimal, tuple[Decimal, Decimal]]:
        """Net and VAT per rate: an invoice's VAT specification, else from the rows."""
        if self.kind == "invoice" and self.raw.get("VatSpecification"):
            out: dict[Decimal, tuple[Decimal, Decimal]] = {}
            for s in self.raw["VatSpecification"]:
                rate = visma_rate(s.get("VatPercent") or 0)
                net, vat = out.get(rate, (Decimal(0), Decimal(0)))
                out[rate] = (
                    net + Decimal(str(s.get("AmountInvoiceCurrency") or 0)),
                    vat + Decimal(str(s.get("VatAmountInvoiceCurrency") or 0)),
                )
            return out
        gross = bool(self.raw.get("IncludesVat"))
        out = {}
        for rate, (amount, _) in document_vat_rates(self.raw).items():
            net = net_from_gross(amount, rate) if gross else amount
            out[rate] = (net, (amount - net) if gross else vat_from_net(amount, rate))
        return out


async def visma_documents(ctx: ConnectionContext, since: datetime) -> list[Document]:
    """This shop's drafts, orders and invoices (credit invoices too) created since `since`."""
    flt = f"CreatedUtc ge {odata_datetime(since)}"
    scope = ShopScope(ctx)
    out: list[Document] = []
    v = ctx.visma
    for kind, resource in (("invoice_draft", v.drafts), ("order", v.orders), ("invoice", v.invoices)):
        async for item in resource.iter(filter=flt, page_size=VISMA_PAGE):
            raw = item if isinstance(item, dict) else item.model_dump(by_alias=True)
            if not scope.belongs(raw):
                continue
            out.append(Document(kind, raw))
    return out


# ---------------------------------------------------------------------- reconciling
async def reconcile(ctx: ConnectionContext, period: Period) -> ReconcileResult:
    """Every qualifying shop order of `period` against the transfer log and Visma (reads only)."""
    calls_before = ctx.api_calls
    s = ctx.settings
    tz = shop_zone(ctx)
    start, end = period.bounds(tz)
    result = ReconcileResult(ctx.name, ctx.id, period.label, utcnow().isoformat())
    ref: ReferenceData = ctx.cache.setdefault("reference", ReferenceData(ctx.starweb, ctx.visma))
    trigger, _ = await ref.status_ids(s.trigger_statuses)
    cancelled = {st.statusId for st in await ref.order_statuses() if str(st.idCode) in CANCELLED_CODES}

    wires: dict[str, dict[str, Any]] = {}
    margin = timedelta(days=1)  # the shop's filter is in its own notion of time: ask wide, pick exactly
    filters = {
        "ordersCreatedAfter": (start - margin).isoformat().replace("+00:00", "Z"),
        "ordersCreatedBefore": (end + margin).isoformat().replace("+00:00", "Z"),
        "sortBy": "orderId",
        "sortOrder": "ASC",
    }
    async for order in ctx.starweb.iter_orders(include=ORDER_INCLUDE, **filters):
        wire = as_dict(order)
        day = local_date(wire.get("createdAt"), tz)
        if wire.get("isComplete") and day is not None and period.first <= day <= period.last:
            wires[str(wire["orderId"])] = wire
    transfers: dict[str, Transfer] = {}
    ids = list(wires)
    for i in range(0, len(ids), LOOKUP_BATCH):  # bounded IN lists (SQLite's variable limit)
        transfers |= ctx.store.transfers.by_orders(ctx.id, ids[i : i + LOOKUP_BATCH])
    found = await visma_documents(ctx, start)
    docs = [d for d in found if not d.raw.get("IsCreditInvoice")]
    credited = {
        str(d.raw.get(s.reference_field) or "").casefold() for d in found if d.raw.get("IsCreditInvoice")
    }
    index = _Index(docs, s.reference_field)
    claimed: set[str] = set()

    for oid, wire in wires.items():
        t = transfers.get(oid)
        day = local_date(wire.get("createdAt"), tz)
        qualifies = wire.get("statusId") in trigger and not (s.start_date and day and day < s.start_date)
        if t is None:
            if qualifies:
                total = order_facts(wire).get("total_amount")
                result.differences.append(
                    Difference(
                        NO_TRANSFER,
                        f"order {oid} ({day}, {total} {wire.get('currencyCode') or 'SEK'}) is in a trigger "
                        "status but has no transfer row: shopbridge has not seen it",
                        order_id=oid,
                    )
                )
                result.orders += 1
            continue
        result.orders += 1
        _one_order(ctx, result, t, wire, index, claimed, cancelled, credited)

    _unexplained_documents(ctx, result, docs, claimed, wires, period, tz)
    for oid, t in _period_rows(ctx, start, end).items():
        if oid not in wires and t.state in (TransferState.TRANSFERRED, TransferState.NEEDS_REVIEW):
            result.differences.append(
                Difference(
                    NOT_IN_SHOP,
                    f"order {oid} was transferred ({t.visma_document_number or t.visma_document_id}) but the "
                    "shop no longer lists it as a complete order of the period",
                    order_id=oid,
                    transfer_id=t.id,
                    explained=t.state == TransferState.NEEDS_REVIEW,
                )
            )
    result.api_calls = ctx.api_calls - calls_before
    return result


def _period_rows(ctx: ConnectionContext, start: datetime, end: datetime) -> dict[str, Transfer]:
    rows = ctx.store.transfers.all(ctx.id, since=start, until=end, limit=10_000_000)
    return {t.starweb_order_id: t for t in rows if t.entity_type == "order"}


class _Index:
    """Visma's documents by id, by the draft or order they were made from, and by reference."""

    def __init__(self, docs: list[Document], reference_field: str) -> None:
        self.by_id = {d.id: d for d in docs}
        self.by_source: dict[str, list[Document]] = {}
        self.by_ref: dict[str, list[Document]] = {}
        for d in docs:
            if d.source:
                self.by_source.setdefault(d.source, []).append(d)
            reference = d.raw.get(reference_field)
            if reference:
                self.by_ref.setdefault(str(reference).casefold(), []).append(d)

    def of_order(self, reference: str, doc_id: str | None) -> list[Document]:
        """The order's documents; a draft or order turned into an invoice found counts once, as it."""
        found = {d.id: d for d in self.by_ref.get(reference.casefold(), [])}
        if doc_id and doc_id in self.by_id:
            found.setdefault(doc_id, self.by_id[doc_id])
        for source in [doc_id, *found]:
            for d in self.by_source.get(source or "", []):
                found.setdefault(d.id, d)
        made_into = {d.source for d in found.values() if d.kind == "invoice" and d.source}
        return [d for i, d in found.items() if i not in made_into]


def _one_order(
    ctx: ConnectionContext,
    result: ReconcileResult,
    t: Transfer,
    wire: dict[str, Any],
    index: _Index,
    claimed: set[str],
    cancelled: set[int],
    credited: set[Any],
) -> None:
    s = ctx.settings
    oid = t.starweb_order_id
    order = _order(wire, s.reference_prefix)
    reference = (order.reference or order.number) if order else f"{s.reference_prefix}{oid}"
    docs = index.of_order(reference, t.visma_document_id)
    claimed.update(d.id for d in docs)
    claimed.update(d.source for d in docs if d.source)
    state = TransferState(t.state)
    review = state == TransferState.NEEDS_REVIEW
    shop_total = order.total_inc_vat if order else Decimal(str(order_facts(wire).get("total_amount") or 0))
    currency = order.currency if order else str(wire.get("currencyCode") or "SEK")
    line = OrderLine(oid, str(wire.get("createdAt") or ""), state.value, "", currency, shop_total)
    result.lines.append(line)

    def differ(kind: str, sentence: str) -> None:
        result.differences.append(Difference(kind, sentence, oid, line.document, review, t.id))
        line.reason = sentence

    def apart(group: str, reason: str) -> None:
        line.group, line.reason = group, reason
        if group in ("waiting", "skipped"):
            result.waiting[oid] = f"{state.value}: {reason}"
        if order is not None:
            tree = result.apart.setdefault(group, {})
            for v in order.vat_summary().lines:
                _add(tree, currency, v.rate, v.net, v.vat)

    if state == TransferState.SKIPPED:
        return apart("skipped", t.last_error or "skipped")
    if state not in (TransferState.TRANSFERRED, TransferState.NEEDS_REVIEW) or (review and not docs):
        # not transferred yet: a document found (a lost answer) is adopted by the next attempt
        return apart("waiting", t.last_error or WAITING_STATES.get(state, state.value))
    in_shop_cancelled = wire.get("statusId") in cancelled
    if not docs:
        if in_shop_cancelled:
            return apart("cancelled", "cancelled in the shop; its Visma document is gone")
        line.group = "missing"
        named = t.visma_document_number or t.visma_document_id
        return differ(
            MISSING_IN_VISMA,
            f"order {oid} was transferred as {_KIND_NAME.get(t.document_type or '', 'document')} {named}, "
            "which Visma no longer has (deleted?) while the shop still counts the sale",
        )
    line.document = ", ".join(d.name for d in docs)
    if len(docs) > 1:
        line.group = "transferred"
        differ(
            TWO_DOCUMENTS, f"order {oid} has {len(docs)} documents in Visma ({line.document}): one too many"
        )
    doc = docs[0]
    line.visma_total = doc.gross()
    if in_shop_cancelled:
        if reference.casefold() in credited:
            return apart("cancelled", "cancelled in the shop and credited in Visma")
        differ(CANCELLED_IN_SHOP, f"order {oid} was cancelled in the shop but {doc.name} stands in Visma")
        return
    if review:  # figures told already; it waits for a person
        return apart("waiting", t.last_error or WAITING_STATES[state])
    line.group = "transferred"
    result.transferred += 1
    if order is not None:
        for v in order.vat_summary().lines:
            _add(result.shop, currency, v.rate, v.net, v.vat)
        result.shop_gross[currency] = result.shop_gross.get(currency, Decimal(0)) + order.total_inc_vat
    for rate, (net, vat) in doc.per_rate().items():
        _add(result.visma, doc.currency, rate, net, vat)
    result.visma_gross[doc.currency] = result.visma_gross.get(doc.currency, Decimal(0)) + doc.gross()
    if order is not None and len(docs) == 1:
        found = totals_differences(order, doc.totals_view(), tolerance=s.totals_tolerance)
        if doc.currency != order.currency:
            found.insert(0, f"currency shop {order.currency}, Visma {doc.currency}")
        if found:
            differ(AMOUNTS_DIFFER, f"order {oid} and {doc.name} differ: " + "; ".join(found))


def _order(wire: dict[str, Any], prefix: str) -> Order | None:
    try:
        return order_from_wire(wire, shop_id="1", reference_prefix=prefix)
    except Exception as exc:  # an order the flow cannot read waits with its own reason
        log.info("reconcile.unreadable_order", order=wire.get("orderId"), error=type(exc).__name__)
        return None


def _unexplained_documents(
    ctx: ConnectionContext,
    result: ReconcileResult,
    docs: list[Document],
    claimed: set[str],
    wires: dict[str, Any],
    period: Period,
    tz: ZoneInfo,
) -> None:
    """Documents of the period carrying a reference of ours that no order of the shop explains."""
    s = ctx.settings
    prefix = s.reference_prefix.casefold()
    candidates: dict[str, list[Document]] = {}
    for d in docs:
        if d.id in claimed or (d.source and d.source in claimed):
            continue
        day = local_date(d.raw.get("CreatedUtc"), tz)
        reference = str(d.raw.get(s.reference_field) or "")
        number = reference[len(prefix) :].strip() if reference.casefold().startswith(prefix) else ""
        if day is None or not (period.first <= day <= period.last) or not number.isdigit():
            continue
        candidates.setdefault(number, []).append(d)
    known = ctx.store.transfers.by_orders(ctx.id, candidates)
    for number, found in candidates.items():
        t = known.get(number)
        if t is not None and number not in wires:
            continue  # an order of another period: its own reconciliation looks at it
        for d in found:
            result.differences.append(
                Difference(
                    UNEXPLAINED_DOCUMENT,
                    f"{d.name} in Visma carries our reference {d.raw.get(s.reference_field)!r} but no "
                    "order of the shop explains it",
                    order_id=None,
                    document=d.name,
                    transfer_id=None,
                )
            )


# ---------------------------------------------------------------------- keeping the result
def store_result(store: Store, result: ReconcileResult) -> None:
    """Keep `result` as the period's latest (the portal and /metrics read it)."""
    store.cursors.set(
        result.connection_id, RESULT_CURSOR.format(period=result.period), json.dumps(result.to_json())
    )


def latest_result(store: Store, connection_id: int, month: str) -> ReconcileResult | None:
    """The latest stored reconciliation of a connection's period (`YYYY-MM`), or None."""
    raw = store.cursors.get(connection_id, RESULT_CURSOR.format(period=month))
    return ReconcileResult.from_json(json.loads(raw)) if raw else None


def flag_differences(store: Store, result: ReconcileResult) -> int:
    """Put each unexplained difference on its order: `needs_review` with its sentence. An order that has
    no transfer row gets one, waiting for review. Returns how many orders were flagged."""
    n = 0
    for d in result.unexplained:
        if d.order_id is None:
            continue  # a document no order explains: it is in the result, the portal and /metrics
        if d.transfer_id is None:
            t = store.transfers.upsert_pending(
                result.connection_id, d.order_id, starweb_order_number=d.order_id
            )
            store.transfers.mark_needs_review(t.id, d.sentence, {"reconcile": result.period, "kind": d.kind})
        else:
            store.transfers.flag_for_review(
                d.transfer_id, d.sentence, {"reconcile": result.period, "kind": d.kind}
            )
        n += 1
    return n


def running_months(now: datetime | None = None, tz: ZoneInfo | None = None) -> list[Period]:
    """The running month and the one before, in the shop's time zone."""
    today = (now or utcnow()).astimezone(tz or ZoneInfo(SHOP_TIME_ZONE)).date()
    running = Period.of(today)
    return [running, running.previous_month()]


async def reconcile_due(
    ctx: ConnectionContext,
    *,
    every: timedelta = RECONCILE_EVERY,
    now: datetime | None = None,
    first_at_once: bool = True,
) -> list[ReconcileResult]:
    """The engine's daily run: the running and the previous month, once per `every`; each unexplained
    difference is put on its order, each result stored. Returns the results (none when not due).

    Without `first_at_once` a connection never reconciled starts its clock instead (the first run comes
    `every` later: a new connection's first sweeps are not slowed down by it)."""
    now = now or utcnow()
    store = ctx.store
    last = store.cursors.get(ctx.id, LAST_RUN_CURSOR)
    due = first_at_once if last is None else now - datetime.fromisoformat(last) >= every
    if due or last is None:  # stamped first: two workers rarely both run it
        store.cursors.set(ctx.id, LAST_RUN_CURSOR, now.isoformat())
    if not due:
        return []
    results = []
    for period in running_months(now, shop_zone(ctx)):
        result = await reconcile(ctx, period)
        flagged = flag_differences(store, result)
        store_result(store, result)
        log.info(
            "reconcile.done",
            period=result.period,
            orders=result.orders,
            differences=len(result.differences),
            flagged=flagged,
        )
        results.append(result)
    return results


def stored_differences(store: Store, connection_id: int, periods: Iterable[Period]) -> dict[str, int]:
    """Differences of each period's latest stored result (explained ones too: they are not fixed yet)."""
    out = {}
    for period in periods:
        found = latest_result(store, connection_id, period.label)
        if found is not None:
            out[period.label] = len(found.differences)
    return out
