"""The decoder process of one camera (the child side of `CameraReader`).

It demuxes the source with PyAV (RTSP over TCP; open and read timeouts through PyAV's interrupt
callback, so a hung server cannot block it), decodes, and publishes frames at `publish_fps` into a
ring of shared-memory slots; the parent gets only a small message per published frame (slot, seq,
clocks), never the pixels. Frames that are decoded but not due are never converted to BGR, so a
10 fps camera that is sampled at 5 Hz pays the colour conversion five times a second. With
`keyframes_only` it decodes key frames alone (low-rate cameras: decode cost / GOP length).

The encoded packets also go into a `PacketRing`, from which evidence clips are cut on request
without re-encoding (`vigil.streams.clips`).

Every slot starts with a 16-byte header: the sequence number written before and after the pixels
(a seqlock), so the parent can tell a torn read from a good one.

A decoder never outlives its parent: a thread waits on the parent's sentinel and, when the parent is gone
(killed: a crashed service, a cluster node's worker killed by Ray), stops the decoder and exits within
`ORPHAN_GRACE_S`, so no orphan keeps pulling the camera.

Only numpy, PyAV and the standard library are imported here: a spawned decoder starts in about a
third of a second and holds about 40 MB.
"""
from __future__ import annotations

import math
import multiprocessing
import multiprocessing.connection
import os
import queue
import re
import threading
import time
from dataclasses import dataclass
from multiprocessing import shared_memory
from urllib.parse import urlsplit

import numpy as np

HEADER = 16  # two int64: seq before, seq after
_CRED = re.compile(r"(://)[^/@\s]+@")


def scrub(text: str, url: str, safe_url: str) -> str:
    """Error text without credentials (PyAV puts the URL it failed on into its messages)."""
    return _CRED.sub(r"\1***@", text.replace(url, safe_url))


def is_file_source(url: str) -> bool:
    return urlsplit(url).scheme in ("", "file")


def backoff_delays(initial: float, cap: float):
    """1, 2, 4, ... seconds, capped at `cap` (30 s by default)."""
    d = initial
    while True:
        yield min(d, cap)
        d = min(d * 2, cap)


@dataclass(frozen=True)
class DecoderSpec:
    """What the child needs to know (picklable; sent once at spawn)."""

    camera_id: str
    url: str
    safe_url: str
    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    publish_fps: float | None = None  # None: every decoded frame
    keyframes_only: bool = False
    realtime_files: bool = True
    loop_files: bool = True
    slots: int = 4
    clip_ring_s: float | None = None  # keep this many seconds of packets for clips; None: no clips


class SlotWriter:
    """The child's side of the shared-memory ring (created for a frame size, recreated on change)."""

    def __init__(self, camera_id: str, width: int, height: int, slots: int, generation: int):
        self.width, self.height, self.slots = width, height, slots
        self.frame_bytes = width * height * 3
        self.slot_bytes = HEADER + self.frame_bytes
        name = f"vigil-{camera_id[:40]}-{id(self) & 0xffffff:x}-{generation}"
        self.shm = shared_memory.SharedMemory(name=name, create=True, size=self.slot_bytes * slots)
        self.name = self.shm.name
        self.seq = 0

    def write(self, image: np.ndarray) -> tuple[int, int]:
        self.seq += 1
        slot = self.seq % self.slots
        base = slot * self.slot_bytes
        hdr = np.ndarray((2,), np.int64, self.shm.buf, base)
        hdr[0] = self.seq
        dst = np.ndarray((self.height, self.width, 3), np.uint8, self.shm.buf, base + HEADER)
        np.copyto(dst, image)
        hdr[1] = self.seq
        return slot, self.seq

    def close(self) -> None:
        try:
            self.shm.close()
            self.shm.unlink()
        except (FileNotFoundError, OSError):
            pass


