"""`shopbridge doctor`: what would stop orders before they wait, per connection and shop, with the fix.

Each check is one async function registered with `@check("name")`: it gets a `Patient` (one
connection: its context, settings and whether to fix) and returns `Finding`s, one line each:
`ok`, `warn` or `fail`, with the fix in words. With `fix=True` a check may repair what it can
(create the service articles, register the web hooks, narrow file modes) and says so. A check that
cannot ask the shop or Visma reports a warning and the others go on. To add a check, write the
function here (or in your own module, imported before `diagnose` runs) and decorate it.

The order of the checks is the order of registration; `access` runs first and, when a system
refuses or does not answer, the other checks of that connection are skipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import httpx

from shopbridge import plans
from shopbridge.http.errors import ApiError, PermissionDeniedError
from shopbridge.store import Store
from shopbridge.store.schema import Connection
from shopbridge.sync.context import (
    VISMA_TOKENS,
    WEBHOOK_SECRET,
    ConnectionContext,
    NotConfigured,
    open_context,
)
from shopbridge.sync.setting_checks import check_remote, reference
from shopbridge.sync.settings import ConnectionSettings, rate_key
from shopbridge.sync.shops import reference_clash

Level = Literal["ok", "warn", "fail"]
LEVELS: tuple[Level, ...] = ("ok", "warn", "fail")


@dataclass
class Finding:
    """One line of the report."""

    connection: str
    check: str
    level: Level
    message: str
    fix: str | None = None
    fixed: bool = False  # `--fix` changed something for this line

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Patient:
    """What a check looks at: one connection (a shop), ready to ask both systems."""

    store: Store
    connection: Connection
    ctx: ConnectionContext
    fix: bool = False
    public_url: str | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.connection.name

    @property
    def settings(self) -> ConnectionSettings:
        return self.ctx.settings

    def add(
        self, check: str, level: Level, message: str, fix: str | None = None, *, fixed: bool = False
    ) -> None:
        self.findings.append(Finding(self.name, check, level, message, fix, fixed))


Check = Callable[[Patient], Awaitable[None]]
CHECKS: list[tuple[str, Check]] = []


def check(name: str) -> Callable[[Check], Check]:
    """Register `fn(patient)` as check `name` (it adds its findings with `patient.add`)."""

    def register(fn: Check) -> Check:
        CHECKS[:] = [(n, f) for n, f in CHECKS if n != name] + [(name, fn)]
        return fn

    return register


async def diagnose(
    store: Store,
    connections: list[Connection],
    *,
    fix: bool = False,
    public_url: str | None = None,
    **client_kw: Any,
) -> list[Finding]:
    """Run every check on every connection (and the data directory once); the findings in order."""
    findings = check_data_dir(store, fix=fix)
    for conn in connections:
        try:
            ctx = open_context(store, conn.id, **client_kw)
        except NotConfigured as exc:
            findings.append(Finding(conn.name, "access", "fail", str(exc), _connect_fix(exc)))
            continue
        patient = Patient(store, conn, ctx, fix=fix, public_url=public_url)
        try:
            if await _access(patient):
                for name, fn in CHECKS:
                    try:
                        await fn(patient)
                    except ApiError as exc:
                        patient.add(name, "warn", f"could not check: {_said(exc)}", "run doctor again")
        finally:
            await ctx.aclose()
        findings.extend(patient.findings)
    return findings


def exit_code(findings: list[Finding]) -> int:
    """1 when any line failed, else 0."""
    return 1 if any(f.level == "fail" for f in findings) else 0


def _connect_fix(exc: Exception) -> str:
    return "run `shopbridge connect visma`" if "Visma" in str(exc) else "run `shopbridge connect starweb`"


def _said(exc: ApiError) -> str:
    where = f" at {exc.url}" if getattr(exc, "url", "") else ""
    return f"{exc.service or 'remote'}{where}: {exc.message}"


async def _access(p: Patient) -> bool:
    """Both systems answer and take the credentials; else one failing line each and no more checks."""
    ok = True
    for label, call, again in (
        ("the shop", p.ctx.starweb.get_shop, "check the shop's address and run `shopbridge connect starweb`"),
        ("Visma", p.ctx.visma.company_settings.get, "run `shopbridge connect visma`"),
    ):
        try:
            await call()
        except ApiError as exc:
            ok = False
            p.add("access", "fail", f"{label} does not let us in: {_said(exc)}", again)
    if ok:
        p.add("access", "ok", f"the shop ({p.connection.starweb_base_url}) and Visma answer")
    return ok


# -- the data directory -------------------------------------------------------------------------------
def check_data_dir(store: Store, *, fix: bool) -> list[Finding]:
    """The data directory and the SQLite files are private to their owner (0700 / 0600)."""
    from shopbridge.store.paths import sqlite_files, wider_than_private

    out: list[Finding] = []
    paths: list[Path] = []
    if store.data_dir is not None and Path(store.data_dir).exists():
        paths.append(Path(store.data_dir))
    if store.dialect == "sqlite" and store.engine.url.database:
        paths.extend(sqlite_files(store.engine.url.database))
    for path in paths:
        mode = wider_than_private(path)
        if not mode:
            continue
        want = 0o700 if path.is_dir() else 0o600
        if fix:
            path.chmod(want)
            out.append(Finding("-", "files", "ok", f"{path} was {mode}, now {want:04o}", fixed=True))
        else:
            out.append(
                Finding(
                    "-",
                    "files",
                    "warn",
                    f"{path} is {mode}: other users can read it",
                    f"chmod {want:o} {path}",
                )
            )
    if not out:
        out.append(Finding("-", "files", "ok", "the data directory and database are private to their owner"))
    return out


# -- service articles and VAT codings ---------------------------------------------------------------
SERVICE_SETTINGS = {
    "shipping_articles": "shipping",
    "fee_articles": "payment fee",
    "discount_articles": "discount",
    "adjustment_articles": "öre adjustment",
}


@check("service_articles")
async def _service_articles(p: Patient) -> None:
    """The shipping, fee, discount, öre adjustment and foreign charge articles the settings name exist,
    are active, carry the rate."""
    from shopbridge.onboarding import ensure_service_articles

    created: list[str] = []
    if p.fix:
        created = [w.message for w in await ensure_service_articles(p.ctx)]
    ref = reference(p.ctx)
    await ref.refresh_articles()
    for setting, label in SERVICE_SETTINGS.items():
        for rate, number in getattr(p.settings, setting).items():
            article = await ref.article(number)
            what = f"{label} article {number} ({rate} %)"
            if article is None:
                coding = await ref.coding_for_rate(Decimal(rate), p.settings.coding_by_rate)
                fix = (
                    "`shopbridge doctor --fix` creates it"
                    if coding
                    else f"add an account coding for {rate} % in Visma (or set coding_by_rate), then --fix"
                )
                p.add("service_articles", "fail", f"{what} does not exist in Visma: such orders wait", fix)
            elif not article.is_active:
                p.add("service_articles", "fail", f"{what} is inactive in Visma", "activate it in Visma")
            elif article.vat_rate != Decimal(rate):
                p.add(
                    "service_articles",
                    "fail",
                    f"{what} carries {rate_key(article.vat_rate)} % VAT in Visma, not {rate} %",
                    f"give it an account coding for {rate} % or name another article in {setting}",
                )
            else:
                fixed = any(m.startswith(f"created article {number} ") for m in created)
                message = f"{what} {'created' if fixed else 'exists'}"
                p.add("service_articles", "ok", message, fixed=fixed)
    for charge, number in p.settings.foreign_charge_articles.items():  # EU reverse charge and export
        article = await ref.article(number)
        what = f"{charge} article {number}"
        if article is None:
            p.add(
                "service_articles",
                "fail",
                f"{what} does not exist in Visma: such orders wait",
                "`shopbridge doctor --fix` creates it with a goods coding for that treatment",
            )
        elif not article.is_active:
            p.add("service_articles", "fail", f"{what} is inactive in Visma", "activate it in Visma")
        else:
            fixed = any(m.startswith(f"created article {number} ") for m in created)
            p.add("service_articles", "ok", f"{what} {'created' if fixed else 'exists'}", fixed=fixed)


async def rates_in_use(p: Patient) -> set[str]:
    """VAT rates the shop uses: on its latest orders, its fixed shipping/fee rates, and the service
    article settings."""
    rates = {rate_key(r) for s in SERVICE_SETTINGS for r in getattr(p.settings, s)}
    page = await p.ctx.starweb.list_orders_page(
        page=1, include=["items"], sortBy="orderId", sortOrder="DESC", includeNonCompletePayments=True
    )
    for order in page.items:
        for item in getattr(order, "items", None) or []:
            rate = getattr(item, "vatRate", None)
            if rate is not None and Decimal(str(rate)) > 0:
                rates.add(rate_key(rate))
    return rates


@check("vat_codings")
async def _vat_codings(p: Patient) -> None:
    """Every VAT rate in use has an article account coding in Visma (or one named in coding_by_rate)."""
    ref = reference(p.ctx)
    missing = []
    for rate in sorted(await rates_in_use(p), key=Decimal):
        if await ref.coding_for_rate(Decimal(rate), p.settings.coding_by_rate) is None:
            missing.append(rate)
    if missing:
        p.add(
            "vat_codings",
            "fail",
            f"no Visma account coding for {', '.join(m + ' %' for m in missing)}: articles at that rate "
            "cannot be created and rows at it wait",
            "add the coding in Visma, or set coding_by_rate RATE=<coding id>",
        )
    else:
        p.add("vat_codings", "ok", "every VAT rate in use has an account coding")


# -- statuses ---------------------------------------------------------------------------------------
@check("statuses")
async def _statuses(p: Patient) -> None:
    """Trigger, mapped and returned statuses exist in this shop (status ids are per shop)."""
    problems = []
    for key in ("trigger_statuses", "status_map", "returned_statuses"):
        problem = await check_remote(p.ctx, key, getattr(p.settings, key))
        if problem:
            problems.append(problem)
    for problem in problems:
        p.add("statuses", "fail", problem, "set the status id or idCode this shop uses (connection set)")
    own = p.connection.settings or {}
    if p.connection.parent_id is not None and p.settings.status_map and "status_map" not in own:
        ids = [v for v in p.settings.status_map.values() if str(v).isdigit()]
        if ids:
            p.add(
                "statuses",
                "warn",
                f"status_map is inherited and names status ids ({', '.join(ids)}); status ids are per shop",
                f"set this shop's own: connection set {p.name} status_map ...",
            )
    if not problems:
        p.add("statuses", "ok", "trigger, mapped and returned statuses exist in this shop")


# -- web hooks ----------------------------------------------------------------------------------------
@check("web_hooks")
async def _web_hooks(p: Patient) -> None:
    """The shop calls our receiver for the events we listen to, at an address that answers."""
    from shopbridge.engine.hooks import (
        HOOK_PREFIX,
        hook_events,
        hook_url,
        redact_hook_url,
        register_starweb_hooks,
    )

    mine = f"{HOOK_PREFIX}/{p.connection.id}/"
    hooks = [h for h in await p.ctx.starweb.list_web_hooks() if mine in str(h.url or "")]
    wanted = set(hook_events(p.settings))
    secret = p.store.secrets.get(p.connection.id, WEBHOOK_SECRET)
    expected = (
        hook_url(p.public_url, str(p.connection.id), secret)
        if p.public_url and isinstance(secret, str)
        else None
    )
    if p.fix and p.public_url:
        from shopbridge.engine.embedded import hook_secret

        url = hook_url(p.public_url, str(p.connection.id), hook_secret(p.store, p.connection.id))
        done = await register_starweb_hooks(p.ctx.starweb, url, sorted(wanted))
        if done.created or done.removed:
            p.add(
                "web_hooks",
                "ok",
                f"registered {', '.join(done.created) or 'none'} at {redact_hook_url(url)}",
                fixed=True,
            )
        hooks = [h for h in await p.ctx.starweb.list_web_hooks() if mine in str(h.url or "")]
        expected = url
    if not hooks:
        how = "`shopbridge doctor --fix --public-url URL` or `shopbridge run --public-url URL` registers them"
        p.add(
            "web_hooks",
            "warn",
            f"no web hooks: new orders are found by polling every {p.settings.poll_interval_s:g} s",
            how,
        )
        return
    urls = {str(h.url) for h in hooks}
    have = {str(h.event) for h in hooks if expected is None or str(h.url) == expected}
    if not wanted <= have:
        p.add(
            "web_hooks",
            "fail",
            f"the shop does not call us for {', '.join(sorted(wanted - have))}",
            "`shopbridge doctor --fix --public-url URL` registers them",
        )
    for url in sorted(urls):
        shown = redact_hook_url(url)
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                answer = await client.get(url)
        except httpx.HTTPError as exc:
            p.add(
                "web_hooks",
                "fail",
                f"web hooks point at {shown}, which does not answer ({type(exc).__name__})",
                "start `shopbridge run` there, or register the right address with doctor --fix --public-url",
            )
            continue
        if answer.status_code in (404,) and answer.headers.get("content-type", "").startswith(
            "application/json"
        ):
            p.add(
                "web_hooks",
                "fail",
                f"web hooks at {shown} are refused (an old secret?)",
                "doctor --fix --public-url URL",
            )
        elif answer.status_code in (405, 200):
            p.add("web_hooks", "ok", f"web hooks registered at {shown}, which answers")
        else:
            p.add(
                "web_hooks",
                "warn",
                f"web hooks at {shown} answer HTTP {answer.status_code}",
                "check the address",
            )


# -- Visma: scopes and modules -------------------------------------------------------------------------
NEEDED_SCOPES = ("ea:api", "ea:sales", "offline_access")


def scopes_needed(settings: ConnectionSettings) -> dict[str, str]:
    """Scope -> why, for the features the settings enable."""
    need = {s: "every connection" for s in NEEDED_SCOPES}
    if settings.paid_payment_methods:
        methods = set(settings.paid_payment_methods)
        named = "default" in settings.payment_accounts or methods <= set(settings.payment_accounts)
        if not named:
            need["ea:purchase"] = "payments: finding the bank account (or set payment_accounts default)"
    return need


@check("scopes")
async def _scopes(p: Patient) -> None:
    """The Visma consent holds the scopes the enabled features need."""
    root = p.store.connections.root(p.connection.id)
    raw = p.store.secrets.get(root.id, VISMA_TOKENS)
    granted = set(str(raw.get("scope") or "").split()) if isinstance(raw, dict) else set()
    if not granted:
        p.add(
            "scopes", "warn", "Visma did not say which scopes the consent holds", "run `connect visma` again"
        )
        return
    need = scopes_needed(p.settings)
    missing = {s: why for s, why in need.items() if s not in granted}
    if not missing:
        p.add("scopes", "ok", f"the consent holds {', '.join(sorted(need))}")
        return
    for scope, why in missing.items():
        fix = "`shopbridge connect visma --scope " + scope + "`"
        if scope == "ea:purchase":
            fix = "set payment_accounts default=<bank account id>, or " + fix
        p.add("scopes", "fail", f"the Visma consent lacks {scope}, needed for {why}", fix)


@check("order_module")
async def _order_module(p: Patient) -> None:
    """document_type order needs Visma's order module."""
    if p.settings.document_type != "order":
        return
    try:
        await p.ctx.visma.request("GET", "orders", params={"$page": 1, "$pagesize": 1})
    except PermissionDeniedError as exc:
        p.add(
            "order_module",
            "fail",
            f"document_type is order but the Visma company has no order module ({exc.message})",
            "add the module in Visma, or set document_type invoice_draft",
        )
        return
    p.add("order_module", "ok", "the Visma company has the order module (document_type order)")


