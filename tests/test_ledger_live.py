"""The hazard loop on a live RTSP stream (issue #16, "done when"): the demo corridor camera sees a motorcycle
blocking the exit -> event -> confirmed -> hazard -> the officer submits -> the camera re-check says "still
present" -> the supervisor rejects -> the motorcycle is taken away (the camera's stream now shows the empty
corridor) -> submitted again -> re-check "clear" -> verified -> closed.

Real parts: GStreamer's RTSP server, the camera reader, the COCO model, SQLite. "Taking the motorcycle away" is
the RTSP server being restarted on the same port with footage of the same corridor before the motorcycle came:
the reader reconnects by itself, as it would after a camera blink."""
from __future__ import annotations

import shutil
import subprocess
import time

import cv2
import numpy as np

from helpers import REPO, require
from vigil_fixtures import bearer, make_user, service_config

ZONE = [[0.417, 0.597], [0.627, 0.597], [0.729, 0.917], [0.35, 0.917]]


def wait_until(fn, timeout: float, every: float = 0.5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(every)
    return fn()


def cut(src, dst, start: float, seconds: float):
    """A piece of the clip, re-encoded (10 fps, a key frame a second, no B-frames)."""
    subprocess.run([shutil.which("ffmpeg") or "ffmpeg", "-nostdin", "-y", "-v", "error", "-ss", str(start), "-i", str(src),
                    "-t", str(seconds), "-an", "-c:v", "libx264", "-g", "10", "-bf", "0", "-pix_fmt", "yuv420p", str(dst)],
                   check=True, timeout=120)
    return dst


def test_blocked_exit_from_event_to_closed_hazard_on_a_live_stream(tmp_path, gst_rtsp):
    from fastapi.testclient import TestClient

    from vigil.api.app import create_app
    from vigil.config import parse_config
    from vigil.service import Runtime
    from vigil.streams.rtsp import RtspServer, annexb_from_video

    clip = REPO / "sample_videos" / "corridor_motorcycle.mp4"
    if not clip.is_file():
        require(f"{clip} is missing: run `python sample_videos/make_samples.py` (make test does)")
    parked = annexb_from_video(cut(clip, tmp_path / "parked.mp4", 10, 45), tmp_path / "annexb")  # motorcycle there
    empty = annexb_from_video(cut(clip, tmp_path / "empty.mp4", 0, 2.5), tmp_path / "annexb")  # before anyone came
    srv = RtspServer({"exit": parked}).start()
    port = srv.port
    cams = [{"id": "exit-1f", "name": "一楼东侧安全出口", "url": srv.url("exit"), "institution": "fy",
             "site_kind": "corridor", "detect_fps": 2,
             "zones": [{"name": "东侧安全出口", "polygon": ZONE, "rules": [{"type": "blocked_exit", "dwell_s": 4}]}]}]
    cfg = service_config(tmp_path, cameras=cams)
    cfg["hazards"] = {"recheck": {"window_s": 6, "sample_fps": 2, "min_frames": 4}}
    rt = Runtime(parse_config(cfg))
    try:
        heads = {}
        for name, role, scope in (("rev", "reviewer", {"regions": ["示范县"]}), ("off", "officer", {"institutions": ["fy"]}),
                                  ("town", "supervisor", {"regions": ["示范县/城关镇"]})):
            make_user(rt, name, role, **scope)
            heads[name] = bearer(rt, name)
        client = TestClient(create_app(rt))

        def get(url, who="town"):
            r = client.get(url, headers=heads[who])
            assert r.status_code == 200, r.text
            return r.json()

        def step(hid, name, who, code=200, **body):
            r = client.post(f"/api/hazards/{hid}/steps", json={"step": name, **body}, headers=heads[who])
            assert r.status_code == code, (name, who, r.status_code, r.text)
            return r.json()

        events = wait_until(lambda: get("/api/events?rule=blocked_exit")["items"], 45)
        assert events, "no blocked_exit event within 45 s of streaming"
        ev = events[0]
        r = client.post(f"/api/events/{ev['id']}/review", json={"verdict": "confirmed", "note": "摩托车堵塞安全出口"},
                        headers=heads["rev"])
        assert r.status_code == 200
        hazards = get("/api/hazards")["items"]
        assert len(hazards) == 1
        hid = hazards[0]["id"]
        assert hazards[0]["category"] == "blocked_passage" and hazards[0]["camera_id"] == "exit-1f"

        # the officer says it is fixed, but the motorcycle is still there
        step(hid, "start", "off")
        assert step(hid, "submit", "off")["recheck_status"] == "pending"
        h = wait_until(lambda: (x := get(f"/api/hazards/{hid}"))["recheck_status"] != "pending" and x, 30)
        assert h["recheck_status"] == "still_present", h["recheck_detail"]
        d = h["recheck_detail"]
        assert d["frames"] >= 4 and d["present_frames"] / d["frames"] >= 0.5
        assert any(o["label"] == "ebike" for o in d["objects"]), d["objects"]
        picture = next(p for p in h["photos"] if p["kind"] == "recheck")
        img = cv2.imdecode(np.frombuffer(client.get(picture["url"], headers=heads["town"]).content, np.uint8),
                           cv2.IMREAD_COLOR)
        assert img is not None and img.shape[:2] == (360, 640)
        assert "override" in step(hid, "verify", "town", 409)["detail"]
        step(hid, "reject", "town", note="摄像头复查仍见摩托车")

        # the motorcycle is taken away: the camera now shows the empty corridor
        srv.stop()
        srv = RtspServer({"exit": empty}, port=port).start()
        since = time.time()
        proc = rt.processors["exit-1f"]
        assert wait_until(lambda: proc.reader.last_frame is not None and proc.reader.last_frame.wall > since + 2, 40), \
            "the camera did not come back after the stream restarted"
        step(hid, "submit", "off")
        h = wait_until(lambda: (x := get(f"/api/hazards/{hid}"))["recheck_status"] != "pending" and x, 30)
        assert h["recheck_status"] == "clear", h["recheck_detail"]
        assert h["recheck_detail"]["present_frames"] == 0
        assert [p["kind"] for p in h["photos"]].count("recheck") == 2
        step(hid, "verify", "town")
        closed = step(hid, "close", "town")
        assert closed["state"] == "closed" and closed["closed_at"] is not None
        actions = [(x["action"], x.get("note")) for x in closed["history"]]
        assert [a for a, _ in actions] == ["opened", "start", "submit", "recheck", "reject", "submit", "recheck",
                                           "verify", "close"]
        assert actions[3][1] == "摄像头复查：隐患仍在" and actions[6][1] == "摄像头复查：隐患已消除"
    finally:
        rt.stop()
        srv.stop()
