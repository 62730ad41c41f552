"""County-scale control plane on one machine (issue #19, item 3): 1,500 stand-in cameras over 50 nodes.

This machine has 2 cores, so a few raylets stand for the 50 nodes: each raylet declares `nodes_per_raylet` virtual
nodes as custom resources (`vigil_node_<name>`: capacity), the maintainer starts one stand-in worker actor per
virtual node (a real Ray actor process, pinned to its raylet, holding camera ids and answering heartbeats; nothing
decodes), and places the inventory's cameras on them exactly as it places real ones. Killing one raylet loses all
of its virtual nodes at once, a harsher loss than one machine.

Measured: the time from the maintainer's start to every camera confirmed by its node, the time from a raylet's
kill to every one of its cameras confirmed elsewhere, and the resident memory of the head (the GCS server and the
maintainer's process), with the tick's own duration.

    python -m vigil.cluster.bench_control --db postgresql+psycopg://postgres@127.0.0.1:5432/vigil_bench --json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def seed_inventory(db_url: str, cameras: int, institutions: int = 300) -> None:
    """`cameras` stand-in cameras (no stream behind them) over `institutions` institutions of one county."""
    from vigil.api.db import make_engine, make_sessionmaker
    from vigil.api.migrate import upgrade
    from vigil.config import Camera, Institution
    from vigil.inventory_sync import import_inventory

    eng = make_engine(db_url)
    upgrade(eng)
    insts = [Institution(id=f"i{i:03d}", name=f"机构{i:03d}", region=f"示范县/镇{i % 20:02d}") for i in range(institutions)]
    cams = [Camera(id=f"cam{i:04d}", name=f"摄像机{i:04d}", url=f"rtsp://127.0.0.1:9/standin{i}",
                   institution=f"i{i % institutions:03d}", site_kind="corridor", detect_fps=1.0) for i in range(cameras)]
    with make_sessionmaker(eng)() as s:
        import_inventory(s, insts, cams, actor="bench", client="bench")
        s.commit()
    eng.dispose()


def gcs_rss_mb() -> float:
    """Resident memory of this machine's GCS server processes (the head's)."""
    from vigil.cluster.maintainer import rss_mb

    total = 0.0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "gcs_server":
                    total += rss_mb(int(pid))
            except OSError:
                continue
    return round(total, 1)


def run(db_url: str, data_dir: str, *, cameras: int = 1500, raylets: int = 5, nodes_per_raylet: int = 10,
        capacity: float = 40.0, kill: bool = True, timeout_s: float = 300.0, log=print) -> dict:
    import ray
    from ray.cluster_utils import Cluster

    from vigil.cluster.ray_backend import maintainer_actor, stop_maintainer
    from vigil.config import parse_config

    t0 = time.time()
    seed_inventory(db_url, cameras)
    seeded = time.time() - t0
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False,
        "_system_config": {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                           "health_check_failure_threshold": 3}})
    out: dict = {"cameras": cameras, "nodes": raylets * nodes_per_raylet, "raylets": raylets,
                 "capacity_per_node": capacity, "seed_s": round(seeded, 1)}
    maint = None
    try:
        hosts = []
        for r in range(raylets):
            res = {f"vigil_node_r{r}n{k:02d}": capacity for k in range(nodes_per_raylet)}
            hosts.append((cluster.add_node(num_cpus=1, resources=res), [f"r{r}n{k:02d}" for k in range(nodes_per_raylet)]))
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, namespace="vigil", log_to_driver=False)
        out["cluster_up_s"] = round(time.time() - t0 - seeded, 1)
        cfg = parse_config({"institutions": [{"id": "i000", "name": "机构000", "region": "示范县/镇00"}],
                            "storage": {"database_url": db_url, "data_dir": data_dir}})

        def status():
            return ray.get(maint.status.remote(), timeout=60)

        t_start = time.time()
        maint = maintainer_actor(cfg.model_dump(), standin=True)
        while True:
            st = status()
            if st["confirmed"] == cameras:
                break
            if time.time() - t_start > timeout_s:
                raise TimeoutError(f"only {st['confirmed']} of {cameras} cameras confirmed after {timeout_s:.0f} s")
            time.sleep(0.2)
        out["assign_s"] = round(time.time() - t_start, 2)
        out["head_rss_mb"] = {"gcs": gcs_rss_mb(), "maintainer": st["rss_mb"]}
        out["tick_ms_p50"], out["tick_ms_max"] = st["tick_ms_p50"], st["tick_ms_max"]
        log(f"{cameras} cameras on {raylets * nodes_per_raylet} nodes confirmed in {out['assign_s']} s")
        if kill:
            node, names = hosts[0]
            lost = sorted(c for n in names for c in st["holders"].get(n, ()))
            t_kill = time.time()
            cluster.remove_node(node, allow_graceful=False)
            while True:
                st = status()
                held = {c: n for n, cs in st["holders"].items() for c in cs}
                if all(held.get(c) not in (None, *names) for c in lost) and st["confirmed"] == cameras:
                    break
                if time.time() - t_kill > timeout_s:
                    raise TimeoutError("the lost nodes' cameras were not all taken elsewhere")
                time.sleep(0.1)
            out["lost_nodes"], out["lost_cameras"] = len(names), len(lost)
            out["failover_s"] = round(time.time() - t_kill, 2)
            out["moves_after_kill"] = sum(1 for m in st["moves"] if m["from"] in names)
            log(f"{len(lost)} cameras of {len(names)} lost nodes confirmed elsewhere in {out['failover_s']} s")
        st = status()
        out["head_rss_mb_end"] = {"gcs": gcs_rss_mb(), "maintainer": st["rss_mb"]}
        out["tick_ms_p50"], out["tick_ms_max"] = st["tick_ms_p50"], st["tick_ms_max"]
        out["tick_phase_max_ms"] = st["phase_max_ms"]
        out["tick_phase_cpu_max_ms"] = st["phase_cpu_max_ms"]
        out["placed"], out["confirmed"] = st["placed"], st["confirmed"]
        return out
    finally:
        try:
            if maint is not None:
                stop_maintainer(maint, timeout_s=120)
        finally:
            ray.shutdown()
            cluster.shutdown()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="an empty PostgreSQL database (postgresql+psycopg://...)")
    ap.add_argument("--data-dir", default=".vigil-data/bench-control")
    ap.add_argument("--cameras", type=int, default=1500)
    ap.add_argument("--raylets", type=int, default=5)
    ap.add_argument("--nodes-per-raylet", type=int, default=10)
    ap.add_argument("--capacity", type=float, default=40.0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    res = run(a.db, a.data_dir, cameras=a.cameras, raylets=a.raylets, nodes_per_raylet=a.nodes_per_raylet,
              capacity=a.capacity, log=(lambda *_: None) if a.json else print)
    print(json.dumps(res) if a.json else json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
