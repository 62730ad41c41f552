from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Response

from vigil.api.deps import get_runtime
from vigil.api.errors import error_responses
from vigil.api.schemas import ID_PATTERN, CameraOut
from vigil.service import Runtime

router = APIRouter(tags=["cameras"])
CameraId = Annotated[str, Path(pattern=ID_PATTERN, description="Camera id (letters, digits, '-' and '_').")]


def _known(rt: Runtime, camera_id: str) -> None:
    if camera_id not in {c.id for c in rt.cfg.cameras}:
        raise HTTPException(404, f"camera '{camera_id}' does not exist")


@router.get("/api/cameras", response_model=list[CameraOut], summary="Cameras with live status (passwords redacted)")
def cameras(rt: Runtime = Depends(get_runtime)) -> list[dict]:
    return [rt.camera_info(c.id) for c in rt.cfg.cameras]


@router.get("/api/cameras/{camera_id}", response_model=CameraOut, responses=error_responses(404, 422))
def camera(camera_id: CameraId, rt: Runtime = Depends(get_runtime)) -> dict:
    _known(rt, camera_id)
    return rt.camera_info(camera_id)


@router.get("/api/cameras/{camera_id}/snapshot.jpg", response_class=Response, responses={
    200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}, "description": "Latest frame"},
    **error_responses(404, 422, 503, e503={"description": "The camera has not delivered a frame yet"})})
def camera_snapshot(camera_id: CameraId, rt: Runtime = Depends(get_runtime)) -> Response:
    _known(rt, camera_id)
    proc = rt.processors.get(camera_id)
    jpeg = proc.snapshot_jpeg() if proc else None
    if jpeg is None:
        raise HTTPException(503, f"camera '{camera_id}' has not delivered a frame yet")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
