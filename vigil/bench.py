"""`vigil bench streams`: how many cameras this machine carries, measured end to end.

Starts N RTSP cameras on the local GStreamer server (H.264 made from the two real videos in
../shared: a street crowd and a car fire, scaled to the asked size and rate, key frame every second),
runs vigil with every rule active (corridor cameras: blocked_exit + ebike_indoor + fire_smoke;
duty-room cameras: unattended_room + fire_smoke) in a separate measured process, and prints a JSON
object. With `--baseline` it also runs the naive baseline (one ultralytics predict-stream loop per
camera, same model and input size) for increasing camera counts and reports
`baseline_ratio` = cameras vigil sustains / cameras the baseline sustains (lag p99 < 2 s and the
required detection rate)."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from vigil.models.catalogue import PROJECT_ROOT, resolve_model, shared_dir

LAG_LIMIT_S = 2.0
CLIPS = ("data/video/street_crowd.mp4", "data/video/car_fire_handheld.mp4")


def machine() -> dict:
    """The CPU a figure was measured on (model, cores, the flags that change ONNX Runtime's kernels, its int8
    kernel path), since machines of the same kind differ up to 4x in model speed."""
    from vigil.models.cpu import cpu_info

    return {**cpu_info().as_dict(), "cpu": cpu_info().model, "python": platform.python_version()}


def bench_config(urls: list[str], data_dir: str, model: str, imgsz: int, fire_model: str = "auto") -> dict:
    full = [(0, 0), (1, 0), (1, 1), (0, 1)]
    cams = []
    for i, url in enumerate(urls):
        corridor = i % 2 == 0
        rules = ([{"type": "blocked_exit"}, {"type": "ebike_indoor"}] if corridor else [{"type": "unattended_room"}])
        rules.append({"type": "fire_smoke"})
        cams.append({"id": f"cam{i:03d}", "name": f"bench {i}", "url": url, "institution": "bench",
                     "site_kind": "corridor" if corridor else "control_room", "detect_fps": 1.0,
                     "offline_after_s": 30, "zones": [{"name": "zone", "polygon": full, "rules": rules}]})
    return {"institutions": [{"id": "bench", "name": "bench", "region": "bench"}], "cameras": cams,
            "detector": {"model": model, "imgsz": imgsz, "fire_model": fire_model}, "storage": {"data_dir": data_dir}}


def _worker(side: str, spec: dict, timeout: float) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as fh:
        json.dump(spec, fh)
        path = fh.name
    try:
        res = subprocess.run([sys.executable, "-m", "vigil.bench_worker", side, path], capture_output=True,
                             text=True, timeout=timeout, cwd=PROJECT_ROOT)
    finally:
        os.unlink(path)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"bench worker ({side}) failed with exit {res.returncode}: {res.stderr[-3000:]}")
    return json.loads(lines[-1])


def sustained(r: dict, need_hz: float) -> bool:
    lag = r.get("lag_p99_s")
    return lag is not None and lag < LAG_LIMIT_S and (r.get("detect_hz_min") or 0) >= need_hz * 0.9


def bench_streams(cameras: int, seconds: float, size: tuple[int, int] = (640, 360), fps: float = 10.0,
                  baseline: bool = False, warmup_s: float = 15.0, model: str | None = None, imgsz: int = 320,
                  log=print, fire_model: str = "auto") -> dict:
    from vigil.streams.rtsp import RtspServer, annexb_from_video

    from vigil.models.catalogue import resolve_fire_model

    model_path = str(resolve_model(model))
    fire_path = resolve_fire_model(fire_model, None)[0]
    cache = PROJECT_ROOT / ".vigil-data" / "bench"
    sources = []
    for rel in CLIPS:
        src = shared_dir() / rel
        if not src.is_file():
            raise FileNotFoundError(f"bench footage missing: {src} (the shared data folder, $VIGIL_SHARED)")
        sources.append(annexb_from_video(src, cache, fps=fps, size=size))
    mounts = {f"cam{i:03d}": sources[0 if i % 3 else 1] for i in range(cameras)}  # a third show the fire
    from vigil.models.precision import choose

    runs = {"objects": choose(model_path).as_dict(), "fire": choose(fire_path).as_dict() if fire_path else None}
    result: dict = {"machine": machine(), "size": f"{size[0]}x{size[1]}", "fps": fps, "model": Path(model_path).name,
                    "fire_model": Path(fire_path).name if fire_path else None, "imgsz": imgsz, "lag_limit_s": LAG_LIMIT_S,
                    "models_run": {k: v and {"file": v["used_name"], "precision": v["precision"], "kernel": v["kernel"],
                                             "reason": v["reason"]} for k, v in runs.items()}}
    with RtspServer(mounts) as server, tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        urls = [server.url(name) for name in mounts]
        log(f"bench: {cameras} camera(s) {size[0]}x{size[1]} @ {fps:g} fps on RTSP port {server.port}; vigil for {seconds:g} s")
        spec = {"config": bench_config(urls, tmp, model_path, imgsz, fire_model), "warmup_s": warmup_s, "seconds": seconds}
        res = _worker("vigil", spec, timeout=warmup_s + seconds + 300)
        res["sustained"] = sustained(res, 1.0) and (res.get("fire_hz_min") or 0) >= 1.8
        result.update(res)
        if baseline:
            # ultralytics cannot run the YOLOv5-layout COCO export (its NMS expects the v8 layout), so the
            # baseline runs vigil's fire model (an ultralytics export, same 320 input) at 2 Hz: the same
            # work as vigil's fire rule alone, without vigil's object model on top (favours the baseline)
            result["baseline_model"] = Path(fire_path).name
            result["baseline"] = _baseline_sweep(urls, seconds, warmup_s, str(fire_path), imgsz, fps, log)
            b = result["baseline"]["cameras_sustained"]
            vigil_n = cameras if result["sustained"] else 0
            result["baseline_ratio"] = round(vigil_n / b, 2) if b else None
    return result


def _baseline_sweep(urls, seconds, warmup_s, model_path, imgsz, fps, log) -> dict:
    """Doubling, then bisection, over the camera count: the largest count the baseline sustains."""
    stride = max(1, round(fps / 2))  # the same 2 Hz as vigil's fastest rule
    need = fps / stride
    runs, good, bad = [], 0, None
    n = 1
    while n <= len(urls) and (bad is None or n < bad):
        spec = {"urls": urls[:n], "stride": stride, "fps": fps, "model": model_path, "imgsz": imgsz,
                "confidence": 0.25, "warmup_s": warmup_s, "seconds": seconds}
        log(f"bench: baseline with {n} camera(s)")
        r = _worker("baseline", spec, timeout=warmup_s + seconds + 300)
        r["sustained"] = sustained(r, need)
        runs.append({k: r[k] for k in ("cameras", "detect_hz_min", "lag_p50_s", "lag_p99_s", "cpu_percent", "rss_mb",
                                        "sustained", "errors")})
        if r["sustained"]:
            good = n
            n = n * 2 if bad is None else (n + bad) // 2
        else:
            bad = n
            n = (good + bad) // 2
        if bad is not None and bad - good <= 1:
            break
        if good and n <= good:
            break
    return {"cameras_sustained": good, "detect_hz_needed": round(need, 2), "vid_stride": stride, "runs": runs}
