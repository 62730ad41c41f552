"""Fixtures for the service side: databases (SQLite file, the machine's PostgreSQL), a runtime and API client."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

PG_DSN = os.environ.get("VIGIL_TEST_PG", "host=127.0.0.1 port=5432 user=postgres")
SECRET = "s3cret-pw-4711"
ASSETS = None


def default_objects_detector():
    """The catalogue's default objects model as the service loads it (score 0.25); the generated COCO ONNX is built
    from ../shared when missing, as `make models` would."""
    from helpers import shared_path
    from vigil.models.catalogue import default_model
    from vigil.vision.detector import load_detector

    entry = default_model("objects")
    path = entry.path
    if not path.exists() and entry.location == "generated":
        shared_path(*entry.generated_from.split("/"))
        from vigil.models.yolov5_coco import ensure_built
        path = ensure_built(path)
    return load_detector(path, entry.imgsz or 320, 0.25)


def ultralytics_asset(name: str) -> Path:
    import ultralytics
    return Path(ultralytics.__file__).parent / "assets" / name


def _pg_connect():
    import psycopg
    return psycopg.connect(PG_DSN + " dbname=postgres", autocommit=True, connect_timeout=3)


def ensure_postgres() -> None:
    """Start the machine's PostgreSQL if it is stopped (the machine runs one; CI may find it down)."""
    try:
        _pg_connect().close()
        return
    except Exception:
        pass
    versions = [Path(p).name for p in glob.glob("/etc/postgresql/*")]
    if not versions:
        pytest.fail("PostgreSQL is not installed on this machine (/etc/postgresql missing)")
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[0], "main", "start"], check=False,
                   capture_output=True, timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            _pg_connect().close()
            return
        except Exception:
            time.sleep(0.5)
    pytest.fail("PostgreSQL at 127.0.0.1:5432 did not come up")


@pytest.fixture(scope="session")
def pg_url():
    ensure_postgres()
    name = f"vigil_test_{uuid.uuid4().hex[:10]}"
    with _pg_connect() as c:
        c.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with _pg_connect() as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vigil.db'}"
    url = request.getfixturevalue("pg_url")
    # each test starts from an empty schema
    from sqlalchemy import create_engine, text
    eng = create_engine(url)
    with eng.begin() as c:  # every table, trigger and function of earlier tests goes
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    eng.dispose()
    return url


def service_config(tmp_path: Path, db_url: str | None = None, cameras: list[dict] | None = None) -> dict:
    return {
        "institutions": [
            {"id": "fy", "name": "示范县福缘养老院", "region": "示范县/城关镇"},
            {"id": "et", "name": "示范县儿童福利院", "region": "示范县/河西乡", "kind": "child_welfare"},
        ],
        "cameras": cameras if cameras is not None else [
            {"id": "exit1", "name": "东侧安全出口", "url": f"rtsp://admin:{SECRET}@127.0.0.1:9/exit1", "institution": "fy",
             "site_kind": "exit", "zones": [{"name": "出口", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                                              "rules": [{"type": "blocked_exit"}, {"type": "fire_smoke"}]}]},
            {"id": "ctrl", "name": "消防控制室", "url": f"rtsp://duty:{SECRET}@127.0.0.1:9/ctrl", "institution": "et",
             "site_kind": "control_room", "zones": [{"name": "值班区", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                                                     "rules": [{"type": "unattended_room"}]}]},
        ],
        "storage": {"database_url": db_url, "data_dir": str(tmp_path / "data")},
    }


def seed_events(rt, n_exit: int = 3, n_ctrl: int = 2) -> list[int]:
    """Real events through the store (the same path the pipeline uses), with real evidence JPEGs."""
    import cv2
    from vigil.vision.annotate import annotate, encode_jpeg
    from vigil.vision.events import EventRecord

    img = cv2.imread(str(ultralytics_asset("bus.jpg")))
    jpeg = encode_jpeg(annotate(img, polygon_px=None, rule="blocked_exit", title="test"))
    base = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
    ids = []
    for i in range(n_exit + n_ctrl):
        cam, zone, rule = ("exit1", "出口", "blocked_exit") if i < n_exit else ("ctrl", "值班区", "unattended_room")
        ev = EventRecord(cam, zone, rule, float(i), base + timedelta(hours=i), 0.5 + i / 20, {"dwell_s": 30}, {"i": i})
        rt.store.started(ev, jpeg)
        if i % 2 == 0:
            ev.ended_t, ev.ended_wall = i + 5.0, base + timedelta(hours=i, minutes=5)
            rt.store.ended(ev)
        ids.append(ev.id)
    return ids


