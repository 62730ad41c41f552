"""Live view on real parts: GStreamer RTSP camera (with a password) -> Runtime -> the API's WebRTC offer/answer ->
a Python aiortc viewer (loopback ICE only) decoding the relayed H.264; one pull shared by two viewers; scope (404
outside), the audit row, hang-up, the viewer cap, and the MJPEG fallback."""
from __future__ import annotations

import asyncio
import time

import pytest

from helpers import wait_until
from webrtc_viewer import watch
from vigil_fixtures import SECRET, bearer, make_user, service_config


@pytest.fixture(scope="module")
def live_rt(gst_rtsp, street_clip_h264, tmp_path_factory):
    from fastapi.testclient import TestClient

    from vigil.api.app import create_app
    from vigil.config import parse_config
    from vigil.service import Runtime
    from vigil.streams.reader import ReaderSettings
    from vigil.streams.rtsp import RtspServer

    srv = RtspServer({"cam": street_clip_h264}, auth=("admin", SECRET)).start()
    tmp = tmp_path_factory.mktemp("live")
    cams = [{"id": "gate1", "name": "大门", "url": srv.url("cam"), "institution": "fy", "site_kind": "gate",
             "detect_fps": 1}]
    cfg = service_config(tmp, cameras=cams)
    cfg["live"] = {"ice_host_addresses": ["127.0.0.1"], "max_viewers_per_camera": 2, "idle_close_s": 1,
                   "mjpeg_fps": 5, "mjpeg_max_s": 3}
    rt = Runtime(parse_config(cfg), reader_settings=ReaderSettings(open_timeout_s=5, read_timeout_s=5))
    try:
        make_user(rt, "boss", "admin")
        make_user(rt, "hexi", "viewer", regions=["示范县/河西乡"])  # the other township: gate1 is outside
        client = TestClient(create_app(rt), headers=bearer(rt, "boss"))
        assert wait_until(lambda: rt.processors["gate1"].reader.last_frame is not None, 30)
        yield rt, client, srv
    finally:
        rt.stop()
        srv.stop()


def test_webrtc_viewers_share_one_pull_and_are_audited(live_rt):
    rt, client, _ = live_rt

    async def two_viewers():
        return await asyncio.gather(watch(client, "gate1", 4), watch(client, "gate1", 4))

    a, b = asyncio.run(two_viewers())
    for v in (a, b):
        assert v["status"] == 200, v["body"]
        assert v["sizes"] == {(640, 360)}
        assert v["frames"] >= 30, v["frames"]  # the clip runs at 23.98 fps: more than 7/s over 4 s
        half = v["counts"][len(v["counts"]) // 2][0]
        assert v["frames"] > sum(1 for t, _ in v["counts"] if t <= half)  # still growing in the second half
        video = v["body"]["video"]
        assert video["codec"] == "h264" and video["profile"] == "Main" and video["passthrough"] is True
        assert SECRET not in str(v["body"])
    assert rt.live.players_opened == 1  # two viewers, one MediaPlayer pulling the camera
    rows = client.get("/api/audit", params={"action": "media.live"}).json()["items"]
    assert len([r for r in rows if r["object_id"] == "gate1" and r["username"] == "boss"]) >= 2
    assert all(r["client"] for r in rows)
    # both closed their peer connections: the slots free up and, after idle_close_s, the pull closes
    assert wait_until(lambda: rt.live.stats()["webrtc_sessions"] == 0, 15)
    assert wait_until(lambda: rt.live.stats()["pulls"] == [], 10)


def test_scope_cap_hangup_and_bad_offers(live_rt):
    rt, client, _ = live_rt
    from vigil.live_webrtc import restrict_ice_hosts

    restrict_ice_hosts(["127.0.0.1"])
    outside = asyncio.run(watch(client, "gate1", 0, headers=bearer(rt, "hexi")))
    assert outside["status"] == 404 and "does not exist" in outside["body"]["detail"]
    assert client.get("/api/cameras/gate1/live.mjpeg", headers=bearer(rt, "hexi")).status_code == 404
    assert client.post("/api/cameras/nope/webrtc", json={"sdp": "v=0", "type": "offer"}).status_code == 404
    r = client.post("/api/cameras/gate1/webrtc", json={"sdp": "v=0\r\nm=audio 9 UDP 0\r\n", "type": "offer"})
    assert r.status_code == 422 and "H.264" in r.json()["detail"]
    assert client.post("/api/cameras/gate1/webrtc", json={"sdp": "x" * 70000, "type": "offer"}).status_code == 422

    async def held_sessions():
        """Three offers with max_viewers_per_camera=2: the third is refused; hang up frees a slot."""
        from aiortc import RTCPeerConnection
        from vigil.live_webrtc import ice_configuration

        pcs, out = [], []
        for _ in range(3):
            pc = RTCPeerConnection(ice_configuration([]))
            pc.addTransceiver("video", direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            pcs.append(pc)
            out.append(await asyncio.to_thread(client.post, "/api/cameras/gate1/webrtc",
                                               json={"sdp": pc.localDescription.sdp, "type": "offer"}))
        sid = out[0].json()["session_id"]
        assert sid in rt.live.sessions_of("gate1")
        gone = await asyncio.to_thread(client.delete, f"/api/cameras/gate1/webrtc/{sid}")
        assert sid not in rt.live.sessions_of("gate1")  # the hang-up ended it
        again = await asyncio.to_thread(client.delete, f"/api/cameras/gate1/webrtc/{sid}")
        for pc in pcs:
            await pc.close()
        return [r.status_code for r in out], out[2].json(), gone.status_code, again.status_code

    codes, refused, gone, again = asyncio.run(held_sessions())
    assert codes == [200, 200, 503] and "limit" in refused["detail"]
    assert (gone, again) == (204, 204)  # hanging up is idempotent


def test_mjpeg_fallback(live_rt):
    rt, client, _ = live_rt
    t0 = time.monotonic()
    with client.stream("GET", "/api/cameras/gate1/live.mjpeg") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("multipart/x-mixed-replace")
        body = b"".join(r.iter_bytes())  # mjpeg_max_s=3 ends it
    took = time.monotonic() - t0
    parts = [p for p in body.split(b"--vigilframe\r\n") if p]
    assert len(parts) >= 3 and 2.5 < took < 10
    for p in parts:
        head, jpeg = p.split(b"\r\n\r\n", 1)
        assert b"image/jpeg" in head and jpeg[:2] == b"\xff\xd8"
    assert rt.live.mjpeg_streams == 0
    rows = client.get("/api/audit", params={"action": "media.live"}).json()["items"]
    assert any(r["after"] == {"kind": "mjpeg"} for r in rows)
