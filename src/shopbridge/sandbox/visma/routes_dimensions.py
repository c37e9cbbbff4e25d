"""Cost centres (kostnadsställen), their items, and projects: the dimensions sales rows are booked on.

* `/costcenters`: the company's three cost centres (Number 1-3, created with the company, never added
  or deleted); PUT renames or (de)activates one. `Items` (read-only) lists its items.
* `/costcenteritems`: POST adds an item to a cost centre, GET/PUT by id. `ShortName` is unique within
  its cost centre (400, 4000); the cost centre of an item never changes (400 when a PUT names another).
* `/projects`: list, create (Number unique, 400 4000), read, update (answers 201 as the spec says).
  `CustomerId` must name a customer; `CustomerName` follows it.

Document rows refer to them (`CostCenterItemId1..3`, `ProjectId`, see `check_dimensions`): item n must
belong to cost centre n and be active, the project must exist and be ongoing.
"""

from __future__ import annotations

from typing import Any

from .api_base import Api, Call, new_id, norm_id
from .errors import CONFLICT, VismaError, business_error, not_found, reference_not_found, validation_error

CENTER, ITEM, PROJECT = "CostCenterApi", "CostCenterItemApi", "ProjectApi"
ONGOING, FINISHED = 1, 2


def cost_center_out(api: Api, center: dict[str, Any]) -> dict[str, Any]:
    """A cost centre as answered: its items (sorted by short name) inline."""
    items = [i for i in api.state.table("costcenteritems").values() if i["CostCenterId"] == center["Id"]]
    return {**center, "Items": sorted(items, key=lambda i: str(i.get("ShortName")))}


def check_dimensions(api: Api, row: dict[str, Any], where: str) -> None:
    """Refuse a document row naming an unknown, inactive or misplaced cost centre item or project."""
    state = api.state
    centers = {c["Number"]: c for c in state.table("costcenters").values()}
    for n in (1, 2, 3):
        field = f"CostCenterItemId{n}"
        value = row.get(field)
        if not value:
            continue
        item = state.table("costcenteritems").get(norm_id(str(value)))
        if item is None:
            raise reference_not_found(f"{where}.{field}", "Cost center item", value)
        center = centers.get(n)
        if center is None or item["CostCenterId"] != center["Id"]:
            raise business_error(
                f"{where}.{field}: the item '{item['ShortName']}' does not belong to cost center {n}",
                f"{where}.{field}",
            )
        if not item.get("IsActive") or not center.get("IsActive"):
            raise business_error(
                f"{where}.{field}: the cost center item '{item['ShortName']}' is inactive", f"{where}.{field}"
            )
        row[field] = item["Id"]
    value = row.get("ProjectId")
    if value:
        project = state.table("projects").get(norm_id(str(value)))
        if project is None:
            raise reference_not_found(f"{where}.ProjectId", "Project", value)
        if project.get("Status") != ONGOING:
            raise business_error(
                f"{where}.ProjectId: the project {project['Number']} is finished", f"{where}.ProjectId"
            )
        row["ProjectId"] = project["Id"]


