"""Evidence clips cut from a ring buffer of a camera's *encoded* packets, without re-encoding.

The camera's demux loop owns one `PacketRing` and one `ClipRecorder` per connected stream and calls,
for every demuxed video packet::

    ring.add(packet, wall)          # keep the last ring_s seconds (from a key frame on)
    recorder.on_packet(packet, wall)  # feed the clips being recorded

`recorder.request(event_id, path, trigger_wall, pre_s, post_s)` (any thread) asks for a clip from the
last key frame at or before `trigger_wall - pre_s` up to the first packet with `wall >= trigger_wall +
post_s`; the result comes back from `recorder.poll_finished()` as a `ClipResult`.

What it costs, per camera: the ring holds references to packets the demuxer already allocated (no
copy; memory about `ring_s` x bitrate plus one GOP, e.g. 20 s at 2 Mbit/s = 5 MB, hard-capped by
`max_bytes`). Per packet and per clip being recorded: one copy of the packet's bytes (a few KB) into
a new `av.Packet` and one mux call; nothing is ever decoded or encoded. When a clip ends its MP4 is
closed: with `+faststart` libavformat rewrites the file once to put the index first (one read and
write of the clip, milliseconds for a 15 s clip) so browsers can start playing before the download ends.
"""
from __future__ import annotations

import itertools
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

log = logging.getLogger("vigil.streams.clips")

__all__ = ["ClipRecorder", "ClipResult", "PacketRing"]


def usable(packet: av.Packet) -> bool:
    """A packet worth keeping: it carries data and at least one timestamp (flush packets do not)."""
    return packet.size > 0 and (packet.pts is not None or packet.dts is not None)


class _Entry:
    __slots__ = ("packet", "wall", "key", "size")

    def __init__(self, packet: av.Packet, wall: float):
        self.packet, self.wall, self.key, self.size = packet, wall, bool(packet.is_keyframe), packet.size


class PacketRing:
    """The last `seconds` of one stream's encoded packets, as (packet, wall time), always starting at
    a key frame so that any clip cut from it can be decoded from its first packet.

    Packets before the first key frame are not kept. Whole GOPs are dropped from the front as soon as
    the next key frame is itself at least `seconds` older than the newest packet, so the ring spans at
    least `seconds` (back to the key frame before that) and at most `seconds` + one GOP. `max_bytes`
    bounds memory even when a camera sends no key frame for a long time. Not thread-safe: call it from
    the demux loop only (the recorder reads it from the same thread)."""

    def __init__(self, seconds: float, max_bytes: int = 64 << 20):
        if seconds <= 0:
            raise ValueError(f"ring seconds must be > 0, got {seconds}")
        self.seconds = float(seconds)
        self.max_bytes = int(max_bytes)
        self.time_base: Fraction | None = None
        self._entries: deque[_Entry] = deque()
        self._keys: deque[_Entry] = deque()  # the key-frame entries, oldest first
        self.nbytes = 0
        self.dropped_gops = 0
        self.overflows = 0  # times one GOP alone exceeded max_bytes (the ring was cleared)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def oldest_wall(self) -> float | None:
        return self._entries[0].wall if self._entries else None

    @property
    def newest_wall(self) -> float | None:
        return self._entries[-1].wall if self._entries else None

    def clear(self) -> None:
        self._entries.clear()
        self._keys.clear()
        self.nbytes = 0

    def add(self, packet: av.Packet, wall: float) -> bool:
        """Keep `packet` (received at `wall`, seconds since the epoch); False when it was skipped
        (empty, no timestamp, or a non-key packet while the ring waits for its first key frame)."""
        if not usable(packet):
            return False
        tb = packet.time_base
        if self.time_base is not None and tb != self.time_base:  # another stream: start over
            self.clear()
        self.time_base = tb
        entry = _Entry(packet, wall)
        if not self._entries and not entry.key:
            return False
        self._entries.append(entry)
        if entry.key:
            self._keys.append(entry)
        self.nbytes += entry.size
        self._trim(wall)
        return True

    def _drop_first_gop(self) -> None:
        self._keys.popleft()
        stop = self._keys[0] if self._keys else None
        while self._entries and self._entries[0] is not stop:
            self.nbytes -= self._entries.popleft().size
        self.dropped_gops += 1

    def _trim(self, newest: float) -> None:
        cutoff = newest - self.seconds
        while len(self._keys) >= 2 and self._keys[1].wall <= cutoff:
            self._drop_first_gop()
        while self.nbytes > self.max_bytes and self._entries:
            if len(self._keys) < 2:
                if not self.overflows:  # once per ring: a camera with huge GOPs would repeat it forever
                    log.warning("packet ring over %d bytes within one GOP: cleared, clips restart at the next key frame",
                                self.max_bytes)
                self.overflows += 1
                self.clear()
                return
            self._drop_first_gop()

    def start_index(self, wall: float) -> int | None:
        """Index of the last key frame at or before `wall`, else of the oldest packet (a key frame);
        None when the ring is empty."""
        if not self._entries:
            return None
        best = self._keys[0]
        for k in self._keys:
            if k.wall > wall:
                break
            best = k
        # the key entries are a subsequence of the entries: count from the front
        for i, e in enumerate(self._entries):
            if e is best:
                return i
        return 0  # not reached: every key entry is in the ring

    def entries_from(self, index: int) -> list[_Entry]:
        return list(itertools.islice(self._entries, index, None))


