"""The hazard ledger (issue #16) on SQLite and PostgreSQL: a confirmed event opens a hazard and later ones join it,
the state machine with its roles and the four-eyes rule, 409s naming the state, deadlines from the policy,
escalation up the region tree driven by a test clock, photos (checked, audited, kept by media retention while the
hazard is open), scoping (404 outside the caller's scope)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from vigil_fixtures import bearer, make_user, seed_events, service_config, ultralytics_asset

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def ledger_rt(tmp_path, db_url):
    """(runtime with a ManualClock at T0, TestClient, event ids, {user: headers}) for two institutions in two
    townships of one county, with an officer each, township and county supervisors and a reviewer."""
    from fastapi.testclient import TestClient

    from vigil.api.app import create_app
    from vigil.clock import ManualClock
    from vigil.config import parse_config
    from vigil.service import Runtime

    rt = Runtime(parse_config(service_config(tmp_path, db_url)), start_cameras=False)
    rt.clock = ManualClock(T0)
    ids = seed_events(rt)
    users = {"admin": ("admin", {}), "county": ("supervisor", {"regions": ["示范县"]}),
             "town_c": ("supervisor", {"regions": ["示范县/城关镇"]}), "town_h": ("supervisor", {"regions": ["示范县/河西乡"]}),
             "off_fy": ("officer", {"institutions": ["fy"]}), "off_et": ("officer", {"institutions": ["et"]}),
             "rev": ("reviewer", {"regions": ["示范县"]}), "view": ("viewer", {"institutions": ["fy"]})}
    heads = {}
    for name, (role, scope) in users.items():
        make_user(rt, name, role, **scope)
        heads[name] = bearer(rt, name)
    with TestClient(create_app(rt)) as client:
        yield rt, client, ids, heads
    rt.stop()


def _confirm(client, h, eid):
    r = client.post(f"/api/events/{eid}/review", json={"verdict": "confirmed"}, headers=h)
    assert r.status_code == 200, r.text


def test_confirmed_events_open_one_hazard_per_camera_zone_rule(ledger_rt):
    rt, client, ids, heads = ledger_rt
    for eid in ids[:3]:  # three blocked-exit events of exit1 / 出口
        _confirm(client, heads["rev"], eid)
    _confirm(client, heads["rev"], ids[3])  # an unattended control room at the other institution
    r = client.get("/api/hazards", headers=heads["admin"]).json()
    assert r["total"] == 2
    by_cat = {h["category"]: h for h in r["items"]}
    exit_h, room_h = by_cat["blocked_passage"], by_cat["control_room_unstaffed"]
    assert exit_h["sightings"] == 3 and exit_h["source"] == "camera" and exit_h["camera_id"] == "exit1"
    assert exit_h["zone"] == "出口" and exit_h["rule"] == "blocked_exit" and exit_h["state"] == "open"
    assert exit_h["title"] == "东侧安全出口·出口：安全出口/疏散通道堵塞"
    # deadlines from the policy: blocked exit general 24 h; unstaffed control room major, 1 h
    assert exit_h["severity"] == "general" and exit_h["deadline_at"] == "2026-11-04T09:00:00Z"
    assert room_h["severity"] == "major" and room_h["deadline_at"] == "2026-11-03T10:00:00Z"
    detail = client.get(f"/api/hazards/{exit_h['id']}", headers=heads["admin"]).json()
    assert detail["event_ids"] == ids[:3]
    assert [h["action"] for h in detail["history"]] == ["opened", "sighting", "sighting"]
    # a false alarm opens nothing
    client.post(f"/api/events/{ids[4]}/review", json={"verdict": "false_alarm", "reason": "misdetection"},
                headers=heads["rev"])
    assert client.get("/api/hazards", headers=heads["admin"]).json()["total"] == 2
    # the notifications went out in the same transactions
    from vigil.api.db_outbox import OutboxRow
    with rt.sessions() as s:
        kinds = s.scalars(select(OutboxRow.kind).where(OutboxRow.kind.like("hazard.%"))).all()
    assert kinds.count("hazard.opened") == 2 and kinds.count("hazard.changed") == 2


def test_state_machine_roles_four_eyes_and_409s(ledger_rt):
    rt, client, ids, heads = ledger_rt
    _confirm(client, heads["rev"], ids[0])
    hid = client.get("/api/hazards", headers=heads["admin"]).json()["items"][0]["id"]

    def step(user, name, code, **body):
        r = client.post(f"/api/hazards/{hid}/steps", json={"step": name, **body}, headers=heads[user])
        assert r.status_code == code, (user, name, r.status_code, r.text)
        return r.json()

    # an illegal step names the state and what is allowed from it
    d = step("town_c", "verify", 409)["detail"]
    assert "'open'" in d and "start" in d and "verify" in d
    step("town_c", "start", 403)  # a supervisor does not rectify: the officer does
    step("view", "start", 403)
    assert step("off_et", "start", 404)["detail"] == f"hazard {hid} does not exist"  # the other institution's officer
    assert step("off_fy", "start", 200)["steps"] == ["submit"]
    step("off_fy", "reject", 409)
    step("off_fy", "submit", 200)
    step("off_fy", "verify", 403)  # officers do not verify
    step("town_c", "reject", 422)  # a rejection needs a note
    step("town_c", "reject", 200, note="纸箱仍在通道内")
    step("off_fy", "submit", 200)
    # wait for the camera re-check (the camera is not running here: unavailable, which does not block verification)
    rt.ledger.recheck.stop()
    h = client.get(f"/api/hazards/{hid}", headers=heads["town_c"]).json()
    assert h["recheck_status"] == "unavailable" and "not running" in h["recheck_detail"]["reason"]
    step("town_c", "verify", 200)
    step("town_c", "close", 200)
    assert step("town_c", "start", 409)["detail"].endswith("allowed from 'closed': reopen")
    step("rev", "reopen", 422)
    assert step("rev", "reopen", 200, note="复查发现再次堵塞")["state"] == "open"
    hist = client.get(f"/api/hazards/{hid}", headers=heads["admin"]).json()["history"]
    assert [(x["action"], x["from_state"], x["to_state"]) for x in hist if x["to_state"]] == [
        ("opened", None, "open"), ("start", "open", "rectifying"), ("submit", "rectifying", "submitted"),
        ("reject", "submitted", "rectifying"), ("submit", "rectifying", "submitted"),
        ("verify", "submitted", "verified"), ("close", "verified", "closed"), ("reopen", "closed", "open")]
    # four eyes: an admin who submits cannot verify his own submission
    step("admin", "start", 200)
    step("admin", "submit", 200)
    rt.ledger.recheck.stop()
    assert "four-eyes" in step("admin", "verify", 403)["detail"]
    step("county", "verify", 200)
    # every step is in the audit log
    from vigil.api.db_access import AuditRow
    with rt.sessions() as s:
        acts = s.scalars(select(AuditRow.action).where(AuditRow.object_type == "hazard")).all()
    assert acts.count("hazard.submit") == 3 and acts.count("hazard.verify") == 2 and "hazard.reopen" in acts


def test_still_present_recheck_needs_an_override_note(ledger_rt):
    from sqlalchemy import update

    from vigil.api.db_ledger import HazardRow

    rt, client, ids, heads = ledger_rt
    _confirm(client, heads["rev"], ids[0])
    hid = client.get("/api/hazards", headers=heads["admin"]).json()["items"][0]["id"]
    for name in ("start", "submit"):
        assert client.post(f"/api/hazards/{hid}/steps", json={"step": name}, headers=heads["off_fy"]).status_code == 200
    rt.ledger.recheck.stop()
    with rt.sessions() as s:  # what the camera re-check writes when the hazard is still there
        s.execute(update(HazardRow).where(HazardRow.id == hid).values(recheck_status="still_present"))
        s.commit()
    r = client.post(f"/api/hazards/{hid}/steps", json={"step": "verify"}, headers=heads["town_c"])
    assert r.status_code == 409 and "override" in r.json()["detail"]
    r = client.post(f"/api/hazards/{hid}/steps", json={"step": "verify", "override": True}, headers=heads["town_c"])
    assert r.status_code == 409  # an override without a note
    r = client.post(f"/api/hazards/{hid}/steps", json={"step": "verify", "override": True, "note": "现场核实已清理，摄像头角度遮挡"},
                    headers=heads["town_c"])
    assert r.status_code == 200 and r.json()["state"] == "verified"
    assert r.json()["history"][-1]["data"] == {"override": True, "recheck_status": "still_present"}


def test_escalation_up_the_region_tree_with_the_test_clock(ledger_rt):
    from vigil.api.db_outbox import OutboxRow

    rt, client, ids, heads = ledger_rt
    _confirm(client, heads["rev"], ids[0])  # blocked exit at fy (城关镇), deadline T0 + 24 h
    hid = client.get("/api/hazards", headers=heads["admin"]).json()["items"][0]["id"]
    esc = rt.ledger.escalation
    rt.clock.advance(hours=23)
    assert esc.run_once() == [] and client.get("/api/hazards?overdue=true", headers=heads["admin"]).json()["total"] == 0
    rt.clock.advance(hours=2)  # 1 h overdue: the township lists it
    done = esc.run_once()
    assert [(d.hazard_id, d.level, d.region, d.supervisor) for d in done] == [(hid, 1, "示范县/城关镇", "town_c")]
    h = client.get(f"/api/hazards/{hid}", headers=heads["town_c"]).json()
    assert h["overdue"] and h["supervised"] and h["supervised_region"] == "示范县/城关镇" and h["supervisor"] == "town_c"
    assert esc.run_once() == []  # nothing more until the next step is due
    rt.clock.advance(hours=24)  # 25 h overdue: the county
    done = esc.run_once()
    assert [(d.level, d.region, d.supervisor) for d in done] == [(2, "示范县", "county")]
    assert client.get("/api/hazards?supervised=true&overdue=true", headers=heads["county"]).json()["total"] == 1
    assert client.get("/api/hazards?supervised=true", headers=heads["town_h"]).json()["total"] == 0  # not its township
    hist = client.get(f"/api/hazards/{hid}", headers=heads["admin"]).json()["history"]
    assert [x["action"] for x in hist].count("escalated") == 2 and "挂牌督办" in hist[-1]["note"]
    with rt.sessions() as s:
        notes = s.scalars(select(OutboxRow.payload).where(OutboxRow.kind == "hazard.escalated")).all()
    assert [(n["level"], n["supervised_region"]) for n in notes] == [(1, "示范县/城关镇"), (2, "示范县")]
    # a submitted hazard is not overdue: the institution handed it in
    client.post(f"/api/hazards/{hid}/steps", json={"step": "start"}, headers=heads["off_fy"])
    client.post(f"/api/hazards/{hid}/steps", json={"step": "submit"}, headers=heads["off_fy"])
    assert client.get("/api/hazards?overdue=true", headers=heads["admin"]).json()["total"] == 0


def test_manual_hazard_photos_scope_and_retention(ledger_rt, tmp_path):
    rt, client, ids, heads = ledger_rt
    body = {"institution_id": "fy", "category": "electrical", "severity": "major", "title": "配电箱门缺失",
            "location": "一楼配电间"}
    assert client.post("/api/hazards", json=body, headers=heads["view"]).status_code == 403
    assert client.post("/api/hazards", json=body, headers=heads["off_et"]).status_code == 404  # not its institution
    assert client.post("/api/hazards", json=dict(body, category="volcano"), headers=heads["off_fy"]).status_code == 422
    r = client.post("/api/hazards", json=body, headers=heads["off_fy"])
    assert r.status_code == 201, r.text
    h = r.json()
    assert h["source"] == "inspection" and h["deadline_at"] == "2026-11-04T09:00:00Z"  # electrical major: 24 h
    hid = h["id"]
    jpeg = ultralytics_asset("bus.jpg").read_bytes()
    r = client.post(f"/api/hazards/{hid}/photos", files={"photo": ("after.jpg", jpeg, "image/jpeg")},
                    data={"kind": "after"}, headers=heads["off_fy"])
    assert r.status_code == 201 and r.json()["content_type"] == "image/jpeg"
    photo = r.json()
    r = client.post(f"/api/hazards/{hid}/photos", files={"photo": ("x.jpg", b"not a picture at all", "image/jpeg")},
                    headers=heads["off_fy"])
    assert r.status_code == 422 and "JPEG" in r.json()["detail"]
    rt.cfg.hazards.uploads.max_bytes = 50_000
    r = client.post(f"/api/hazards/{hid}/photos", files={"photo": ("big.jpg", jpeg, "image/jpeg")}, headers=heads["off_fy"])
    assert r.status_code == 413
    got = client.get(photo["url"], headers=heads["view"])
    assert got.status_code == 200 and got.content == jpeg
    assert client.get(photo["url"], headers=heads["off_et"]).status_code == 404
    from vigil.api.db_access import AuditRow
    with rt.sessions() as s:
        assert s.scalar(select(AuditRow.username).where(AuditRow.action == "media.hazard_photo")) == "view"
    # scope: lists
    assert client.get("/api/hazards", headers=heads["off_et"]).json()["total"] == 0
    assert client.get("/api/hazards", headers=heads["town_c"]).json()["total"] == 1
    assert client.get(f"/api/hazards/{hid}", headers=heads["town_h"]).status_code == 404
    # media retention keeps the photo of an open hazard whatever its age, and lets it go once closed
    import os
    from vigil.api.db_ledger import HazardPhotoRow
    with rt.sessions() as s:
        rel = s.scalar(select(HazardPhotoRow.path).where(HazardPhotoRow.hazard_id == hid))
    path = rt.store.media_dir / rel
    old = (datetime.now(timezone.utc) - timedelta(days=400)).timestamp()
    os.utime(path, (old, old))
    rt.maintainer.run_once()
    assert path.exists()
    for user, name in (("off_fy", "start"), ("off_fy", "submit"), ("town_c", "verify"), ("town_c", "close")):
        assert client.post(f"/api/hazards/{hid}/steps", json={"step": name}, headers=heads[user]).status_code == 200
    rt.maintainer.run_once()
    assert not path.exists()
    assert client.get(photo["url"], headers=heads["admin"]).status_code == 404


def test_assign_and_comment(ledger_rt):
    rt, client, ids, heads = ledger_rt
    _confirm(client, heads["rev"], ids[0])
    hid = client.get("/api/hazards", headers=heads["admin"]).json()["items"][0]["id"]
    r = client.patch(f"/api/hazards/{hid}", json={"responsible": "王主任", "severity": "major"}, headers=heads["off_fy"])
    assert r.status_code == 200 and r.json()["responsible"] == "王主任"
    assert r.json()["deadline_at"] == "2026-11-04T09:00:00Z"  # blocked passage major: 24 h from opening
    r = client.patch(f"/api/hazards/{hid}", json={"deadline_at": "2026-11-01T00:00:00Z"}, headers=heads["town_c"])
    assert r.status_code == 422 and "before" in r.json()["detail"]
    assert client.patch(f"/api/hazards/{hid}", json={"responsible": "x"}, headers=heads["rev"]).status_code == 403
    r = client.post(f"/api/hazards/{hid}/comments", json={"text": "已通知后勤"}, headers=heads["rev"])
    assert r.status_code == 201 and r.json()["history"][-1]["note"] == "已通知后勤"
    assert client.post(f"/api/hazards/{hid}/comments", json={"text": "x"}, headers=heads["view"]).status_code == 403
    r = client.post(f"/api/hazards/{hid}/supervise", json={"note": "重点督办"}, headers=heads["county"])
    assert r.status_code == 200 and r.json()["supervised_region"] == "示范县" and r.json()["supervisor"] == "county"
    assert client.post(f"/api/hazards/{hid}/supervise", json={}, headers=heads["off_fy"]).status_code == 403
