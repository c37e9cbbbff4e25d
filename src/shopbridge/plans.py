"""Plans: which features a connection may use and how many orders it may transfer a month.

A connection's plan is its ``plan`` setting (``shopbridge connection set NAME plan 400``):

* ``100``: 100 orders a month; orders, customers, products (the base features, in every plan)
* ``200``: 200; + order_status, stock
* ``400``: 400; + prices (price structures, price lists), multishop
* ``800``: 800; + plugins
* ``premium``: no quota (``custom_quota`` caps it when set); every feature, or the base three plus
  ``custom_features`` when that is set
* ``custom``: ``custom_quota`` (required); the base three plus ``custom_features``

The stable API for the flows::

    from shopbridge import plans
    if not plans.allows(ctx.settings, plans.STOCK):     # or "stock"; an unknown name raises ValueError
        return report                                    # the plan has no stock sync: do nothing
    plans.quota(ctx.settings)                            # 400, or None for no quota

The quota counts transferred orders per calendar month (UTC, ``store.usage``). The order flow takes
a place right before it creates the Visma document (:func:`reserve`); over the quota the order waits
in ``waiting_for_quota`` (never dropped) until the month turns or the plan is raised, and each sweep
first wakes as many of them as there is room for (:func:`wake_waiting`). From 80 % of the quota a
warning is logged and put in the sweep report; ``shopbridge usage`` shows the figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import structlog

from shopbridge.features import (
    BASE_FEATURES,
    CUSTOMERS,
    FEATURES,
    MULTISHOP,
    ORDER_STATUS,
    ORDERS,
    PLUGINS,
    PRICES,
    PRODUCTS,
    STOCK,
)
from shopbridge.store import Store, TransferState
from shopbridge.store.schema import Transfer
from shopbridge.store.usage import check_month, month_of, next_month_start
from shopbridge.sync.settings import ConnectionSettings

if TYPE_CHECKING:
    from shopbridge.sync.base import SweepReport

__all__ = [
    "BASE_FEATURES",
    "CUSTOMERS",
    "FEATURES",
    "MULTISHOP",
    "ORDERS",
    "ORDER_STATUS",
    "PLANS",
    "PLAN_NAMES",
    "PLUGINS",
    "PRICES",
    "PRODUCTS",
    "STOCK",
    "WARN_AT_PERCENT",
    "PlanSpec",
    "QuotaStatus",
    "Reservation",
    "UsageLine",
    "allows",
    "features",
    "quota",
    "quota_status",
    "reserve",
    "usage_lines",
    "wake_waiting",
]

log = structlog.get_logger("shopbridge.plans")

WARN_AT_PERCENT = 80
"""From this share of the month's quota on, a warning is logged and reported."""


@dataclass(frozen=True)
class PlanSpec:
    """A plan: its monthly order quota (None: none) and its features, before configuration."""

    name: str
    quota: int | None
    features: frozenset[str]
    configurable: bool = False  # premium and custom take custom_quota / custom_features


_200 = BASE_FEATURES | {ORDER_STATUS, STOCK}
_400 = _200 | {PRICES, MULTISHOP}
_800 = _400 | {PLUGINS}
PLANS: Mapping[str, PlanSpec] = MappingProxyType(
    {
        "100": PlanSpec("100", 100, BASE_FEATURES),
        "200": PlanSpec("200", 200, _200),
        "400": PlanSpec("400", 400, _400),
        "800": PlanSpec("800", 800, _800),
        "premium": PlanSpec("premium", None, frozenset(FEATURES), configurable=True),
        "custom": PlanSpec("custom", None, BASE_FEATURES, configurable=True),
    }
)
"""The plans by name (read-only)."""
PLAN_NAMES: tuple[str, ...] = tuple(PLANS)


def _spec(settings: ConnectionSettings) -> PlanSpec:
    return PLANS[str(settings.plan)]


def features(settings: ConnectionSettings) -> frozenset[str]:
    """The features a connection's plan allows.

    Fixed for 100/200/400/800. ``custom``: the base three plus ``custom_features``. ``premium``: every
    feature, or the base three plus ``custom_features`` when that is set.
    """
    spec = _spec(settings)
    extra = frozenset(settings.custom_features or ())
    if spec.name == "custom" or (spec.name == "premium" and extra):
        return BASE_FEATURES | extra
    return spec.features


