"""One reader per camera: RTSP over TCP with open/read timeouts, reconnect with capped exponential
backoff, health state, and a bounded hand-off that drops old frames rather than lag."""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# Must be set before the first RTSP open: pull RTSP over TCP (UDP loses packets on busy LANs).
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")

import cv2  # noqa: E402

from vigil.config import redact_url  # noqa: E402
from vigil.streams.frames import Frame, LatestFrameSlot  # noqa: E402
from vigil.streams.health import CameraHealth  # noqa: E402

log = logging.getLogger("vigil.streams")


@dataclass(frozen=True)
class ReaderSettings:
    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    queue_size: int = 1
    realtime_files: bool = True  # pace file sources at their own frame rate
    loop_files: bool = True


def backoff_delays(initial: float, cap: float):
    """1, 2, 4, ... seconds, capped at `cap` (30 s by default)."""
    d = initial
    while True:
        yield min(d, cap)
        d = min(d * 2, cap)


def is_file_source(url: str) -> bool:
    return urlsplit(url).scheme in ("", "file")


class CameraReader:
    """Decodes one camera in a background thread.

    Consumers call `frames.get()`; the slot holds at most `queue_size` frames and drops the oldest.
    `health` is updated on every frame and every disconnect."""

    def __init__(self, camera_id: str, url: str, settings: ReaderSettings | None = None):
        self.camera_id = camera_id
        self.url = url
        self.safe_url = redact_url(url)
        self.settings = settings or ReaderSettings()
        self.health = CameraHealth(camera_id)
        self.frames = LatestFrameSlot(self.settings.queue_size)
        self.last_frame: Frame | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cap: cv2.VideoCapture | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "CameraReader":
        self._thread = threading.Thread(target=self._run, name=f"reader-{self.camera_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self.frames.close()
        if self._thread:
            self._thread.join(timeout if timeout is not None else self.settings.read_timeout_s + 2)
        self.health.status = "stopped"

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    # -- internals -------------------------------------------------------------------------
    def _open(self) -> cv2.VideoCapture | None:
        s = self.settings
        if is_file_source(self.url):
            path = urlsplit(self.url).path if self.url.startswith("file:") else self.url
            if not Path(path).exists():
                self.health.on_disconnect(f"file not found: {path}")
                return None
            cap = cv2.VideoCapture(path)
        else:
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(s.open_timeout_s * 1000),
                      cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(s.read_timeout_s * 1000)]
            cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            self.health.on_disconnect(f"cannot open {self.safe_url}")
            return None
        return cap

    def _run(self) -> None:
        delays = backoff_delays(self.settings.backoff_initial_s, self.settings.backoff_max_s)
        index = 0
        file_src = is_file_source(self.url)
        t0 = time.monotonic()
        loop_offset = 0.0
        while not self._stop.is_set():
            cap = self._open()
            if cap is None:
                delay = next(delays)
                log.warning("camera %s: %s; retrying in %.3g s", self.camera_id, self.health.last_error, delay)
                self._stop.wait(delay)
                continue
            self._cap = cap
            log.info("camera %s: opened %s", self.camera_id, self.safe_url)
            got_any = False
            play_start = time.monotonic()
            fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
            last_pts = 0.0
            stalled = False
            while not self._stop.is_set():
                t_read = time.monotonic()
                ok, img = cap.read()
                if not ok or img is None:
                    break
                if not file_src and time.monotonic() - t_read >= self.settings.read_timeout_s:
                    # OpenCV's read timeout fired, yet read() still returns True: FFmpeg drains the
                    # frames its (multi-threaded) decoder held back, one per timed-out read, so a
                    # hung camera would look online for (decoder threads + 1) x read_timeout.
                    # A read that blocked for the whole timeout means the stream has stalled.
                    stalled = True
                    break
                if file_src:
                    pos = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                    pts = (pos if pos > 0 or index == 0 else last_pts + 1.0 / fps)
                    last_pts = pts
                    pts += loop_offset
                    if self.settings.realtime_files:
                        wait = play_start + (pts - loop_offset) - time.monotonic()
                        if wait > 0 and self._stop.wait(wait):
                            break
                else:
                    pts = time.monotonic() - t0
                if not got_any:
                    got_any = True
                    delays = backoff_delays(self.settings.backoff_initial_s, self.settings.backoff_max_s)
                h, w = img.shape[:2]
                frame = Frame(image=img, pts_s=pts, wall=time.time(), index=index)
                index += 1
                self.last_frame = frame
                self.health.on_frame(w, h)
                self.frames.put(frame)
            cap.release()
            self._cap = None
            if self._stop.is_set():
                break
            if file_src and got_any and self.settings.loop_files:
                loop_offset += last_pts + 1.0 / fps
                continue  # start the file again at once
            self.health.reconnects += 1
            if stalled:
                error = f"no frame for {self.settings.read_timeout_s:g} s (stream stalled): {self.safe_url}"
            elif got_any:
                error = f"stream ended or read timed out: {self.safe_url}"
            else:
                error = f"no frames from {self.safe_url}"
            self.health.on_disconnect(error)
            if file_src and got_any:
                break  # a file that does not loop is simply finished
            delay = next(delays)
            log.warning("camera %s: %s; reconnecting in %.3g s", self.camera_id, self.health.last_error, delay)
            self._stop.wait(delay)
