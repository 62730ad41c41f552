"""Evidence clips and media retention on real parts.

Clips: `PacketRing` + `ClipRecorder` fed by PyAV demuxing a real H.264 file (wall time = packet time)
and a live RTSP stream (GStreamer server); the clips are opened again with PyAV and compared packet
by packet with the source (no re-encoding). Full disk: a real 2 MiB tmpfs (ENOSPC) and a file-size
limit (EFBIG). Retention: real files, a real SQLite database, a real small tmpfs for free space and a
read-only remount for delete errors. API: the clip endpoint with Range requests, 404s and 409."""
from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import av
import pytest

from helpers import REPO, require, shared_path, wait_until
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
@pytest.fixture
def tiny_fs(tmp_path):
    """make(kib) -> a folder with a real tmpfs of that size mounted on it (root only; unmounted after)."""
    mounted: list[Path] = []

    def make(kib: int) -> Path:
        d = tmp_path / f"tmpfs{len(mounted)}"
        d.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(d)], capture_output=True, text=True)
        if r.returncode != 0:
            require(f"cannot mount a tmpfs (needs root): {r.stderr.strip()}")
        mounted.append(d)
        return d

    yield make
    for d in mounted:
        subprocess.run(["umount", str(d)], capture_output=True)


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


# -- store, retention, API -------------------------------------------------------------------
@pytest.fixture
def store(tmp_path):
    """A real EventStore on a migrated SQLite file, with 5 seeded events and their evidence JPEGs."""
    from vigil.api.db import make_engine, make_sessionmaker
    from vigil.api.migrate import upgrade
    from vigil.api.store import EventStore
    from vigil_fixtures import seed_events

    eng = make_engine(f"sqlite:///{tmp_path / 'vigil.db'}")
    upgrade(eng)
    st = EventStore(make_sessionmaker(eng), tmp_path / "media", {"exit1": "fy", "ctrl": "et"})
    st.ids = seed_events(SimpleNamespace(store=st))
    yield st
    eng.dispose()


def row(store, event_id):
    from vigil.api.db import EventRow
    with store.sessions() as s:
        return s.get(EventRow, event_id)


def record_for(store, event_id: int, trigger_s: float = 5, pre_s: float = 2, post_s: float = 2) -> Path:
    """Record a real clip for `event_id` where the store wants it and report it to the store."""
    path = store.clip_path_for(event_id)
    store.clip_started(event_id, path)
    res = replay_file(sample(), 5.0, [(trigger_s, event_id, path, trigger_s, pre_s, post_s)])[event_id]
    store.clip_finished(vars(res))  # the dict form, as it crosses the process boundary
    assert res.status == "ready"
    return path


def age(path: Path, days: float) -> None:
    t = time.time() - days * 86400
    os.utime(path, (t, t))


def test_retention_by_age_prunes_rows_and_spares_recording_clips(store):
    from vigil.api.retention import MediaMaintainer
    from vigil.config import RetentionConfig

    ids = store.ids
    clips = {i: record_for(store, i) for i in ids[:3]}
    assert clips[ids[0]].relative_to(store.media_dir).parts[:2] == ("clips", "exit1")
    recording = store.clip_path_for(ids[3])
    store.clip_started(ids[3], recording)
    recording.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clips[ids[0]], recording.with_suffix(".part"))  # a clip being written, 40 days "old"
    snaps = {i: store.media_dir / row(store, i).snapshot_path for i in ids}
    for i in ids[:2]:
        age(clips[i], 40), age(snaps[i], 40)
    age(recording.with_suffix(".part"), 40)
    old_bytes = sum(p.stat().st_size for i in ids[:2] for p in (clips[i], snaps[i]))
    m = MediaMaintainer(store, RetentionConfig(max_age_days=30, min_free_mb=0))
    report = m.run_once()
    assert report["deleted_by_age"] == 4 and report["deleted_for_space"] == 0 and report["errors"] == 0
    assert (m.files_deleted, m.bytes_freed, m.last_error) == (4, old_bytes, None) and m.last_run_at
    for i in ids[:2]:
        r = row(store, i)
        assert (r.clip_status, r.clip_path, r.snapshot_path) == ("pruned", None, None)
        assert not clips[i].exists() and not snaps[i].exists()
    assert row(store, ids[2]).clip_status == "ready" and clips[ids[2]].is_file() and snaps[ids[2]].is_file()
    assert row(store, ids[3]).clip_status == "recording" and recording.with_suffix(".part").is_file()
    assert m.run_once()["deleted_by_age"] == 0 and m.files_deleted == 4


