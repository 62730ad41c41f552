"""Media retention and the clip endpoint on real parts: real files, a real SQLite database, a real
small tmpfs for free space and a read-only remount for delete errors; the clip endpoint with Range
requests, 404s and 409; Chromium playing a clip on the review page."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from clip_helpers import replay_file, sample
from helpers import wait_until


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
    """The web app's review queue: Chromium fetches the clip through the API (Range requests) and decodes it in a
    <video>; an event whose clip is still being written says so."""
    from vigil.api.app import create_app
    from vigil.config import parse_config
    from vigil.service import Runtime
    from vigil_fixtures import LiveServer, build_web, make_user, seed_events, service_config, web_login

    build_web()
    rt = Runtime(parse_config(service_config(tmp_path)), start_cameras=False)
    ids = seed_events(rt)
    make_user(rt, "shenhe", "reviewer", regions=["示范县"])
    record_for(rt.store, ids[0])
    rt.store.clip_started(ids[1], rt.store.clip_path_for(ids[1]))
    srv = LiveServer(create_app(rt))
    context, page = web_login(browser, srv.url, "shenhe")
    try:
        page.goto(f"{srv.url}/app/#/review")

        def show(event_id: int) -> None:  # J through the queue until the event is the current one
            page.locator("#review[data-current-id]").wait_for(timeout=10000)
            for _ in range(len(ids)):
                page.wait_for_function("document.querySelector('#review').dataset.busy === '0'", timeout=10000)
                if page.locator("#review").get_attribute("data-current-id") == str(event_id):
                    return
                page.keyboard.press("j")
            raise AssertionError(f"event {event_id} not in the queue")

        show(ids[1])
        assert page.locator("#clip-status").inner_text().strip() == "(录像中…)"
        show(ids[0])
        page.wait_for_function("(() => { const v = document.querySelector('#event-clip');"
                               " return v && v.readyState >= 2 && v.videoWidth === 640; })()", timeout=15000)
        assert page.locator("#event-clip").evaluate("v => v.error") is None
        assert page.locator("#event-clip").evaluate("v => v.duration") == pytest.approx(4.0, abs=0.15)
    finally:
        context.close()
        srv.stop()
        rt.stop()
