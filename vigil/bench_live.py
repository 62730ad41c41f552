"""`vigil bench live`: what WebRTC viewers cost the service.

Three processes, so that only the service's own work is counted:
- the camera: the local GStreamer RTSP server serving the street clip (../shared, 640x360, 23.98 fps, H.264 Main);
- the service (`python -m vigil.bench_live serve`): a Runtime with that one camera (no zones: its reader decodes
  frames, the detector idles) and the API under uvicorn on 127.0.0.1;
- the viewers (`python -m vigil.bench_live view`): N aiortc clients that post offers to the API and decode what
  they receive (their decoding is not the service's cost).
For each viewer count the service process's CPU seconds per wall second are measured over `seconds` after a
warm-up; its children (the camera's decoder process) are reported apart: viewers do not change them.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cpu(proc) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def _children_cpu(proc) -> float:
    total = 0.0
    for c in proc.children(recursive=True):
        try:
            total += _cpu(c)
        except Exception:  # noqa: BLE001 - a child gone meanwhile
            pass
    return total


def _machine() -> dict:
    model, flags = None, set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model is None:
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags |= set(line.split(":", 1)[1].split()) & {"avx2", "avx512f", "avx512_vnni"}
    except OSError:
        pass
    return {"cpu_model": model, "cores": os.cpu_count(), "flags": sorted(flags)}


def bench_live(viewers: list[int], seconds: float = 10, warmup: float = 4, log=lambda _m: None) -> dict:
    import psutil

    from vigil.models.catalogue import shared_dir
    from vigil.streams.rtsp import RtspServer, annexb_from_video

    src = shared_dir() / "data" / "video" / "street_crowd.mp4"
    if not src.is_file():
        raise FileNotFoundError(f"bench footage missing: {src} (the shared data folder, $VIGIL_SHARED)")
    work = Path(tempfile.mkdtemp(prefix="vigil-bench-live-"))
    clip = annexb_from_video(src, work / "annexb", gop_s=1.0)
    cam = RtspServer({"cam": clip}).start()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen([sys.executable, "-m", "vigil.bench_live", "serve", cam.url("cam"), str(work),
                               str(max(viewers + [1]))], stdout=subprocess.PIPE, text=True, env=env)
    rows = []
    try:
        hello = json.loads(server.stdout.readline())
        sp = psutil.Process(server.pid)
        log(f"service pid {server.pid} on {hello['url']}")
        for n in viewers:
            view = None
            if n:
                view = subprocess.Popen([sys.executable, "-m", "vigil.bench_live", "view", hello["url"], hello["token"],
                                         str(n), str(warmup + seconds + 2)], stdout=subprocess.PIPE, text=True, env=env)
            time.sleep(warmup)
            c0, k0, t0 = _cpu(sp), _children_cpu(sp), time.monotonic()
            time.sleep(seconds)
            c1, k1, t1 = _cpu(sp), _children_cpu(sp), time.monotonic()
            got = {}
            if view is not None:
                out, _ = view.communicate(timeout=60)
                got = json.loads(out.strip().splitlines()[-1])
            row = {"viewers": n, "service_cpu_percent": round(100 * (c1 - c0) / (t1 - t0), 1),
                   "decoder_cpu_percent": round(100 * (k1 - k0) / (t1 - t0), 1), **got}
            rows.append(row)
            log(json.dumps(row))
            time.sleep(2)  # the sessions close (pc.close) before the next count
    finally:
        server.stdin = None
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        cam.stop()
    base = next((r["service_cpu_percent"] for r in rows if r["viewers"] == 0), None)
    for r in rows:
        if base is not None and r["viewers"]:
            r["cpu_percent_per_viewer"] = round((r["service_cpu_percent"] - base) / r["viewers"], 2)
    per = [r["cpu_percent_per_viewer"] for r in rows if "cpu_percent_per_viewer" in r]
    # the first viewer also pays for the camera pull (RTSP demux); each further one only packetizes and encrypts
    by_n = {r["viewers"]: r["service_cpu_percent"] for r in rows}
    more = [n for n in by_n if n > 1]
    marginal = round((by_n[max(more)] - by_n[1]) / (max(more) - 1), 2) if 1 in by_n and more else None
    return {"camera": "street_crowd 640x360 23.98 fps H.264 Main, RTSP/TCP", "seconds": seconds, "rows": rows,
            "cpu_percent_per_viewer": per[-1] if per else None, "cpu_percent_per_further_viewer": marginal,
            "machine": _machine(),
            "note": "CPU % of one core; service process only (the camera decoder child apart, viewers elsewhere)"}


def human_lines(result: dict) -> list[str]:
    m = result["machine"]
    out = [f"{m['cpu_model']} ({m['cores']} cores, {' '.join(m['flags']) or 'no avx2'}); {result['camera']}"]
    for r in result["rows"]:
        out.append(f"{r['viewers']:>3} viewers: service {r['service_cpu_percent']:5.1f} % CPU"
                   + (f", {r['cpu_percent_per_viewer']:.2f} % per viewer" if "cpu_percent_per_viewer" in r else "")
                   + (f", {r.get('fps_min', 0):.1f}-{r.get('fps_max', 0):.1f} fps received" if r["viewers"] else ""))
    if result.get("cpu_percent_per_further_viewer") is not None:
        out.append(f"each viewer after the first: {result['cpu_percent_per_further_viewer']:.2f} % CPU")
    return out


# -- the two child processes -------------------------------------------------------------------------------------
def _serve(url: str, work: str, cap: int) -> None:
    import signal
    import socket
    import threading

    import uvicorn

    from vigil import accounts
    from vigil.api.app import create_app
    from vigil.config import parse_config
    from vigil.service import Runtime

    cfg = {"institutions": [{"id": "b", "name": "bench", "region": "示范县"}],
           "cameras": [{"id": "cam", "name": "cam", "url": url, "institution": "b", "site_kind": "gate", "detect_fps": 1}],
           "storage": {"data_dir": str(Path(work) / "data")},
           "live": {"ice_host_addresses": ["127.0.0.1"], "max_viewers_per_camera": min(64, max(cap, 1)),
                    "max_viewers": 512, "idle_close_s": 0}}
    rt = Runtime(parse_config(cfg))
    with rt.sessions() as s:
        user = accounts.add_user(s, "bench", "admin", "bench-password-123", (), ())
        token, _ = accounts.open_session(s, user, "bench")
        s.commit()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    deadline = time.monotonic() + 30
    while rt.processors["cam"].reader.last_frame is None and time.monotonic() < deadline:
        time.sleep(0.1)
    print(json.dumps({"url": f"http://127.0.0.1:{port}", "token": token}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.should_exit = True
    rt.stop()


async def _view(url: str, token: str, n: int, seconds: float) -> dict:
    import httpx
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from vigil.live_webrtc import ice_configuration, restrict_ice_hosts

    restrict_ice_hosts(["127.0.0.1"])
    counts = [0] * n
    pcs = []
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async def one(i: int) -> None:
            pc = RTCPeerConnection(ice_configuration([]))
            pcs.append(pc)
            pc.addTransceiver("video", direction="recvonly")

            @pc.on("track")
            def on_track(track):
                async def pull():
                    while True:
                        try:
                            await track.recv()
                        except Exception:  # noqa: BLE001 - track ended
                            return
                        counts[i] += 1
                asyncio.ensure_future(pull())

            await pc.setLocalDescription(await pc.createOffer())
            r = await http.post("/api/cameras/cam/webrtc", json={"sdp": pc.localDescription.sdp, "type": "offer"})
            r.raise_for_status()
            await pc.setRemoteDescription(RTCSessionDescription(sdp=r.json()["sdp"], type="answer"))

        await asyncio.gather(*(one(i) for i in range(n)))
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        took = time.monotonic() - t0
        for pc in pcs:
            await pc.close()
    fps = [c / took for c in counts]
    return {"fps_min": round(min(fps), 1), "fps_max": round(max(fps), 1)}


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        _serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "view":
        print(json.dumps(asyncio.run(_view(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))))
