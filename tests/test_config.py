"""Config validation: every error named with its path; redaction; schedules; the CLI exit code."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from vigil.config import ConfigError, load_config, parse_config, redact_url
from vigil.rules_config import Schedule

ROOT = Path(__file__).resolve().parents[1]
GOOD = {
    "institutions": [{"id": "fy", "name": "福缘养老院", "region": "示范县/城关镇"}],
    "cameras": [{
        "id": "exit1", "name": "东侧安全出口", "url": "rtsp://admin:pw@127.0.0.1:8554/exit1",
        "institution": "fy", "site_kind": "exit",
        "zones": [{"name": "出口", "polygon": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]],
                   "rules": [{"type": "blocked_exit"}, {"type": "ebike_indoor", "dwell_s": 20}]}],
    }],
}


def with_camera(**changes) -> dict:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["cameras"][0].update(changes)
    return data


def errors_of(data) -> list[str]:
    with pytest.raises(ConfigError) as ei:
        parse_config(data)
    return ei.value.errors


def test_good_config_has_defaults():
    cfg = parse_config(GOOD)
    rules = cfg.cameras[0].zones[0].rules
    assert rules[0].dwell_s == 30 and rules[0].area_ratio == 0.4
    assert rules[1].dwell_s == 20
    assert cfg.cameras[0].offline_after_s == 60


def test_control_room_defaults_to_two_persons():
    data = with_camera(site_kind="control_room", zones=[{"name": "室内", "polygon": [[0, 0], [1, 0], [1, 1]], "rules": [{"type": "unattended_room"}]}])
    r = parse_config(data).cameras[0].zones[0].rules[0]
    assert (r.min_persons, r.absence_s, r.restore_s) == (2, 120, 10)


def test_polygon_error_names_path():
    data = with_camera()
    data["cameras"] = [data["cameras"][0]] * 2 + [dict(data["cameras"][0], id="c3", zones=[{"name": "z", "polygon": [[0, 0], [1, 1]]}])]
    data["cameras"][1] = dict(data["cameras"][1], id="c2")
    assert "cameras[2].zones[0].polygon: needs >= 3 points" in errors_of(data)


def test_every_error_is_reported_with_its_path():
    data = with_camera(site_kind="tunnel", detect_fps=0, colour="red")
    data["cameras"][0]["zones"][0]["rules"][0]["dwell_s"] = -5
    data["cameras"][0]["zones"][0]["polygon"][0] = [1.5, 0.2]
    errs = errors_of(data)
    joined = "\n".join(errs)
    assert "cameras[0].site_kind:" in joined
    assert "cameras[0].detect_fps:" in joined
    assert "cameras[0].colour: unknown key" in joined
    assert "cameras[0].zones[0].rules[0].dwell_s:" in joined
    assert "cameras[0].zones[0].polygon: point 0 (1.5, 0.2) is outside 0..1" in joined
    assert len(errs) == 5


def test_rule_must_fit_site_kind_and_unknown_rule():
    data = with_camera(site_kind="lobby")
    data["cameras"][0]["zones"][0]["rules"].append({"type": "teleport"})
    errs = errors_of(data)
    assert any(e.startswith("cameras[0].zones[0].rules[2]: unknown rule type 'teleport'") for e in errs)
    data = with_camera(site_kind="lobby")
    errs = errors_of(data)
    assert errs == ["cameras[0].zones[0].rules[0]: blocked_exit needs a camera of site kind exit, corridor or stairwell, not lobby"]


def test_unknown_institution_and_duplicate_ids():
    data = with_camera(institution="nowhere")
    assert errors_of(data) == ["cameras[0].institution: unknown institution 'nowhere' (known: fy)"]
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["cameras"].append(data["cameras"][0])
    assert any("camera ids must be unique" in e for e in errors_of(data))


def test_fire_rule_k_le_n_and_person_not_blocking():
    data = with_camera()
    data["cameras"][0]["zones"][0]["rules"] = [{"type": "fire_smoke", "k": 6, "n": 5}, {"type": "blocked_exit", "classes": ["person"]}]
    errs = errors_of(data)
    assert "cameras[0].zones[0].rules[0]: k (6) must not exceed n (5)" in errs
    assert "cameras[0].zones[0].rules[1].classes: 'person' cannot be a blocking class" in errs


def test_schedule_overnight_window():
    s = Schedule.model_validate({"windows": [{"days": ["mon"], "start": "22:00", "end": "06:00"}]})
    assert s.armed(datetime(2026, 11, 23, 23, 0))  # Monday 23:00
    assert s.armed(datetime(2026, 11, 24, 5, 59))  # Tuesday early morning, Monday's window
    assert not s.armed(datetime(2026, 11, 24, 23, 0))  # Tuesday night
    assert not s.armed(datetime(2026, 11, 23, 12, 0))
    with pytest.raises(Exception, match="not a time HH:MM"):
        Schedule.model_validate({"windows": [{"start": "25:00"}]})


def test_alert_period_validation_names_the_field():
    ok = Schedule.model_validate({"windows": [{"start": "20:00", "end": "07:00"}],
                                  "alert_periods": [{"name": "国庆", "start": "2026-10-01", "end": "2026-10-07"}]})
    assert ok.armed(datetime(2026, 10, 7, 12, 0)) and not ok.armed(datetime(2026, 10, 8, 12, 0))
    assert ok.dwell_scale(datetime(2026, 10, 1, 0, 0)) == 0.5 and ok.dwell_scale(datetime(2026, 9, 30, 23, 59)) == 1.0
    with pytest.raises(Exception, match="end 2026-10-01 is before start 2026-10-07"):
        Schedule.model_validate({"windows": [{}], "alert_periods": [{"name": "x", "start": "2026-10-07", "end": "2026-10-01"}]})
    with pytest.raises(Exception, match="dwell_scale"):
        Schedule.model_validate({"windows": [{}], "alert_periods": [{"name": "x", "start": "2026-10-01", "end": "2026-10-01",
                                                                    "dwell_scale": 0}]})


def test_redact_url():
    assert redact_url("rtsp://admin:s3cret@10.1.2.3:554/Streaming/101") == "rtsp://admin:***@10.1.2.3:554/Streaming/101"
    assert redact_url("rtsp://10.1.2.3/x") == "rtsp://10.1.2.3/x"
    assert "s3cret" not in redact_url("http://u:s3cret@h/mjpg")


def test_yaml_syntax_error_names_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("institutions:\n  - id: a\n    name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    assert ei.value.errors[0].startswith("line ")


def test_cli_config_check(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(GOOD, allow_unicode=True), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_camera(zones=[{"name": "z", "polygon": [[0, 0], [1, 1]]}]), allow_unicode=True), encoding="utf-8")
    ok = subprocess.run([sys.executable, "-m", "vigil.cli", "config", "check", str(good)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "OK (1 institution(s), 1 camera(s), 2 rule(s))" in ok.stdout
    res = subprocess.run([sys.executable, "-m", "vigil.cli", "config", "check", str(bad)], capture_output=True, text=True)
    assert res.returncode == 2
    assert "cameras[0].zones[0].polygon: needs >= 3 points" in res.stderr


def test_example_configs_are_valid():
    for p in [ROOT / "config.example.yaml", ROOT / "sample_videos" / "demo.yaml"]:
        assert load_config(p).cameras, p


def test_readme_configuration_reference_is_current():
    """The README's reference block is what `vigil config reference` prints now (regenerate with
    `vigil config reference --write README.md`)."""
    from helpers import REPO
    from vigil.config_reference import readme_block, render

    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme_block(text) == render()
    assert "`dwell_s` | `30.0`" in render() and "`absence_s` | `120.0`" in render()


def test_readme_opens_with_the_two_commands():
    from helpers import REPO

    lines = [ln for ln in (REPO / "README.md").read_text(encoding="utf-8").splitlines() if ln.strip()]
    assert lines[1] == "```" and lines[2].startswith("make demo") and lines[3].startswith("make test")


def test_fire_cameras_detect_at_least_twice_a_second():
    from vigil.config import Camera

    def cam(rules, fps=1.0):
        return Camera.model_validate({"id": "a", "name": "a", "url": "x.mp4", "institution": "i", "site_kind": "lobby",
                                      "detect_fps": fps, "zones": [{"name": "z", "polygon": [[0, 0], [1, 0], [1, 1]], "rules": rules}]})

    assert cam([{"type": "fire_smoke"}]).effective_detect_fps == 2.0
    assert cam([{"type": "fire_smoke"}], fps=5).effective_detect_fps == 5.0
    assert cam([{"type": "fire_smoke", "enabled": False}]).effective_detect_fps == 1.0
    assert cam([{"type": "ebike_indoor"}]).effective_detect_fps == 1.0