@dataclass
class ClipResult:
    """One finished clip. A plain dataclass (picklable, `vars()` gives a dict) so it can cross a
    process boundary. `path` is the final .mp4 path (it exists only when status is 'ready')."""

    event_id: int
    path: str
    status: str  # 'ready' | 'failed'
    error: str | None = None
    duration_s: float = 0.0
    bytes: int = 0
    packets: int = 0
    start_wall: float | None = None  # wall time of the clip's first packet


class _Clip:
    """One clip being written: `.part` file, rebased timestamps, monotonic DTS."""

    def __init__(self, event_id: int, path: Path, start_wall: float, end_wall: float, faststart: bool):
        self.event_id, self.path = event_id, path
        self.part = path.with_suffix(".part")
        self.start_wall, self.end_wall, self.faststart = start_wall, end_wall, faststart
        self.container = None
        self.ostream = None
        self.offset: int | None = None  # subtracted from every timestamp (first PTS -> 0)
        self.last_dts: int | None = None
        self.step = 1  # last DTS increment, used to bridge a timestamp discontinuity
        self.min_pts: int | None = None
        self.end_pts = 0
        self.packets = 0
        self.first_wall: float | None = None
        self.tb: Fraction | None = None  # time base of the packets written

    def _open(self, template) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        options = {"movflags": "+faststart"} if self.faststart else {}
        self.container = av.open(str(self.part), "w", format="mp4", options=options)
        self.ostream = self.container.add_stream_from_template(template)

    def write(self, entry: _Entry, tb: Fraction, template) -> None:
        """Mux one packet (a copy of its bytes) with rebased timestamps; packets before the first
        key frame are skipped (they cannot be decoded)."""
        pkt = entry.packet
        if self.container is None:
            if not entry.key:
                return
            self._open(template)
            self.ostream.time_base = self.tb = tb
        dts = pkt.dts if pkt.dts is not None else pkt.pts
        pts = pkt.pts if pkt.pts is not None else dts
        if self.offset is None:  # the first (key) frame is shown at 0; with B-frames its DTS is < 0
            self.offset = pts
        dts -= self.offset
        if self.last_dts is not None and dts <= self.last_dts:  # discontinuity (camera restart, wrap)
            shift = self.last_dts + self.step - dts
            self.offset -= shift
            dts += shift
        elif self.last_dts is not None:
            self.step = dts - self.last_dts
        pts = max(pts - self.offset, dts)
        out = av.Packet(bytes(pkt))
        out.pts, out.dts, out.time_base = pts, dts, tb
        out.duration = pkt.duration or 0
        out.is_keyframe = entry.key
        out.stream = self.ostream
        self.container.mux(out)
        self.last_dts = dts
        self.min_pts = pts if self.min_pts is None else min(self.min_pts, pts)
        self.end_pts = max(self.end_pts, pts + (pkt.duration or self.step))
        self.packets += 1
        if self.first_wall is None:
            self.first_wall = entry.wall

    def finish(self) -> ClipResult:
        """Close the MP4 (with +faststart libavformat rewrites it once, index first) and rename
        `.part` to the final path (atomic: readers see a whole clip or none)."""
        self.container.close()
        self.container = None
        os.replace(self.part, self.path)
        size = self.path.stat().st_size
        duration = float((self.end_pts - (self.min_pts or 0)) * self.tb)
        return ClipResult(self.event_id, str(self.path), "ready", None, round(duration, 3), size, self.packets,
                          self.first_wall)

    def fail(self, error: str) -> ClipResult:
        """Give up: close what is open (errors ignored) and remove the `.part` file."""
        if self.container is not None:
            try:
                self.container.close()
            except Exception:  # noqa: BLE001 - already failing; the file goes anyway
                pass
            self.container = None
        try:
            self.part.unlink(missing_ok=True)
        except OSError as exc:
            log.error("clip %s: cannot remove %s: %s", self.event_id, self.part, exc)
        return ClipResult(self.event_id, str(self.path), "failed", error, 0.0, 0, self.packets, self.first_wall)


