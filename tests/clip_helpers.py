"""Shared by the evidence-clip tests (test_clips.py, test_retention.py): the sample file and a
demux-driven replay of a real H.264 file through `PacketRing` + `ClipRecorder`, and a clip checker."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import av
import pytest

from helpers import REPO, require
from vigil.streams.clips import ClipRecorder, ClipResult, PacketRing

SAMPLE = REPO / "sample_videos" / "corridor_motorcycle.mp4"  # 60 s, 10 fps, key frame every 1 s, no B-frames
T0 = 1_800_000_000.0  # simulated wall clock of packet time 0


def sample() -> Path:
    if not SAMPLE.is_file():
        require(f"{SAMPLE} is missing: run `python sample_videos/make_samples.py` (make test does)")
    return SAMPLE


def replay_file(src: Path, ring_s: float, requests: list[tuple], accepted: list | None = None,
                stop_at: float | None = None) -> dict[int, ClipResult]:
    """Demux `src` into a ring + recorder (wall = T0 + packet DTS seconds). `requests`: (at_s, event_id,
    path, trigger_s, pre_s, post_s), issued when the packet time reaches at_s. Stops when every clip
    is done (or at `stop_at`, then flushes)."""
    results: list[ClipResult] = []
    todo = sorted(requests, key=lambda r: r[0])
    with av.open(str(src)) as c:
        vs = c.streams.video[0]
        ring = PacketRing(ring_s)
        rec = ClipRecorder(ring, vs)
        for p in c.demux(vs):
            if p.dts is None:
                continue
            wall = T0 + float(p.dts * p.time_base)
            while todo and wall >= T0 + todo[0][0]:
                _, eid, path, trig, pre, post = todo.pop(0)
                ok = rec.request(eid, path, T0 + trig, pre, post)
                if accepted is not None:
                    accepted.append((eid, ok))
            ring.add(p, wall)
            rec.on_packet(p, wall)
            results += rec.poll_finished()
            if (not todo and not rec.pending) or (stop_at is not None and wall >= T0 + stop_at):
                break
        rec.flush("end of test input")
        results += rec.poll_finished()
    return {r.event_id: r for r in results}


def packets_of(path: Path) -> tuple[list[tuple], av.video.stream.VideoStream, float]:
    """[(pts, dts, key, bytes)] of a file's video stream, a stream description, and its time base."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        cc = vs.codec_context
        info = SimpleNamespace(name=cc.name, width=cc.width, height=cc.height, profile=cc.profile,
                               pix_fmt=cc.pix_fmt, extradata=bytes(cc.extradata or b""))
        pk = [(p.pts, p.dts, p.is_keyframe, bytes(p)) for p in c.demux(vs) if p.size]
        return pk, info, vs.time_base


def check_clip(res: ClipResult, src: Path, first_s: float, n_packets: int | None = None) -> list[tuple]:
    """A ready clip: opens, starts with a key frame at PTS 0, DTS increasing, same codec parameters
    and byte-identical packets as `src` from its packet at `first_s` on, faststart layout."""
    assert res.status == "ready", res
    path = Path(res.path)
    assert path.is_file() and not path.with_suffix(".part").exists()
    assert res.bytes == path.stat().st_size
    out, oinfo, otb = packets_of(path)
    ref, rinfo, rtb = packets_of(src)
    assert vars(oinfo) == vars(rinfo)  # codec, size, profile, pixel format, avcC: all copied
    assert out[0][2] and out[0][0] == 0, out[0][:3]  # starts with a key frame shown at 0
    dts = [p[1] for p in out]
    assert all(b > a for a, b in zip(dts, dts[1:]))
    start = next(i for i, p in enumerate(ref) if p[2] and abs(float(p[1] * rtb) - first_s) < 1e-3)
    assert [p[3] for p in out] == [p[3] for p in ref[start:start + len(out)]]  # no re-encoding
    assert [p[2] for p in out] == [p[2] for p in ref[start:start + len(out)]]
    rel_out = [float(p[0] * otb) for p in out]
    rel_ref = [float((p[0] - ref[start][0]) * rtb) for p in ref[start:start + len(out)]]
    assert rel_out == pytest.approx(rel_ref, abs=1e-3)  # same timing, rebased
    if n_packets is not None:
        assert len(out) == n_packets == res.packets
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart: playable while downloading
    return out

