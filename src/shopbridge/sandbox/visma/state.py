"""In-memory state of the Visma sandbox: one company, its tables, number series, flags and tokens.

Records are stored in wire shape (PascalCase dicts, money as Decimal), keyed by their Id, so reads are
dict look-ups and list answers are a copy. All mutation happens on the event loop thread (handlers are
`async def`), so no locking is needed. `--state FILE` persistence writes the whole state as JSON
(atomically, debounced) and reloads it on start.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from .clock import ServerClock, parse_datetime

STATE_VERSION = 1

TABLES = (
    "customers",
    "articles",
    "articleaccountcodings",
    "units",
    "termsofpayments",
    "currencies",
    "vatcodes",
    "deliverymethods",
    "deliveryterms",
    "customerinvoicedrafts",
    "customerinvoices",
    "orders",
    "salespricelists",
    "salespricelistrows",
    "bankaccounts",
    "fiscalyears",
    "countries",
    "payments",
    "costcenters",
    "costcenteritems",
    "projects",
    "articlelabels",
    "customerlabels",
    "notes",
    "messagethreads",
    "messages",
    "accounts",
    "openingbalances",
)


@dataclass
class CompanyFlags:
    """Switches that decide how the company behaves; admin-settable (`POST /_sandbox/visma/company`)."""

    has_order_module: bool = True  # /v2/orders needs the optional order module
    api_module_enabled: bool = True  # off: every API call -> "No access to module: api_standard"
    has_open_fiscal_year: bool = True  # off: creating invoices/drafts fails (no open fiscal year)
    has_invoice_number_series: bool = True  # off: converting/creating invoices fails (no number series)
    has_pricelist_module: bool = True  # Pro variant: /v2/salespricelists
    show_prices_excl_vat_pc: bool = True  # CompanySettings.ShowPricesExclVatPC (drives IncludesVat)
    domestic_currency_rounding: int = 0  # CompanySettings.DomesticCurrencyRounding: 0 none, 1 whole units
    startup_guide_completed: bool = True  # off: every API call -> StartupGuideNotCompleted (4003)


@dataclass
class Series:
    """Next numbers handed out by the company's number series."""

    customer: int = 1
    invoice: int = 1
    order: int = 1
    pricelist: int = 1


@dataclass
class Tokens:
    """Identity-server state (kept across restarts when a state file is used)."""

    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh: dict[str, dict[str, Any]] = field(default_factory=dict)


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal):
            return float(o)  # shortest repr: a 2-decimal Decimal prints exactly as written
        if isinstance(o, datetime):
            return o.isoformat()
        return super().default(o)


def dumps(obj: Any) -> str:
    """JSON text for API answers and the state file (Decimal -> JSON number)."""
    return json.dumps(obj, cls=_Encoder, ensure_ascii=False, separators=(",", ":"))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def loads(text: str | bytes) -> Any:
    """JSON with every non-integer number as Decimal (never float); NaN/Infinity are refused."""
    return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)


class VismaState:
    """The whole company: tables, company settings record, flags, number series and tokens."""

    def __init__(self) -> None:
        self.clock = ServerClock()
        self.tables: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in TABLES}
        self.company: dict[str, Any] = {}
        self.flags = CompanyFlags()
        self.series = Series()
        self.tokens = Tokens()
        self.customer_numbers: dict[str, str] = {}  # CustomerNumber -> Id
        self.article_numbers: dict[str, str] = {}  # Number -> Id
        self.dirty = False

    # ---- tables ------------------------------------------------------------------------------
    def table(self, name: str) -> dict[str, dict[str, Any]]:
        return self.tables[name]

    def touch(self) -> None:
        """Mark the state changed (the persister saves it soon)."""
        self.dirty = True

    def reindex(self) -> None:
        self.customer_numbers = {
            str(c["CustomerNumber"]): cid
            for cid, c in self.tables["customers"].items()
            if c.get("CustomerNumber")
        }
        self.article_numbers = {str(a["Number"]): aid for aid, a in self.tables["articles"].items()}

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.tables.items()}

    # ---- persistence ---------------------------------------------------------------------------
    def to_json(self) -> str:
        data = {
            "version": STATE_VERSION,
            "saved_at": self.clock.now().isoformat(),
            "company": self.company,
            "flags": asdict(self.flags),
            "series": asdict(self.series),
            "tables": self.tables,
            "tokens": asdict(self.tokens),
        }
        return dumps(data)

    @classmethod
    def from_json(cls, text: str) -> VismaState:
        data = loads(text)
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported Visma sandbox state version: {data.get('version')!r}")
        state = cls()
        state.company = data["company"]
        state.flags = _load_dc(CompanyFlags, data.get("flags", {}))
        state.series = _load_dc(Series, data.get("series", {}))
        state.tokens = _load_dc(Tokens, data.get("tokens", {}))
        for name in TABLES:
            state.tables[name] = data.get("tables", {}).get(name, {})
        saved = data.get("saved_at")
        if saved:
            state.clock.bump_past(parse_datetime(saved))
        state.reindex()
        return state

    def save(self, path: Path) -> None:
        """Write atomically (temp file + rename)."""
        write_atomic(path, self.to_json())
        self.dirty = False


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".visma-state-", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_dc(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