def test_retention_by_size_deletes_oldest_first(store):
    from vigil.api.retention import MB, MediaMaintainer
    from vigil.config import RetentionConfig

    for i in store.ids[:3]:
        record_for(store, i)
    files = sorted(p for p in store.media_dir.rglob("*") if p.is_file())
    for k, p in enumerate(files):  # distinct ages, newest last
        age(p, 1 - k / 100)
    by_age = sorted(files, key=lambda p: p.stat().st_mtime)
    total = sum(p.stat().st_size for p in files)
    limit = total - sum(p.stat().st_size for p in by_age[:3])  # exactly the 3 oldest must go
    report = MediaMaintainer(store, RetentionConfig(min_free_mb=0, max_media_mb=limit / MB)).run_once()
    assert report["deleted_for_space"] == 3 and report["media_mb"] == pytest.approx(limit / MB, abs=1e-3)
    assert [p.exists() for p in by_age] == [False] * 3 + [True] * (len(by_age) - 3)


def test_retention_frees_disk_space_on_a_small_disk(tmp_path, tiny_fs):
    from vigil.api.db import make_engine, make_sessionmaker
    from vigil.api.migrate import upgrade
    from vigil.api.retention import MB, MediaMaintainer
    from vigil.api.store import EventStore
    from vigil.config import RetentionConfig
    from vigil_fixtures import seed_events

    eng = make_engine(f"sqlite:///{tmp_path / 'vigil.db'}")
    upgrade(eng)
    store = EventStore(make_sessionmaker(eng), tiny_fs(4096), {"exit1": "fy", "ctrl": "et"})
    ids = seed_events(SimpleNamespace(store=store))
    clips = [record_for(store, i) for i in ids]
    for k, p in enumerate(clips):
        age(p, 1 - k / 100)
    free0 = shutil.disk_usage(store.media_dir).free
    need = free0 + sum(p.stat().st_blocks * 512 for p in clips[:2]) - 1024  # two oldest clips must go
    m = MediaMaintainer(store, RetentionConfig(min_free_mb=need / MB))
    report = m.run_once()
    assert report["deleted_for_space"] == 2 and shutil.disk_usage(store.media_dir).free >= need
    assert [p.exists() for p in clips] == [False, False, True, True, True]
    assert [row(store, i).clip_status for i in ids] == ["pruned", "pruned", "ready", "ready", "ready"]
    eng.dispose()


def test_retention_survives_a_read_only_disk_and_recovers(tmp_path, tiny_fs, store):
    from vigil.api.retention import MediaMaintainer
    from vigil.config import RetentionConfig

    store.media_dir = tiny_fs(1024)
    path = record_for(store, store.ids[0])
    age(path, 40)
    subprocess.run(["mount", "-o", "remount,ro", str(store.media_dir)], check=True)
    m = MediaMaintainer(store, RetentionConfig(max_age_days=30, min_free_mb=0, check_interval_s=1)).start()
    try:
        assert wait_until(lambda: m.runs >= 2, 5)  # the loop goes on after the error
        assert "Read-only file system" in m.last_error and path.is_file()
        assert row(store, store.ids[0]).clip_status == "ready"
        subprocess.run(["mount", "-o", "remount,rw", str(store.media_dir)], check=True)
        assert wait_until(lambda: not path.exists() and m.last_error is None, 5)
        assert row(store, store.ids[0]).clip_status == "pruned" and m.files_deleted == 1
    finally:
        m.stop()


def test_snapshots_on_a_full_disk_keep_the_event(tmp_path, tiny_fs, store):
    from vigil.vision.events import EventRecord

    store.media_dir = tiny_fs(256)
    jpeg = (store.media_dir.parent / "media").joinpath(row(store, store.ids[0]).snapshot_path).read_bytes()
    filler = store.media_dir / "filler"
    with pytest.raises(OSError), filler.open("wb") as f:
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    ev = EventRecord("exit1", "出口", "blocked_exit", 1.0, datetime.now(timezone.utc), 0.9, {}, {})
    store.started(ev, jpeg)
    assert ev.id and row(store, ev.id).snapshot_path is None
    assert sorted(p.name for p in store.media_dir.rglob("*") if p.is_file()) == ["filler"]  # no .tmp left
    filler.unlink()
    store.updated(ev, jpeg)
    assert (store.media_dir / row(store, ev.id).snapshot_path).read_bytes() == jpeg


