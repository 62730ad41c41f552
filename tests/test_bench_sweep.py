"""`vigil bench streams --sweep` (issue #18 item 6): the search for the largest camera count a side holds, the
judges that say whether a step held, the demand a still camera makes, the still-footage mix; then one real
quick step (2 cameras, one of them still, a few seconds) through the measuring worker."""
from __future__ import annotations

import math
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import shared_path
from vigil.bench import ModelSide, parse_models
from vigil.bench_footage import is_still, mix_mounts, split_gops
from vigil.bench_judge import judge_naive, judge_vigil, search_largest
from vigil.bench_worker import Demand


def fake(threshold: int):
    """A side that holds up to `threshold` cameras; remembers what it was asked."""
    asked: list[int] = []

    def measure(n: int) -> dict:
        asked.append(n)
        return {"held": n <= threshold, "why": f"fake: {n} vs {threshold}", "lag_p99_s": 0.1}

    return measure, asked


@pytest.mark.parametrize("threshold", [1, 2, 3, 5, 7, 8, 13, 31, 33, 40, 63])
@pytest.mark.parametrize("start", [1, 4, 12])
def test_search_finds_the_largest_held_count(threshold, start):
    measure, asked = fake(threshold)
    found = search_largest(measure, 64, start=start, log=lambda *_: None)
    assert found["cameras_held"] == threshold
    assert found["bound_reached"] is False
    assert found["first_failed"] == threshold + 1  # the neighbour above was measured and failed
    assert len(asked) == len(set(asked))  # no count measured twice
    assert len(asked) <= 2 * math.ceil(math.log2(64)) + 2
    # every step is recorded in order, with the figures the measurement returned
    assert [s["cameras"] for s in found["steps"]] == asked
    assert all(s["held"] == (s["cameras"] <= threshold) for s in found["steps"])
    assert all(s["why"].startswith("fake:") and s["lag_p99_s"] == 0.1 for s in found["steps"])


def test_search_doubles_then_bisects():
    measure, asked = fake(11)
    search_largest(measure, 64, log=lambda *_: None)
    assert asked == [1, 2, 4, 8, 16, 12, 10, 11]


@pytest.mark.parametrize("threshold", [20, 64, 1000])
def test_search_stops_at_the_bound(threshold):
    measure, asked = fake(threshold)
    found = search_largest(measure, 20, start=3, log=lambda *_: None)
    assert found["cameras_held"] == 20 and found["bound_reached"] is True and found["first_failed"] is None
    assert asked == [3, 6, 12, 20]  # the doubling is clipped to the bound, never past it
    assert max(asked) == 20


def test_search_nothing_held():
    measure, asked = fake(0)
    found = search_largest(measure, 64, log=lambda *_: None)
    assert found["cameras_held"] == 0 and asked == [1]
    measure, asked = fake(0)
    found = search_largest(measure, 64, start=8, log=lambda *_: None)
    assert found["cameras_held"] == 0 and asked == [8, 4, 2, 1]


def test_search_bound_of_one():
    measure, asked = fake(5)
    assert search_largest(measure, 1, start=9, log=lambda *_: None)["cameras_held"] == 1 and asked == [1]


# -- judges ----------------------------------------------------------------------------------
def cam(obj_runs, obj_due, fire_runs, fire_due, **kw):
    return {"objects_runs": obj_runs, "objects_due": obj_due, "fire_runs": fire_runs, "fire_due": fire_due, **kw}


def test_judge_vigil():
    ok = {"lag_p99_s": 0.4, "offline_cameras": [], "per_camera": {
        "cam000": cam(20, 20.0, 40, 40.0),  # moving camera at full rate
        "cam001": cam(10, 10.4, 10, 10.4),  # still camera: a re-check every 2 s is all it asks
    }}
    held, why = judge_vigil(ok, ["moving", "still"])
    assert held, why
    # one run short at the window's edge is not a failure; 90 % less one run is the line
    edge = {**ok, "per_camera": {"cam000": cam(17, 20.0, 35, 40.0)}}
    assert judge_vigil(edge)[0]
    behind = {**ok, "per_camera": {**ok["per_camera"], "cam001": cam(10, 10.4, 5, 10.4)}}
    held, why = judge_vigil(behind, ["moving", "still"])
    assert not held and "fire model behind on 1 camera(s) (1 still, 0 moving)" in why
    held, why = judge_vigil({**ok, "lag_p99_s": 2.3})
    assert not held and "lag p99 2.30 s" in why
    held, why = judge_vigil({**ok, "offline_cameras": ["cam001"]})
    assert not held and "offline" in why
    # no fire rule: fire_due None is not judged
    assert judge_vigil({**ok, "per_camera": {"cam000": cam(20, 20.0, None, None)}})[0]


def test_judge_naive():
    r = {"lag_p99_s": 0.8, "seconds": 20.0, "errors": [], "per_camera": [{"hz": 2.0, "runs": 40}, {"hz": 1.8, "runs": 35}]}
    assert judge_naive(r, 2.0)[0]
    held, why = judge_naive({**r, "per_camera": [{"hz": 1.5, "runs": 30}]}, 2.0)
    assert not held and "behind on 1 camera(s)" in why
    held, why = judge_naive({**r, "lag_p99_s": 2.5}, 2.0)
    assert not held and "lag" in why
    assert not judge_naive({**r, "errors": ["camera 0: boom"]}, 2.0)[0]


