from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from sqlalchemy.orm import Session

from vigil import audit
from vigil.access import Principal
from vigil.api.deps import get_runtime, get_session
from vigil.api.errors import error_responses
from vigil.api.schemas import ID_PATTERN, CameraOut
from vigil.api.security import can_see, client_address, require
from vigil.service import Runtime

router = APIRouter(tags=["cameras"])
CameraId = Annotated[str, Path(pattern=ID_PATTERN, description="Camera id (letters, digits, '-' and '_').")]


def _known(rt: Runtime, camera_id: str, who: Principal):
    """The camera, or 404 when it does not exist or lies outside the caller's scope (the same answer)."""
    cam = next((c for c in rt.cfg.cameras if c.id == camera_id), None)
    if cam is None or not can_see(rt, who, cam.institution):
        raise HTTPException(404, f"camera '{camera_id}' does not exist")
    return cam


@router.get("/api/cameras", response_model=list[CameraOut], responses=error_responses(401, 403),
            summary="Cameras with live status (passwords redacted), in the caller's scope")
def cameras(rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("events.read"))) -> list[dict]:
    return [rt.camera_info(c) for c in list(rt.cfg.cameras) if can_see(rt, who, c.institution)]


@router.get("/api/cameras/{camera_id}", response_model=CameraOut, responses=error_responses(401, 403, 404, 422))
def camera(camera_id: CameraId, rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("events.read"))) -> dict:
    _known(rt, camera_id, who)
    return rt.camera_info(camera_id)


@router.get("/api/cameras/{camera_id}/snapshot.jpg", response_class=Response, responses={
    200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}, "description": "Latest frame"},
    **error_responses(401, 403, 404, 422, 503, e503={"description": "The camera has not delivered a frame yet"})})
def camera_snapshot(camera_id: CameraId, request: Request, rt: Runtime = Depends(get_runtime),
                    s: Session = Depends(get_session), who: Principal = Depends(require("live.view"))) -> Response:
    """The camera's latest frame (live view); each view is audited."""
    cam = _known(rt, camera_id, who)
    proc = rt.processors.get(camera_id)
    jpeg = proc.snapshot_jpeg() if proc else None
    if jpeg is None:
        raise HTTPException(503, f"camera '{camera_id}' has not delivered a frame yet")
    audit.record(s, who, "live.snapshot", client=client_address(request), object_type="camera", object_id=camera_id,
                 institution_id=cam.institution, region=rt.regions_by_institution().get(cam.institution))
    s.commit()
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})
