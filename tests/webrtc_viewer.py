"""A browser-like WebRTC viewer in Python (aiortc, loopback ICE only), for the live-view tests."""
from __future__ import annotations

import asyncio
import time


async def watch(client, camera_id: str, seconds: float, headers=None) -> dict:
    """A browser-like viewer: recvonly video, H.264 offered; returns what it saw."""
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from vigil.live_webrtc import ice_configuration, restrict_ice_hosts

    restrict_ice_hosts(["127.0.0.1"])
    pc = RTCPeerConnection(ice_configuration([]))
    pc.addTransceiver("video", direction="recvonly")
    got: dict = {"frames": 0, "sizes": set(), "counts": []}
    track_ready = asyncio.Event()

    @pc.on("track")
    def on_track(track):
        got["track"] = track
        track_ready.set()

    await pc.setLocalDescription(await pc.createOffer())
    r = await asyncio.to_thread(client.post, f"/api/cameras/{camera_id}/webrtc",
                                json={"sdp": pc.localDescription.sdp, "type": "offer"}, headers=headers)
    got["status"], got["body"] = r.status_code, r.json()
    if r.status_code != 200:
        await pc.close()
        return got
    await pc.setRemoteDescription(RTCSessionDescription(sdp=r.json()["sdp"], type="answer"))
    await asyncio.wait_for(track_ready.wait(), 10)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            frame = await asyncio.wait_for(got["track"].recv(), 10)
            got["frames"] += 1
            got["sizes"].add((frame.width, frame.height))
            got["counts"].append((time.monotonic(), got["frames"]))
    finally:
        got["sid"] = r.json()["session_id"]
        await pc.close()
    return got
