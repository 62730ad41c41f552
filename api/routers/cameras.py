from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from vigil import audit
from vigil.access import Principal
from vigil.api.deps import get_runtime, get_session
from vigil.api.errors import error_responses
from vigil.api.schemas import ID_PATTERN, CameraOut
from vigil.api.security import can_see, client_address, require
from vigil.live_errors import LiveError
from vigil.live_feed import MAX_BOXES, age_s
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
    **error_responses(401, 403, 404, 422, 503, e503={"description": "The camera has not delivered a frame yet (or, in "
                                                                   "cluster mode, its node does not answer)"})})
def camera_snapshot(camera_id: CameraId, request: Request, rt: Runtime = Depends(get_runtime),
                    s: Session = Depends(get_session), who: Principal = Depends(require("live.view"))) -> Response:
    """The camera's latest frame (live view). Audited: one row per user and camera per 5 minutes (a live wall
    refreshes its thumbnails every few seconds)."""
    cam = _known(rt, camera_id, who)
    try:
        jpeg = rt.feed.snapshot_jpeg(camera_id)
    except LiveError as exc:
        raise HTTPException(exc.status, exc.detail) from None
    if rt.snapshot_views.due((who.user_id, camera_id), time.monotonic()):
        audit.record(s, who, "live.snapshot", client=client_address(request), object_type="camera",
                     object_id=camera_id, institution_id=cam.institution,
                     region=rt.regions_by_institution().get(cam.institution))
        s.commit()
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


class DetectionBox(BaseModel):
    model: Literal["objects", "fire"] = Field(description="The model that found it: the object model (COCO) or the "
                                                          "fire/smoke model.")
    class_name: str = Field(description="The model's class name (person, motorcycle, fire, smoke...).")
    score: float = Field(ge=0, le=1, description="The model's confidence.")
    box: list[Annotated[float, Field(ge=0, le=1)]] = Field(min_length=4, max_length=4, description=(
        "x1, y1, x2, y2 as shares of the frame's width and height (0..1, the zones' coordinates)."))


class CameraDetections(BaseModel):
    camera_id: str
    frame_at: datetime | None = Field(description="When the frame the models last ran on was decoded (UTC); null "
                                                  "while no model has run on this camera (not running, no frame yet).")
    age_s: float | None = Field(description="Seconds since `frame_at`; null with it.")
    width: int | None = Field(description="The frame's width in pixels; null with `frame_at`.")
    height: int | None = Field(description="The frame's height in pixels; null with `frame_at`.")
    detections: list[DetectionBox] = Field(description=(
        f"The boxes of that frame (objects and, on a camera with a fire rule, fire/smoke), highest score first, at "
        f"most {MAX_BOXES}. No tracking ids: tracks live inside the rules."))


@router.get("/api/cameras/{camera_id}/detections", response_model=CameraDetections,
            responses=error_responses(401, 403, 404, 422, 503, e503={
                "description": "Cluster mode: the node holding the camera does not answer"}),
            summary="What the models last saw on a camera (for the live view's overlay)")
def camera_detections(camera_id: CameraId, rt: Runtime = Depends(get_runtime),
                      who: Principal = Depends(require("live.view"))) -> dict:
    """The detections of the last frame a model ran on (boxes in 0..1 of the frame), as the rules got them. Polled
    by the live view about twice a second; not audited (no picture leaves the server)."""
    _known(rt, camera_id, who)
    try:
        seen = rt.feed.detections(camera_id)
    except LiveError as exc:  # cluster mode: the node holding it does not answer
        raise HTTPException(exc.status, exc.detail) from None
    at = seen["frame_at"]
    return {"camera_id": camera_id, **seen, "frame_at": datetime.fromtimestamp(at, timezone.utc) if at else None,
            "age_s": age_s(at)}