def test_clip_endpoint_range_404_409(api):
    from vigil.api.retention import MediaMaintainer
    from vigil.config import RetentionConfig

    client, rt, ids = api
    assert client.get(f"/api/events/{ids[0]}").json()["clip_status"] is None
    assert "no clip for event" in client.get(f"/api/events/{ids[0]}/clip.mp4").json()["detail"]
    rt.store.clip_started(ids[0], rt.store.clip_path_for(ids[0]))
    r = client.get(f"/api/events/{ids[0]}/clip.mp4")
    assert r.status_code == 409 and r.json()["detail"].startswith("clip still recording, ready about ")
    assert int(r.headers["retry-after"]) >= 1
    assert client.get(f"/api/events/{ids[0]}").json()["clip_status"] == "recording"
    path = record_for(rt.store, ids[0])
    e = client.get(f"/api/events/{ids[0]}").json()
    assert (e["clip_status"], e["clip_url"]) == ("ready", f"/api/events/{ids[0]}/clip.mp4")
    data = path.read_bytes()
    r = client.get(e["clip_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4" and r.content == data
    assert r.headers["accept-ranges"] == "bytes"
    r = client.get(e["clip_url"], headers={"Range": "bytes=100-1099"})
    assert r.status_code == 206 and r.content == data[100:1100]
    assert r.headers["content-range"] == f"bytes 100-1099/{len(data)}"
    r = client.get(e["clip_url"], headers={"Range": f"bytes={len(data) - 10}-"})
    assert r.status_code == 206 and r.content == data[-10:]
    assert client.get(e["clip_url"], headers={"Range": f"bytes={len(data)}-"}).status_code == 416
    assert "does not exist" in client.get("/api/events/999999/clip.mp4").json()["detail"]
    rt.store.clip_finished({"event_id": ids[1], "path": "x", "status": "failed",
                            "error": "OSError: [Errno 28] No space left on device"})
    assert "No space left on device" in client.get(f"/api/events/{ids[1]}/clip.mp4").json()["detail"]
    age(path, 40)
    MediaMaintainer(rt.store, RetentionConfig(max_age_days=30, min_free_mb=0)).run_once()
    r = client.get(e["clip_url"])
    assert r.status_code == 404 and "pruned by media retention" in r.json()["detail"]
    assert client.get(f"/api/events/{ids[0]}").json()["clip_url"] is None


@pytest.mark.browser
def test_review_page_plays_the_clip(browser, tmp_path):
    """Chromium fetches the clip through the API (Range requests) and decodes it in a <video>."""
    from vigil.api.app import create_app
    from vigil.config import parse_config
    from vigil.service import Runtime
    from vigil_fixtures import LiveServer, seed_events, service_config

    rt = Runtime(parse_config(service_config(tmp_path)), start_cameras=False)
    ids = seed_events(rt)
    record_for(rt.store, ids[0])
    rt.store.clip_started(ids[1], rt.store.clip_path_for(ids[1]))
    srv = LiveServer(create_app(rt))
    page = browser.new_page(locale="zh-CN")
    try:
        page.goto(f"{srv.url}/ui/")
        card = page.locator(f'li.event[data-event-id="{ids[0]}"]')
        card.wait_for(timeout=10000)
        assert "录像中" in page.locator(f'li.event[data-event-id="{ids[1]}"]').inner_text()
        card.locator('button[data-action="clip"]').click()
        page.wait_for_function("(() => { const v = document.querySelector('video.clip');"
                               " return v && v.readyState >= 2 && v.videoWidth === 640; })()", timeout=15000)
        assert card.locator("video").evaluate("v => v.error") is None
        assert card.locator("video").evaluate("v => v.duration") == pytest.approx(4.0, abs=0.15)
    finally:
        page.close()
        srv.stop()
        rt.stop()
