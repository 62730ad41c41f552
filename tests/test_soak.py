"""Soak benchmark (issue #4): 16 cameras for an hour, memory must not grow. Marked slow: not in
`make test`; run with `make soak` or `pytest -m slow tests/test_soak.py` (VIGIL_SOAK_S sets the length,
default 3600 s). Memory is the PSS of the service and its decoder processes (RSS counts the shared
libraries of every decoder again), sampled every 30 s; the RTSP server that plays the cameras is not
vigil and is not counted. Growth is measured from the end of the
warm-up (model arenas, decoder buffers and the SQLite cache are in place by then) to the last
sample. Prints one JSON line with the samples."""
from __future__ import annotations

import json
import os
import time

import pytest

from helpers import shared_path

SOAK_S = float(os.environ.get("VIGIL_SOAK_S", "3600"))
# slow: not in `make test`; the suite-wide 300 s pytest timeout would cut the hour short
pytestmark = [pytest.mark.slow, pytest.mark.timeout(SOAK_S + 900)]


def test_sixteen_cameras_for_an_hour_memory_flat(tmp_path, gst_rtsp):
    from vigil.bench import bench_config, machine
    from vigil.bench_worker import TreeMeter, percentile
    from vigil.config import VigilConfig
    from vigil.models.catalogue import resolve_model
    from vigil.service import Runtime
    from vigil.streams.reader import ReaderSettings
    from vigil.streams.rtsp import RtspServer, annexb_from_video

    seconds = SOAK_S
    warmup = min(120.0, seconds / 4)
    crowd = annexb_from_video(shared_path("data", "video", "street_crowd.mp4"), tmp_path / "clips", fps=10)
    fire = annexb_from_video(shared_path("data", "video", "car_fire_handheld.mp4"), tmp_path / "clips", fps=10, size=(640, 360))
    mounts = {f"cam{i:03d}": (fire if i % 3 == 0 else crowd) for i in range(16)}
    with RtspServer(mounts) as server:
        cfg = VigilConfig.model_validate(bench_config([server.url(m) for m in mounts], str(tmp_path / "data"),
                                                     str(resolve_model(None)), 320))
        rt = Runtime(cfg, reader_settings=ReaderSettings(open_timeout_s=10, read_timeout_s=5, backoff_max_s=5))
        meter = TreeMeter(exclude=(server.pid,))  # the simulated cameras are not vigil
        samples = []
        try:
            t0 = time.monotonic()
            time.sleep(warmup)
            base_rss, base_pss = meter.rss_mb()
            for p in rt.processors.values():
                p.lags.clear()
            while time.monotonic() - t0 < warmup + seconds:
                time.sleep(30)
                rss, pss = meter.rss_mb()
                samples.append({"t_s": round(time.monotonic() - t0), "rss_mb": rss, "pss_mb": pss})
                print(f"soak: {json.dumps(samples[-1])}", flush=True)
            lags = [x for p in rt.processors.values() for x in p.lags]
            offline = [c for c, p in rt.processors.items() if p.reader.health.status != "online"]
        finally:
            rt.stop()
    growth = (samples[-1]["pss_mb"] - base_pss) / base_pss
    result = {"machine": machine(), "cameras": 16, "seconds": seconds, "base_pss_mb": base_pss, "base_rss_mb": base_rss,
              "pss_growth": round(growth, 4), "lag_p99_s": percentile(lags, 99), "offline": offline, "samples": samples}
    print(json.dumps(result))
    assert not offline, offline
    assert growth < 0.05, f"memory grew {growth:.1%} in {seconds:.0f} s"
