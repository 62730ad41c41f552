"""`/api/inventory/regions`: the administrative regions (county > township > ...), one record per path.

Reads (`inventory.read`) list the regions the caller's scope reaches: those its regions cover, and those above its
institutions. Writes (`inventory.edit`): an admin anywhere; a supervisor creates regions within their own and renames,
moves or deletes those strictly below it. A rename or move takes everything below the region along, and the region
scopes of users that named it follow. A region with institutions or regions below it cannot be deleted (409)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil import inventory
from vigil.access import Principal
from vigil.api.db_inventory import RegionRow
from vigil.api.deps import get_runtime, get_session
from vigil.api.errors import error_responses
from vigil.api.inventory_http import RegionId, RegionIn, RegionOut, commit_and_apply, inventory_errors, record
from vigil.api.security import require
from vigil.service import Runtime

router = APIRouter(tags=["inventory"])
E404 = {"e404": {"description": "No such region in the caller's scope"}}


def _visible(rt: Runtime, who: Principal, row: RegionRow) -> bool:
    return inventory.region_visible(who.scope, row.path, rt.regions_by_institution())


def _get(s: Session, rt: Runtime, who: Principal, region_id: int) -> RegionRow:
    row = s.get(RegionRow, region_id)
    if row is None or not _visible(rt, who, row):
        raise HTTPException(404, f"region {region_id} does not exist")
    return row


def _editable(who: Principal, path: str, verb: str) -> None:
    if not inventory.may_edit_region(who.scope, path):
        raise HTTPException(403, f"a {who.role} may not {verb} region {path}: only regions below "
                                 f"{who.scope.describe()}")


@router.get("/api/inventory/regions", response_model=list[RegionOut], responses=error_responses(401, 403),
            summary="Regions in the caller's scope, by path")
def list_regions(s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
                 who: Principal = Depends(require("inventory.read"))) -> list[dict]:
    rows = s.scalars(select(RegionRow).order_by(RegionRow.path)).all()
    return [inventory.region_view(r, s) for r in rows if _visible(rt, who, r)]


@router.get("/api/inventory/regions/{region_id}", response_model=RegionOut,
            responses=error_responses(401, 403, 404, 422, **E404))
def get_region(region_id: RegionId, s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
               who: Principal = Depends(require("inventory.read"))) -> dict:
    return inventory.region_view(_get(s, rt, who, region_id), s)


@router.post("/api/inventory/regions", response_model=RegionOut, status_code=201,
             responses=error_responses(400, 401, 403, 409, 422, e403={"description": "The role may not edit the inventory, "
                                       "or the path lies outside the supervisor's region"},
                                       e409={"description": "The region exists"}))
def create_region(body: RegionIn, request: Request, s: Session = Depends(get_session),
                  rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("inventory.edit"))) -> dict:
    """Create a region (and any missing parent)."""
    if not inventory.may_place_in(who.scope, body.path):
        raise HTTPException(403, f"a {who.role} may create regions only within {who.scope.describe()}")
    with inventory_errors():
        row = inventory.create_region(s, body.path)
    view = inventory.region_view(row, s)
    record(s, request, who, "create", "region", row.path, institution_id=None, region=row.path, before=None, after=view)
    commit_and_apply(s, rt)
    return view


@router.put("/api/inventory/regions/{region_id}", response_model=RegionOut, responses=error_responses(400, 
    401, 403, 404, 409, 422, **E404, e409={"description": "The new path exists, or lies below the region itself"}))
def update_region(region_id: RegionId, body: RegionIn, request: Request, s: Session = Depends(get_session),
                  rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("inventory.edit"))) -> dict:
    """Rename or move a region: `path` is its new path; the regions below it, its institutions and the users whose
    scope names it follow."""
    row = _get(s, rt, who, region_id)
    before = inventory.region_view(row, s)
    _editable(who, row.path, "rename or move")
    _editable(who, body.path, "move a region to")
    with inventory_errors():
        inventory.move_region(s, row, body.path)
    after = inventory.region_view(row, s)
    if after != before:
        record(s, request, who, "update", "region", row.path, institution_id=None, region=before["path"],
               before=before, after=after)
        commit_and_apply(s, rt)
    return after


@router.delete("/api/inventory/regions/{region_id}", status_code=204, response_class=Response,
               responses=error_responses(401, 403, 404, 409, 422, **E404,
                                         e409={"description": "Institutions or regions lie below it"}))
def delete_region(region_id: RegionId, request: Request, s: Session = Depends(get_session),
                  rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("inventory.edit"))) -> Response:
    row = _get(s, rt, who, region_id)
    before = inventory.region_view(row, s)
    _editable(who, row.path, "delete")
    with inventory_errors():
        inventory.delete_region(s, row)
    record(s, request, who, "delete", "region", before["path"], institution_id=None, region=before["path"],
           before=before, after=None)
    commit_and_apply(s, rt)
    return Response(status_code=204)
