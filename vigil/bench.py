"""`vigil bench streams`: how many cameras this machine carries, measured end to end.

Starts N RTSP cameras on the local GStreamer server (H.264 made from the two real videos in
../shared: a street crowd and a car fire, scaled to the asked size and rate, key frame every second),
runs vigil with every rule active (corridor cameras: blocked_exit + ebike_indoor + fire_smoke;
duty-room cameras: unattended_room + fire_smoke) in a separate measured process, and prints a JSON
object. With `--baseline` it also runs the naive baseline (one ultralytics predict-stream loop per
camera, same model and input size) for increasing camera counts and reports
`baseline_ratio` = cameras vigil sustains / cameras the baseline sustains (lag p99 < 2 s and the
required detection rate).

`--sweep` (`bench_sweep`) searches both sides: the largest camera count the naive loop holds, then the largest
vigil holds (doubling from the naive loop's count, then bisection), each step a fresh process with a warm-up and a
short measuring window, and reports both counts and their ratio, which carries from machine to machine where the
counts do not. "Held" is judged per camera against what each side's own timetable asks (`judge_vigil`,
`judge_naive`). `--still-share` makes that share of the cameras play still footage with rare movement
(vigil/bench_footage.py), where vigil's motion gate runs the models only every `still_recheck_s`; `--models`
sweeps vigil once per model configuration in the same run."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from vigil.bench_judge import HOLD_SHARE, LAG_LIMIT_S, judge_naive, judge_vigil, search_largest, sustained
from vigil.models.catalogue import PROJECT_ROOT, resolve_model, shared_dir

CLIPS = ("data/video/street_crowd.mp4", "data/video/car_fire_handheld.mp4")


def machine() -> dict:
    """The CPU a figure was measured on (model, cores, the flags that change ONNX Runtime's kernels, its int8
    kernel path), since machines of the same kind differ up to 4x in model speed."""
    from vigil.models.cpu import cpu_info

    return {**cpu_info().as_dict(), "cpu": cpu_info().model, "python": platform.python_version()}


def bench_config(urls: list[str], data_dir: str, model: str, imgsz: int, fire_model: str = "auto",
                 person_model: str | None = None) -> dict:
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
            "detector": {"model": model, "imgsz": imgsz, "fire_model": fire_model, "person_model": person_model},
            "storage": {"data_dir": data_dir}}


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


def footage(cameras: int, fps: float, size: tuple[int, int], still_share: float = 0.0, log=print) -> tuple[dict, list[str], dict]:
    """(mount name -> clip, kind of each camera, a description for the result): the real moving clips (a third of
    the moving cameras show the fire) and, for `still_share` of the cameras, still clips with rare movement."""
    from vigil.bench_footage import STILL_AT_S, STILL_BURST_S, STILL_PERIOD_S, STILL_VARIANTS, mix_mounts, still_clips
    from vigil.streams.rtsp import annexb_from_video

    cache = PROJECT_ROOT / ".vigil-data" / "bench"
    sources = []
    for rel in CLIPS:
        src = shared_dir() / rel
        if not src.is_file():
            raise FileNotFoundError(f"bench footage missing: {src} (the shared data folder, $VIGIL_SHARED)")
        sources.append(annexb_from_video(src, cache, fps=fps, size=size))
    still = []
    desc = {"moving": [Path(c).name for c in CLIPS], "still_share": still_share}
    if still_share > 0:
        log(f"bench: still clips ({STILL_VARIANTS} burst phases) in {cache / 'still'}")
        still = still_clips(shared_dir() / CLIPS[0], cache / "still", fps, size)
        desc["still"] = {"frame": f"{Path(CLIPS[0]).name} at {STILL_AT_S:g} s", "period_s": STILL_PERIOD_S,
                         "burst_s": STILL_BURST_S, "burst_phases": STILL_VARIANTS}
    mounts, kinds = mix_mounts(cameras, still_share, sources, still)
    return mounts, kinds, desc


def bench_streams(cameras: int, seconds: float, size: tuple[int, int] = (640, 360), fps: float = 10.0,
                  baseline: bool = False, warmup_s: float = 15.0, model: str | None = None, imgsz: int = 320,
                  log=print, fire_model: str = "auto", still_share: float = 0.0) -> dict:
    from vigil.streams.rtsp import RtspServer

    from vigil.models.catalogue import resolve_fire_model

    model_path = str(resolve_model(model))
    fire_path = resolve_fire_model(fire_model, None)[0]
    mounts, kinds, desc = footage(cameras, fps, size, still_share, log)
    from vigil.models.precision import choose

    runs = {"objects": choose(model_path).as_dict(), "fire": choose(fire_path).as_dict() if fire_path else None}
    result: dict = {"machine": machine(), "size": f"{size[0]}x{size[1]}", "fps": fps, "model": Path(model_path).name,
                    "fire_model": Path(fire_path).name if fire_path else None, "imgsz": imgsz, "lag_limit_s": LAG_LIMIT_S,
                    "models_run": {k: v and {"file": v["used_name"], "precision": v["precision"], "kernel": v["kernel"],
                                             "reason": v["reason"]} for k, v in runs.items()},
                    "footage": desc}
    with RtspServer(mounts) as server, tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        urls = [server.url(name) for name in mounts]
        log(f"bench: {cameras} camera(s) {size[0]}x{size[1]} @ {fps:g} fps on RTSP port {server.port}; vigil for {seconds:g} s")
        spec = {"config": bench_config(urls, tmp, model_path, imgsz, fire_model), "warmup_s": warmup_s, "seconds": seconds}
        res = _worker("vigil", spec, timeout=warmup_s + seconds + 300)
        res["held"], res["why"] = judge_vigil(res, kinds)
        # still cameras run their models every still_recheck_s by design: only the per-camera judge applies there
        res["sustained"] = (sustained(res, 1.0) and (res.get("fire_hz_min") or 0) >= 1.8) if not still_share else res["held"]
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


# -- the sweep ------------------------------------------------------------------------------------
def _baseline_sweep(urls, seconds, warmup_s, model_path, imgsz, fps, log) -> dict:
    """Doubling, then bisection, over the camera count: the largest count the baseline sustains."""
    naive = NaiveSide(urls, seconds, warmup_s, model_path, imgsz, fps, log)
    found = search_largest(naive.measure, len(urls), log=log)
    return {"cameras_sustained": found["cameras_held"], "detect_hz_needed": round(naive.need, 2),
            "vid_stride": naive.stride, "runs": found["steps"]}


_STEP_KEYS = ("detect_hz_min", "fire_hz_min", "lag_p50_s", "lag_p99_s", "dropped_frames", "cpu_percent",
              "cpu_percent_decoders", "rss_mb", "scheduler_busy_share", "objects_ms_per_image", "person_checks")


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


class NaiveSide:
    """The naive loop on the first n cameras: vigil's fire model at 2 Hz per camera (see bench_streams)."""

    def __init__(self, urls, seconds, warmup_s, model_path, imgsz, fps, log=print):
        self.urls, self.seconds, self.warmup_s = urls, seconds, warmup_s
        self.model_path, self.imgsz, self.fps, self.log = model_path, imgsz, fps, log
        self.stride = max(1, round(fps / 2))  # the same 2 Hz as vigil's fastest rule
        self.need = fps / self.stride

    def measure(self, n: int) -> dict:
        spec = {"urls": self.urls[:n], "stride": self.stride, "fps": self.fps, "model": self.model_path,
                "imgsz": self.imgsz, "confidence": 0.25, "warmup_s": self.warmup_s, "seconds": self.seconds}
        self.log(f"bench: naive loop with {n} camera(s)")
        load = _loadavg()
        try:
            r = _worker("baseline", spec, timeout=self.warmup_s + self.seconds + 300)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            return {"held": False, "why": f"worker failed: {str(exc)[-300:]}", "loadavg_1m": load}
        held, why = judge_naive(r, self.need)
        r["sustained"] = held
        return {"held": held, "why": why, "loadavg_1m": load,
                **{k: r.get(k) for k in ("detect_hz_min", "lag_p50_s", "lag_p99_s", "cpu_percent", "rss_mb", "errors", "sustained")}}


