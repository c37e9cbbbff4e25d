"""Example shopbridge plugin: the buyer's own order reference, found in a checkout note, on the invoice.

Many B2B buyers type their purchase order number into a free-text checkout field ("PO 4711, leave at
the back door"). Starweb keeps it in `customInfo1` (or another `customInfoN`). This plugin finds a
reference in that note and writes it into the Visma document's `BuyersOrderReference` (max 35
characters), so it is printed on the invoice, and keeps the whole note as a text row.

Install: copy this file into the plugins folder (`$SHOPBRIDGE_PLUGINS_DIR`, or `plugins/` in the data
directory, e.g. `.shopbridge/plugins/`). Optional: `shopbridge connection set NAME plugins
reference_from_note` to run only the plugins listed. A note without a reference leaves the document
as it is; a plugin that raises parks only that order, with its name in the reason.
"""

from __future__ import annotations

import re
from typing import Any

from shopbridge.plugins import hookimpl

NOTE_FIELD = "customInfo1"
"""The Starweb order field holding the note."""
REFERENCE = re.compile(r"\b(?:PO|ref(?:erence|erens)?|order(?:nr|nummer)?)[\s.:#-]*([A-Z0-9][\w/-]*)", re.I)
"""`PO 4711`, `Ref: AB-12`, `referens 99/3`, `ordernr 123` → the part after the keyword."""
MAX_BUYERS_REFERENCE = 35
MAX_ROW_TEXT = 2000


def find_reference(note: str | None) -> str | None:
    """The reference in a checkout note, or None."""
    match = REFERENCE.search(note or "")
    return match.group(1)[:MAX_BUYERS_REFERENCE] if match else None


def text_row(text: str, line_number: int, kind: str) -> dict[str, Any]:
    """A text row with the fields Visma requires of an invoice draft row or an order row."""
    row: dict[str, Any] = {"IsTextRow": True, "Text": text[:MAX_ROW_TEXT], "LineNumber": line_number}
    if kind == "order":
        row.update(IsWorkCost=False, EligibleForReverseChargeOnVat=False)
    else:
        row["ReversedConstructionServicesVatFree"] = False
    return row


@hookimpl
def shopbridge_order_document(document: dict[str, Any], wire: dict[str, Any], kind: str) -> None:
    """Before the invoice draft or order is sent: the reference and the note onto the document.

    An implementation takes only the arguments it needs (here the `document`, the raw Starweb order
    `wire` and the document `kind`) and changes the document in place; returning a new dict would
    replace it.
    """
    note = str(wire.get(NOTE_FIELD) or "").strip()
    reference = find_reference(note)
    if reference is None:
        return
    document["BuyersOrderReference"] = reference
    rows = document.setdefault("Rows", [])
    rows.append(text_row(f"Note: {note}", len(rows) + 1, kind))
