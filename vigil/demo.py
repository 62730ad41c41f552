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
    url = f"http://{cfg.server.host}:{port}/ui/"
    print(f"demo: open {url}  (API: http://{cfg.server.host}:{port}/docs)  Ctrl-C stops", flush=True)
    try:
        uvicorn.run(create_app(rt), host=cfg.server.host, port=port, log_level="warning")
    finally:
        rt.stop()
        if server is not None:
            server.stop()