class _Decoder:
    def __init__(self, spec: DecoderSpec, msgs, cmds, stop, stats):
        self.spec, self.msgs, self.cmds, self.stop, self.stats = spec, msgs, cmds, stop, stats
        self.file_src = is_file_source(spec.url)
        self.writer: SlotWriter | None = None
        self.generation = 0
        self.decoded = 0
        self.fps = 0.0
        self._last_pkt_pts = None
        self._win_start: float | None = None
        self._win_frames = 0
        self.next_publish = -math.inf
        self.recorder = None
        self.ring = None
        self._next_cmd_poll = 0.0

    # -- messages ------------------------------------------------------------------------------
    def send(self, *msg) -> None:
        try:
            self.msgs.put_nowait(msg)
        except queue.Full:  # the parent is not listening (stopping): never block the decoder
            pass

    def err(self, exc: BaseException | str) -> str:
        text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        return scrub(text, self.spec.url, self.spec.safe_url)

    def poll_commands(self, now: float) -> None:
        if now < self._next_cmd_poll:
            return
        self._next_cmd_poll = now + 0.1
        while True:
            try:
                cmd = self.cmds.get_nowait()
            except (queue.Empty, OSError, EOFError):
                break
            if cmd[0] == "clip":
                if self.recorder is None:
                    self.send("clip", {"event_id": cmd[1], "path": str(cmd[2]), "status": "failed",
                                       "error": "camera not streaming or clips disabled", "duration_s": 0.0, "bytes": 0})
                else:
                    self.recorder.request(*cmd[1:])
        self.send_finished_clips()

    def send_finished_clips(self) -> None:
        if self.recorder is not None:
            for res in self.recorder.poll_finished():
                self.send("clip", vars(res))

    # -- frames --------------------------------------------------------------------------------
    def on_packet(self, pts) -> None:
        """Stream rate and liveness count frames (packets with a new timestamp: RTSP may split a frame
        into several packets), decoded or not (key-frame-only cameras)."""
        if pts == self._last_pkt_pts:
            return
        self._last_pkt_pts = pts
        now = time.monotonic()
        if self._win_start is None:
            self._win_start, self._win_frames = now, 0
        self._win_frames += 1
        if now - self._win_start >= (2.0 if self.fps else 1.0):  # frames/s over ~2 s windows (bursts average out)
            self.fps = (self._win_frames - 1) / (now - self._win_start) if self._win_frames > 1 else 0.0
            self._win_start, self._win_frames = now, 1
            self.stats[2] = self.fps

    def on_decoded(self, frame, pts_s: float, capture_wall: float) -> None:
        self.decoded += 1
        st = self.stats
        st[0], st[1], st[3] = time.monotonic(), time.time(), self.decoded  # st[2], fps: on_packet
        st[4], st[5] = frame.width, frame.height
        spec = self.spec
        if spec.publish_fps and pts_s < self.next_publish - 1e-3:
            return
        if spec.publish_fps:
            step = 1.0 / spec.publish_fps
            self.next_publish = max(self.next_publish + step, pts_s + step * 0.5) if math.isfinite(self.next_publish) else pts_s + step
        image = frame.to_ndarray(format="bgr24")
        h, w = image.shape[:2]
        if self.writer is None or (self.writer.width, self.writer.height) != (w, h):
            if self.writer is not None:
                self.writer.close()
            self.generation += 1
            self.writer = SlotWriter(spec.camera_id, w, h, spec.slots, self.generation)
            self.send("shm", self.writer.name, w, h, spec.slots)
        slot, seq = self.writer.write(image)
        self.send("frame", slot, seq, pts_s, time.time(), capture_wall)

    # -- one connection ------------------------------------------------------------------------
    def open(self):
        import av

        spec = self.spec
        if self.file_src:
            path = urlsplit(spec.url).path if spec.url.startswith("file:") else spec.url
            return av.open(path)
        options = {"rtsp_transport": "tcp"} if spec.url.startswith("rtsp") else {}
        return av.open(spec.url, options=options, timeout=(spec.open_timeout_s, spec.read_timeout_s))

    def stream_once(self, container, t0: float, loop_offset: float) -> tuple[bool, float, str | None]:
        """Demux until the stream ends, fails or stop is set: (got frames, last pts, error)."""
        spec = self.spec
        vs = container.streams.video[0]
        vs.thread_type = "SLICE"
        vs.codec_context.thread_count = 1  # many decoders share few cores: no per-camera thread pools
        tb = float(vs.time_base) if vs.time_base else 1 / 90000
        rate = float(vs.average_rate or vs.guessed_rate or 25)
        if spec.clip_ring_s and not self.file_src:
            from vigil.streams.clips import ClipRecorder, PacketRing
            self.ring = PacketRing(spec.clip_ring_s)
            self.recorder = ClipRecorder(self.ring, vs)
        got, last_pts, anchor, first_pts = False, 0.0, math.inf, None
        play_start = time.monotonic()
        error = None
        try:
            for packet in container.demux(vs):
                if self.stop.is_set():
                    break
                wall = time.time()
                self.poll_commands(time.monotonic())
                if packet.dts is None and packet.pts is None:
                    continue  # demuxer flush packet
                self.on_packet(packet.pts)
                if self.ring is not None:
                    self.ring.add(packet, wall)
                    self.recorder.on_packet(packet, wall)
                if spec.keyframes_only and not packet.is_keyframe:
                    continue
                for frame in packet.decode():
                    if frame.pts is not None:
                        stream_s = frame.pts * tb
                    else:
                        stream_s = last_pts + 1.0 / rate
                    if first_pts is None:
                        first_pts = stream_s
                    rel = stream_s - first_pts
                    last_pts = rel
                    if self.file_src:
                        pts_s = rel + loop_offset
                        if spec.realtime_files:
                            wait = play_start + rel - time.monotonic()
                            if wait > 0 and self.stop.wait(wait):
                                return got, last_pts, None
                    else:
                        pts_s = time.monotonic() - t0
                    now_w = time.time()
                    anchor = min(anchor, now_w - rel)  # wall clock of the stream's start, as early as seen
                    if not got:
                        got = True
                        self.send("online", frame.width, frame.height, rate)
                    self.on_decoded(frame, pts_s, anchor + rel)
        except Exception as exc:  # noqa: BLE001 - any demux/decode failure means reconnect
            error = self.err(exc)
        return got, last_pts, error

    def run(self) -> None:
        spec = self.spec
        delays = backoff_delays(spec.backoff_initial_s, spec.backoff_max_s)
        t0 = time.monotonic()
        loop_offset = 0.0
        reconnects = 0
        while not self.stop.is_set():
            self.poll_commands(time.monotonic())
            try:
                container = self.open()
            except Exception as exc:  # noqa: BLE001
                what = "file not found" if isinstance(exc, FileNotFoundError) else "cannot open"
                delay = next(delays)
                self.send("offline", f"{what} {spec.safe_url}: {self.err(exc)}", reconnects, delay)
                if self.stop.wait(delay):
                    break
                continue
            try:
                if not container.streams.video:
                    raise ValueError("no video stream")
                got, last_pts, error = self.stream_once(container, t0, loop_offset)
            except Exception as exc:  # noqa: BLE001
                got, last_pts, error = False, 0.0, self.err(exc)
            finally:
                container.close()
            self.flush_clips("stream ended")
            if self.stop.is_set():
                break
            if got:
                delays = backoff_delays(spec.backoff_initial_s, spec.backoff_max_s)
            if self.file_src and got and spec.loop_files and error is None:
                loop_offset += last_pts + 0.04
                continue  # start the file again at once
            clean_end = error is None
            reconnects += 1
            if error and ("Exit" in error or "imeout" in error or "timed out" in error):
                error = f"no frame for {spec.read_timeout_s:g} s (stream stalled): {spec.safe_url} ({error})"
            elif got:
                error = f"stream ended: {spec.safe_url}" + (f" ({error})" if error else "")
            else:
                error = f"no frames from {spec.safe_url}" + (f" ({error})" if error else "")
            if self.file_src and got and clean_end:
                self.send("offline", error, reconnects, None)
                break  # a file that does not loop is simply finished
            delay = next(delays)
            self.send("offline", error, reconnects, delay)
            if self.stop.wait(delay):
                break
        self.flush_clips("camera stopped")

    def flush_clips(self, reason: str) -> None:
        if self.recorder is not None:
            self.recorder.flush(reason)
            self.send_finished_clips()
        self.recorder = self.ring = None


ORPHAN_GRACE_S = 5.0  # after the parent is gone: time to stop in order before the process ends anyway


def watch_parent(stop, grace_s: float = ORPHAN_GRACE_S) -> threading.Thread | None:
    """Stop the decoder once its parent process is gone, and end this process `grace_s` later if it has not
    ended by then (a read blocked in the demuxer). None when this process has no multiprocessing parent."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return None

    def wait() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        stop.set()
        time.sleep(grace_s)
        os._exit(0)

    t = threading.Thread(target=wait, name="parent-watch", daemon=True)
    t.start()
    return t


def run_decoder(spec: DecoderSpec, msgs, cmds, stop, stats) -> None:
    """Process entry point (spawned by `CameraReader`)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which stops us in order
    watch_parent(stop)
    dec = _Decoder(spec, msgs, cmds, stop, stats)
    try:
        dec.run()
    finally:
        if dec.writer is not None:
            dec.writer.close()
        dec.send("exit")
