"""What a setting means before it is stored, and what a connection's money and status setup lacks.

- `check_setting` (for `connection set`): refuses a `reference_prefix` another shop of the company
  shares (or could be read as), resolves `payment_accounts` names to ids against Visma's bank
  accounts and the shop's payment methods, refuses unknown payment methods, and returns notes to
  print: the accounting consequence of a `document_type`, what drafts mean for capture, the
  re-consent payments need.
- `setup_problems` (for the setup check, `doctor`): inherited status ids, clashing references,
  capture that cannot happen, payment methods without a bank account or without the scope to find one.
"""

from __future__ import annotations

from typing import Any

from shopbridge.store import Store
from shopbridge.store.schema import Connection
from shopbridge.sync import payments
from shopbridge.sync.context import (
    VISMA_TOKENS,
    ConnectionContext,
    NotConfigured,
    effective_settings,
    open_context,
)
from shopbridge.sync.settings import DOCUMENT_TYPES, ConnectionSettings
from shopbridge.sync.shops import reference_clash, status_setting_problems

CAPTURE_NOTE = (
    "with invoice_draft no Visma event says delivered, so card and Klarna payments are not captured "
    "through the order status: capture them in the shop, or set capture_on invoiced to capture when the "
    "draft is booked"
)


def granted_scopes(store: Store, conn: Connection) -> str:
    """The scopes of the connection's Visma consent (its company's), as granted."""
    root = store.connections.root(conn.id)
    tokens = store.secrets.get(root.id, VISMA_TOKENS)
    return str(tokens.get("scope") or "") if isinstance(tokens, dict) else ""


def capture_problem(settings: ConnectionSettings) -> str | None:
    """Cards and Klarna never captured through the status: drafts, capture on delivered."""
    captures = "delivered" in settings.status_process_payment
    if settings.document_type == "invoice_draft" and settings.capture_on == "delivered" and captures:
        return CAPTURE_NOTE
    return None


async def _shop_methods(ctx: ConnectionContext) -> set[str]:
    return {str(m.idCode) for m in await ctx.starweb.list_payment_methods() if getattr(m, "idCode", None)}


async def check_setting(
    store: Store, conn: Connection, key: str, value: Any, *, remote: bool = True
) -> tuple[Any, list[str]]:
    """The value to store for `key` and notes for the user; raises ValueError with a sentence.
    Without `remote` nothing is asked of the shop or Visma (bank account names stay as typed)."""
    notes: list[str] = []
    current = effective_settings(store, conn)
    after = ConnectionSettings.model_validate({**current.model_dump(mode="json"), key: value})
    if key == "reference_prefix":
        clash = reference_clash(store, conn, after.reference_prefix)
        if clash:
            raise ValueError(clash)
    elif key == "document_type":
        notes.append(f"{after.document_type}: {DOCUMENT_TYPES[after.document_type]}")
        if capture_problem(after):
            notes.append(CAPTURE_NOTE)
        if after.document_type == "invoice" and not after.paid_payment_methods:
            notes.append(
                "no paid_payment_methods: every booked invoice is sent (invoice_delivery "
                f"{after.invoice_delivery}); set paid_payment_methods to settle checkout payments"
            )
    elif remote and key in ("payment_accounts", "paid_payment_methods", "invoice_delivery_by_payment_method"):
        value = await _check_payments(store, conn, key, after, notes)
    elif key == "capture_on" and after.document_type == "order" and after.capture_on == "invoiced":
        notes.append(
            "capture_on invoiced with document_type order: payments are captured when Visma invoices"
        )
    return value, notes


async def _check_payments(
    store: Store, conn: Connection, key: str, after: ConnectionSettings, notes: list[str]
) -> Any:
    try:
        ctx = open_context(store, conn.id)
    except NotConfigured as exc:
        if key == "payment_accounts":  # names become ids only against Visma's accounts
            raise ValueError(str(exc)) from None
        notes.append(f"not checked against the shop and Visma yet ({exc})")
        return getattr(after, key)
    async with ctx:
        methods = await _shop_methods(ctx)
        mapping: dict[str, Any] = dict(getattr(after, key)) if key != "paid_payment_methods" else {}
        named = list(mapping) if mapping else list(after.paid_payment_methods)
        unknown = [m for m in named if m not in methods and m != "default"]
        if unknown:
            raise ValueError(
                f"{key}: the shop has no payment method {', '.join(map(repr, unknown))}; "
                f"its payment methods: {', '.join(sorted(methods)) or 'none'}"
            )
        if key == "payment_accounts":
            accounts = await payments.bank_accounts(ctx.visma, connection=conn.name)
            return payments.resolve_accounts(accounts, after.payment_accounts)
        if key == "paid_payment_methods" and after.paid_payment_methods:
            unmapped = [m for m in after.paid_payment_methods if m not in after.payment_accounts]
            if unmapped and "default" not in after.payment_accounts:
                if not payments.has_scope(granted_scopes(store, conn)):
                    notes.append(payments.RECONSENT.format(name=store.connections.root(conn.id).name))
                notes.append(
                    f"{', '.join(unmapped)} use the company's default cheque account; map them with "
                    f"`shopbridge connection set {conn.name} payment_accounts METHOD=ACCOUNT,...` "
                    f"(`shopbridge connection accounts {conn.name}` lists the accounts)"
                )
        return getattr(after, key)


async def setup_problems(ctx: ConnectionContext) -> list[str]:
    """What in the connection's status and payment setup cannot work, in sentences."""
    store, conn, s = ctx.store, ctx.connection, ctx.settings
    problems = status_setting_problems(store, conn)
    clash = reference_clash(store, conn)
    if clash:
        problems.append(clash)
    capture = capture_problem(s)
    if capture:
        problems.append(capture)
    if not payments.registers_payments(s):
        return problems
    unmapped = [m for m in s.paid_payment_methods if m not in s.payment_accounts]
    if unmapped and "default" not in s.payment_accounts:
        if not payments.has_scope(granted_scopes(store, conn)):
            root = store.connections.root(conn.id).name
            problems.append(
                f"payment methods {', '.join(unmapped)} have no bank account in payment_accounts and "
                + payments.RECONSENT.format(name=root)
            )
            return problems
        problems.append(
            f"payment methods {', '.join(unmapped)} have no bank account in payment_accounts: their "
            "payments go to the default cheque account"
        )
    if s.payment_accounts and payments.has_scope(granted_scopes(store, conn)):
        accounts = {str(a.Id) for a in await payments.bank_accounts(ctx.visma, connection=conn.name)}
        for method, account in s.payment_accounts.items():
            if account not in accounts:
                problems.append(
                    f"payment_accounts.{method} names {account}, which is no bank account in Visma"
                )
    return problems
