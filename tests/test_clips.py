"""Evidence clips on real parts.

`PacketRing` + `ClipRecorder` fed by PyAV demuxing a real H.264 file (wall time = packet time) and a
live RTSP stream (GStreamer server); the clips are opened again with PyAV and compared packet by packet
with the source (no re-encoding). Full disk: a real 2 MiB tmpfs (ENOSPC) and a file-size limit (EFBIG).
Retention and the clip endpoint: test_retention.py."""
from __future__ import annotations

import resource
import signal
import time
from pathlib import Path

import av
import pytest

from clip_helpers import T0, check_clip, packets_of, replay_file, sample
from helpers import shared_path
from vigil.streams.clips import ClipRecorder, PacketRing


# -- ring --------------------------------------------------------------------------------------
def test_ring_keeps_seconds_from_a_key_frame_and_bounds_memory():
    ring, capped = PacketRing(3.0), PacketRing(3.0, max_bytes=300_000)
    spans = []
    with av.open(str(sample())) as c:
        vs = c.streams.video[0]
        assert not ring.add(av.Packet(b""), T0)  # empty / no timestamp: skipped
        for p in c.demux(vs):
            if not p.size:
                continue
            wall = T0 + float(p.dts * p.time_base)
            assert ring.add(p, wall)
            capped.add(p, wall)
            entries = ring.entries_from(0)
            assert entries[0].key and ring.nbytes == sum(e.size for e in entries)
            spans.append(ring.newest_wall - ring.oldest_wall)
            assert capped.nbytes <= 300_000
    # after warm-up the ring spans >= 3 s and < 3 s + one GOP (1 s)
    assert min(spans[40:]) >= 3.0 - 1e-6 and max(spans) < 4.0
    assert ring.dropped_gops > 50 and capped.dropped_gops > ring.dropped_gops


# -- clips from a file ---------------------------------------------------------------------------
def test_overlapping_clips_from_a_file_are_exact_copies(tmp_path):
    accepted: list = []
    res = replay_file(sample(), 10.0, [
        (20, 1, tmp_path / "a" / "1.mp4", 20, 5, 10),   # key frame 15 s .. before 30 s
        (21, 1, tmp_path / "dup.mp4", 21, 1, 1),         # same event again: refused
        (22, 2, tmp_path / "b" / "2.mp4", 22, 3.5, 2),   # key frame at or before 18.5 -> 18 s .. 24 s
        (30, 3, tmp_path / "c" / "3.mp4", 29, 20, 3),    # 9 s back from a 10 s ring: oldest held, 20 s .. 32 s
    ], accepted)
    assert accepted == [(1, True), (1, False), (2, True), (3, True)]
    assert set(res) == {1, 2, 3} and not (tmp_path / "dup.mp4").exists()
    for eid, first_s, n, dur in ((1, 15.0, 150, 15.0), (2, 18.0, 60, 6.0), (3, 20.0, 120, 12.0)):
        check_clip(res[eid], sample(), first_s, n)
        assert res[eid].duration_s == pytest.approx(dur, abs=0.01)
        assert res[eid].start_wall == pytest.approx(T0 + first_s)
        with av.open(res[eid].path) as c:
            assert c.duration / 1e6 == pytest.approx(dur, abs=0.11)


def test_clip_with_b_frames_and_long_gop_decodes_completely(tmp_path):
    """Real street footage: High profile, B-frames (PTS != DTS), a key frame every 10.4 s."""
    src = shared_path("data", "video", "street_crowd.mp4")
    res = replay_file(src, 20.0, [(15, 7, tmp_path / "7.mp4", 15, 3, 5)])[7]
    out = check_clip(res, src, 198400 / 19184)  # the key frame at or before 12 s has DTS 10.34 s
    assert any(p[0] != p[1] for p in out)  # reordered frames kept their PTS
    gop = 250 / (1199 / 50)
    assert abs(res.duration_s - 8.0) <= gop
    with av.open(res.path) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == len(out) and frames[0].key_frame