@dataclass
class ModelSide:
    """One model configuration vigil is swept with: `--models` takes OBJECTS[+FIRE[+PERSON]] per side, OBJECTS a
    catalogue name, a path or default, FIRE a catalogue name, a path, auto (the catalogue's default fire model, also
    when left out) or none (no fire model: fire_smoke rules off), PERSON the `detector.person_model` the duty-room
    cameras (half the bench's cameras) then run instead of the objects model (left out or none: none)."""
    label: str
    model: str | None
    fire_model: str | None = "auto"
    person_model: str | None = None

    @classmethod
    def parse(cls, text: str) -> "ModelSide":
        parts = [p.strip() for p in text.strip().split("+")]
        if len(parts) > 3:
            raise ValueError(f"--models: {text.strip()!r} has more than OBJECTS+FIRE+PERSON")
        objects, fire, person = (parts + ["", ""])[:3]
        fire = fire or "auto"
        return cls(text.strip(), None if objects in ("", "default") else objects, None if fire.lower() == "none" else fire,
                   None if person.lower() in ("", "none") else person)


def parse_models(text: str) -> list[ModelSide]:
    sides = [ModelSide.parse(t) for t in text.split(",") if t.strip()]
    if not sides or len(sides) > 4:
        raise ValueError(f"--models takes 1 to 4 comma-separated OBJECTS[+FIRE[+PERSON]] configurations, not {text!r}")
    return sides


