"""Each rule fires on a clip through real detections (YOLOv8n COCO int8 TFLite) and stays quiet on a clip
without the condition. Driven through the real command line: `vigil replay VIDEO --fast --json`.

The demo clips are made by `sample_videos/make_samples.py` (run by `make test` before pytest); the
scripted event times are in `sample_videos/README.md`. `street_crowd.mp4` is real footage from
`../shared`.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import REPO, replay, require, shared_path

SAMPLES = REPO / "sample_videos"
DEMO = SAMPLES / "demo.yaml"


def sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.is_file():
        require(f"{path} is missing: run `python sample_videos/make_samples.py` (make test does)")
    return path


def starts(events: list[dict], rule: str) -> list[float]:
    return [e["start_s"] for e in events if e["rule"] == rule]


# (clip, {rule: (earliest start_s, latest start_s)}); the demo config shortens dwell to 10 s and absence
# to 20 s. The motorcycle and the boxes appear at 8 s, the operators have left the room by ~15.5 s.
DEMO_CASES = [
    ("corridor_motorcycle.mp4", {"blocked_exit": (17.5, 21.0), "ebike_indoor": (17.5, 21.0)}),
    ("corridor_boxes.mp4", {"blocked_exit": (17.5, 22.0)}),
    ("control_room.mp4", {"unattended_room": (34.0, 39.0)}),
    ("corridor_clear.mp4", {}),
    ("control_room_staffed.mp4", {}),
]


@pytest.mark.parametrize("clip,expected", DEMO_CASES, ids=[c for c, _ in DEMO_CASES])
def test_demo_clip_events(clip, expected):
    events, proc = replay(str(sample(clip)), "--config", str(DEMO), "--fast", "--json")
    assert proc.returncode == 0, proc.stderr
    got = {e["rule"] for e in events}
    assert got == set(expected), f"{clip}: events {events}"
    for rule, (lo, hi) in expected.items():
        (t,) = starts(events, rule)  # exactly one event per (zone, rule) while the condition lasts
        assert lo <= t <= hi, f"{clip}: {rule} started at {t} s, expected {lo}..{hi}"
    for e in events:
        assert set(e) == {"rule", "zone", "start_s", "end_s", "confidence"}
        assert e["end_s"] is None  # the condition lasts to the end of the clip
        assert 0.3 <= e["confidence"] <= 1.0
        assert e["zone"] in ("东侧安全出口", "消防控制室")


def test_production_defaults_without_config():
    """No config: --kind corridor with the exit-zone polygon and the production defaults (blocked_exit 30 s,
    ebike_indoor 60 s). The motorcycle stands from 8 s, so blocked_exit fires at ~38 s and ebike_indoor
    (needs 60 s) does not fire inside the 60 s clip."""
    zone = "0.417,0.597,0.627,0.597,0.729,0.917,0.35,0.917"
    events, proc = replay(str(sample("corridor_motorcycle.mp4")), "--kind", "corridor", "--zone", zone, "--fast", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [e["rule"] for e in events] == ["blocked_exit"], events
    assert 37.5 <= events[0]["start_s"] <= 41.0  # fire_smoke ran too (the shipped model) and stayed quiet


def test_replay_says_when_fire_rule_is_disabled(tmp_path):
    """A config that switches the fire model off: replay names the disabled rule and why, never silently."""
    import yaml

    cfg = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    cfg["detector"] = {"fire_model": None}
    cam = next(c for c in cfg["cameras"] if c["id"] == "corridor-clear")
    cam["url"] = str(sample("corridor_clear.mp4"))
    cam["zones"][0]["rules"] = [{"type": "fire_smoke"}]
    cfg["cameras"] = [cam]
    path = tmp_path / "nofire.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    events, proc = replay(cam["url"], "--config", str(path), "--fast", "--json")
    assert proc.returncode == 0, proc.stderr
    assert events == [] and "rule fire_smoke" in proc.stderr and "switched off" in proc.stderr


def test_param_override_changes_the_outcome():
    """--param dwell_s=5 makes both corridor rules fire ~5 s after the motorcycle appears."""
    events, proc = replay(str(sample("corridor_motorcycle.mp4")), "--kind", "corridor", "--param", "dwell_s=5",
                          "--fast", "--json")
    assert proc.returncode == 0, proc.stderr
    assert {e["rule"] for e in events} == {"blocked_exit", "ebike_indoor"}, events
    assert all(12.5 <= e["start_s"] <= 16.0 for e in events), events


def test_real_street_footage_is_quiet():
    """Real street footage (people walking, no parked vehicle in the lower half): no corridor rule fires."""
    video = shared_path("data", "video", "street_crowd.mp4")
    events, proc = replay(str(video), "--kind", "corridor", "--zone", "0,0.5,1,0.5,1,1,0,1", "--fast", "--json")
    assert proc.returncode == 0, proc.stderr
    assert events == []
    assert "events" in proc.stderr or "event(s)" in proc.stderr  # the summary line was printed


@pytest.mark.parametrize("args,message", [
    (["--zone", "0.1,0.2,0.3"], "--zone needs pairs"),
    (["--param", "nonsense_s=3"], "no selected rule has this parameter"),
    (["--kind", "kitchen"], "site_kind"),
    (["--kind", "lobby", "--fire-model", "no-such-fire-model"], "--fire-model no-such-fire-model"),
    (["--model", "no-such-model"], "model 'no-such-model' is neither a catalogue name"),
])
def test_replay_bad_arguments_exit_2_with_a_reason(args, message):
    events, proc = replay(str(sample("corridor_clear.mp4")), *args, "--fast", "--json")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and events == []
