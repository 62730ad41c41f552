"""End to end on real parts: GStreamer RTSP camera (with a password) -> reader -> YOLO -> rules ->
events in the database -> API. A killed server raises camera_offline, which ends when frames return;
the password shows up in no API response and no log line."""
from __future__ import annotations

import io
import logging
import time

import pytest

from helpers import shared_path, wait_until
from vigil_fixtures import SECRET, authed_client, service_config


@pytest.fixture(scope="module")
def crowd_clip(tmp_path_factory):
    from vigil.streams.rtsp import annexb_from_video
    return annexb_from_video(shared_path("data", "video", "street_crowd.mp4"), tmp_path_factory.mktemp("annexb"), fps=10)


def test_camera_offline_event_and_no_password_anywhere(tmp_path, crowd_clip, caplog):

    from vigil.config import parse_config
    from vigil.service import Runtime
    from vigil.streams.reader import ReaderSettings
    from vigil.streams.rtsp import RtspServer

    caplog.set_level(logging.DEBUG, logger="vigil")
    srv = RtspServer({"gate": crowd_clip}, auth=("admin", SECRET)).start()
    try:
        cams = [{"id": "gate1", "name": "大门", "url": srv.url("gate"), "institution": "fy", "site_kind": "corridor",
                 "detect_fps": 2, "offline_after_s": 3,
                 "zones": [{"name": "通道", "polygon": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]], "rules": [{"type": "ebike_indoor"}]}]}]
        assert SECRET in cams[0]["url"]
        rt = Runtime(parse_config(service_config(tmp_path, cameras=cams)),
                     reader_settings=ReaderSettings(open_timeout_s=2, read_timeout_s=2, backoff_initial_s=0.5, backoff_max_s=2))
        client = authed_client(rt)
        try:
            assert wait_until(lambda: client.get("/api/cameras").json()[0]["status"] == "online", 20)
            assert wait_until(lambda: rt.processors["gate1"].pipeline.frames_processed >= 4, 20)
            cam = client.get("/api/cameras/gate1").json()
            assert cam["fps"] > 5 and cam["last_frame_at"] is not None
            snap = client.get("/api/cameras/gate1/snapshot.jpg")
            assert snap.status_code == 200 and snap.content[:2] == b"\xff\xd8"
            metrics = client.get("/metrics")
            assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
            values = {ln.split(" ")[0]: float(ln.split(" ")[1]) for ln in metrics.text.splitlines() if ln and ln[0] != "#"}
            assert values['vigil_camera_up{camera="gate1"}'] == 1
            assert values['vigil_camera_fps{camera="gate1"}'] > 5 and values['vigil_camera_detections_total{camera="gate1"}'] >= 4
            assert 0 < values['vigil_camera_lag_seconds{camera="gate1"}'] < 5
            model = rt.detector.path.name
            assert values[f'vigil_inferences_total{{model="{model}",role="objects"}}'] >= 4

            # a first connection slower than offline_after_s (a loaded machine) has raised and ended one already
            offline = {"rule": "camera_offline", "state": "open"}
            assert client.get("/api/events", params=offline).json()["total"] == 0
            srv.kill()
            t_kill = time.monotonic()
            assert wait_until(lambda: client.get("/api/events", params=offline).json()["total"] == 1, 20)
            took = time.monotonic() - t_kill
            assert 3 <= took < 12, f"camera_offline raised {took:.1f} s after the kill"
            ev = client.get("/api/events", params=offline).json()["items"][0]
            assert ev["state"] == "open" and ev["camera_id"] == "gate1" and ev["zone"] is None
            assert client.get(ev["snapshot_url"]).status_code == 200
            assert client.get("/api/health").json()["status"] == "degraded"
            assert 'vigil_camera_up{camera="gate1"} 0' in client.get("/metrics").text.splitlines()

            srv.restart()
            assert wait_until(lambda: client.get(f"/api/events/{ev['id']}").json()["state"] == "closed", 30)
            assert client.get("/api/cameras/gate1").json()["reconnects"] >= 1
            # the first session on a just-restarted server can still break (EIO) and cost one more 0.5 s retry
            assert wait_until(lambda: client.get("/api/cameras/gate1").json()["status"] == "online", 20)

            for path in ("/api/cameras", "/api/health", "/api/status", "/api/events", "/api/audit", f"/api/events/{ev['id']}", "/openapi.json", "/metrics"):
                assert SECRET not in client.get(path).text, path
        finally:
            rt.stop()
    finally:
        srv.stop()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "camera gate1" in text  # the logs did talk about this camera (offline, reconnect)
    assert SECRET not in text


