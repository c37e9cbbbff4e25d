"""Several shops on one Visma company: keeping each shop's documents and statuses its own.

- **References**: two shops of one company must not be able to give two orders the same reference
  (`reference_clash`): the same prefix, or one prefix followed by digits being the other ("Shop" and
  "Shop1": "Shop1" + "341" = "Shop" + "1341"), compared without regard to case like Visma's filters.
- **Look-ups** (`ShopScope`): a document found by reference (reconcile, adopt, a credit) is this
  shop's only when no other shop of the company has it bound, and when it carries this shop's cost
  centre or project on its rows if the shop sets one.
- **Order status ids** are per shop in Starweb: a further shop that inherits `trigger_statuses`,
  `status_map` or `returned_statuses` naming status ids (not idCodes) would use whatever status has
  that id in its own shop. `inherited_status_ids` names them; the flows refuse them with a sentence
  (no transfers, no status feedback, no credits) until the shop sets its own.
"""

from __future__ import annotations

from typing import Any

from shopbridge.store import Store
from shopbridge.store.schema import Connection
from shopbridge.sync.context import ConnectionContext, merged_settings

STATUS_SETTINGS = ("trigger_statuses", "status_map", "returned_statuses")
"""Settings naming Starweb order statuses (ids are per shop, idCodes are the same in every shop)."""
LOOKUP_PAGE = 50


def prefixes_clash(a: str, b: str) -> bool:
    """Whether an order number behind one prefix can read as another order number behind the other."""
    a, b = a.casefold(), b.casefold()
    if len(a) > len(b):
        a, b = b, a
    return b.startswith(a) and (b == a or b[len(a) :].isdigit())


def reference_clash(
    store: Store, conn: Connection, prefix: str | None = None, *, joining: bool = False
) -> str | None:
    """A sentence when `conn` (with `prefix`, default its own) would share references with another
    shop of its Visma company; None when every shop's references are its own. With `joining`, `conn`
    is the connection a new shop joins (every shop of the company is compared, `conn` too)."""
    shops = store.connections.shops(conn.id)  # the root first: every shop's settings without a query
    mine = merged_settings(conn, shops[0]).reference_prefix if prefix is None else prefix
    for other in shops:
        if other.id == conn.id and not joining:
            continue
        theirs = merged_settings(other, shops[0]).reference_prefix
        if prefixes_clash(mine, theirs):
            same = "the same" if mine.casefold() == theirs.casefold() else "a clashing"
            return (
                f"shop {other.name!r} uses {same} reference_prefix {theirs!r} (this shop: {mine!r}); give "
                "each shop its own so their order numbers cannot be mistaken for each other in Visma"
            )
    return None


def inherited_status_ids(store: Store, conn: Connection) -> dict[str, list[str]]:
    """Status settings a further shop takes from its parent that name status ids: setting -> the ids."""
    if conn.parent_id is None:
        return {}
    own = conn.settings or {}
    parent = store.connections.get(conn.parent_id).settings or {}
    out: dict[str, list[str]] = {}
    for key in STATUS_SETTINGS:
        if key in own or key not in parent:
            continue
        value = parent[key]
        values = value.values() if isinstance(value, dict) else value or []
        ids = [str(v) for v in values if str(v).strip().isdigit()]
        if ids:
            out[key] = ids
    return out


def inherited_ids_reason(conn: Connection, parent: str, key: str, ids: list[str]) -> str:
    """The sentence for one inherited status setting."""
    return (
        f"{key} of {conn.name!r} comes from {parent!r} and names status ids ({', '.join(ids)}), which differ "
        f"per shop; set {key} on {conn.name!r} (idCodes such as completed work in every shop)"
    )


def status_setting_problems(store: Store, conn: Connection) -> list[str]:
    """Every inherited status setting of `conn` that cannot work, in words (for the setup check)."""
    inherited = inherited_status_ids(store, conn)
    if not inherited:
        return []
    parent = store.connections.get(conn.parent_id).name  # type: ignore[arg-type]
    return [inherited_ids_reason(conn, parent, key, ids) for key, ids in inherited.items()]


class ShopScope:
    """Tells this shop's Visma documents from those of the other shops of its company."""

    def __init__(self, ctx: ConnectionContext) -> None:
        self.ctx = ctx
        self.others = [c.id for c in ctx.store.connections.shops(ctx.id) if c.id != ctx.id]

    def foreign(self, ids: list[str]) -> set[str]:
        """Those of `ids` (documents, invoices, credits) another shop of the company has recorded."""
        if not self.others:
            return set()
        store = self.ctx.store
        ids = [i for i in ids if i]
        return set(store.bindings.owners(self.others, "order", ids)) | set(
            store.events.owners(self.others, ids)
        )

    def belongs(self, doc: Any) -> bool:
        """Whether a document found by reference is this shop's (see the module docstring)."""
        if not self.others:
            return True
        d = doc if isinstance(doc, dict) else doc.model_dump(by_alias=True)
        ids = [str(d.get(k) or "") for k in ("Id", "CreatedFromDraftId", "CreatedFromOrderId")]
        if self.foreign(ids):
            return False
        s = self.ctx.settings
        rows = [r for r in d.get("Rows") or [] if not r.get("IsTextRow")]
        if s.cost_center_item_id and not any(
            str(r.get("CostCenterItemId1") or "").lower() == s.cost_center_item_id.lower() for r in rows
        ):
            return False
        return not (
            s.project_id
            and not any(str(r.get("ProjectId") or "").lower() == s.project_id.lower() for r in rows)
        )

    async def first(self, resource: Any, flt: str) -> Any:
        """The first item of `resource` matching the OData filter `flt` that is this shop's, or None."""
        if not self.others:
            return await resource.first(flt)
        async for item in resource.iter(filter=flt, page_size=LOOKUP_PAGE):
            if self.belongs(item):
                return item
        return None

    async def all(self, resource: Any, flt: str) -> list[Any]:
        """Every item of `resource` matching `flt` that is this shop's."""
        return [item for item in await resource.list(filter=flt) if self.belongs(item)]
