"""One reader per camera: a decoder process (`vigil.streams.decoder`) that pulls the stream (RTSP
over TCP, open/read timeouts, reconnect with capped exponential backoff), and in this process a small
pump thread that turns its messages into `Frame`s, health and clip results.

Frames cross the process boundary through shared memory: the pump copies a published slot once into
its own array (about 0.1 ms for 640x360) and checks the slot's seqlock, so a frame is never torn and
never pickled. The hand-off to the consumer is a bounded slot that drops the oldest frame instead of
building lag. A decoder process that dies is restarted; the camera shows offline meanwhile."""
from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import threading
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import Callable

import numpy as np

from vigil.config import redact_url
from vigil.streams.decoder import HEADER, DecoderSpec, backoff_delays, is_file_source, run_decoder
from vigil.streams.frames import Frame, LatestFrameSlot
from vigil.streams.health import CameraHealth

__all__ = ["CameraReader", "ReaderSettings", "backoff_delays", "is_file_source"]

log = logging.getLogger("vigil.streams")
_ctx = mp.get_context("spawn")  # never fork a process that holds model threads and sockets


@dataclass(frozen=True)
class ReaderSettings:
    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    queue_size: int = 1
    realtime_files: bool = True  # pace file sources at their own frame rate
    loop_files: bool = True
    publish_fps: float | None = None  # frames handed on per second (None: every decoded frame)
    keyframes_only: bool = False
    clip_ring_s: float | None = None  # seconds of encoded packets kept for evidence clips (None: none)


class _SlotReader:
    """The parent's view of the decoder's shared-memory ring."""

    def __init__(self, name: str, width: int, height: int, slots: int):
        # the decoder creates and unlinks the segment; the resource tracker (shared by parent and decoders)
        # unlinks it if a decoder is killed before it could
        self.shm = shared_memory.SharedMemory(name=name)
        self.width, self.height, self.slots = width, height, slots
        self.slot_bytes = HEADER + width * height * 3

    def read(self, slot: int, seq: int) -> np.ndarray | None:
        """A private copy of the slot's frame, or None if the decoder has already reused the slot."""
        base = slot * self.slot_bytes
        hdr = np.ndarray((2,), np.int64, self.shm.buf, base)
        if hdr[1] != seq:
            return None
        out = np.ndarray((self.height, self.width, 3), np.uint8, self.shm.buf, base + HEADER).copy()
        return out if hdr[0] == seq else None

    def close(self) -> None:
        try:
            self.shm.close()
        except (BufferError, OSError):
            pass


