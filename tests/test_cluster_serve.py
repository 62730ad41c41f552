"""Inference as a service (issue #19, item 2): with `cluster.inference: serve` the camera nodes only decode; the
object model runs in one Ray Serve deployment that batches frames from every camera. Real RTSP cameras, the real
model, a local Ray cluster; the frames cross as JPEG at the model's input size, and the bytes per camera-second
are reported (record_property)."""
from __future__ import annotations

import time

import pytest

from helpers import wait_until
from vigil.cluster.bench_failover import overlapping, rows, staffing_camera
from vigil_fixtures import service_config

pytestmark = pytest.mark.postgres


def test_camera_nodes_decode_and_the_serve_deployment_infers(tmp_path, cluster_db, local_cluster, crowd10,
                                                             rtsp_server_factory, record_property):
    import ray
    from ray import serve

    from vigil.cluster.ray_backend import start_cluster_mode, stop_cluster_mode
    from vigil.cluster.serve_detector import APP, DEPLOYMENT
    from vigil.config import parse_config

    srv = rtsp_server_factory({f"c{i}": crowd10 for i in range(3)})
    cams = [staffing_camera(f"c{i}", srv.url(f"c{i}")) for i in range(3)]
    cfg = parse_config({**service_config(tmp_path, cluster_db, cameras=cams),
                        "cluster": {"tick_s": 0.5, "inference": "serve"}})
    local_cluster.add(vigil_cameras=8)
    control = start_cluster_mode(cfg)
    maint = control.cluster_maintainer
    try:
        def status():
            return ray.get(maint.status.remote(), timeout=60)
        assert wait_until(lambda: sum(1 for v in status()["first_rules"].values() if v) == 3, 240), status()
        t0 = time.time()
        # events come from the Serve detector's boxes exactly as from a local model
        assert wait_until(lambda: rows(cluster_db, "SELECT count(DISTINCT camera_id) FROM events")[0][0] == 3, 90)
        time.sleep(6)
        st = status()
        worker = ray.get_actor(f"vigil-worker-{next(iter(st['holders']))}", namespace="vigil")
        hb = ray.get(worker.heartbeat.remote(), timeout=30)
        info = serve.get_deployment_handle(DEPLOYMENT, app_name=APP).info.remote().result(timeout_s=30)
        elapsed = time.time() - t0
    finally:
        try:
            stop_cluster_mode(control)
        finally:
            serve.shutdown()
    inf = hb["inference"]
    assert inf["calls"] > 0 and info["batches"] > 0
    per_call = inf["bytes"] / inf["calls"]
    hz = sum(c["detect_hz"] for c in hb["cameras"].values()) / len(hb["cameras"])
    record_property("bytes_per_frame", round(per_call))
    record_property("bytes_per_camera_second", round(per_call * hz))
    record_property("serve_mean_batch", info["mean_batch"])
    print(f"Serve inference: {inf['calls']} frames, {per_call / 1024:.1f} KiB each (JPEG at the model's input), "
          f"{per_call * hz / 1024:.1f} KiB per camera-second at {hz:.2f} Hz; mean batch {info['mean_batch']} "
          f"(max {info['max_batch']}) over {elapsed:.0f} s")
    assert 2_000 < per_call < 40_000  # a 320x180 JPEG, not a raw or full-size frame
    assert hz > 1.5  # the cameras' 2 Hz held through the remote model
    assert {"person"} <= set(info["names"].values())
    assert overlapping(cluster_db) == []