def allows(settings: ConnectionSettings, feature: str) -> bool:
    """Whether the connection's plan includes ``feature`` (one of :data:`FEATURES`).

    Raises ``ValueError`` for an unknown name, so a typo never silently turns a flow off.
    """
    if feature not in FEATURES:
        raise ValueError(f"unknown feature {feature!r}; one of: {', '.join(FEATURES)}")
    return feature in features(settings)


def quota(settings: ConnectionSettings) -> int | None:
    """Orders the connection may transfer per calendar month; None for no limit.

    100/200/400/800 by name; ``custom``: ``custom_quota``; ``premium``: ``custom_quota`` or none.
    """
    spec = _spec(settings)
    return settings.custom_quota if spec.configurable else spec.quota


def _warn_level(limit: int) -> int:
    """The order count from which the month's quota warns (80 % of it, at least 1)."""
    return max(1, -(-limit * WARN_AT_PERCENT // 100))


# ---------------------------------------------------------------------- the quota
@dataclass(frozen=True)
class QuotaStatus:
    """Where a connection stands against its quota in one month."""

    plan: str
    month: str
    used: int  # transferred in the month + in flight
    quota: int | None
    waiting: int  # orders in waiting_for_quota

    @property
    def remaining(self) -> int | None:
        return None if self.quota is None else max(self.quota - self.used, 0)

    @property
    def percent(self) -> int | None:
        """Share of the quota used, whole percent (None without a quota)."""
        if self.quota is None:
            return None
        return 100 if self.quota == 0 else self.used * 100 // self.quota

    @property
    def warning(self) -> str | None:
        """The 80 % warning in words (also when the quota is used up), or None."""
        if self.quota is None or (self.used < _warn_level(self.quota) and not self.waiting):
            return None
        text = _used_text(self.plan, self.month, self.used, self.quota)
        if self.waiting:
            text += f"; {self.waiting} order(s) wait for the next month or a bigger plan"
        return text


def quota_status(
    store: Store, connection_id: int, settings: ConnectionSettings, month: str | None = None
) -> QuotaStatus:
    """The connection's figures for ``month`` (this month by the usage clock when omitted)."""
    month = check_month(month) if month else month_of()
    waiting = store.transfers.counts(connection_id)[TransferState.WAITING_FOR_QUOTA.value]
    return QuotaStatus(
        plan=str(settings.plan),
        month=month,
        used=store.transfers.quota_used(connection_id, month),
        quota=quota(settings),
        waiting=waiting,
    )


@dataclass(frozen=True)
class Reservation:
    """The answer of :func:`reserve`: may the document be created, and if not, why."""

    allowed: bool
    used: int
    quota: int | None
    month: str
    reason: str | None = None  # why the order waits, in words (when not allowed)


def reserve(
    store: Store,
    transfer: Transfer,
    intent_key: str,
    settings: ConnectionSettings,
    *,
    document_type: str | None = None,
    report: SweepReport | None = None,
) -> Reservation:
    """The quota check right before a document is created.

    Allowed: the order's place in the month is taken by recording its intent (as ``record_intent``
    would: the caller creates the document next); from 80 % of the quota a warning is
    logged and added once to ``report`` (ref ``"quota"``). Refused: the transfer is parked in
    ``waiting_for_quota`` until the next month starts (sooner if the plan is raised, see
    :func:`wake_waiting`) with the reason in words. Raises ``ClaimLost`` like every fenced call.
    """
    limit = quota(settings)
    check = store.transfers.reserve_quota(transfer, intent_key, limit=limit, document_type=document_type)
    plan = str(settings.plan)
    if not check.allowed:
        resets = next_month_start(check.month)
        reason = (
            f"the monthly quota of plan {plan!r} is used up ({check.used} of {limit} orders in "
            f"{check.month}); the order is transferred when the month turns ({resets:%Y-%m-%d}) or the "
            "plan is raised"
        )
        store.transfers.mark_waiting(transfer, reason, resets, state=TransferState.WAITING_FOR_QUOTA)
        log.info("order.waiting_for_quota", order=transfer.starweb_order_id, used=check.used, quota=limit)
        _warn(report, plan, check.month, check.used, limit, waiting=True)
        return Reservation(False, check.used, limit, check.month, reason)
    if limit is not None and check.used >= _warn_level(limit):
        _warn(report, plan, check.month, check.used, limit)
    return Reservation(True, check.used, limit, check.month)


def _used_text(plan: str, month: str, used: int, limit: int) -> str:
    percent = 100 if limit == 0 else used * 100 // limit
    return f"{used} of the {limit} orders of plan {plan!r} are used in {month} ({percent} %)"


def _warn(
    report: SweepReport | None, plan: str, month: str, used: int, limit: int | None, waiting: bool = False
) -> None:
    """The 80 % warning: logged, and put once in the sweep report (ref "quota")."""
    if limit is None or (report is not None and "quota" in report.waiting):
        return
    message = _used_text(plan, month, used, limit)
    if waiting:
        message += "; orders over it wait in waiting_for_quota until the month turns or the plan is raised"
    log.warning("quota.warning", plan=plan, month=month, used=used, quota=limit)
    if report is not None:
        report.add("quota_warning", "quota", message)


def wake_waiting(store: Store, connection_id: int, settings: ConnectionSettings) -> int:
    """At the start of a sweep: make as many ``waiting_for_quota`` orders due as the quota has room for.

    They come due by themselves when the month turns; this catches a raised plan (or a new month by
    the usage clock) at once. Returns how many were woken.
    """
    limit = quota(settings)
    room = None if limit is None else limit - store.transfers.quota_used(connection_id, month_of())
    woken = store.transfers.wake_quota_waiting(connection_id, room)
    if woken:
        log.info("quota.woken", connection=connection_id, orders=woken)
    return woken


# ---------------------------------------------------------------------- usage for invoicing
@dataclass(frozen=True)
class UsageLine:
    """One connection's usage in one month, for a partner's invoice (``shopbridge usage``)."""

    connection: str
    connection_id: int
    month: str
    plan: str
    transferred_orders: int
    quota: int | None
    waiting_for_quota: int
    shops: int
    shop_fee: Decimal | None
    fee_total: Decimal | None
    warning: str | None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready (money as strings)."""
        out = asdict(self)
        for key in ("shop_fee", "fee_total"):
            out[key] = None if out[key] is None else str(out[key])
        return out


def usage_lines(
    store: Store, month: str | None = None, connection: str | int | None = None, *, history: bool = False
) -> list[UsageLine]:
    """Usage per connection (all, or one by name or id) for ``month`` (default this month).

    ``history``: every month with usage instead, oldest first. ``shops`` is the most shops seen in
    the month, at least the connection's one shop for months from its creation up to now.
    """
    month = check_month(month) if month else month_of()
    current = month_of()
    if connection is not None:
        conns = [store.connections.root(store.connections.find(connection).id)]
    else:
        conns = [c for c in store.connections.all() if c.parent_id is None]
    out: list[UsageLine] = []
    for c in conns:  # one line per Visma company: its shops (multishop) counted together
        settings = ConnectionSettings.model_validate(c.settings or {})
        group = store.connections.shops(c.id)
        per_month: dict[str, list[Any]] = {}
        for shop in group:
            for u in store.usage.history(shop.id):
                per_month.setdefault(u.month, []).append(u)
        months = sorted(per_month) if history else [month]
        waiting = sum(store.transfers.counts(x.id)[TransferState.WAITING_FOR_QUOTA.value] for x in group)
        for m in months:
            rows_m = per_month.get(m, [])
            orders = sum(r.transferred_orders for r in rows_m)
            live = [x for x in group if month_of(x.created_at) <= m <= current]
            shops = max(sum(r.shops for r in rows_m), len(live))
            fee = settings.shop_fee
            limit = quota(settings)
            status = QuotaStatus(str(settings.plan), m, orders, limit, waiting if m == current else 0)
            out.append(
                UsageLine(
                    connection=c.name,
                    connection_id=c.id,
                    month=m,
                    plan=str(settings.plan),
                    transferred_orders=orders,
                    quota=limit,
                    waiting_for_quota=status.waiting,
                    shops=shops,
                    shop_fee=fee,
                    fee_total=None if fee is None else fee * shops,
                    warning=status.warning if m == current else None,
                )
            )
    return out