def register(api: Api) -> None:
    state = api.state
    centers = state.table("costcenters")
    items = state.table("costcenteritems")
    projects = state.table("projects")

    def writable(schema: str, body: dict[str, Any]) -> dict[str, Any]:
        ro = api.spec.read_only(schema)
        props = api.spec.properties(schema)
        return {k: v for k, v in body.items() if k in props and k not in ro}

    # ---- cost centres -------------------------------------------------------------------------
    async def list_centers(call: Call) -> Any:
        rows = sorted((cost_center_out(api, c) for c in centers.values()), key=lambda c: c["Number"])
        return api.list_response(call, rows, CENTER)

    async def put_center(call: Call) -> Any:
        center = centers.get(call.path["id"])
        if center is None:
            raise not_found("Cost center", call.path["id"])
        body = writable(CENTER, call.body or {})
        if not str(body.get("Name") or "").strip():
            raise validation_error("Name: the field is required and can not be empty", "Name")
        center.update(body)
        state.touch()
        return cost_center_out(api, center)

    # ---- cost centre items --------------------------------------------------------------------
    def item_or_404(item_id: str) -> dict[str, Any]:
        item = items.get(item_id)
        if item is None:
            raise not_found("Cost center item", item_id)
        return item

    def check_item(item: dict[str, Any]) -> None:
        for name in ("Name", "ShortName"):
            if not str(item.get(name) or "").strip():
                raise validation_error(f"{name}: the field is required and can not be empty", name)
        clash = any(
            other["Id"] != item["Id"]
            and other["CostCenterId"] == item["CostCenterId"]
            and str(other["ShortName"]).lower() == str(item["ShortName"]).lower()
            for other in items.values()
        )
        if clash:
            raise VismaError(
                400,
                CONFLICT,
                f"ShortName: the cost center already has an item '{item['ShortName']}'",
                [{"Field": "ShortName", "ErrorCode": str(CONFLICT), "Message": "Duplicate", "Key": None}],
            )

    async def create_item(call: Call) -> Any:
        body = writable(ITEM, call.body or {})
        center = centers.get(norm_id(str(body.get("CostCenterId") or "")))
        if center is None:
            raise reference_not_found("CostCenterId", "Cost center", body.get("CostCenterId"))
        item = {**api.spec.blank(ITEM), **body, "Id": new_id(), "CostCenterId": center["Id"]}
        item["CreatedUtc"] = api.stamp()
        check_item(item)
        items[item["Id"]] = item
        state.touch()
        return item

    async def get_item(call: Call) -> Any:
        return item_or_404(call.path["itemId"])

    async def put_item(call: Call) -> Any:
        item = item_or_404(call.path["costCenterItemId"])
        body = writable(ITEM, call.body or {})
        if norm_id(str(body.get("CostCenterId") or item["CostCenterId"])) != item["CostCenterId"]:
            raise business_error(
                "CostCenterId: an item cannot be moved to another cost center", "CostCenterId"
            )
        updated = {**item, **body, "CostCenterId": item["CostCenterId"]}
        check_item(updated)
        item.update(updated)
        state.touch()
        return item

    # ---- projects -----------------------------------------------------------------------------
    def project_or_404(project_id: str) -> dict[str, Any]:
        project = projects.get(project_id)
        if project is None:
            raise not_found("Project", project_id)
        return project

    def build_project(body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        rec = {**(existing or api.spec.blank(PROJECT)), **writable(PROJECT, body)}
        for name in ("Number", "Name"):
            if not str(rec.get(name) or "").strip():
                raise validation_error(f"{name}: the field is required and can not be empty", name)
        if rec.get("Status") not in (ONGOING, FINISHED):
            raise validation_error(
                f"Status: must be 1 (ongoing) or 2 (finished), got {rec.get('Status')}", "Status"
            )
        if existing is None:
            rec["Id"] = new_id()
        number = str(rec["Number"]).strip()
        if any(p["Id"] != rec["Id"] and str(p["Number"]) == number for p in projects.values()):
            raise VismaError(
                400,
                CONFLICT,
                f"Number: a project with number '{number}' already exists",
                [{"Field": "Number", "ErrorCode": str(CONFLICT), "Message": "Duplicate", "Key": None}],
            )
        customer_id = rec.get("CustomerId")
        rec["CustomerName"] = None
        if customer_id:
            customer = state.table("customers").get(norm_id(str(customer_id)))
            if customer is None:
                raise reference_not_found("CustomerId", "Customer", customer_id)
            rec["CustomerId"], rec["CustomerName"] = customer["Id"], customer.get("Name")
        if not rec.get("StartDate") or rec["StartDate"].startswith("0001-"):
            rec["StartDate"] = f"{api.now().date().isoformat()}T00:00:00Z"
        if rec.get("EndDate") and rec["EndDate"] < rec["StartDate"]:
            raise validation_error("EndDate: must not be before StartDate", "EndDate")
        rec["ModifiedUtc"] = api.stamp()
        return rec

    async def list_projects(call: Call) -> Any:
        rows = sorted(projects.values(), key=lambda p: str(p["Number"]))
        return api.list_response(call, rows, PROJECT)

    async def create_project(call: Call) -> Any:
        rec = build_project(call.body or {}, None)
        projects[rec["Id"]] = rec
        state.touch()
        return rec

    async def get_project(call: Call) -> Any:
        return project_or_404(call.path["id"])

    async def put_project(call: Call) -> Any:
        rec = build_project(call.body or {}, project_or_404(call.path["id"]))
        projects[rec["Id"]] = rec
        state.touch()
        return rec

    api.route("GET", "/costcenters", list_centers)
    api.route("PUT", "/costcenters/{id}", put_center)
    api.route("POST", "/costcenteritems", create_item, status=201)
    api.route("GET", "/costcenteritems/{itemId}", get_item)
    api.route("PUT", "/costcenteritems/{costCenterItemId}", put_item)
    api.route("GET", "/projects", list_projects)
    api.route("POST", "/projects", create_project, status=201)
    api.route("GET", "/projects/{id}", get_project)
    api.route("PUT", "/projects/{id}", put_project, status=201)
