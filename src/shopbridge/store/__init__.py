"""The store: connections, encrypted secrets, bindings, cursors, the transfer log, attempts, hooks, usage.

    from shopbridge.store import open_store, TransferState
    store = open_store()                      # ./.shopbridge/shopbridge.sqlite (or $SHOPBRIDGE_HOME)
    store = open_store("postgresql://user@host/db")
    conn = store.connections.create("demo", starweb_base_url=..., settings={...})
    store.secrets.put(conn.id, "visma_tokens", {"access_token": ..., "refresh_token": ...})

Migrations are applied on open. Every API call is one short transaction; rows returned are
read-only snapshots. See ``transfers.py`` for the order flow's state machine.
"""

from .bindings import BindingConflict, content_hash
from .catalog import CatalogIssue, OrderLine
from .connections import ConnectionExists, UnknownConnection
from .crypto import SecretKeyError, ensure_key_file
from .db import Store, StoreError, open_store
from .events import StatusEvent
from .notifications import NotificationChannel, NotificationEvent, NotificationMessage
from .paths import default_data_dir
from .schema import Attempt, Binding, Connection, Transfer, TransferState, Usage, WebhookEvent, utcnow
from .tenants import EmailTaken, Tenant, TenantExists, User
from .transfers import ClaimLost, DuplicateDocument, IntentConflict, InvalidTransition, backoff
from .web_sessions import AuthToken, WebSession

__all__ = [
    "Attempt",
    "AuthToken",
    "Binding",
    "BindingConflict",
    "CatalogIssue",
    "ClaimLost",
    "Connection",
    "ConnectionExists",
    "DuplicateDocument",
    "EmailTaken",
    "IntentConflict",
    "InvalidTransition",
    "NotificationChannel",
    "NotificationEvent",
    "NotificationMessage",
    "OrderLine",
    "SecretKeyError",
    "StatusEvent",
    "Store",
    "StoreError",
    "Tenant",
    "TenantExists",
    "Transfer",
    "TransferState",
    "UnknownConnection",
    "Usage",
    "User",
    "WebSession",
    "WebhookEvent",
    "backoff",
    "content_hash",
    "default_data_dir",
    "ensure_key_file",
    "open_store",
    "utcnow",
]