def _vigil_step(urls, kinds, side_paths, imgsz, warmup_s, seconds, log, person_ref: str | None = None):
    model_path, fire_ref = side_paths

    def measure(n: int) -> dict:
        log(f"bench: vigil with {n} camera(s) ({sum(k == 'still' for k in kinds[:n])} still)")
        load = _loadavg()
        with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
            spec = {"config": bench_config(urls[:n], tmp, model_path, imgsz, fire_ref, person_ref), "warmup_s": warmup_s,
                    "seconds": seconds}
            try:
                r = _worker("vigil", spec, timeout=warmup_s + seconds + 300)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                return {"held": False, "why": f"worker failed: {str(exc)[-300:]}", "loadavg_1m": load}
        held, why = judge_vigil(r, kinds[:n])
        still = [c for cid, c in r.get("per_camera", {}).items() if kinds[int(cid[3:])] == "still"]
        extra = {}
        if still:
            extra = {"still_cameras": len(still),
                     "still_moving_share": round(sum(c["moving_s"] for c in still) / (len(still) * r["seconds"]), 3),
                     "still_objects_hz": round(sum(c["objects_runs"] for c in still) / (len(still) * r["seconds"]), 2)}
        return {"held": held, "why": why, "loadavg_1m": load, **{k: r.get(k) for k in _STEP_KEYS}, **extra}

    return measure


