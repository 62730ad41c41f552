"""`NodeFeed`: the live endpoints of the API's control side in cluster mode, answered by the node that holds the
camera (vigil/live_feed.py has the one-box `LocalFeed`, which each node's worker runs for its own cameras).

The holder comes from the maintainer's record (camera_holders, read at most every 2 s); the call goes to that node's
`CameraNodeWorker.live`. What crosses: a JPEG encoded on the node (the snapshot and the MJPEG stream), the overlay's
boxes, and for WebRTC only the SDP offer and answer: the browser's media then flows from the node, so the node's
`live.ice_host_addresses` (or its interfaces, when empty) must be reachable by the viewers, as with any SFU.

A camera that moves: the next MJPEG frame is asked of its new holder (the stream follows it); a WebRTC session ends
with the old node's pull and the browser offers again. This module does not import Ray: the call is given."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from vigil.live_errors import LiveError
from vigil.live_feed import NoFrame, NotRunning, answered

log = logging.getLogger("vigil.cluster")


class NodeUnreachable(LiveError):
    status = 503


class NodeFeed:
    def __init__(self, rt, call_node: Callable[..., dict], timeout_s: float = 10.0):
        """`call_node(node, method, args, kwargs, timeout_s)` -> the worker's `LocalFeed.call` reply."""
        self.rt, self.call_node, self.timeout_s = rt, call_node, timeout_s

    def holder(self, camera_id: str) -> str | None:
        return self.rt._cluster_holders().get(camera_id, {}).get("node")

    def _ask(self, camera_id: str, method: str, *args, timeout_s: float | None = None, **kwargs):
        node = self.holder(camera_id)
        if node is None:
            raise NotRunning(f"camera '{camera_id}' is not running on any node (disabled, or no node has room)")
        try:
            reply = self.call_node(node, method, (camera_id, *args), kwargs, timeout_s or self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - the node died, its worker is gone, the call timed out
            self.rt._holders = None  # read the record again next time: the camera may have moved
            last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:300]
            log.warning("live: node %s (camera %s) did not answer %s: %s", node, camera_id, method, last)
            raise NodeUnreachable(f"the node holding camera '{camera_id}' ({node}) does not answer; it may be moving "
                                  "to another node, try again in a few seconds") from None
        try:
            return answered(reply)
        except NotRunning:  # the camera left that node meanwhile
            self.rt._holders = None
            raise

    def snapshot_jpeg(self, camera_id: str) -> bytes:
        try:
            return self._ask(camera_id, "snapshot_jpeg")
        except NotRunning:
            raise NoFrame(f"camera '{camera_id}' has not delivered a frame yet") from None

    def next_jpeg(self, camera_id: str, after: float | None, quality: int = 80) -> tuple[float | None, bytes | None]:
        """As LocalFeed.next_jpeg, asked of whichever node holds the camera now: while it moves (its node gone or
        not yet started there) no frame comes, and the stream goes on; it ends once the camera is placed nowhere."""
        try:
            return tuple(self._ask(camera_id, "next_jpeg", after, quality))
        except (NodeUnreachable, NoFrame):
            if after is None:
                raise
            return after, None
        except NotRunning:  # left its node: the stream goes on while the camera is placed somewhere
            if after is not None and self.holder(camera_id) is not None:
                return after, None
            raise

    def detections(self, camera_id: str) -> dict:
        try:
            return self._ask(camera_id, "detections")
        except NotRunning:
            return {"frame_at": None, "width": None, "height": None, "detections": []}

    async def open_session(self, camera_id: str, url: str, sdp: str, kind: str, *, user_id: int | None = None,
                           client: str | None = None) -> dict:
        # opening the camera's pull on the node may take a few seconds (its RTSP handshake)
        return await asyncio.to_thread(self._ask, camera_id, "open_session", url, sdp, kind,
                                       timeout_s=max(self.timeout_s, 30.0), user_id=user_id, client=client)

    async def hang_up(self, camera_id: str, session_id: str, user_id: int | None = None, any_user: bool = False) -> bool:
        try:
            return await asyncio.to_thread(self._ask, camera_id, "hang_up", session_id, user_id,
                                           any_user=any_user)
        except NotRunning:
            return False  # placed nowhere: its sessions ended with it