def test_rtsp_camera_to_reviewed_event(tmp_path):
    """The whole way on real parts: the demo motorcycle clip served by GStreamer RTSP -> reader -> YOLO ->
    blocked_exit + ebike_indoor (demo dwell 10 s) -> events with evidence JPEG in SQLite -> API -> review."""
    import cv2
    import numpy as np

    from helpers import REPO, require
    from vigil.config import parse_config
    from vigil.service import Runtime
    from vigil.streams.rtsp import RtspServer, annexb_from_video

    clip = REPO / "sample_videos" / "corridor_motorcycle.mp4"
    if not clip.is_file():
        require(f"{clip} is missing: run `python sample_videos/make_samples.py` (make test does)")
    srv = RtspServer({"exit": annexb_from_video(clip, tmp_path / "annexb")}).start()
    try:
        zone = [[0.417, 0.597], [0.627, 0.597], [0.729, 0.917], [0.35, 0.917]]
        cams = [{"id": "exit-1f", "name": "一楼东侧安全出口", "url": srv.url("exit"), "institution": "fy",
                 "site_kind": "corridor", "detect_fps": 2,
                 "zones": [{"name": "东侧安全出口", "polygon": zone,
                            "rules": [{"type": "blocked_exit", "dwell_s": 10}, {"type": "ebike_indoor", "dwell_s": 10}]}]}]
        rt = Runtime(parse_config(service_config(tmp_path, cameras=cams)))
        client = authed_client(rt)
        try:
            t0 = time.monotonic()

            def open_rules():
                return {e["rule"] for e in client.get("/api/events", params={"state": "open"}).json()["items"]}

            assert wait_until(lambda: open_rules() >= {"blocked_exit", "ebike_indoor"}, 45), open_rules()
            took = time.monotonic() - t0
            assert 15 <= took <= 40, f"events after {took:.1f} s of streaming (motorcycle at 8 s, dwell 10 s)"
            items = client.get("/api/events", params={"rule": "ebike_indoor"}).json()["items"]
            assert len(items) == 1
            ev = items[0]
            assert ev["camera_name"] == "一楼东侧安全出口" and ev["institution_name"] == "示范县福缘养老院"
            assert ev["params"]["dwell_s"] == 10 and ev["peak_confidence"] >= 0.35
            assert ev["review_status"] == "pending" and ev["state"] == "open"
            snap = client.get(ev["snapshot_url"])
            assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"
            img = cv2.imdecode(np.frombuffer(snap.content, np.uint8), cv2.IMREAD_COLOR)
            assert img is not None and img.shape[1] >= 640  # the annotated evidence frame

            r = client.post(f"/api/events/{ev['id']}/review", json={"verdict": "confirmed", "note": "已通知移走电动车"})
            assert r.status_code == 200 and r.json()["review_status"] == "confirmed"
            pending = client.get("/api/events", params={"status": "pending"}).json()["items"]
            assert ev["id"] not in [e["id"] for e in pending]
            assert client.post(f"/api/events/{ev['id']}/review", json={"verdict": "false_alarm", "reason": "misdetection"}).status_code == 409

            # the evidence clip: cut by the camera's decoder from its packet ring (pre 5 s, post 10 s)
            def clip_status():
                return client.get(f"/api/events/{ev['id']}").json()["clip_status"]

            assert clip_status() in ("recording", "ready")
            assert wait_until(lambda: clip_status() == "ready", 20), client.get(f"/api/events/{ev['id']}").json()
            clip = client.get(f"/api/events/{ev['id']}/clip.mp4")
            assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
            import av
            with av.open(io.BytesIO(clip.content)) as mp4:
                vs = mp4.streams.video[0]
                frames = sum(1 for _ in mp4.decode(vs))
                seconds = frames / 10  # the sample clips run at 10 fps
                assert vs.codec_context.name == "h264" and 14 <= seconds <= 17, frames  # 5 s before + 10 s after, key frame aligned
        finally:
            rt.stop()
    finally:
        srv.stop()