# -- plan, capture, multishop -------------------------------------------------------------------------
@check("plan")
async def _plan(p: Patient) -> None:
    """What the settings turn on is in the plan."""
    s = p.settings
    wanted = {
        plans.ORDER_STATUS: bool(s.status_map or s.paid_payment_methods or s.returned_statuses),
        plans.MULTISHOP: p.connection.parent_id is not None
        or len(p.store.connections.shops(p.connection.id)) > 1,
        plans.PLUGINS: bool(s.plugins),
    }
    from shopbridge.sync.directions import ENTITIES, FEATURE, PRESETS

    preset = PRESETS.get(s.preset or "", {})
    for entity in ENTITIES:
        if (s.directions.get(entity) or preset.get(entity, "off")) != "off":
            wanted[FEATURE[entity]] = True
    lacking = [f for f, on in wanted.items() if on and not plans.allows(s, f)]
    if lacking:
        level: Level = "fail" if plans.MULTISHOP in lacking else "warn"
        p.add(
            "plan",
            level,
            f"plan {s.plan} lacks {', '.join(lacking)}, which the settings use: that part does nothing",
            "raise the plan (connection set NAME plan ...) or turn the settings off",
        )
    else:
        p.add("plan", "ok", f"plan {s.plan} covers what the settings use")