# -- what a camera's timetable asks ---------------------------------------------------------
def proc(moving: bool):
    return SimpleNamespace(objects_interval=1.0, fire_interval=0.5, still_recheck_s=2.0, moving=moving,
                           pipeline=SimpleNamespace(needs_objects=True))


def run_demand(states: list[bool], step: float = 0.25) -> Demand:
    d = Demand(proc(states[0]))
    for k, m in enumerate(states):
        d.tick(m, 100.0 + k * step)
    return d


def test_demand_moving_still_and_bursts():
    moving = run_demand([True] * 81)  # 20 s moving from the window's start: full rate
    assert moving.objects == pytest.approx(20.0) and moving.fire == pytest.approx(40.0) and moving.starts == 0
    still = run_demand([False] * 81)  # 20 s still: a re-check of each model every 2 s
    assert still.objects == pytest.approx(10.0) and still.fire == pytest.approx(10.0) and still.moving_s == 0
    # 8 s still, then 12 s moving: the first 2 s of the burst still ask the still rate (the run due was timed then)
    burst = run_demand([False] * 32 + [True] * 49)
    assert burst.starts == 1 and burst.moving_s == pytest.approx(12.0)
    assert burst.objects == pytest.approx(8 * 0.5 + 2 * 0.5 + 10 * 1.0, abs=0.3)
    assert burst.fire == pytest.approx(8 * 0.5 + 2 * 0.5 + 10 * 2.0, abs=0.6)


# -- the still-footage mix -------------------------------------------------------------------
@pytest.mark.parametrize("share", [0.0, 0.3, 0.5, 0.7, 1.0])
def test_still_cameras_spread_over_any_prefix(share):
    for n in range(1, 65):
        assert sum(is_still(i, share) for i in range(n)) == math.floor(n * share + 1e-9)


def test_mix_mounts():
    still = [Path(f"still{k}") for k in range(12)]
    mounts, kinds = mix_mounts(20, 0.7, [Path("crowd"), Path("fire")], still)
    assert len(mounts) == 20 and kinds.count("still") == 14
    moving = [mounts[f"cam{i:03d}"] for i in range(20) if kinds[i] == "moving"]
    assert moving == [Path("fire"), Path("crowd"), Path("crowd"), Path("fire"), Path("crowd"), Path("crowd")]
    phases = [mounts[f"cam{i:03d}"] for i in range(20) if kinds[i] == "still"]
    assert len(set(phases[:12])) >= 9  # the burst phases spread over the still cameras
    mounts, kinds = mix_mounts(5, 0.0, [Path("crowd"), Path("fire")], still)
    assert kinds == ["moving"] * 5 and mounts["cam000"] == Path("fire") and mounts["cam001"] == Path("crowd")


def test_split_gops_cuts_before_each_sps():
    sps, pps, idr, p = b"\x00\x00\x00\x01\x67AA", b"\x00\x00\x00\x01\x68BB", b"\x00\x00\x01\x65CC", b"\x00\x00\x01\x41DD"
    gop = sps + pps + idr + p + p
    parts = split_gops(gop + gop + gop)
    assert parts == [gop, gop, gop]
    assert b"".join(parts[1:] + parts[:1]) == gop * 3  # a rotation is still a whole stream


def test_parse_models():
    old, new = parse_models("yolov5n-coco-320+fire-smoke-yolov5n-320, default+none")
    assert old == ModelSide("yolov5n-coco-320+fire-smoke-yolov5n-320", "yolov5n-coco-320", "fire-smoke-yolov5n-320")
    assert new.model is None and new.fire_model is None
    assert parse_models("x")[0].fire_model == "auto" and parse_models("x")[0].person_model is None
    side = parse_models("default+auto+person-cctv-yolov8n-640-int8")[0]
    assert (side.model, side.fire_model, side.person_model) == (None, "auto", "person-cctv-yolov8n-640-int8")
    assert parse_models("default++none")[0].person_model is None
    with pytest.raises(ValueError, match="more than OBJECTS"):
        parse_models("a+b+c+d")
    with pytest.raises(ValueError):
        parse_models(" , ")


# -- one real step ---------------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_one_real_step_two_cameras_one_still(gst_rtsp):
    """One measuring step of vigil on 2 RTSP cameras (one plays the still clip), 1 s warm-up, 4 s window: the
    worker reports the runs due and done per camera and the judge gives a reason either way. Whether 2 cameras
    hold depends on the machine's load, so that is not asserted."""
    from vigil.bench import _vigil_step, footage
    from vigil.models.catalogue import ModelNotFound, resolve_model
    from vigil.streams.rtsp import RtspServer

    shared_path("data", "video", "street_crowd.mp4")
    try:
        model = str(resolve_model(None))
    except ModelNotFound as exc:
        pytest.skip(str(exc))
    t0 = time.monotonic()
    mounts, kinds, desc = footage(2, 10.0, (640, 360), still_share=0.5, log=lambda *_: None)
    assert kinds == ["moving", "still"] and desc["still"]["period_s"] > 60
    with RtspServer(mounts) as server:
        urls = [server.url(m) for m in mounts]
        step = _vigil_step(urls, kinds, (model, "auto"), 320, 1.0, 4.0, lambda *_: None)(2)
    assert isinstance(step["held"], bool) and step["why"]
    assert step["still_cameras"] == 1 and 0 <= step["still_moving_share"] <= 1
    assert step["lag_p99_s"] is not None
    print(f"one step: {time.monotonic() - t0:.1f} s, {step}")
