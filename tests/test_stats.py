"""Statistics and rankings of the hazard ledger (issue #16), on SQLite and PostgreSQL.

A county of five institutions with hand-built events and hazards, every figure worked out by hand below:
rectification and on-time rates, close-time median and 90th percentile, the backlog and overdue list at a
controlled `now`, rollups by township and county, categories with their zh-CN names, trend buckets (day, ISO week,
month, and a half-hour timezone); the API's scoping (a township supervisor, an officer, filters outside the scope
answer 404) and errors; and a small `vigil db seed` run through the CLI whose counts are checked.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from vigil_fixtures import bearer, make_user

UTC = timezone.utc
SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NOV = (datetime(2026, 10, 31, 16, 0, tzinfo=UTC), datetime(2026, 11, 30, 16, 0, tzinfo=UTC))  # November in Shanghai
DAYS = (NOW - NOV[0]).total_seconds() / 86400  # the period's days up to now: 19 d 20 h


def t(day: str, hm: str = "00:00") -> datetime:
    """A UTC time: t('11-02', '03:00') -> 2026-11-02T03:00Z (t('2026-09-01') for another year's month)."""
    return datetime.fromisoformat(f"{day if day.count('-') == 2 else '2026-' + day}T{hm}+00:00")


INSTITUTIONS = [
    {"id": "a1", "name": "城关镇敬老院", "region": "示范县/城关镇"},
    {"id": "a2", "name": "城关镇儿童福利院", "region": "示范县/城关镇", "kind": "child_welfare"},
    {"id": "b1", "name": "河西乡敬老院", "region": "示范县/河西乡"},
    {"id": "c1", "name": "东山县福利中心", "region": "东山县/新华镇", "kind": "other"},
    {"id": "c2", "name": "东山县敬老院", "region": "东山县/新华镇"},
]
CAMERAS = [("a1", True), ("a1", True), ("a1", False), ("a2", True), ("b1", True), ("c1", True)]  # c2 has none
# (institution, rule, review status, started at)
EVENTS = [
    ("a1", "blocked_exit", "confirmed", t("11-02", "03:00")),
    ("a1", "blocked_exit", "false_alarm", t("11-02", "05:00")),
    ("a1", "fire_smoke", "confirmed", t("11-10", "10:00")),
    ("a1", "ebike_indoor", "pending", t("11-19", "23:00")),  # Shanghai: 11-20 07:00
    ("a1", "blocked_exit", "confirmed", t("10-31", "15:00")),  # Shanghai 10-31 23:00: October
    ("a2", "unattended_room", "false_alarm", t("11-05", "08:00")),
    ("a2", "unattended_room", "needs_onsite_check", t("11-05", "09:00")),
    ("b1", "camera_offline", "confirmed", t("10-31", "16:30")),  # Shanghai 11-01 00:30: November
    ("b1", "blocked_exit", "false_alarm", t("11-30", "15:59")),  # Shanghai 11-30 23:59: November
    ("c1", "ebike_indoor", "confirmed", t("11-30", "16:00")),  # Shanghai 12-01 00:00: December
]
# name: (institution, category, severity, state, opened, deadline, closed, supervised, escalation level, responsible)
HAZARDS = {
    "h1": ("a1", "blocked_passage", "general", "closed", t("11-02"), t("11-03"), t("11-02", "10:00"), False, 0, None),
    "h2": ("a1", "open_flame", "major", "closed", t("11-03"), t("11-03"), t("11-03", "02:00"), False, 0, None),
    "h3": ("a1", "ebike_indoor", "general", "closed", t("11-04"), t("11-07"), t("11-06"), False, 0, None),
    "h4": ("a1", "electrical", "general", "rectifying", t("11-10"), t("11-17"), None, True, 1, "张三"),
    "h5": ("a1", "other", "general", "open", t("11-18"), t("11-25"), None, False, 0, None),
    "h6": ("a1", "blocked_passage", "general", "closed", t("10-20"), t("10-21"), t("11-05"), True, 1, None),
    "h7": ("a2", "control_room_unstaffed", "major", "closed", t("11-05", "08:00"), t("11-05", "09:00"),
           t("11-05", "08:30"), False, 0, None),
    "h8": ("a2", "fire_equipment", "general", "submitted", t("2026-09-01"), t("2026-09-08"), None, True, 2, "李四"),
    "h9": ("b1", "monitoring_fault", "general", "open", t("11-12"), t("11-15"), None, False, 0, None),
}


def county_config(tmp_path, db_url) -> dict:
    full = [[0, 0], [1, 0], [1, 1], [0, 1]]
    cams = [{"id": f"cam{n}", "name": f"出口{n}", "url": f"rtsp://127.0.0.1:9/{n}", "institution": inst, "enabled": on,
             "site_kind": "exit", "zones": [{"name": "出口", "polygon": full, "rules": [{"type": "blocked_exit"}]}]}
            for n, (inst, on) in enumerate(CAMERAS)]
    return {"institutions": INSTITUTIONS, "cameras": cams,
            "storage": {"database_url": db_url, "data_dir": str(tmp_path / "data")}}


@pytest.fixture
def county(tmp_path, db_url):
    """(runtime with a ManualClock at NOW, {hazard name: id})."""
    from vigil.api.db import EventRow
    from vigil.api.db_ledger import HazardRow
    from vigil.clock import ManualClock
    from vigil.config import parse_config
    from vigil.service import Runtime

    rt = Runtime(parse_config(county_config(tmp_path, db_url)), start_cameras=False)
    rt.clock = ManualClock(NOW)
    cam = {inst: f"cam{n}" for n, (inst, _) in reversed(list(enumerate(CAMERAS)))}
    ids = {}
    with rt.sessions.begin() as s:
        for inst, rule, status, at in EVENTS:
            s.add(EventRow(camera_id=cam[inst], institution_id=inst, zone="出口", rule=rule, state="closed",
                           review_status=status, started_at=at, ended_at=at + timedelta(minutes=1), peak_confidence=0.9,
                           params={}, detail={}))
        for name, (inst, cat, sev, state, opened, deadline, closed, sup, level, who) in HAZARDS.items():
            row = HazardRow(institution_id=inst, category=cat, severity=sev, source="inspection", title=name, state=state,
                            opened_at=opened, deadline_at=deadline, closed_at=closed, supervised=sup,
                            escalation_level=level, responsible=who, sightings=1, reopened=0)
            s.add(row)
            s.flush()
            ids[name] = row.id
    yield rt, ids
    rt.stop()


def by_key(rows) -> dict:
    return {r.key: r for r in rows}


def test_figures_worked_out_by_hand(county):
    from vigil.ledger import stats

    rt, ids = county
    insts = stats.institutions_from_runtime(rt)
    assert {k: (v.region, v.cameras) for k, v in insts.items()} == {
        "a1": ("示范县/城关镇", 2), "a2": ("示范县/城关镇", 1), "b1": ("示范县/河西乡", 1), "c1": ("东山县/新华镇", 1),
        "c2": ("东山县/新华镇", 0)}
    with rt.sessions() as s:
        rows = stats.per_institution(s, insts, *NOV, NOW)
        cats = stats.by_category(s, insts, *NOV, NOW)
        october = by_key(stats.per_institution(s, insts, NOV[0] - timedelta(days=31), NOV[0], NOW))
    r = by_key(rows)
    # a1: events e1-e4 (e5 is October's); hazards h1-h5 opened in November, h1-h3 closed (10 h, 2 h, 48 h);
    # h2 closed 2 h after its deadline; h4 (deadline 11-17) and h5 (11-25) open, h4 overdue and supervised
    a1 = r["a1"]
    assert (a1.events, a1.confirmed, a1.false_alarm, a1.pending, a1.needs_onsite_check) == (4, 2, 1, 1, 0)
    assert a1.confirmed_share == 2 / 3
    assert (a1.hazards_opened, a1.hazards_closed, a1.hazards_on_time) == (5, 3, 2)
    assert (a1.hazards_open, a1.hazards_overdue, a1.supervised) == (2, 1, 1)
    assert a1.rectification_rate == 3 / 5 and a1.on_time_rate == 2 / 3
    assert a1.median_close_h == 10.0 and a1.p90_close_h == pytest.approx(10 + 0.8 * (48 - 10))  # rank 1.8 of [2, 10, 48]
    assert a1.cameras == 2 and a1.camera_days == pytest.approx(2 * DAYS)
    assert a1.hazards_per_camera_day == pytest.approx(5 / (2 * DAYS))
    assert a1.score == pytest.approx(3 * 1 + 2 * 1 + 2 + 10 * (1 - 3 / 5) + 5 * (1 - 2 / 3) + 100 * 5 / (2 * DAYS), abs=1e-4)
    # a2: h7 closed in 30 min, on time; h8 (September) still submitted, overdue since 09-08, supervised
    a2 = r["a2"]
    assert (a2.events, a2.false_alarm, a2.needs_onsite_check, a2.confirmed_share) == (2, 1, 1, 0.0)
    assert (a2.hazards_opened, a2.hazards_closed, a2.rectification_rate, a2.on_time_rate) == (1, 1, 1.0, 1.0)
    assert (a2.median_close_h, a2.p90_close_h) == (0.5, 0.5)
    assert (a2.hazards_open, a2.hazards_overdue, a2.supervised) == (1, 1, 1)
    # b1: e8 (11-01 00:30 in Shanghai) and e9 (11-30 23:59) count; h9 open and overdue, never closed
    b1 = r["b1"]
    assert (b1.events, b1.confirmed, b1.false_alarm, b1.confirmed_share) == (2, 1, 1, 0.5)
    assert (b1.hazards_opened, b1.hazards_closed, b1.rectification_rate, b1.on_time_rate) == (1, 0, 0.0, None)
    assert (b1.median_close_h, b1.hazards_open, b1.hazards_overdue, b1.supervised) == (None, 1, 1, 0)
    # c1: e10 is December's in Shanghai; c2 has no camera at all
    for k in ("c1", "c2"):
        assert (r[k].events, r[k].hazards_opened, r[k].hazards_open, r[k].score) == (0, 0, 0, 0.0)
        assert (r[k].confirmed_share, r[k].rectification_rate, r[k].on_time_rate, r[k].median_close_h) == (None,) * 4
    assert r["c2"].camera_days == 0 and r["c2"].hazards_per_camera_day is None
    assert r["c1"].hazards_per_camera_day == 0.0

    # ranking: a1 25.3 > b1 19.0 (10 for no rectification) > a2 11.0 > c2 = c1 = 0 (tie: by name, 敬 before 福)
    assert r["b1"].score == pytest.approx(3 + 1 + 10 + 100 / DAYS, abs=1e-4)
    assert r["a2"].score == pytest.approx(3 + 2 + 1 + 100 / DAYS, abs=1e-4)
    assert [x.key for x in stats.ranking(rows)] == ["a1", "b1", "a2", "c2", "c1"]

    total = stats.total(rows)
    assert (total.key, total.name, total.institutions, total.cameras) == ("total", "合计", 5, 5)
    assert (total.events, total.confirmed, total.false_alarm, total.pending, total.confirmed_share) == (8, 3, 3, 1, 0.5)
    assert (total.hazards_opened, total.hazards_closed, total.hazards_on_time) == (7, 4, 3)
    assert (total.rectification_rate, total.on_time_rate) == (4 / 7, 3 / 4)
    assert total.median_close_h == 6.0 and total.p90_close_h == pytest.approx(10 + 0.7 * 38)  # [0.5, 2, 10, 48]
    assert (total.hazards_open, total.hazards_overdue, total.supervised) == (4, 3, 2)
    assert total.camera_days == pytest.approx(5 * DAYS)

    towns = by_key(stats.rollup(rows, 2))
    assert list(towns) == ["东山县/新华镇", "示范县/城关镇", "示范县/河西乡"]
    cg = towns["示范县/城关镇"]
    assert (cg.name, cg.region, cg.institutions, cg.cameras, cg.events) == ("城关镇", "示范县/城关镇", 2, 3, 6)
    assert (cg.hazards_opened, cg.hazards_closed, cg.rectification_rate, cg.on_time_rate) == (6, 4, 4 / 6, 3 / 4)
    assert cg.median_close_h == 6.0 and (cg.hazards_open, cg.hazards_overdue, cg.supervised) == (3, 2, 2)
    assert (towns["示范县/河西乡"].rectification_rate, towns["东山县/新华镇"].institutions) == (0.0, 2)
    counties = by_key(stats.rollup(rows, 1))
    assert {k: (v.name, v.events, v.hazards_opened, v.hazards_overdue) for k, v in counties.items()} == {
        "东山县": ("东山县", 0, 0, 0), "示范县": ("示范县", 8, 7, 3)}
    assert counties["示范县"].rectification_rate == 4 / 7 and counties["示范县"].p90_close_h == pytest.approx(36.6)

    # October: a1 had e5 and opened h6, which closed in November: not rectified within October
    assert (october["a1"].events, october["a1"].hazards_opened, october["a1"].hazards_closed) == (1, 1, 0)
    assert october["a1"].rectification_rate == 0.0 and october["b1"].events == 0

    c = by_key(cats)
    assert list(c) == ["blocked_passage", "open_flame", "ebike_indoor", "control_room_unstaffed", "monitoring_fault",
                       "fire_equipment", "electrical", "other"]
    assert {k: v.name for k, v in c.items()} == {
        "blocked_passage": "安全出口/疏散通道堵塞", "open_flame": "明火/烟雾", "ebike_indoor": "电动车违规入室",
        "control_room_unstaffed": "消防控制室脱岗", "monitoring_fault": "监控设备故障", "fire_equipment": "消防设施器材",
        "electrical": "电气线路", "other": "其他"}
    figures = {k: (v.events, v.confirmed, v.hazards_opened, v.hazards_closed, v.hazards_on_time, v.hazards_open,
                   v.hazards_overdue, v.supervised) for k, v in c.items()}
    assert figures == {"blocked_passage": (3, 1, 1, 1, 1, 0, 0, 0), "open_flame": (1, 1, 1, 1, 0, 0, 0, 0),
                       "ebike_indoor": (1, 0, 1, 1, 1, 0, 0, 0), "control_room_unstaffed": (2, 0, 1, 1, 1, 0, 0, 0),
                       "monitoring_fault": (1, 1, 1, 0, 0, 1, 1, 0), "fire_equipment": (0, 0, 0, 0, 0, 1, 1, 1),
                       "electrical": (0, 0, 1, 0, 0, 1, 1, 1), "other": (0, 0, 1, 0, 0, 1, 0, 0)}
    assert c["open_flame"].on_time_rate == 0.0 and c["open_flame"].median_close_h == 2.0
    cat_total = stats.total(cats)
    assert (cat_total.events, cat_total.hazards_opened, cat_total.hazards_closed, cat_total.cameras) == (8, 7, 4, 5)
    assert cat_total.camera_days == pytest.approx(5 * DAYS) and cat_total.median_close_h == 6.0


def test_overdue_and_trend_buckets(county):
    from vigil.ledger import stats

    rt, ids = county
    insts = stats.institutions_from_runtime(rt)
    with rt.sessions() as s:
        late = stats.overdue(s, insts, NOW)
        later = stats.overdue(s, insts, datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
        one = stats.overdue(s, insts, NOW, limit=1)
        days = stats.trend(s, insts, *NOV, "day", SH)
        weeks = stats.trend(s, insts, *NOV, "week", SH)
        months = stats.trend(s, insts, NOV[0] - timedelta(days=31), NOV[1], "month", SH)
        kolkata = stats.trend(s, insts, datetime(2026, 10, 31, 18, 30, tzinfo=UTC),
                              datetime(2026, 11, 30, 18, 30, tzinfo=UTC), "day", ZoneInfo("Asia/Kolkata"))
    # longest overdue first: h8 (deadline 09-08: 73.5 days), h9 (11-15: 132 h), h4 (11-17: 84 h)
    assert [(x["id"], x["overdue_h"]) for x in late] == [(ids["h8"], 73 * 24 + 12.0), (ids["h9"], 132.0),
                                                         (ids["h4"], 84.0)]
    h4 = late[2]
    assert (h4["institution"], h4["institution_name"], h4["category"], h4["category_name"], h4["severity"]) == (
        "a1", "城关镇敬老院", "electrical", "电气线路", "general")
    assert (h4["supervised"], h4["escalation_level"], h4["responsible"], h4["state"]) == (True, 1, "张三", "rectifying")
    assert h4["opened_at"] == t("11-10") and h4["deadline_at"] == t("11-17")
    assert [x["id"] for x in one] == [ids["h8"]]
    assert [x["id"] for x in later][-1] == ids["h5"] and later[-1]["overdue_h"] == 12.0  # deadline 11-25 00:00

    assert [d["period"] for d in days] == [f"2026-11-{n:02d}" for n in range(1, 31)]
    assert days[0]["start"] == datetime(2026, 11, 1, tzinfo=SH) and days[-1]["end"] == datetime(2026, 12, 1, tzinfo=SH)
    nonzero = {d["period"][5:]: (d["events"], d["confirmed"], d["hazards_opened"], d["hazards_closed"])
               for d in days if any((d["events"], d["hazards_opened"], d["hazards_closed"]))}
    assert nonzero == {"11-01": (1, 1, 0, 0), "11-02": (2, 1, 1, 1), "11-03": (0, 0, 1, 1), "11-04": (0, 0, 1, 0),
                       "11-05": (2, 0, 1, 2), "11-06": (0, 0, 0, 1), "11-10": (1, 1, 1, 0), "11-12": (0, 0, 1, 0),
                       "11-18": (0, 0, 1, 0), "11-20": (1, 0, 0, 0), "11-30": (1, 0, 0, 0)}
    # ISO weeks: 11-01 is a Sunday (W44), 11-30 a Monday (W49)
    assert [(w["period"], w["events"], w["hazards_opened"], w["hazards_closed"]) for w in weeks] == [
        ("2026-W44", 1, 0, 0), ("2026-W45", 4, 4, 5), ("2026-W46", 1, 2, 0), ("2026-W47", 1, 1, 0),
        ("2026-W48", 0, 0, 0), ("2026-W49", 1, 0, 0)]
    assert weeks[0]["start"] == datetime(2026, 11, 1, tzinfo=SH) and weeks[1]["start"] == datetime(2026, 11, 2, tzinfo=SH)
    assert [(m["period"], m["events"], m["confirmed"], m["hazards_opened"], m["hazards_closed"]) for m in months] == [
        ("2026-10", 1, 1, 1, 0), ("2026-11", 8, 3, 7, 5)]
    # a half-hour zone: buckets start at 18:30 UTC, counted bucket by bucket; e8 (16:30 UTC) falls in October there,
    # e10 (11-30 16:00 UTC = 21:30 in Kolkata) in November
    assert len(kolkata) == 30 and sum(d["events"] for d in kolkata) == 8
    assert {d["period"]: d["events"] for d in kolkata if d["events"]} == {
        "2026-11-02": 2, "2026-11-05": 2, "2026-11-10": 1, "2026-11-20": 1, "2026-11-30": 2}
    assert stats.percentile([], 0.5) is None and stats.percentile([3.0], 0.9) == 3.0
    with pytest.raises(ValueError, match="1000"):
        stats.trend(None, insts, datetime(2020, 1, 1, tzinfo=UTC), NOW, "day", SH)


USERS = {"admin": ("admin", {}), "town_a": ("supervisor", {"regions": ["示范县/城关镇"]}),
         "county_d": ("supervisor", {"regions": ["东山县"]}), "officer_a1": ("officer", {"institutions": ["a1"]}),
         "viewer_b": ("viewer", {"regions": ["示范县/河西乡"]})}


def test_api_scoping_filters_and_errors(county):
    from vigil.api.app import create_app
    from vigil.clock import ManualClock

    rt, ids = county
    heads = {}
    for name, (role, scope) in USERS.items():
        make_user(rt, name, role, **scope)
        heads[name] = bearer(rt, name)
    client = TestClient(create_app(rt))

    def get(user, path, **params):
        return client.get(path, params=params, headers=heads[user])

    # the default period: this month in the server's timezone (November in Shanghai)
    body = get("admin", "/api/stats").json()
    assert (body["since"], body["until"], body["group"]) == ("2026-10-31T16:00:00Z", "2026-11-30T16:00:00Z", "institution")
    assert body["timezone"] == "Asia/Shanghai"  # the zone whose days a client's picked range is counted in
    assert [r["key"] for r in body["rows"]] == ["c2", "c1", "a2", "a1", "b1"]  # by region path, then name
    assert (body["total"]["events"], body["total"]["hazards_opened"], body["total"]["rectification_rate"]) == (8, 7, 4 / 7)
    assert "close_hours" not in body["total"]
    town = get("admin", "/api/stats", group="township").json()
    assert [(r["key"], r["name"], r["institutions"]) for r in town["rows"]] == [
        ("东山县/新华镇", "新华镇", 2), ("示范县/城关镇", "城关镇", 2), ("示范县/河西乡", "河西乡", 1)]
    assert town["total"]["events"] == 8
    county_rows = get("admin", "/api/stats", group="county").json()["rows"]
    assert [(r["key"], r["hazards_overdue"]) for r in county_rows] == [("东山县", 0), ("示范县", 3)]
    cats = get("admin", "/api/stats", group="category").json()
    assert cats["rows"][0]["name"] == "安全出口/疏散通道堵塞" and cats["total"]["events"] == 8
    october = get("admin", "/api/stats", since="2026-09-30T16:00:00Z", until="2026-10-31T16:00:00Z").json()
    assert october["total"]["events"] == 1 and october["total"]["hazards_opened"] == 1

    # a township supervisor: its two institutions only; a filter outside its region answers 404
    mine = get("town_a", "/api/stats").json()
    assert [r["key"] for r in mine["rows"]] == ["a2", "a1"] and mine["total"]["events"] == 6
    assert [r["key"] for r in get("town_a", "/api/stats", institution="a2").json()["rows"]] == ["a2"]
    assert get("town_a", "/api/stats", region="示范县/城关镇").json()["total"]["hazards_opened"] == 6
    for params in ({"institution": "b1"}, {"institution": "nope"}, {"region": "示范县/河西乡"}, {"region": "示范县"},
                   {"region": "东山县"}):
        r = get("town_a", "/api/stats", **params)
        assert r.status_code == 404 and "does not exist" in r.json()["detail"], (params, r.text)
    for path in ("/api/stats/ranking", "/api/stats/trend", "/api/stats/overdue"):
        assert get("town_a", path, institution="c1").status_code == 404
        assert get("town_a", path, region="东山县/新华镇").status_code == 404
    assert [r["key"] for r in get("county_d", "/api/stats", region="东山县/新华镇").json()["rows"]] == ["c2", "c1"]
    assert get("admin", "/api/stats", region="不存在县").status_code == 404
    assert [r["key"] for r in get("admin", "/api/stats", region="示范县").json()["rows"]] == ["a2", "a1", "b1"]

    # an officer: one institution everywhere
    assert [r["key"] for r in get("officer_a1", "/api/stats").json()["rows"]] == ["a1"]
    assert [r["key"] for r in get("officer_a1", "/api/stats/ranking").json()["items"]] == ["a1"]
    assert [x["id"] for x in get("officer_a1", "/api/stats/overdue").json()["items"]] == [ids["h4"]]
    assert get("officer_a1", "/api/stats", institution="a2").status_code == 404
    assert get("officer_a1", "/api/stats", region="示范县/城关镇").status_code == 404
    assert sum(d["events"] for d in get("viewer_b", "/api/stats/trend").json()["items"]) == 2

    ranking = get("admin", "/api/stats/ranking", limit=3).json()
    assert [(x["rank"], x["key"]) for x in ranking["items"]] == [(1, "a1"), (2, "b1"), (3, "a2")]
    assert get("town_a", "/api/stats/ranking").json()["items"][1]["key"] == "a2"
    trend = get("admin", "/api/stats/trend", bucket="week").json()
    assert (trend["bucket"], trend["timezone"], [w["period"] for w in trend["items"]][:2]) == (
        "week", "Asia/Shanghai", ["2026-W44", "2026-W45"])
    assert trend["items"][0]["start"] == "2026-11-01T00:00:00+08:00"
    far = get("admin", "/api/stats/trend", since="1999-01-01T00:00:00Z", until="2026-12-01T00:00:00Z").json()
    assert len(far["items"]) <= 1000 and far["since"] > "2024-01-01" and far["items"][-1]["events"] >= 1
    overdue = get("town_a", "/api/stats/overdue").json()
    assert [(x["id"], x["overdue_h"]) for x in overdue["items"]] == [(ids["h8"], 1764.0), (ids["h4"], 84.0)]
    rt.clock = ManualClock(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))  # five days on: h5 (deadline 11-25) is late
    assert [x["id"] for x in get("town_a", "/api/stats/overdue").json()["items"]][-1] == ids["h5"]
    assert get("town_a", "/api/stats").json()["total"]["hazards_overdue"] == 3

    # errors: since not before until, bad parameters, no credentials
    r = get("admin", "/api/stats", since="2026-11-10T00:00:00Z", until="2026-11-10T00:00:00Z")
    assert r.status_code == 422 and r.json()["detail"] == "'since' must be earlier than 'until'"
    assert get("admin", "/api/stats/trend", since="2026-11-12T00:00:00Z", until="2026-11-01T00:00:00Z").status_code == 422
    assert get("admin", "/api/stats", group="city").status_code == 422
    assert get("admin", "/api/stats/ranking", limit=0).status_code == 422
    assert get("admin", "/api/stats/overdue", limit=100000).status_code == 422
    assert client.get("/api/stats").status_code == 401
    spec = client.get("/openapi.json", headers=heads["admin"]).json()
    for path in ("/api/stats", "/api/stats/ranking", "/api/stats/trend", "/api/stats/overdue"):
        assert {"401", "403", "404", "422"} <= set(spec["paths"][path]["get"]["responses"]), path


def test_seed_command_fills_a_database_that_the_statistics_count(tmp_path, db_url):
    from sqlalchemy import func, select
    from typer.testing import CliRunner

    from vigil.api.db import EventRow, make_engine, make_sessionmaker
    from vigil.api.db_inventory import CameraRow, InstitutionRow, RegionRow
    from vigil.api.db_ledger import HazardRow
    from vigil.cli import app
    from vigil.ledger import stats
    from vigil.ledger.seed import inventory

    res = CliRunner().invoke(app, ["db", "seed", "--events", "2000", "--hazards", "300", "--institutions", "12",
                                   "--townships", "3", "--days", "60", "--seed", "7", "--db", db_url, "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output.strip().splitlines()[-1])
    assert (report["events"]["rows"], report["hazards"]["rows"], report["institutions"]) == (2000, 300, 12)
    assert report["events"]["rows_per_s"] > 0 and report["rows_per_s"] > 0
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as s:
            count = lambda row: s.scalar(select(func.count()).select_from(row))  # noqa: E731
            assert (count(EventRow), count(HazardRow), count(InstitutionRow)) == (2000, 300, 12)
            assert count(CameraRow) == report["cameras"] >= 24
            assert sorted(s.scalars(select(RegionRow.path)).all()) == ["示范县", "示范县/东风镇", "示范县/城关镇",
                                                                       "示范县/河西乡"]
            states = dict(s.execute(select(HazardRow.state, func.count()).group_by(HazardRow.state)).all())
            statuses = dict(s.execute(select(EventRow.review_status, func.count()).group_by(EventRow.review_status)).all())
            assert states["closed"] > 150 and len(states) >= 3, states
            assert set(statuses) == {"confirmed", "false_alarm", "needs_onsite_check", "pending"}, statuses
            now = datetime.now(UTC)
            insts = {i.id: stats.InstitutionInfo(i.id, i.name, i.region, 1) for i in inventory(12, 3).institutions}
            rows = stats.per_institution(s, insts, now - timedelta(days=61), now, now)
            total = stats.total(rows)
            assert (total.events, total.hazards_opened) == (2000, 300)
            assert total.hazards_overdue >= 1 and total.supervised >= 1 and total.hazards_closed == states["closed"]
            assert total.median_close_h < total.p90_close_h  # skewed close times
            assert len({r.events for r in rows}) > 3  # institutions differ
    finally:
        engine.dispose()
    again = CliRunner().invoke(app, ["db", "seed", "--events", "1", "--hazards", "0", "--db", db_url,
                                     "--config", str(tmp_path / "x.yaml")])
    assert again.exit_code == 2 and "exactly one of --config FILE or --db URL" in again.output
