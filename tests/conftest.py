"""Shared pytest fixtures."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `import helpers` from any test module

from helpers import require, shared_path  # noqa: E402

STREET_CROWD = ("data", "video", "street_crowd.mp4")


@pytest.fixture(scope="session")
def street_clip_h264(tmp_path_factory) -> Path:
    """street_crowd.mp4 (640x360, 23.98 fps) as an Annex-B H.264 file, converted once per session."""
    from vigil.streams.rtsp import annexb_from_video

    src = shared_path(*STREET_CROWD)
    return annexb_from_video(src, tmp_path_factory.mktemp("annexb-cache"), gop_s=1.0)


@pytest.fixture(scope="session")
def gst_rtsp() -> None:
    """Skips (fails in CI) when the GStreamer RTSP server cannot run on this machine."""
    from vigil.streams.rtsp import gst_rtsp_available

    require(gst_rtsp_available())


@pytest.fixture
def rtsp_server_factory(gst_rtsp, street_clip_h264):
    """Call with (mounts=None, port=0, auth=None) to get a started RtspServer; all are stopped after
    the test. The default mount is `cam` serving the street clip."""
    from vigil.streams.rtsp import RtspServer

    servers: list[RtspServer] = []

    def make(mounts: dict[str, Path] | None = None, port: int = 0, auth: tuple[str, str] | None = None):
        srv = RtspServer(mounts or {"cam": street_clip_h264}, port=port, auth=auth)
        servers.append(srv)
        return srv.start()

    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture
def rtsp_server(rtsp_server_factory):
    """A running RTSP server serving the street clip at `rtsp_server.url("cam")`."""
    return rtsp_server_factory()

from vigil_fixtures import *  # noqa: E402,F401,F403  (database, API and browser fixtures)
from cluster_fixtures import cluster_db, crowd10, local_cluster  # noqa: E402,F401  (a local Ray cluster, a database of its own)


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
