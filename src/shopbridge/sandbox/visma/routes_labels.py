"""`/v2/articlelabels` and `/v2/customerlabels`: list, create, read, update, delete.

A label's Name is unique (case-insensitive; 400, 4000). Articles and customers carry their labels
inline (`ArticleLabels`, `CustomerLabels`): a label sent on an article or customer is matched by `Id`,
else by `Name`, and must exist (400, 3000); renaming a label renames it everywhere, deleting it takes
it off every article or customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.responses import Response

from .api_base import Api, Call, new_id, norm_id
from .errors import CONFLICT, VismaError, not_found, reference_not_found, validation_error


@dataclass(frozen=True)
class LabelKind:
    """One kind of label: its path, table, schema, the records carrying it and their field."""

    path: str  # /articlelabels
    param: str  # articleLabelId
    table: str
    schema: str
    what: str  # "Article label"
    holders: str  # the table of the records that carry labels
    field: str  # their field: ArticleLabels


ARTICLE_LABELS = LabelKind(
    "/articlelabels",
    "articleLabelId",
    "articlelabels",
    "ArticleLabelApi",
    "Article label",
    "articles",
    "ArticleLabels",
)
CUSTOMER_LABELS = LabelKind(
    "/customerlabels",
    "customerLabelId",
    "customerlabels",
    "CustomerLabelApi",
    "Customer label",
    "customers",
    "CustomerLabels",
)


def resolve_labels(api: Api, kind: LabelKind, value: Any) -> list[dict[str, Any]] | None:
    """The stored labels for a body's `ArticleLabels`/`CustomerLabels` (by Id, else by Name)."""
    if value is None:
        return None
    table = api.state.table(kind.table)
    by_name = {str(label["Name"]).lower(): label for label in table.values()}
    out: list[dict[str, Any]] = []
    for idx, wanted in enumerate(value):
        where = f"{kind.field}[{idx}]"
        label = table.get(norm_id(str(wanted.get("Id") or ""))) or by_name.get(
            str(wanted.get("Name") or "").lower()
        )
        if label is None:
            raise reference_not_found(where, kind.what, wanted.get("Id") or wanted.get("Name"))
        if all(label["Id"] != seen["Id"] for seen in out):
            out.append(dict(label))
    return out


def register(api: Api) -> None:
    for kind in (ARTICLE_LABELS, CUSTOMER_LABELS):
        _register_kind(api, kind)


def _register_kind(api: Api, kind: LabelKind) -> None:
    state = api.state
    table = state.table(kind.table)

    def label_or_404(label_id: str) -> dict[str, Any]:
        label = table.get(label_id)
        if label is None:
            raise not_found(kind.what, label_id)
        return label

    def build(body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        rec = {**(existing or api.spec.blank(kind.schema))}
        rec.update({k: v for k, v in body.items() if k in rec and k not in api.spec.read_only(kind.schema)})
        name = str(rec.get("Name") or "").strip()
        if not name:
            raise validation_error("Name: the field is required and can not be empty", "Name")
        rec["Id"] = existing["Id"] if existing else new_id()
        if any(o["Id"] != rec["Id"] and str(o["Name"]).lower() == name.lower() for o in table.values()):
            raise VismaError(
                400,
                CONFLICT,
                f"Name: a label named '{name}' already exists",
                [{"Field": "Name", "ErrorCode": str(CONFLICT), "Message": "Duplicate", "Key": None}],
            )
        return rec

    def on_holders(label_id: str, replacement: dict[str, Any] | None) -> None:
        for holder in state.table(kind.holders).values():
            labels = holder.get(kind.field) or []
            if any(label["Id"] == label_id for label in labels):
                holder[kind.field] = [
                    dict(replacement) if label["Id"] == label_id else label
                    for label in labels
                    if replacement is not None or label["Id"] != label_id
                ]

    async def list_labels(call: Call) -> Any:
        rows = sorted(table.values(), key=lambda label: str(label["Name"]).lower())
        return api.list_response(call, rows, kind.schema)

    async def create(call: Call) -> Any:
        rec = build(call.body or {}, None)
        table[rec["Id"]] = rec
        state.touch()
        return rec

    async def get(call: Call) -> Any:
        return label_or_404(call.path[kind.param])

    async def update(call: Call) -> Any:
        rec = build(call.body or {}, label_or_404(call.path[kind.param]))
        table[rec["Id"]] = rec
        on_holders(rec["Id"], rec)
        state.touch()
        return rec

    async def delete(call: Call) -> Any:
        rec = label_or_404(call.path[kind.param])
        del table[rec["Id"]]
        on_holders(rec["Id"], None)
        state.touch()
        return Response(status_code=200)

    item_path = f"{kind.path}/{{{kind.param}}}"
    api.route("GET", kind.path, list_labels)
    api.route("POST", kind.path, create, status=201)
    api.route("GET", item_path, get)
    api.route("PUT", item_path, update)
    api.route("DELETE", item_path, delete)
