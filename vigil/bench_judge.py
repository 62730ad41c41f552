"""When a camera count holds, for `vigil bench streams` (vigil/bench.py): the judges of one measured step, per side
(`judge_vigil`, `judge_naive`: each camera against what its own timetable asks), and the search for the largest
count that holds (`search_largest`: doubling, then bisection). Plain functions of the figures a step returned."""
from __future__ import annotations

from typing import Callable

LAG_LIMIT_S = 2.0
HOLD_SHARE = 0.9  # a camera holds when it got this share of the model runs asked of it (less one run: window edges)


def sustained(r: dict, need_hz: float) -> bool:
    lag = r.get("lag_p99_s")
    return lag is not None and lag < LAG_LIMIT_S and (r.get("detect_hz_min") or 0) >= need_hz * 0.9


def search_largest(measure: Callable[[int], dict], max_n: int, start: int = 1, log=print) -> dict:
    """The largest camera count n <= max_n for which `measure(n)["held"]` is true, assuming a count that does
    not hold is not held by any larger one: doubling from `start` until a count fails (or max_n holds), then
    bisection between the largest held and the smallest failed count; a failing `start` bisects below it.
    Each measured step is kept in order with the figures `measure` returned. 0 when even 1 camera fails."""
    max_n = max(1, int(max_n))
    n = min(max(1, int(start)), max_n)
    good, bad, steps = 0, None, []
    while True:
        r = dict(measure(n))
        held = bool(r.pop("held"))
        steps.append({"cameras": n, "held": held, **r})
        log(f"bench: {n} camera(s): {'held' if held else 'not held'} ({r.get('why', '')})")
        if held:
            good = n
            if bad is None:
                if n >= max_n:
                    break
                n = min(2 * n, max_n)
                continue
        else:
            bad = n
        if bad - good <= 1:
            break
        n = (good + bad) // 2
    return {"cameras_held": good, "max_cameras": max_n, "bound_reached": good >= max_n,
            "first_failed": bad, "steps": steps}


def _lag_problems(lag: float | None) -> list[str]:
    if lag is None:
        return ["no frame evaluated"]
    return [f"lag p99 {lag:.2f} s >= {LAG_LIMIT_S:g} s"] if lag >= LAG_LIMIT_S else []


def _short(runs: float | None, due: float | None) -> bool:
    return due is not None and due > 0 and (runs or 0) < HOLD_SHARE * due - 1


def judge_vigil(r: dict, kinds: list[str] | None = None) -> tuple[bool, str]:
    """Held when no camera is offline, lag p99 < LAG_LIMIT_S over every evaluated frame, and every camera got
    >= HOLD_SHARE of the object and fire model runs its timetable asked for (less one run for the window's
    edges): on moving footage that is the camera's rate (1 Hz objects, 2 Hz fire), on still footage a re-check
    every still_recheck_s and the full rate while a burst of movement lasts (bench_worker.Demand)."""
    why = []
    per = r.get("per_camera") or {}
    if r.get("offline_cameras"):
        why.append(f"{len(r['offline_cameras'])} camera(s) offline")
    lag = r.get("lag_p99_s")
    why += _lag_problems(lag)
    ratios = {}
    for model in ("objects", "fire"):
        short = [cid for cid, c in per.items() if _short(c.get(f"{model}_runs"), c.get(f"{model}_due"))]
        got = [c[f"{model}_runs"] / c[f"{model}_due"] for c in per.values() if c.get(f"{model}_due")]
        ratios[model] = round(min(got), 2) if got else None
        if short:
            kind = ""
            if kinds:
                idx = [int(cid[3:]) for cid in short if cid[3:].isdigit() and int(cid[3:]) < len(kinds)]
                n_still = sum(kinds[i] == "still" for i in idx)
                kind = f" ({n_still} still, {len(short) - n_still} moving)"
            why.append(f"{model} model behind on {len(short)} camera(s){kind}: worst {ratios[model]:.2f} of the runs due")
    if why:
        return False, "; ".join(why)
    return True, (f"lag p99 {lag:.2f} s; runs/due, worst camera: objects {ratios['objects']}, fire {ratios['fire']}")


def judge_naive(r: dict, need_hz: float) -> tuple[bool, str]:
    """Held when no camera loop failed, lag p99 < LAG_LIMIT_S and every camera ran >= HOLD_SHARE of the frames
    its stride asks (`need_hz` over the window, less one run for the window's edges)."""
    why = []
    if r.get("errors"):
        why.append(f"{len(r['errors'])} camera loop(s) failed: {r['errors'][0][:200]}")
    lag = r.get("lag_p99_s")
    why += _lag_problems(lag)
    due = need_hz * (r.get("seconds") or 0)
    per = r.get("per_camera") or []
    runs = [c.get("runs", round(c.get("hz", 0) * (r.get("seconds") or 0))) for c in per]
    short = [x for x in runs if _short(x, due)]
    worst = round(min(runs) / due, 2) if runs and due else None
    if short:
        why.append(f"behind on {len(short)} camera(s): worst {worst} of the runs due ({need_hz:g} Hz)")
    if why:
        return False, "; ".join(why)
    return True, f"lag p99 {lag:.2f} s; runs/due, worst camera: {worst}"
