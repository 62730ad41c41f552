"""What the live endpoints read of a camera, wherever it runs.

`LocalFeed`: a camera of this process (the one-box service, or a cluster node's worker answering for its own
cameras). In cluster mode the API's control Runtime has no camera: its feed is `NodeFeed`
(vigil/cluster/live_proxy.py), which asks the node holding the camera, through that node's worker, for the same
things: the latest frame as JPEG (encoded on the node: only the JPEG crosses), the overlay's detections, and the
WebRTC answer (the browser's media then flows from that node directly).

Every method raises a `LiveError` with the HTTP status the API answers; `NotRunning` (409) when the camera runs
nowhere, `NoFrame` (503) before its first frame. No FastAPI here."""
from __future__ import annotations

import asyncio
import time

from vigil.live_errors import LiveError

MAX_BOXES = 300  # a frame's detections shown at most (highest scores first)


class NotRunning(LiveError):
    status = 409


class NoFrame(LiveError):
    status = 503


def boxes(model: str, det, width: int, height: int) -> list[dict]:
    """A Detections value as the overlay's boxes: 0..1 of the frame, scores rounded."""
    if det is None or not len(det):
        return []
    out = []
    for (x1, y1, x2, y2), score, name in zip(det.xyxy.tolist(), det.confidence.tolist(), det.class_names):
        box = [min(1.0, max(0.0, v / d)) for v, d in ((x1, width), (y1, height), (x2, width), (y2, height))]
        out.append({"model": model, "class_name": name, "score": round(min(1.0, max(0.0, score)), 4),
                    "box": [round(v, 5) for v in box]})
    return out


class LocalFeed:
    """The cameras this process runs (its Runtime's processors and live relay)."""

    def __init__(self, rt):
        self.rt = rt

    def _proc(self, camera_id: str):
        proc = self.rt.processors.get(camera_id)
        if proc is None:
            raise NotRunning(f"camera '{camera_id}' is not running (disabled or stopped)")
        return proc

    def holder(self, camera_id: str) -> str | None:
        """Where the camera runs (None: this process)."""
        return None

    def snapshot_jpeg(self, camera_id: str) -> bytes:
        """The latest frame as JPEG; NoFrame before the first and while the camera does not run."""
        proc = self.rt.processors.get(camera_id)
        jpeg = proc.snapshot_jpeg() if proc is not None else None
        if jpeg is None:
            raise NoFrame(f"camera '{camera_id}' has not delivered a frame yet")
        return jpeg

    def next_jpeg(self, camera_id: str, after: float | None, quality: int = 80) -> tuple[float | None, bytes | None]:
        """The latest frame as JPEG if it is newer than `after` (a token this returned before), else (after, None).
        For the MJPEG stream: NotRunning once the camera stops here, which ends it."""
        from vigil.vision.annotate import encode_jpeg

        frame = self._proc(camera_id).reader.last_frame
        if frame is None:
            if after is None:
                raise NoFrame(f"camera '{camera_id}' has not delivered a frame yet")
            return after, None
        if after is not None and frame.wall <= after:
            return after, None
        return frame.wall, encode_jpeg(frame.image, quality)

    def detections(self, camera_id: str) -> dict:
        """What the models last saw (the overlay): frame_at (time.time()), width, height, boxes; all None/[] while no
        model has run on it (stopped, no frame yet)."""
        proc = self.rt.processors.get(camera_id)
        latest = getattr(proc, "latest_detections", None) if proc is not None else None
        if latest is None:
            return {"frame_at": None, "width": None, "height": None, "detections": []}
        w, h = max(1, latest.width), max(1, latest.height)
        found = boxes("objects", latest.objects, w, h) + boxes("fire", latest.fire, w, h)
        found.sort(key=lambda b: -b["score"])
        return {"frame_at": latest.wall, "width": latest.width, "height": latest.height,
                "detections": found[:MAX_BOXES]}

    async def open_session(self, camera_id: str, url: str, sdp: str, kind: str, *, user_id: int | None = None,
                           client: str | None = None) -> dict:
        self._proc(camera_id)
        return await self.rt.live.open_session(camera_id, url, sdp, kind, user_id=user_id, client=client)

    async def hang_up(self, camera_id: str, session_id: str, user_id: int | None = None, any_user: bool = False) -> bool:
        return await self.rt.live.hang_up(camera_id, session_id, user_id, any_user=any_user)

    # -- the same, called from a plain thread (a cluster node's worker answering the API) -----------------------
    def call(self, method: str, *args, **kwargs):
        """Run one of the methods above; a refusal comes back as {"error": {"status", "detail", "kind"}} (an
        exception would cross Ray wrapped; `kind` names NotRunning or NoFrame) and any other answer as {"ok": value}."""
        if method not in ("snapshot_jpeg", "next_jpeg", "detections", "open_session", "hang_up"):
            return {"error": {"status": 400, "detail": f"no live method {method!r}"}}
        try:
            out = getattr(self, method)(*args, **kwargs)
            if asyncio.iscoroutine(out):
                out = asyncio.run(out)
        except LiveError as exc:
            return {"error": {"status": exc.status, "detail": exc.detail, "kind": type(exc).__name__}}
        return {"ok": out}


REFUSALS = {cls.__name__: cls for cls in (NotRunning, NoFrame)}


def answered(reply: dict):
    """The value of a `call` reply, or its refusal raised again: NotRunning and NoFrame as themselves, any other
    as a LiveError with the same status."""
    if "error" in reply:
        error = reply["error"]
        kind = REFUSALS.get(error.get("kind", ""))
        if kind is not None:
            raise kind(error["detail"])
        err = LiveError(error["detail"])
        err.status = int(error["status"])
        raise err
    return reply["ok"]


def age_s(frame_at: float | None) -> float | None:
    return None if frame_at is None else round(max(0.0, time.time() - frame_at), 3)
