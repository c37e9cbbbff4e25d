"""Where the portal meets work of other parts that may not be there yet.

* :func:`reconciliation_of_month`: the month's reconciliation result (``shopbridge reconcile``,
  ``sync/reconcile.py``) when that module exists and has one; None otherwise.
"""

from __future__ import annotations

import importlib
from typing import Any

from shopbridge.store import Store
from shopbridge.store.schema import Connection
from shopbridge.store.usage import month_of


def reconciliation_of_month(store: Store, conn: Connection, month: str | None = None) -> Any:
    try:
        reconcile = importlib.import_module("shopbridge.sync.reconcile")
    except ImportError:
        return None
    latest = getattr(reconcile, "latest_result", None)
    if latest is None:
        return None
    try:
        return latest(store, conn.id, month or month_of())
    except Exception:
        return None
