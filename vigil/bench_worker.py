"""The measured side of `vigil bench streams`: one process that runs either vigil or the naive
baseline on a list of RTSP cameras for a warm-up and a measuring window, then prints one JSON line.

Run as `python -m vigil.bench_worker {vigil|baseline} SPEC.json`. CPU and memory are read for this
process and all its children (vigil's decoder processes), not for the RTSP server.

Lag has one definition for both sides: for each frame that was evaluated, the time it was done minus
the time it was captured, where capture time = (the stream's start on the wall clock, as early as
seen) + the frame's position in the stream. A side that cannot keep up builds a backlog and its lag
grows without bound; one that drops stale frames keeps it small."""
from __future__ import annotations

import json
import math
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil


def percentile(values, q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if len(values) else None


class TreeMeter:
    """CPU seconds and memory of this process and its children, less `exclude` (pids of children that
    are not vigil, such as a test's simulated cameras, and their own children)."""

    def __init__(self, exclude: tuple[int, ...] = ()):
        self.me = psutil.Process()
        self.exclude = set(exclude)

    def procs(self):
        out = [self.me]
        try:
            skip = set(self.exclude)
            for pid in self.exclude:
                try:
                    skip.update(c.pid for c in psutil.Process(pid).children(recursive=True))
                except psutil.Error:
                    pass
            out += [c for c in self.me.children(recursive=True) if c.pid not in skip]
        except psutil.Error:
            pass
        return out

    def cpu_s(self, children_only: bool = False) -> float:
        total = 0.0
        for p in self.procs()[1 if children_only else 0:]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def rss_mb(self) -> tuple[float, float]:
        """(sum of RSS, sum of PSS) in MB; PSS splits shared pages (libraries, model) fairly."""
        rss = pss = 0.0
        for p in self.procs():
            try:
                m = p.memory_full_info()
                rss += m.rss
                pss += getattr(m, "pss", m.rss)
            except psutil.Error:
                pass
        return round(rss / 2**20, 1), round(pss / 2**20, 1)


DEMAND_TICK_S = 0.25


class Demand:
    """The model runs vigil's own timetable asks of one camera over the measuring window, from its motion gate's
    state sampled every DEMAND_TICK_S: while the scene moves, the object model at the camera's rate and the fire
    model at its (>= 2 Hz); while it is still, each at most every `still_recheck_s`. For `still_recheck_s` after
    the scene starts moving the still rate is still asked (the run due then was timed at the still interval), so
    a camera is not failed for the scheduler's designed reaction time, only for falling behind."""

    def __init__(self, proc):
        self.obj_moving = 1.0 / proc.objects_interval if proc.pipeline.needs_objects else 0.0
        self.obj_still = 1.0 / max(proc.still_recheck_s, proc.objects_interval) if proc.pipeline.needs_objects else 0.0
        fire = proc.fire_interval
        self.fire_moving = 1.0 / fire if fire else 0.0
        self.fire_still = 1.0 / max(proc.still_recheck_s, fire) if fire else 0.0
        self.grace_s = proc.still_recheck_s
        self.moving = bool(proc.moving)
        self.moving_since: float | None = None
        self.last: float | None = None
        self.moving_s = self.objects = self.fire = 0.0
        self.starts = 0  # still -> moving changes seen

    def tick(self, moving: bool, now: float) -> None:
        if self.last is not None:
            dt = now - self.last
            full = self.moving and self.moving_since is not None and now - self.moving_since > self.grace_s
            self.objects += dt * (self.obj_moving if full else self.obj_still)
            self.fire += dt * (self.fire_moving if full else self.fire_still)
            self.moving_s += dt if self.moving else 0.0
        elif moving:
            self.moving_since = now - self.grace_s - 1  # moving when the window opened: full rate from the start
        if moving and not self.moving and self.last is not None:
            self.moving_since = now
            self.starts += 1
        elif moving and self.moving_since is None:
            self.moving_since = now
        self.moving, self.last = bool(moving), now

    def as_dict(self) -> dict:
        return {"objects_due": round(self.objects, 1), "fire_due": round(self.fire, 1) if self.fire_moving else None,
                "moving_s": round(self.moving_s, 1), "motion_starts": self.starts}


def run_vigil(spec: dict) -> dict:
    from vigil.config import VigilConfig
    from vigil.service import Runtime
    from vigil.streams.reader import ReaderSettings

    cfg = VigilConfig.model_validate(spec["config"])
    meter = TreeMeter()
    rt = Runtime(cfg, reader_settings=ReaderSettings(open_timeout_s=10, read_timeout_s=5, backoff_initial_s=1, backoff_max_s=5))
    try:
        deadline = time.monotonic() + spec["warmup_s"] + 30
        while time.monotonic() < deadline:
            if all(p.reader.health.status == "online" for p in rt.processors.values()):
                break
            time.sleep(0.5)
        time.sleep(spec["warmup_s"])
        procs = list(rt.processors.values())
        for p in procs:
            p.lags.clear()
        obj0 = {p.camera.id: p.objects_count for p in procs}
        fire0 = {p.camera.id: p.fire_count for p in procs}
        drop0 = {p.camera.id: p.reader.frames.dropped + p.reader.torn_frames for p in procs}
        checks0 = {p.camera.id: p.pipeline.person_checks for p in procs}
        cpu0, dec0, t0 = meter.cpu_s(), meter.cpu_s(children_only=True), time.monotonic()
        busy0, rules0 = rt.scheduler.busy_s, rt.scheduler.rules_s
        det0 = (rt.detector.calls, rt.detector.total_ms)
        rss_samples = []
        demand = {p.camera.id: Demand(p) for p in procs}
        next_rss = t0 + min(5.0, spec["seconds"])
        while (now := time.monotonic()) - t0 < spec["seconds"]:
            for p in procs:
                demand[p.camera.id].tick(p.moving, now)
            if now >= next_rss:
                rss_samples.append(meter.rss_mb())
                next_rss += min(5.0, spec["seconds"])
            time.sleep(DEMAND_TICK_S)
        wall = time.monotonic() - t0
        for d in demand.values():
            d.tick(d.moving, t0 + wall)
        rss_samples.append(meter.rss_mb())
        cpu, dec_cpu = meter.cpu_s() - cpu0, meter.cpu_s(children_only=True) - dec0
        per_cam = {}
        lags = []
        for p in procs:
            cid = p.camera.id
            cam_lags = list(p.lags)
            lags += cam_lags
            per_cam[cid] = {
                "objects_hz": round((p.objects_count - obj0[cid]) / wall, 2),
                "fire_hz": round((p.fire_count - fire0[cid]) / wall, 2) if p.fire_interval else None,
                "objects_runs": p.objects_count - obj0[cid],
                "fire_runs": p.fire_count - fire0[cid] if p.fire_interval else None,
                **demand[cid].as_dict(),
                "lag_p99_s": percentile(cam_lags, 99),
                "dropped": p.reader.frames.dropped + p.reader.torn_frames - drop0[cid],
                "status": p.reader.health.status,
                "decode_fps": round(p.reader.health.fps, 1),
            }
        calls, total_ms = rt.detector.calls - det0[0], rt.detector.total_ms - det0[1]
        rss, pss = rss_samples[-1]
        return {
            "side": "vigil", "cameras": len(procs),
            "detect_hz_min": min(c["objects_hz"] for c in per_cam.values()),
            "fire_hz_min": min((c["fire_hz"] for c in per_cam.values() if c["fire_hz"] is not None), default=None),
            "lag_p50_s": percentile(lags, 50), "lag_p99_s": percentile(lags, 99),
            "lag_p99_worst_camera_s": max((c["lag_p99_s"] or math.inf) for c in per_cam.values()),
            "dropped_frames": sum(c["dropped"] for c in per_cam.values()),
            "cpu_percent": round(100 * cpu / wall, 1), "cpu_percent_decoders": round(100 * dec_cpu / wall, 1),
            "rss_mb": rss, "pss_mb": pss, "rss_mb_samples": [r for r, _ in rss_samples],
            "scheduler_busy_share": round((rt.scheduler.busy_s - busy0) / wall, 3),
            "rules_share": round((rt.scheduler.rules_s - rules0) / wall, 3),
            "objects_ms_per_image": round(total_ms / calls, 2) if calls else None,
            "person_checks": sum(p.pipeline.person_checks - checks0[p.camera.id] for p in procs),
            "offline_cameras": [c for c, v in per_cam.items() if v["status"] != "online"],
            "per_camera": per_cam, "seconds": round(wall, 1),
        }
    finally:
        rt.stop()


def run_baseline(spec: dict) -> dict:
    """One ultralytics `model.predict(source=url, stream=True)` loop per camera, each in its thread,
    with its own model (what a naive integration does), every `stride`-th frame (the same rate as
    vigil's fastest rule), no frame dropping (`stream_buffer=True`: ultralytics' own reader)."""
    from vigil.models.ultralytics_env import ensure_env, logs_to_stderr

    ensure_env()
    logs_to_stderr()
    from ultralytics import YOLO

    meter = TreeMeter()
    urls, stride, fps = spec["urls"], spec["stride"], spec["fps"]
    done: list[list[float]] = [[] for _ in urls]
    stop = threading.Event()
    errors: list[str] = []

    def loop(i: int, url: str) -> None:
        try:
            model = YOLO(spec["model"], task="detect")
            for _ in model.predict(source=url, stream=True, imgsz=spec["imgsz"], conf=spec["confidence"],
                                   vid_stride=stride, stream_buffer=True, verbose=False):
                done[i].append(time.time())
                if stop.is_set():
                    break
        except Exception as exc:  # noqa: BLE001
            errors.append(f"camera {i}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=loop, args=(i, u), daemon=True) for i, u in enumerate(urls)]
    for t in threads:
        t.start()
    # the warm-up starts once every loop has its model loaded and a first result, as vigil's starts once every
    # reader is online: a loaded machine takes seconds to load n models, and the frames buffered meanwhile would
    # be measured as lag of the loop itself
    deadline = time.monotonic() + spec["warmup_s"] + 60
    while time.monotonic() < deadline and sum(bool(d) for d in done) + len(errors) < len(urls):
        time.sleep(0.2)
    time.sleep(spec["warmup_s"])
    n0 = [len(d) for d in done]
    cpu0, t0 = meter.cpu_s(), time.monotonic()
    rss_samples = []
    while time.monotonic() - t0 < spec["seconds"]:
        time.sleep(min(5.0, spec["seconds"]))
        rss_samples.append(meter.rss_mb())
    wall = time.monotonic() - t0
    cpu = meter.cpu_s() - cpu0
    stop.set()
    lags, hz, per_cam = [], [], []
    step = stride / fps
    for i, d in enumerate(done):
        if not d:
            per_cam.append({"hz": 0.0, "runs": 0, "lag_p99_s": None})
            hz.append(0.0)
            continue
        ts = np.array(d)
        k = np.arange(len(ts))
        anchor = float(np.min(ts - k * step))
        cam_lags = (ts - k * step - anchor)[n0[i]:]
        lags += cam_lags.tolist()
        h = (len(d) - n0[i]) / wall
        hz.append(h)
        per_cam.append({"hz": round(h, 2), "runs": len(d) - n0[i], "lag_p99_s": percentile(cam_lags, 99)})
    rss, pss = rss_samples[-1] if rss_samples else (None, None)
    return {"side": "baseline", "cameras": len(urls), "detect_hz_min": round(min(hz), 2) if hz else 0.0,
            "lag_p50_s": percentile(lags, 50), "lag_p99_s": percentile(lags, 99), "dropped_frames": 0,
            "cpu_percent": round(100 * cpu / wall, 1), "rss_mb": rss, "pss_mb": pss, "per_camera": per_cam,
            "errors": errors[:5], "seconds": round(wall, 1)}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    side, spec_path = argv[0], Path(argv[1])
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    result = run_vigil(spec) if side == "vigil" else run_baseline(spec)
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    if side == "baseline":  # ultralytics' stream reader threads abort the interpreter at exit: skip teardown
        import os
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