def write_mp4(path: Path, seconds: float = 1.0, fps: int = 10) -> Path:
    """A small real H.264 MP4 (moving gradient, 64x48), encoded with PyAV."""
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        for i in range(int(seconds * fps)):
            img = np.full((48, 64, 3), 0, np.uint8)
            img[:, :, 1] = (np.arange(64, dtype=np.uint8) * 4 + i * 8)[None, :]
            for packet in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
    return path


def seed_clips(rt, ids: list[int]) -> dict[str, int]:
    """Give the seeded events every clip state, through the store: ready (a real MP4), recording,
    failed, pruned by retention, none. Returns {state: event id}."""
    ready, recording, failed, pruned = ids[:4]
    for eid in (ready, pruned):
        path = rt.store.clip_path_for(eid)
        rt.store.clip_started(eid, path)
        rt.store.clip_finished({"event_id": eid, "path": str(write_mp4(path)), "status": "ready", "error": None})
    rt.store.clip_started(recording, rt.store.clip_path_for(recording))
    rt.store.clip_started(failed, rt.store.clip_path_for(failed))
    rt.store.clip_finished({"event_id": failed, "path": None, "status": "failed", "error": "camera stream lost"})
    gone = rt.store.clip_path_for(pruned)
    gone.unlink()
    rt.store.media_deleted([gone.relative_to(rt.store.media_dir).as_posix()])
    return {"ready": ready, "recording": recording, "failed": failed, "pruned": pruned, "none": ids[4]}


PASSWORD = "correct-horse-battery-9"


def make_user(rt, username: str, role: str, regions=(), institutions=(), password: str = PASSWORD) -> int:
    """A real account in the runtime's database (argon2id hash); returns its id."""
    from vigil import accounts

    with rt.sessions() as s:
        user = accounts.add_user(s, username, role, password, regions, institutions)
        s.commit()
        return user.id


def bearer(rt, username: str) -> dict[str, str]:
    """Headers with a fresh session token of `username` (made directly, without a login request)."""
    from vigil import accounts

    with rt.sessions() as s:
        token, _ = accounts.open_session(s, accounts.get_user(s, username), "test")
        s.commit()
    return {"Authorization": f"Bearer {token}"}


def authed_client(rt, username: str = "admin", role: str = "admin", **scope):
    """A TestClient of the runtime's app acting as `username` (created with `role` and scope if missing)."""
    from fastapi.testclient import TestClient

    from vigil import accounts
    from vigil.api.app import create_app

    with rt.sessions() as s:
        from sqlalchemy import select
        exists = s.scalar(select(accounts.UserRow.id).where(accounts.UserRow.username == username))
    if exists is None:
        make_user(rt, username, role, scope.get("regions", ()), scope.get("institutions", ()))
    return TestClient(create_app(rt), headers=bearer(rt, username))


@pytest.fixture
def api(tmp_path, db_url):
    """(client, runtime, event ids) with seeded events and no cameras running; the client acts as an admin."""
    from vigil.config import parse_config
    from vigil.service import Runtime

    rt = Runtime(parse_config(service_config(tmp_path, db_url)), start_cameras=False)
    ids = seed_events(rt)
    with authed_client(rt) as client:
        yield client, rt, ids
    rt.stop()


class LiveServer:
    """uvicorn serving an app in a background thread on a free loopback port."""

    def __init__(self, app):
        import socket
        import threading

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)


def build_web() -> None:
    """review_ui/dist as `make web` builds it (the same script, so the same npm commands); fails without node."""
    root = Path(__file__).resolve().parent.parent
    if (root / "review_ui" / "dist" / "index.html").is_file():
        return
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node/npm are missing, so the web app (review_ui/) cannot be built: run `make system`")
    out = subprocess.run(["bash", str(root / "scripts" / "build_web.sh")], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        pytest.fail(f"building the web app failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")


WEB_SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "web"  # the web app's screenshots


def web_login(browser, url: str, username: str, password: str = PASSWORD, **ctx):
    """A fresh browser context logged in to the web app through its form (zh-CN, desktop size unless `viewport`)."""
    context = browser.new_context(locale="zh-CN", viewport=ctx.pop("viewport", {"width": 1366, "height": 900}), **ctx)
    page = context.new_page()
    page.goto(f"{url}/app/")
    page.locator("#login-form").wait_for(timeout=15000)
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.locator("#user-role").wait_for(timeout=15000)
    return context, page


def web_shot(page, name: str) -> None:
    """A full-page screenshot into test-artifacts/web/NAME.png, once transitions settled."""
    page.wait_for_timeout(300)
    WEB_SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(WEB_SHOTS / f"{name}.png"), full_page=True)


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


# per module: Playwright's sync API keeps an event loop running in the main thread while it is started, so a later
# module's asyncio.run() (tests/test_live_view.py) would fail if the browser lived for the whole session
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    exe = "/usr/bin/chromium"
    if not Path(exe).exists():
        pytest.fail("Debian chromium is missing: run `make system` (scripts/setup_system.sh)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()