@check("capture")
async def _capture(p: Patient) -> None:
    """With invoice drafts (or invoices booked at once) no Visma event says "delivered": card and
    Klarna payments are not captured through a status change unless `capture_on invoiced`; otherwise
    the merchant captures in the shop."""
    s = p.settings
    if s.document_type == "order" and s.capture_on == "delivered":
        p.add("capture", "ok", "orders become Visma orders: shipping them sends delivered (and captures)")
        return
    if s.capture_on == "invoiced":
        p.add("capture", "ok", f"{s.document_type}: payments are captured when the order is invoiced")
        return
    kind = "invoice drafts" if s.document_type == "invoice_draft" else "invoices booked at once"
    text = (
        f"{kind}: Visma never says delivered, so cards and Klarna are not captured through status; "
        "capture them in the shop"
    )
    fix = f"capture in the shop's admin, or connection set {p.name} capture_on invoiced"
    feedback_captures = bool(s.status_map) and "delivered" in s.status_process_payment
    level: Level = "warn" if s.paid_payment_methods or feedback_captures else "ok"
    p.add("capture", level, text, fix if level == "warn" else None)


@check("multishop")
async def _multishop(p: Patient) -> None:
    """A further shop: its own reference prefix, and cost centre / project that exist in Visma."""
    shops = p.store.connections.shops(p.connection.id)
    if len(shops) < 2:
        return
    clash = reference_clash(p.store, p.connection)  # the same prefix, or one that reads as another's
    if clash:
        p.add(
            "multishop", "fail", clash, f"connection set {p.name} reference_prefix '<something of its own> '"
        )
    for key in ("cost_center_item_id", "project_id"):
        problem = await check_remote(p.ctx, key, getattr(p.settings, key))
        if problem:
            p.add("multishop", "fail", problem, f"connection set {p.name} {key} <id> (or unset it)")
    if not any(f.check == "multishop" and f.level != "ok" for f in p.findings):
        p.add("multishop", "ok", "its own reference prefix; its cost centre and project exist")
