"""Other camera sources: HTTP MJPEG (many cheap IP cameras) and video files; a dead MJPEG camera goes offline."""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from helpers import shared_path, wait_until
from vigil.streams.reader import CameraReader, ReaderSettings

FAST = ReaderSettings(open_timeout_s=2, read_timeout_s=2, backoff_initial_s=0.3, backoff_max_s=1)


@pytest.fixture
def mjpeg_server():
    """A real HTTP MJPEG server (multipart/x-mixed-replace) at 10 fps, serving frames of a real clip."""
    cap = cv2.VideoCapture(str(shared_path("data", "video", "street_crowd.mp4")))
    jpegs = []
    while len(jpegs) < 30:
        ok, img = cap.read()
        if not ok:
            break
        jpegs.append(cv2.imencode(".jpg", img)[1].tobytes())
    cap.release()
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            i = 0
            try:
                while not stop.is_set():
                    j = jpegs[i % len(jpegs)]
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(j)).encode() + b"\r\n\r\n" + j + b"\r\n")
                    i += 1
                    time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}/video.mjpg", stop
    stop.set()
    srv.shutdown()
    srv.server_close()


def test_mjpeg_camera_reads_and_goes_offline_when_server_dies(mjpeg_server):
    srv, url, stop = mjpeg_server
    r = CameraReader("mjpeg", url, FAST).start()
    try:
        assert wait_until(lambda: r.health.frames >= 10, 15)
        f = r.frames.get(timeout=2)
        assert f is not None and f.image.shape == (360, 640, 3)
        assert r.health.status == "online"
        stop.set()
        srv.shutdown()
        srv.server_close()
        assert wait_until(lambda: r.health.status == "offline", 10)
    finally:
        t = time.monotonic()
        r.stop()
        assert time.monotonic() - t < 5


def test_file_source_paced_at_its_own_rate_and_loops(tmp_path):
    clip = tmp_path / "short.mp4"
    w = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 90))
    for i in range(10):  # 1 s at 10 fps
        w.write(np.full((90, 160, 3), i * 20, np.uint8))
    w.release()
    r = CameraReader("file", str(clip), ReaderSettings(loop_files=True)).start()
    try:
        t0 = time.monotonic()
        assert wait_until(lambda: r.health.frames >= 25, 10)
        took = time.monotonic() - t0
        assert 1.8 < took < 4.5, f"25 frames of a 10 fps file took {took:.1f} s"
        assert r.last_frame.pts_s > 2.0  # the clock keeps running across loops
    finally:
        r.stop()


def test_missing_file_is_offline_not_a_crash(tmp_path):
    r = CameraReader("nofile", str(tmp_path / "missing.mp4"), FAST).start()
    try:
        assert wait_until(lambda: r.health.status == "offline" and "file not found" in (r.health.last_error or ""), 5)
        assert r.alive
    finally:
        r.stop()
