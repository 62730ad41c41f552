"""`/api/inventory/cameras`: camera definitions with their zones and rules nested, validated by the configuration's
`Camera` model (the body is what a config file's `cameras[]` entry holds). `/api/cameras` is the live status view.

Reads (`inventory.read`) see the cameras of the caller's institutions; any other answers 404. The stream URL is
always shown with its password as `***`; a PUT that sends that redacted URL back keeps the stored password.
Writes (`inventory.edit`): an admin anywhere, a supervisor for the institutions of their region (an institution
outside it is unknown: 422 on `institution`, as for one that does not exist). A change applies to the running service after the commit: a camera
created (enabled) starts, a PUT's zones and rules are used from the camera's next frame (a changed stream URL or
rate restarts its reader), a camera deleted or disabled stops; its open events end."""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from sqlalchemy.orm import Session

from vigil import inventory
from vigil.access import Principal
from vigil.api.db_inventory import CameraRow
from vigil.api.deps import get_runtime, get_session
from vigil.api.errors import error_responses
from vigil.api.inventory_http import (CameraId, commit_and_apply, invalid, inventory_errors, record, same_id,
                                       strict_json)
from vigil.api.security import can_see, require
from vigil.config import Camera
from vigil.service import Runtime

router = APIRouter(tags=["inventory"])
STRICT = Depends(strict_json(Camera))  # JSON types as the schema states them
E404 = {"e404": {"description": "No such camera in the caller's scope"}}
E422 = {"e422": {"description": "Invalid camera: errors name each field (zones[i].polygon, zones[i].rules[j], ...) "
                                "and the reason, as `vigil config check` does; an institution not in the caller's "
                                "scope is unknown"}}


def _get(s: Session, rt: Runtime, who: Principal, camera_id: str) -> Camera:
    row = s.get(CameraRow, camera_id)
    if row is None or not can_see(rt, who, row.institution_id):
        raise HTTPException(404, f"camera '{camera_id}' does not exist")
    return inventory.camera_of(row)


def _institution_known(rt: Runtime, who: Principal, institution_id: str) -> None:
    """The body's institution must exist in the caller's scope: else 422 on `institution` (the same answer for one
    that does not exist and one outside the scope, as `vigil config check` names an unknown institution)."""
    if institution_id not in rt.institutions or not can_see(rt, who, institution_id):
        raise invalid("institution", f"unknown institution '{institution_id}'")


def _region(rt: Runtime, institution_id: str) -> str | None:
    return rt.regions_by_institution().get(institution_id)


@router.get("/api/inventory/cameras", response_model=list[Camera], responses=error_responses(401, 403),
            summary="Camera definitions (zones, rules; passwords redacted) in the caller's scope")
def list_cameras(rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("inventory.read"))) -> list[dict]:
    return [inventory.camera_view(c) for c in rt.cfg.cameras if can_see(rt, who, c.institution)]


@router.get("/api/inventory/cameras/{camera_id}", response_model=Camera,
            responses=error_responses(401, 403, 404, 422, **E404))
def get_camera(camera_id: CameraId, s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
               who: Principal = Depends(require("inventory.read"))) -> dict:
    return inventory.camera_view(_get(s, rt, who, camera_id))


@router.post("/api/inventory/cameras", response_model=Camera, status_code=201,
             responses=error_responses(400, 401, 403, 409, 422, **E422, e409={"description": "The id is taken"}))
def create_camera(body: Camera, request: Request, s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
                  who: Principal = Depends(require("inventory.edit")), _: None = STRICT) -> dict:
    """Add a camera to an institution; an enabled camera starts at once."""
    _institution_known(rt, who, body.institution)
    with inventory_errors():
        row = inventory.put_camera(s, body, create=True)
    after = inventory.camera_view(inventory.camera_of(row))
    record(s, request, who, "create", "camera", body.id, institution_id=body.institution,
           region=_region(rt, body.institution), before=None, after=after)
    commit_and_apply(s, rt)
    return after


@router.put("/api/inventory/cameras/{camera_id}", response_model=Camera,
            responses=error_responses(400, 401, 403, 404, 422, **E404, **E422))
def update_camera(camera_id: CameraId, body: Camera, request: Request, s: Session = Depends(get_session),
                  rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("inventory.edit")),
                  _: None = STRICT) -> dict:
    """Replace a camera's settings, zones and rules (the id stays; moving it to another institution of the caller's
    scope is allowed)."""
    before = _get(s, rt, who, camera_id)
    same_id(body.id, camera_id, "camera")
    _institution_known(rt, who, body.institution)
    with inventory_errors():
        row = inventory.put_camera(s, body, create=False)
    after_cam = inventory.camera_of(row)
    after = inventory.camera_view(after_cam)
    if after_cam != before:
        record(s, request, who, "update", "camera", camera_id, institution_id=body.institution,
               region=_region(rt, body.institution), before=inventory.camera_view(before), after=after)
        commit_and_apply(s, rt)
    return after


@router.delete("/api/inventory/cameras/{camera_id}", status_code=204, response_class=Response,
               responses=error_responses(401, 403, 404, 422, e404={"description": "No such camera in the caller's scope"}))
def delete_camera(camera_id: CameraId, request: Request, s: Session = Depends(get_session),
                  rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("inventory.edit"))) -> Response:
    """Remove a camera (its events stay); it stops at once."""
    before = _get(s, rt, who, camera_id)
    with inventory_errors():
        inventory.delete_camera(s, camera_id)
    record(s, request, who, "delete", "camera", camera_id, institution_id=before.institution,
           region=_region(rt, before.institution), before=inventory.camera_view(before), after=None)
    commit_and_apply(s, rt)
    return Response(status_code=204)