class CameraReader:
    """Decodes one camera in its own process.

    Consumers call `frames.get()`; the slot holds at most `queue_size` frames and drops the oldest.
    `health` follows the decoder (fps, frames, last frame time, online/offline, reconnects)."""

    def __init__(self, camera_id: str, url: str, settings: ReaderSettings | None = None,
                 on_clip: Callable[[dict], None] | None = None):
        self.camera_id = camera_id
        self.url = url
        self.safe_url = redact_url(url)
        self.settings = settings or ReaderSettings()
        self.health = CameraHealth(camera_id)
        self.frames = LatestFrameSlot(self.settings.queue_size)
        self.last_frame: Frame | None = None
        self.on_clip = on_clip
        self.torn_frames = 0  # published frames overwritten before the pump could copy them
        self.process_restarts = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._proc = None
        self._slots: _SlotReader | None = None
        self._index = 0

    # -- lifecycle -------------------------------------------------------------------------
    def _spec(self) -> DecoderSpec:
        s = self.settings
        return DecoderSpec(self.camera_id, self.url, self.safe_url, s.open_timeout_s, s.read_timeout_s,
                           s.backoff_initial_s, s.backoff_max_s, s.publish_fps, s.keyframes_only, s.realtime_files,
                           s.loop_files, clip_ring_s=s.clip_ring_s)

    def _spawn(self) -> None:
        self._msgs, self._cmds = _ctx.Queue(maxsize=256), _ctx.Queue()
        self._stop_ev = _ctx.Event()
        self._stats = _ctx.RawArray("d", 6)  # last frame monotonic, wall, fps, frames, width, height
        self._frames_base = self.health.frames
        self._proc = _ctx.Process(target=run_decoder, name=f"decoder-{self.camera_id}", daemon=True,
                                  args=(self._spec(), self._msgs, self._cmds, self._stop_ev, self._stats))
        self._proc.start()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> "CameraReader":
        self._spawn()
        self._thread = threading.Thread(target=self._pump, name=f"reader-{self.camera_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._proc is not None:
            self._stop_ev.set()
        self.frames.close()
        self._end_process(grace=1.0 if timeout is None else min(timeout, 1.0))
        if self._thread:
            self._thread.join(timeout if timeout is not None else 2)
        if self._slots:
            self._slots.close()
        self.health.status = "stopped"

    def _end_process(self, grace: float) -> None:
        p = self._proc
        if p is None:
            return
        p.join(grace)
        if p.is_alive():  # blocked inside an open/read that has not timed out yet
            p.terminate()
            p.join(1.0)
        if p.is_alive():
            p.kill()
            p.join(1.0)
        for q in (self._msgs, self._cmds):
            q.cancel_join_thread()
            q.close()

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive() and self._proc and self._proc.is_alive())

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def request_clip(self, event_id: int, path: str, trigger_wall: float, pre_s: float, post_s: float) -> None:
        """Ask the decoder to cut an evidence clip from its packet ring (answered through `on_clip`)."""
        self._cmds.put(("clip", event_id, str(path), trigger_wall, pre_s, post_s))

    # -- pump ------------------------------------------------------------------------------
    def _refresh_stats(self) -> None:
        st = self._stats
        if st[3] > 0:
            self.health.on_stats(frames=self._frames_base + int(st[3]), fps=st[2], last_mono=st[0], last_wall=st[1],
                                 width=int(st[4]), height=int(st[5]))

    def _pump(self) -> None:
        restarts = backoff_delays(self.settings.backoff_initial_s, self.settings.backoff_max_s)
        while not self._stop.is_set():
            try:
                msg = self._msgs.get(timeout=0.2)
            except queue.Empty:
                msg = None
            except (EOFError, OSError):
                msg = None
            self._refresh_stats()
            if msg is not None:
                self._handle(msg)
                continue
            if self._proc is not None and not self._proc.is_alive() and not self._stop.is_set():
                code = self._proc.exitcode
                self.health.on_disconnect(f"decoder process died (exit code {code}); restarting")
                log.warning("camera %s: decoder process died (exit code %s); restarting", self.camera_id, code)
                self.process_restarts += 1
                self.health.reconnects += 1
                self._end_process(0)
                if self._stop.wait(next(restarts)):
                    break
                self._spawn()

    def _handle(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "frame":
            _, slot, seq, pts_s, wall, capture_wall = msg
            image = self._slots.read(slot, seq) if self._slots else None
            if image is None:
                self.torn_frames += 1
                return
            frame = Frame(image=image, pts_s=pts_s, wall=wall, index=self._index, capture_wall=capture_wall)
            self._index += 1
            self.last_frame = frame
            self.frames.put(frame)
        elif kind == "shm":
            if self._slots:
                self._slots.close()
            self._slots = _SlotReader(*msg[1:])
        elif kind == "online":
            self._refresh_stats()
            self.health.status = "online"
            self.health.last_error = None
            log.info("camera %s: opened %s (%dx%d)", self.camera_id, self.safe_url, msg[1], msg[2])
        elif kind == "offline":
            _, error, reconnects, delay = msg
            self.health.on_disconnect(error)
            self.health.reconnects = reconnects + self.process_restarts
            if delay is None:
                log.info("camera %s: %s", self.camera_id, error)
            else:
                log.warning("camera %s: %s; retrying in %.3g s", self.camera_id, error, delay)
        elif kind == "clip":
            if self.on_clip is not None:
                try:
                    self.on_clip(msg[1])
                except Exception:  # noqa: BLE001
                    log.exception("camera %s: clip callback failed", self.camera_id)