def bench_sweep(max_cameras: int, seconds: float = 20.0, size: tuple[int, int] = (640, 360), fps: float = 10.0,
                warmup_s: float = 10.0, sides: list[ModelSide] | None = None, imgsz: int = 320,
                still_share: float = 0.0, start: int | None = None, naive: bool = True, log=print) -> dict:
    """The largest camera count the naive loop holds and, for each model side, the largest vigil holds (its
    doubling starts at the naive loop's count, or `start`), on the same RTSP server and footage; their ratios."""
    from vigil.models.catalogue import resolve_fire_model
    from vigil.models.precision import choose
    from vigil.streams.rtsp import RtspServer

    sides = sides or [ModelSide("default", None, "auto")]
    resolved = []
    for side in sides:
        model_path = str(resolve_model(side.model))
        fire_path = resolve_fire_model(side.fire_model, None)[0] if side.fire_model else None
        resolved.append((model_path, fire_path))
    naive_model = next((f for _, f in resolved if f), None) or resolve_fire_model("auto", None)[0]
    if naive and naive_model is None:
        raise FileNotFoundError("the naive loop needs an ultralytics-layout model (the fire model): none found")
    mounts, kinds, desc = footage(max_cameras, fps, size, still_share, log)
    t_start = time.monotonic()
    result: dict = {"machine": machine(), "mode": "sweep", "size": f"{size[0]}x{size[1]}", "fps": fps, "imgsz": imgsz,
                    "seconds_per_step": seconds, "warmup_s": warmup_s, "max_cameras": max_cameras,
                    "lag_limit_s": LAG_LIMIT_S, "hold_share": HOLD_SHARE, "footage": desc,
                    "loadavg_1m_start": _loadavg()}
    with RtspServer(mounts) as server:
        urls = [server.url(name) for name in mounts]
        log(f"bench: sweep up to {max_cameras} camera(s) {size[0]}x{size[1]} @ {fps:g} fps, still share {still_share:g}, "
            f"{warmup_s:g} s warm-up + {seconds:g} s per step; RTSP port {server.port}")
        held_naive = None
        if naive:
            side = NaiveSide(urls, seconds, warmup_s, str(naive_model), imgsz, fps, log)
            found = search_largest(side.measure, max_cameras, log=log)
            held_naive = found["cameras_held"]
            result["naive"] = {"model": Path(naive_model).name, "detect_hz_needed": round(side.need, 2),
                               "vid_stride": side.stride, **found}
        result["vigil"] = []
        for side, (model_path, fire_path) in zip(sides, resolved):
            runs = {"objects": choose(model_path).as_dict(), "fire": choose(fire_path).as_dict() if fire_path else None}
            fire_ref = side.fire_model if fire_path else None  # the name: keeps the catalogue's input size
            first = start or max(1, held_naive or 1)
            found = search_largest(_vigil_step(urls, kinds, (model_path, fire_ref), imgsz, warmup_s, seconds, log,
                                               side.person_model), max_cameras, start=first, log=log)
            entry = {"label": side.label, "model": Path(model_path).name,
                     "fire_model": Path(fire_path).name if fire_path else None, "person_model": side.person_model,
                     "models_run": {k: v and {"file": v["used_name"], "precision": v["precision"], "kernel": v["kernel"]}
                                    for k, v in runs.items()},
                     **found}
            if held_naive:
                entry["ratio_to_naive"] = round(found["cameras_held"] / held_naive, 2)
            result["vigil"].append(entry)
    v = result["vigil"]
    result["vigil_cameras_held"] = v[-1]["cameras_held"]
    result["naive_cameras_held"] = held_naive
    result["ratio"] = round(v[-1]["cameras_held"] / held_naive, 2) if held_naive else None
    result["ratio_is_lower_bound"] = bool(v[-1]["bound_reached"])  # vigil held every camera the sweep could start
    if len(v) >= 2:
        old, new = v[0], v[-1]
        result["models_compared"] = {"old": old["label"], "new": new["label"], "old_held": old["cameras_held"],
                                     "new_held": new["cameras_held"],
                                     "new_over_old": round(new["cameras_held"] / old["cameras_held"], 2) if old["cameras_held"] else None,
                                     "held_not_fallen": new["cameras_held"] >= old["cameras_held"]}
    result["loadavg_1m_end"] = _loadavg()
    result["measuring_s"] = round(time.monotonic() - t_start, 1)
    return result


def human_lines(r: dict) -> list[str]:
    """The sweep's result in a few lines (the JSON line follows)."""
    out = [f"CPU: {r['machine'].get('label', r['machine'].get('cpu'))}; load average (1 min) {r.get('loadavg_1m_start')} "
           f"at start, {r.get('loadavg_1m_end')} at end",
           f"footage: {r['size']} @ {r['fps']:g} fps, still share {r['footage']['still_share']:g}; "
           f"{r['warmup_s']:g} s warm-up + {r['seconds_per_step']:g} s per step; bound {r['max_cameras']}"]
    if r.get("naive"):
        n = r["naive"]
        out.append(f"naive loop ({n['model']} at {n['detect_hz_needed']:g} Hz per camera): {n['cameras_held']} held; steps "
                   + ", ".join(f"{s['cameras']}{'+' if s['held'] else '-'}" for s in n["steps"]))
    for v in r["vigil"]:
        person = f" + {v['person_model']}" if v.get("person_model") else ""
        out.append(f"vigil [{v['label']}] ({v['model']} + {v['fire_model']}{person}): {v['cameras_held']} held"
                   f"{' (the bound)' if v['bound_reached'] else ''}; steps "
                   + ", ".join(f"{s['cameras']}{'+' if s['held'] else '-'}" for s in v["steps"])
                   + (f"; ratio to naive {v['ratio_to_naive']}" if v.get("ratio_to_naive") is not None else ""))
    if r.get("models_compared"):
        m = r["models_compared"]
        out.append(f"models: {m['new']} holds {m['new_held']} vs {m['old']} {m['old_held']} "
                   f"({'not fallen' if m['held_not_fallen'] else 'FELL'})")
    out.append(f"measuring took {r['measuring_s']:g} s")
    return out