class ClipRecorder:
    """Writes evidence clips from a `PacketRing` of `stream`'s packets into MP4 files.

    `request()` is cheap and thread-safe (it only queues the request); the work happens in
    `on_packet()` on the demux thread: a new clip first writes its backlog from the ring, then every
    later packet until its end. Any number of clips may be open at once, each its own file. A failure
    of one clip (ENOSPC, permissions, a muxer error) fails only that clip: its `.part` file is removed
    and a failed `ClipResult` carries the error text; nothing is raised into the demux loop.

    The output stream copies `stream`'s codec parameters when a clip's file is opened, so `stream`
    must stay open while clips can start; `flush()` never touches it (safe after the input closed).
    Make a new ring and recorder for each new connection (timestamps restart)."""

    def __init__(self, ring: PacketRing, stream, *, faststart: bool = True):
        self.ring, self.stream, self.faststart = ring, stream, faststart
        self._lock = threading.Lock()  # guards _requests and _finished (touched from other threads)
        self._requests: list[_Clip] = []
        self._active: list[_Clip] = []
        self._finished: list[ClipResult] = []

    @property
    def pending(self) -> int:
        """Clips requested and not finished yet."""
        with self._lock:
            return len(self._requests) + len(self._active)

    def request(self, event_id: int, path: str | Path, trigger_wall: float, pre_s: float, post_s: float) -> bool:
        """Ask for a clip of [trigger_wall - pre_s, trigger_wall + post_s] (wall seconds) into `path`
        (.mp4); False (and nothing queued) when a clip for this event is already pending."""
        clip = _Clip(int(event_id), Path(path), trigger_wall - max(0.0, pre_s), trigger_wall + max(0.0, post_s),
                     self.faststart)
        with self._lock:
            if any(c.event_id == clip.event_id for c in itertools.chain(self._requests, self._active)):
                log.warning("clip for event %s already pending; request ignored", event_id)
                return False
            self._requests.append(clip)
        return True

    def on_packet(self, packet: av.Packet, wall: float) -> None:
        """Feed one demuxed packet (after `ring.add(packet, wall)`). Never raises."""
        try:
            self._on_packet(packet, wall)
        except Exception:  # noqa: BLE001 - a recorder bug must not stop the camera
            log.exception("clip recorder failed on a packet")

    def _on_packet(self, packet: av.Packet, wall: float) -> None:
        if not usable(packet):
            return
        tb = packet.time_base
        with self._lock:  # clips whose window has begun start now; a later start waits for its moment
            new = [c for c in self._requests if c.start_wall <= wall]
            self._requests = [c for c in self._requests if c.start_wall > wall]
        for clip in new:  # backlog from the ring, up to (not including) this packet
            idx = self.ring.start_index(clip.start_wall)
            backlog = self.ring.entries_from(idx) if idx is not None else []
            self._active.append(clip)
            for entry in backlog:
                if entry.packet is packet:
                    break
                if not self._feed(clip, entry, tb):
                    break
        entry = _Entry(packet, wall)
        for clip in list(self._active):
            self._feed(clip, entry, tb)

    def _feed(self, clip: _Clip, entry: _Entry, tb: Fraction) -> bool:
        """Write one packet to `clip` or finish it; False once the clip is done."""
        if clip not in self._active:
            return False
        try:
            if entry.wall >= clip.end_wall:
                self._done(clip, self._close(clip, "its end was reached"))
                return False
            clip.write(entry, tb, self.stream)
            return True
        except Exception as exc:  # noqa: BLE001 - OSError (ENOSPC), av errors: this clip fails, no other
            self._done(clip, clip.fail(f"{type(exc).__name__}: {exc}"))
            return False

    def _close(self, clip: _Clip, why: str) -> ClipResult:
        if clip.container is None or clip.packets < 2:
            return clip.fail(f"no key frame and following packet recorded before {why}")
        try:
            return clip.finish()
        except Exception as exc:  # noqa: BLE001
            return clip.fail(f"{type(exc).__name__}: {exc}")

    def _done(self, clip: _Clip, result: ClipResult) -> None:
        self._active.remove(clip)
        if result.status == "ready":
            log.info("clip for event %s ready: %s (%.1f s, %d bytes)", result.event_id, result.path,
                     result.duration_s, result.bytes)
        else:
            log.error("clip for event %s failed: %s", result.event_id, result.error)
        with self._lock:
            self._finished.append(result)

    def flush(self, reason: str) -> None:
        """Finish every pending clip now with what it has (stream lost, shutdown): 'ready' when it
        holds a key frame and at least one more packet, else 'failed' with `reason`. Call it from the
        demux thread (or once that loop has ended)."""
        with self._lock:
            new, self._requests = self._requests, []
        self._active.extend(new)
        for clip in list(self._active):
            self._done(clip, self._close(clip, reason))

    def poll_finished(self) -> list[ClipResult]:
        """Results finished since the last call (any thread)."""
        with self._lock:
            out, self._finished = self._finished, []
        return out
