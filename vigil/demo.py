"""`make demo`: sample clips -> local RTSP cameras (files when GStreamer is missing) -> the service."""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from vigil.config import load_config

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_videos"
log = logging.getLogger("vigil.demo")


def make_samples() -> None:
    subprocess.run([sys.executable, str(SAMPLES / "make_samples.py")], check=True)


# demo accounts, one per role and level (README: "Accounts, scope and audit"); their password is printed at
# start: a demo on a laptop, not a deployment
DEMO_PASSWORD = "vigil-demo-2026"
DEMO_USERS = [
    ("admin", "admin", {}, "系统管理员"),
    ("county", "supervisor", {"regions": ["示范县"]}, "县民政局监管员"),
    ("chengguan", "supervisor", {"regions": ["示范县/城关镇"]}, "城关镇监管员"),
    ("hexi", "supervisor", {"regions": ["示范县/河西乡"]}, "河西乡监管员"),
    ("fuyuan", "officer", {"institutions": ["fuyuan"]}, "福缘养老院安全员"),
    ("reviewer", "reviewer", {"regions": ["示范县"]}, "审核员"),
    ("viewer", "viewer", {"regions": ["示范县/河西乡"]}, "河西乡只读用户"),
]


def ensure_demo_users(rt) -> list[str]:
    """Create the demo accounts that do not exist yet; returns the names made."""
    from sqlalchemy import select

    from vigil import accounts, audit
    from vigil.api.db_access import UserRow

    made = []
    with rt.sessions() as s:
        for name, role, scope, display in DEMO_USERS:
            if s.scalar(select(UserRow.id).where(UserRow.username == name)) is None:
                user = accounts.add_user(s, name, role, DEMO_PASSWORD, display_name=display, **scope)
                audit.record(s, None, "user.create", client="demo", username="demo", object_type="user",
                             object_id=user.id, after={"username": name, "role": role})
                made.append(name)
        s.commit()
    return made


def demo_intake_token(rt) -> str:
    """A fresh intake token for the demo county's public complaint form (the previous run's demo tokens are
    revoked: a token's secret is shown only once, so each run hands out a new one)."""
    from sqlalchemy import select

    from vigil import accounts
    from vigil.access import Principal, Scope
    from vigil.api.db_ledger import IntakeTokenRow
    from vigil.ledger import complaints

    now, regions = rt.clock.now(), rt.regions_by_institution()
    county = sorted({r.split("/")[0] for r in regions.values() if r})[0]
    with rt.sessions() as s:
        admin = accounts.get_user(s, "admin")
        who = Principal(admin.id, admin.username, "admin", Scope.all(), via="demo")
        for row in s.scalars(select(IntakeTokenRow).where(IntakeTokenRow.name == "demo", IntakeTokenRow.revoked_at.is_(None))):
            complaints.revoke_token(s, now, who, regions, row.id, client="demo")
        _, token = complaints.create_token(s, now, who, regions, name="demo", kind="region", value=county, client="demo")
        s.commit()
    return token


def run_demo(port: int = 8470) -> None:
    import uvicorn

    from vigil.api.app import create_app
    from vigil.service import Runtime
    from vigil.streams.rtsp import RtspServer, annexb_from_video, gst_rtsp_available

    make_samples()
    cfg = load_config(SAMPLES / "demo.yaml")
    cfg.storage.data_dir = str(ROOT / ".vigil-data" / "demo")
    cfg.server.port = port
    server = None
    why = gst_rtsp_available()
    if why is None:
        cache = ROOT / ".vigil-data" / "rtsp-cache"
        mounts = {c.id: annexb_from_video(Path(c.url), cache) for c in cfg.cameras}
        server = RtspServer(mounts)
        server.start()
        for c in cfg.cameras:
            c.url = server.url(c.id)
        print(f"demo: {len(mounts)} cameras served over RTSP at rtsp://127.0.0.1:{server.port}/<camera id>", flush=True)
    else:
        print(f"demo: GStreamer RTSP server unavailable ({why}); cameras read the clips as files", flush=True)
    rt = Runtime(cfg, import_inventory=True)  # the demo inventory (with this run's camera URLs) into the database
    print(f"demo: inventory of {len(rt.cfg.institutions)} institutions and {len(rt.cfg.cameras)} cameras in the "
          f"database (change it under /api/inventory/...)", flush=True)
    ensure_demo_users(rt)
    print("demo: accounts (password " + DEMO_PASSWORD + "): " +
          ", ".join(f"{n} ({role}{', ' + next(iter(sc.values()))[0] if sc else ''})" for n, role, sc, _ in DEMO_USERS),
          flush=True)
    base = f"http://{cfg.server.host}:{port}"
    print(f"demo: public complaint form of the county: {base}/intake/{demo_intake_token(rt)}", flush=True)
    url = f"{base}/app/"
    print(f"demo: open {url}  (the web app; API: {base}/api/..., described at "
          f"/openapi.json once logged in)  Ctrl-C stops", flush=True)
    try:
        uvicorn.run(create_app(rt), host=cfg.server.host, port=port, log_level="warning")
    finally:
        rt.stop()
        if server is not None:
            server.stop()
