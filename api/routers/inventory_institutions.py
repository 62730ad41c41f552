"""`/api/inventory/institutions`: the institutions under supervision, validated by the configuration's
`Institution` model (the body is what a config file's `institutions[]` entry holds).

Reads (`inventory.read`) see the institutions of the caller's scope; any other answers 404. Writes (`inventory.edit`):
an admin anywhere; a supervisor within their region: creating one outside it, or moving one out of it, is 403. A
region path that does not exist yet is created. An institution that still has cameras cannot be deleted (409). A
region change applies at once: every scope is resolved against the new region from the next request on."""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from sqlalchemy.orm import Session

from vigil import inventory
from vigil.access import Principal, normalise_region
from vigil.api.db_inventory import InstitutionRow
from vigil.api.deps import get_runtime, get_session
from vigil.api.errors import error_responses
from vigil.api.inventory_http import (InstitutionId, commit_and_apply, inventory_errors, record, same_id,
                                       strict_json)
from vigil.api.security import can_see, require
from vigil.config import Institution
from vigil.service import Runtime

router = APIRouter(tags=["inventory"])
STRICT = Depends(strict_json(Institution))  # JSON types as the schema states them
E404 = {"e404": {"description": "No such institution in the caller's scope"}}
E403 = {"e403": {"description": "The role may not edit the inventory, or the region lies outside the supervisor's"}}


def _get(s: Session, rt: Runtime, who: Principal, institution_id: str) -> Institution:
    row = s.get(InstitutionRow, institution_id)
    if row is None or not can_see(rt, who, institution_id):
        raise HTTPException(404, f"institution '{institution_id}' does not exist")
    return inventory.institution_of(row)


def _placeable(who: Principal, region: str) -> None:
    if not inventory.may_place_in(who.scope, region):
        raise HTTPException(403, f"region {normalise_region(region)} lies outside {who.scope.describe()}: a "
                                 f"{who.role} places institutions only there")


@router.get("/api/inventory/institutions", response_model=list[Institution], responses=error_responses(401, 403),
            summary="Institutions in the caller's scope")
def list_institutions(rt: Runtime = Depends(get_runtime),
                      who: Principal = Depends(require("inventory.read"))) -> list[Institution]:
    return [i for i in rt.cfg.institutions if can_see(rt, who, i.id)]


@router.get("/api/inventory/institutions/{institution_id}", response_model=Institution,
            responses=error_responses(401, 403, 404, 422, **E404))
def get_institution(institution_id: InstitutionId, s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
                    who: Principal = Depends(require("inventory.read"))) -> Institution:
    return _get(s, rt, who, institution_id)


@router.post("/api/inventory/institutions", response_model=Institution, status_code=201,
             responses=error_responses(400, 401, 403, 409, 422, **E403, e409={"description": "The id is taken"}))
def create_institution(body: Institution, request: Request, s: Session = Depends(get_session),
                       rt: Runtime = Depends(get_runtime),
                       who: Principal = Depends(require("inventory.edit")), _: None = STRICT) -> Institution:
    _placeable(who, body.region)
    with inventory_errors():
        inventory.put_institution(s, body, create=True)
    after = inventory.institution_of(s.get(InstitutionRow, body.id))
    record(s, request, who, "create", "institution", body.id, institution_id=body.id, region=after.region,
           before=None, after=inventory.institution_view(after))
    commit_and_apply(s, rt)
    return after


@router.put("/api/inventory/institutions/{institution_id}", response_model=Institution,
            responses=error_responses(400, 401, 403, 404, 422, **E403, **E404))
def update_institution(institution_id: InstitutionId, body: Institution, request: Request,
                       s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
                       who: Principal = Depends(require("inventory.edit")), _: None = STRICT) -> Institution:
    """Replace an institution's name, kind and region (the id stays)."""
    before = _get(s, rt, who, institution_id)
    same_id(body.id, institution_id, "institution")
    _placeable(who, body.region)
    with inventory_errors():
        inventory.put_institution(s, body, create=False)
    after = inventory.institution_of(s.get(InstitutionRow, institution_id))
    if after != before:
        record(s, request, who, "update", "institution", institution_id, institution_id=institution_id,
               region=before.region, before=inventory.institution_view(before), after=inventory.institution_view(after))
        commit_and_apply(s, rt)
    return after


@router.delete("/api/inventory/institutions/{institution_id}", status_code=204, response_class=Response,
               responses=error_responses(401, 403, 404, 409, 422, **E404,
                                         e409={"description": "The institution still has cameras"}))
def delete_institution(institution_id: InstitutionId, request: Request, s: Session = Depends(get_session),
                       rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("inventory.edit"))) -> Response:
    before = _get(s, rt, who, institution_id)
    with inventory_errors():
        inventory.delete_institution(s, institution_id)
    record(s, request, who, "delete", "institution", institution_id, institution_id=institution_id,
           region=before.region, before=inventory.institution_view(before), after=None)
    commit_and_apply(s, rt)
    return Response(status_code=204)