def test_flush_finishes_clips_early_or_fails_them(tmp_path):
    res = replay_file(sample(), 10.0, [(20, 1, tmp_path / "1.mp4", 20, 2, 30),
                                       (20.5, 2, tmp_path / "2.mp4", 40, 0, 5)], stop_at=25)
    assert res[1].status == "ready" and res[1].duration_s == pytest.approx(7.1, abs=0.01)  # 18.0 .. 25.0 incl.
    check_clip(res[1], sample(), 18.0, 71)
    # the second one's window never started: nothing to keep
    assert res[2].status == "failed" and "end of test input" in res[2].error
    assert not list(tmp_path.glob("2.*"))


# -- full disk -----------------------------------------------------------------------------------
def test_enospc_fails_the_clip_removes_part_and_recorder_goes_on(tmp_path, tiny_fs):
    disk = tiny_fs(2048)
    res = replay_file(sample(), 10.0, [(12, 1, disk / "1.mp4", 12, 2, 1),    # ~0.3 MB: fits
                                       (20, 2, disk / "2.mp4", 20, 5, 15),   # ~2.3 MB: cannot fit
                                       (45, 3, tmp_path / "3.mp4", 45, 2, 2)])  # after the failure, elsewhere
    assert res[2].status == "failed" and "No space left on device" in res[2].error, res[2]
    assert res[2].bytes == 0 and sorted(p.name for p in disk.iterdir()) == ["1.mp4"]  # no .part left
    check_clip(res[1], sample(), 10.0, 30)
    check_clip(res[3], sample(), 43.0, 40)


def test_file_size_limit_fails_only_the_clip_that_hits_it(tmp_path):
    """The same path without root: RLIMIT_FSIZE makes the kernel refuse the write (EFBIG)."""
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (600_000, hard))
    try:
        res = replay_file(sample(), 10.0, [(12, 1, tmp_path / "1.mp4", 12, 2, 1), (20, 2, tmp_path / "2.mp4", 20, 5, 15)])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert res[2].status == "failed" and "File too large" in res[2].error, res[2]
    assert not list(tmp_path.glob("2.*"))
    check_clip(res[1], sample(), 10.0, 30)


# -- live RTSP -----------------------------------------------------------------------------------
def nal_units(data: bytes, annexb: bool) -> list[bytes]:
    if not annexb:  # MP4: 4-byte big-endian lengths
        out, i = [], 0
        while i < len(data):
            n = int.from_bytes(data[i:i + 4], "big")
            out.append(data[i + 4:i + 4 + n])
            i += 4 + n
        return out
    parts = data.split(b"\x00\x00\x01")
    return [p.rstrip(b"\x00") for p in parts[1:] if p.rstrip(b"\x00")]


def test_clip_from_live_rtsp_stream(rtsp_server, tmp_path):
    pre, post = 2.0, 2.0
    received: list[bytes] = []
    with av.open(rtsp_server.url("cam"), options={"rtsp_transport": "tcp"}, timeout=(10, 5)) as c:
        vs = c.streams.video[0]
        ring, t_open = PacketRing(5.0), time.time()
        rec = ClipRecorder(ring, vs)
        results, asked = [], False
        for p in c.demux(vs):
            wall = time.time()
            if ring.add(p, wall):
                received.append(bytes(p))
            rec.on_packet(p, wall)
            if not asked and wall - t_open > 4.5:  # past the server's start-up burst
                asked = rec.request(1, tmp_path / "live.mp4", wall, pre, post)
            results += rec.poll_finished()
            assert wall - t_open < 30, "clip did not finish"
            if results:
                break
        width, height = vs.codec_context.width, vs.codec_context.height
    res = results[0]
    assert res.status == "ready", res
    out, info, _ = packets_of(Path(res.path))
    assert (info.name, info.width, info.height) == ("h264", width, height) and out[0][2]
    # the clip's NAL units are a contiguous run of the received ones: nothing re-encoded
    got = [n for p in out for n in nal_units(p[3], annexb=False)]
    sent = [n for b in received for n in nal_units(b, annexb=True)]
    i = next(k for k in range(len(sent)) if sent[k:k + len(got)] == got)
    assert i >= 0 and len(got) > 20
    gop = 1.0  # the test stream has a key frame every second
    assert abs(res.duration_s - (pre + post)) <= gop + 0.1, res
    with av.open(res.path) as c:
        assert len(list(c.decode(video=0))) == len(out)
