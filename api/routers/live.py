"""Live view (thin): a WebRTC session relaying the camera's own H.264 (vigil/live.py), and the MJPEG fallback from
the camera reader's latest decoded frames. Scoped (a camera outside the caller's scope answers 404) and audited
(`media.live`, one row per session or stream)."""
from __future__ import annotations

import asyncio
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from vigil import audit
from vigil.access import Principal
from vigil.api.deps import get_runtime
from vigil.api.errors import error_responses
from vigil.api.schemas import ID_PATTERN
from vigil.api.security import check_visible, client_address, require
from vigil.live_errors import LiveError
from vigil.service import Runtime

router = APIRouter(tags=["live"])
CameraId = Annotated[str, Path(pattern=ID_PATTERN, description="Camera id (letters, digits, '-' and '_').")]
SessionId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The session_id of the answer.")]
MAX_SDP = 65536
BOUNDARY = "vigilframe"


class LiveOffer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sdp: str = Field(min_length=1, max_length=MAX_SDP, pattern=r"^[^\x00]*$",
                     description="The browser's SDP offer (a recvonly video transceiver offering H.264).")
    type: Literal["offer"] = Field(description="Always `offer`.")


class LiveVideo(BaseModel):
    codec: str | None = Field(description="The camera's codec (h264).")
    profile: str | None = Field(description="The camera's H.264 profile (Baseline, Main, High...).")
    width: int | None
    height: int | None
    passthrough: bool = Field(description="True: the camera's own packets, not decoded or re-encoded.")


class LiveAnswer(BaseModel):
    sdp: str = Field(description="The SDP answer (H.264, packetization-mode=1).")
    type: Literal["answer"]
    session_id: str = Field(description="Hang up with DELETE .../webrtc/{session_id}.")
    video: LiveVideo


def _camera(rt: Runtime, who: Principal, camera_id: str):
    cam = next((c for c in list(rt.cfg.cameras) if c.id == camera_id), None)
    if cam is None:
        raise HTTPException(404, f"camera '{camera_id}' does not exist")
    check_visible(rt, who, cam.institution, f"camera '{camera_id}'")
    return cam


def _audit(rt: Runtime, who: Principal, cam, client: str | None, after: dict) -> None:
    with rt.sessions() as s:
        audit.record(s, who, "media.live", client=client, object_type="camera", object_id=cam.id,
                     institution_id=cam.institution, region=rt.regions_by_institution().get(cam.institution),
                     after=after)
        s.commit()


@router.post("/api/cameras/{camera_id}/webrtc", response_model=LiveAnswer, responses=error_responses(
    400, 401, 403, 404, 409, 422, 503,
    e409={"description": "The camera is not running, or its stream is not H.264 a browser plays (use live.mjpeg)"},
    e422={"description": "Invalid body, or an offer without H.264 video"},
    e503={"description": "The viewer limit is reached, the camera's stream could not be opened, or (cluster mode) "
                         "the node holding the camera does not answer"}),
    summary="Watch a camera live over WebRTC (its own H.264, relayed)")
async def webrtc_offer(camera_id: CameraId, body: LiveOffer, request: Request, rt: Runtime = Depends(get_runtime),
                       who: Principal = Depends(require("live.view"))) -> dict:
    """Send the browser's SDP offer, get the answer. The camera's stream is pulled once for all its viewers and
    relayed without re-encoding; each session is audited (`media.live`) and ends on hang-up, on a failed
    connection or after `live.session_max_s`."""
    cam = _camera(rt, who, camera_id)
    client = client_address(request)
    try:
        out = await rt.feed.open_session(camera_id, cam.url, body.sdp, body.type, user_id=who.user_id, client=client)
    except LiveError as exc:
        raise HTTPException(exc.status, exc.detail) from None
    await run_in_threadpool(_audit, rt, who, cam, client, {"kind": "webrtc", "session_id": out["session_id"][:8]})
    return out


@router.delete("/api/cameras/{camera_id}/webrtc/{session_id}", status_code=204, response_class=Response,
               responses=error_responses(401, 403, 404, 422), summary="Hang up a live WebRTC session")
async def webrtc_hang_up(camera_id: CameraId, session_id: SessionId, rt: Runtime = Depends(get_runtime),
                         who: Principal = Depends(require("live.view"))) -> Response:
    """Ends the caller's own session (an admin may end anyone's). Idempotent, like a phone hung up twice: a session
    that has ended already (or is not the caller's to end) answers 204 too, with nothing done; a camera outside the
    caller's scope answers 404."""
    _camera(rt, who, camera_id)
    try:
        await rt.feed.hang_up(camera_id, session_id, who.user_id, any_user=who.role == "admin")
    except LiveError:  # the service is stopping, or (cluster mode) the camera's node is gone: the session with it
        pass
    return Response(status_code=204)


@router.get("/api/cameras/{camera_id}/live.mjpeg", response_class=StreamingResponse, responses={
    200: {"content": {f"multipart/x-mixed-replace; boundary={BOUNDARY}": {"schema": {"type": "string",
                                                                                     "format": "binary"}}},
          "description": "JPEG parts of the latest decoded frames, at `live.mjpeg_fps`, until the client leaves or "
                         "`live.mjpeg_max_s` passes"},
    **error_responses(401, 403, 404, 409, 422, 503,
                      e409={"description": "The camera is not running"},
                      e503={"description": "No frame yet, the viewer limit is reached, or (cluster mode) the node "
                                           "holding the camera does not answer"})},
    summary="Watch a camera live as MJPEG (the fallback)")
async def live_mjpeg(camera_id: CameraId, request: Request, rt: Runtime = Depends(get_runtime),
                     who: Principal = Depends(require("live.view"))) -> StreamingResponse:
    """The camera reader's latest frames as multipart JPEG, for browsers or cameras WebRTC cannot serve. In cluster
    mode the frames come from the node holding the camera (JPEG-encoded there) and follow it when it moves."""
    cam = _camera(rt, who, camera_id)
    try:
        first = await run_in_threadpool(rt.feed.next_jpeg, camera_id, None, 80)
        rt.live.mjpeg_enter()
    except LiveError as exc:
        raise HTTPException(exc.status, exc.detail) from None
    cfg = rt.cfg.live
    try:
        await run_in_threadpool(_audit, rt, who, cam, client_address(request), {"kind": "mjpeg"})
    except BaseException:
        rt.live.mjpeg_leave()
        raise

    def part(jpeg: bytes) -> bytes:
        return (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                + jpeg + b"\r\n")

    async def parts():
        deadline = time.monotonic() + cfg.mjpeg_max_s
        period = 1.0 / cfg.mjpeg_fps
        last, jpeg = first
        try:
            yield part(jpeg)
            while time.monotonic() < deadline:
                t0 = time.monotonic()
                if await request.is_disconnected():
                    return
                await asyncio.sleep(max(0.0, period - (time.monotonic() - t0)))
                try:
                    last, jpeg = await run_in_threadpool(rt.feed.next_jpeg, camera_id, last, 80)
                except LiveError:  # the camera stopped (or its node is gone for good): the stream ends
                    return
                if jpeg is not None:
                    yield part(jpeg)
        finally:
            rt.live.mjpeg_leave()

    return StreamingResponse(parts(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                             headers={"Cache-Control": "private, no-store", "X-Accel-Buffering": "no"})
