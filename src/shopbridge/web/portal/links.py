"""Links from the portal into the shop's and Visma's own user interfaces.

The shop's order page sits at ``<shop address>/admin/orders/<order id>``; Visma eEkonomi's documents
are opened in its web app. Against a sandbox (any API base that is not Visma's) the link points at
the document in the sandbox's API, which is what there is to look at.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from shopbridge.store import Store
from shopbridge.store.schema import Connection

VISMA_APP = "https://eaccounting.vismaonline.com"
VISMA_API_HOST = "eaccountingapi.vismaonline.com"
RESOURCE = {"invoice_draft": "customerinvoicedrafts", "order": "orders", "invoice": "customerinvoices"}
APP_PATH = {
    "invoice_draft": "#/sales/invoices/drafts/",
    "order": "#/sales/orders/",
    "invoice": "#/sales/invoices/",
}


def shop_order_url(conn: Connection, order_id: str) -> str | None:
    if not conn.starweb_base_url:
        return None
    parts = urlsplit(conn.starweb_base_url)
    base = parts.path.split("/api/")[0] if "/api/" in parts.path else ""
    return f"{parts.scheme}://{parts.netloc}{base}/admin/orders/{order_id}"


def visma_document_url(
    store: Store, conn: Connection, kind: str | None, document_id: str | None
) -> str | None:
    if not document_id:
        return None
    root = store.connections.root(conn.id)
    api = root.visma_api_base or ""
    kind = kind or "invoice_draft"
    if not api or urlsplit(api).hostname == VISMA_API_HOST:
        return f"{VISMA_APP}/{APP_PATH.get(kind, APP_PATH['invoice_draft'])}{document_id}"
    return f"{api.rstrip('/')}/{RESOURCE.get(kind, RESOURCE['invoice_draft'])}/{document_id}"
