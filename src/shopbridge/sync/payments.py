"""Money on Visma invoices: which bank account, which payment type, and registering it exactly once.

- **Bank accounts** (`/bankaccounts`) need the `ea:purchase` scope. A connection that registers
  payments (`paid_payment_methods` set) asks for it when it is connected (`scopes_for`); one made
  before asks again with `shopbridge connect visma` (a re-consent: Visma shows the consent page once
  more, nothing else changes). `payment_accounts` maps a payment method idCode (or `default`) to an
  account by name or id (`resolve_accounts`, used by `connection set`); an unmapped method takes
  `default`, else the company's default cheque account.
- **Payment type** (`payment_type`): what is paid equals what remains → CompletePayment; it differs
  from the invoice only by Visma's öre rounding (the company rounds invoices to whole kronor:
  `TotalRoundings`) or by at most `totals_tolerance` → Rounding, which settles the invoice and books
  the difference as rounding, either way; less → PartialPayment (the rest stays open, and is said).
  A refund on a credit invoice is the same with negative amounts.
- **Exactly once** (`register`): the caller records its intent (with what remained before) first;
  a lost answer is reconciled by reading the invoice again: its `RemainingAmount` already lowered by
  this payment means it went through.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shopbridge.http.errors import PermissionDeniedError
from shopbridge.sync.settings import ConnectionSettings
from shopbridge.visma.client import VismaClient
from shopbridge.visma.oauth import DEFAULT_SCOPES

PURCHASE_SCOPE = "ea:purchase"
PARTIAL, COMPLETE, ROUNDING = 1, 2, 3
TYPE_NAMES = {PARTIAL: "partial", COMPLETE: "complete", ROUNDING: "rounding"}
RECONSENT = (
    "registering payments needs Visma's ea:purchase scope to read the company's bank accounts; "
    "run `shopbridge connect visma --connection {name}` again to give it (Visma asks for consent once more)"
)


class PaymentSetupError(ValueError):
    """Payments cannot be registered as set up; the message says what to do."""


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def registers_payments(settings: ConnectionSettings) -> bool:
    """Whether the connection registers payments in Visma (and so needs the bank accounts)."""
    return bool(settings.paid_payment_methods)


def scopes_for(settings: ConnectionSettings | None) -> tuple[str, ...]:
    """The OAuth scopes a connection asks for: the defaults, plus ea:purchase when it registers payments."""
    if settings is not None and registers_payments(settings):
        return (*DEFAULT_SCOPES, PURCHASE_SCOPE)
    return tuple(DEFAULT_SCOPES)


def has_scope(granted: str, scope: str = PURCHASE_SCOPE) -> bool:
    return scope in (granted or "").split()


async def bank_accounts(visma: VismaClient, *, connection: str = "NAME") -> list[Any]:
    """The company's active bank accounts (default cheque account first)."""
    try:
        accounts = await visma.bank_accounts.list()
    except PermissionDeniedError as exc:
        raise PaymentSetupError(RECONSENT.format(name=connection)) from exc
    active = [a for a in accounts if a.IsActive is not False]
    return sorted(active, key=lambda a: not a.IsDefaultChequeAccount)


def resolve_accounts(accounts: list[Any], mapping: dict[str, str]) -> dict[str, str]:
    """`payment_accounts` with every account named by id or name (case ignored) turned into its id."""
    by_id = {str(a.Id).lower(): str(a.Id) for a in accounts}
    by_name = {str(a.Name or "").casefold(): str(a.Id) for a in accounts}
    out: dict[str, str] = {}
    for method, value in mapping.items():
        key = str(value).strip()
        found = by_id.get(key.lower()) or by_name.get(key.casefold())
        if found is None:
            names = ", ".join(f"{a.Name} ({a.Id})" for a in accounts) or "none"
            raise PaymentSetupError(
                f"payment_accounts.{method}: no Visma bank account {value!r}; the company has: {names}"
            )
        out[method] = found
    return out


async def account_for(
    visma: VismaClient, settings: ConnectionSettings, method: str, cache: dict[str, Any], *, connection: str
) -> str:
    """The bank account id a payment made with `method` is booked on."""
    accounts = settings.payment_accounts
    chosen = accounts.get(method) or accounts.get("default")
    if chosen:
        return chosen
    if "default_bank_account" not in cache:
        listed = await bank_accounts(visma, connection=connection)
        cheque = [a for a in listed if a.IsDefaultChequeAccount] or listed
        if not cheque:
            raise PaymentSetupError(
                "the Visma company has no bank account; add one in Visma or set payment_accounts"
            )
        cache["default_bank_account"] = str(cheque[0].Id)
    return str(cache["default_bank_account"])


@dataclass(frozen=True)
class Settlement:
    """How one payment meets one invoice."""

    kind: int
    remaining_before: Decimal
    remaining_after: Decimal

    @property
    def residue(self) -> Decimal:
        return self.remaining_after


def payment_type(invoice: Any, amount: Decimal, *, tolerance: Decimal) -> Settlement:
    """The payment type for paying `amount` (negative: a refund) on `invoice`; raises ValueError with
    a sentence when it cannot be registered (more than remains, or the wrong sign)."""
    remaining = _dec(invoice.RemainingAmountInvoiceCurrency)
    total = _dec(invoice.TotalAmountInvoiceCurrency)
    roundings = _dec(invoice.TotalRoundings)
    sign = 1 if remaining > 0 else -1
    what = "refund" if sign < 0 else "payment"
    if remaining == 0:
        raise ValueError("nothing remains on the invoice")
    if amount * sign <= 0:
        raise ValueError(f"the {what} {amount} has the wrong sign for an invoice with {remaining} left")
    difference = remaining - amount
    if difference == 0:
        return Settlement(COMPLETE, remaining, Decimal(0))
    untouched = remaining == total  # nothing paid yet: the whole difference is the document's own
    if untouched and (abs(difference) <= abs(roundings) or abs(difference) <= tolerance):
        return Settlement(ROUNDING, remaining, Decimal(0))
    if difference * sign < 0:
        raise ValueError(f"the {what} {amount} is larger than what remains ({remaining})")
    return Settlement(PARTIAL, remaining, difference)


async def register(
    visma: VismaClient,
    invoice_id: str,
    body: dict[str, Any],
    settlement: Settlement,
) -> None:
    """POST the payment; a lost answer is looked for as the invoice's remaining amount having moved."""
    amount = _dec(body["PaymentAmount"])
    expected = settlement.remaining_after
    sign = 1 if settlement.remaining_before > 0 else -1

    async def reconcile() -> Any:
        now = await visma.invoices.get(invoice_id)
        if (_dec(now.RemainingAmountInvoiceCurrency) - expected) * sign <= 0:
            return {"PaymentAmount": amount, "PaymentCurrency": body.get("PaymentCurrency")}
        return None

    await visma.invoices.create_payment(invoice_id, body, reconcile=reconcile)


def went_through(invoice: Any, details: dict[str, Any]) -> bool:
    """Whether a payment recorded as sent (`details` of its intent) shows on the invoice already."""
    before = details.get("remaining_before")
    after = details.get("remaining_after")
    if before is None or after is None:
        return False
    sign = 1 if _dec(before) > 0 else -1
    return (_dec(invoice.RemainingAmountInvoiceCurrency) - _dec(after)) * sign <= 0
