"""Complaints (issue #16, item 5), through the real API on SQLite and PostgreSQL: intake tokens (scoped, shown once,
revoked), the public zh-CN form and a real multipart post with a real JPEG, refused uploads, the rate limit, triage
into a hazard or a dismissal, scoping, the audit trail, and the secret kept out of every later answer."""
from __future__ import annotations

import hashlib
import io
import json
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from vigil_fixtures import bearer, make_user, ultralytics_asset

INSTITUTIONS = [
    {"id": "a1", "name": "城关镇敬老院", "region": "示范县/城关镇"},
    {"id": "a2", "name": "城关镇儿童福利院", "region": "示范县/城关镇", "kind": "child_welfare"},
    {"id": "b1", "name": "河西乡敬老院", "region": "示范县/河西乡"},
    {"id": "b2", "name": "河西乡救助站", "region": "示范县/河西乡", "kind": "relief_station"},
]
USERS = {"admin": ("admin", {}), "town_a": ("supervisor", {"regions": ["示范县/城关镇"]}),
         "officer_a1": ("officer", {"institutions": ["a1"]})}
MAX_BYTES = 300_000
CONTACT = "13800001234 王女士"


@pytest.fixture
def county(tmp_path, db_url):
    """(runtime, {user: TestClient}, public TestClient)."""
    from vigil.api.app import create_app
    from vigil.clock import ManualClock
    from vigil.config import parse_config
    from vigil.service import Runtime

    cfg = {"institutions": INSTITUTIONS, "cameras": [],
           "hazards": {"complaints": {"per_address_per_hour": 3, "per_token_per_hour": 4},
                       "uploads": {"max_bytes": MAX_BYTES}},
           "storage": {"database_url": db_url, "data_dir": str(tmp_path / "data")}}
    rt = Runtime(parse_config(cfg), start_cameras=False)
    rt.clock = ManualClock()
    app = create_app(rt)
    clients = {}
    for name, (role, scope) in USERS.items():
        make_user(rt, name, role, **scope)
        clients[name] = TestClient(app, headers=bearer(rt, name))
    yield rt, clients, TestClient(app)
    rt.stop()


def bus_jpeg() -> bytes:
    return ultralytics_asset("bus.jpg").read_bytes()


def noise_jpeg(min_bytes: int) -> bytes:
    """A real JPEG bigger than `min_bytes` (noise compresses badly)."""
    img = np.random.default_rng(1).integers(0, 255, (700, 700, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(img).save(out, "JPEG", quality=98)
    assert out.tell() > min_bytes
    return out.getvalue()


def token_for(client: TestClient, **body) -> str:
    r = client.post("/api/intake/tokens", json={"name": "大门公告栏", **body})
    assert r.status_code == 201, r.text
    assert r.json()["form_url"] == f"/intake/{r.json()['token']}" and r.json()["state"] == "active"
    return r.json()["token"]


def file(public: TestClient, token: str, institution: str, text: str = "二楼东侧安全出口堆满杂物，已经一周了", **kw):
    return public.post("/api/intake/complaints", json={"token": token, "institution_id": institution, "text": text,
                                                       **kw})


def test_tokens_form_and_intake(county):
    rt, c, public = county
    town_a, admin = c["town_a"], c["admin"]
    # a supervisor hands out tokens inside their region only
    inst_token = token_for(town_a, kind="institution", institution_id="a1")
    assert re.fullmatch(r"vgc_\d+_[A-Za-z0-9_-]{40,}", inst_token)
    assert town_a.post("/api/intake/tokens", json={"name": "x", "kind": "institution", "institution_id": "b1"}
                       ).status_code == 404  # outside the scope: not found
    for region, code in (("示范县/河西乡", 403), ("示范县", 403), ("示范县/无此乡", 404)):
        assert town_a.post("/api/intake/tokens", json={"name": "x", "kind": "region", "region": region}
                           ).status_code == code, region
    assert c["officer_a1"].post("/api/intake/tokens", json={"name": "x", "kind": "institution",
                                                            "institution_id": "a1"}).status_code == 403
    assert c["officer_a1"].get("/api/intake/tokens").status_code == 403
    region_token = token_for(admin, kind="region", region="示范县/河西乡")
    secrets = [t.split("_", 2)[2] for t in (inst_token, region_token)]  # the secret may hold "_" itself
    assert all(len(x) >= 40 for x in secrets)

    # the public form: zh-CN, no script, nothing from elsewhere, the institutions its token covers
    page = public.get(f"/intake/{inst_token}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in page.text and "城关镇敬老院" in page.text and "儿童福利院" not in page.text
    assert 'enctype="multipart/form-data"' in page.text and '<label for="text">' in page.text
    assert not re.search(r"<script|https?://|src=", page.text) and page.headers["referrer-policy"] == "no-referrer"
    region_page = public.get(f"/intake/{region_token}").text
    assert "河西乡敬老院" in region_page and "河西乡救助站" in region_page and "城关镇" not in region_page
    for bad in ("nonsense", inst_token[:-2] + "xx", "vgc_999_abc"):
        r = public.get(f"/intake/{bad}")
        assert r.status_code == 404 and "链接无效" in r.text

    # scoping of the tokens: an institution token files for its institution, a region token for those below it
    assert file(public, inst_token, "a2").status_code == 404
    assert file(public, region_token, "a1").status_code == 404
    assert file(public, inst_token, "zz").status_code == 404
    r = file(public, region_token, "b2", contact=CONTACT)
    assert r.status_code == 201 and "河西乡救助站" in r.json()["receipt"] and not r.json()["photo"], r.text

    # a browser's multipart post of the form, with a real JPEG: a thank-you page, the photo stored as sent
    jpeg = bus_jpeg()
    r = public.post("/api/intake/complaints", data={"token": inst_token, "institution_id": "a1", "reply": "html",
                                                    "text": "厨房有人用明火，旁边堆着纸箱", "contact": ""},
                    files={"photo": ("IMG_0001.jpg", jpeg, "image/jpeg")})
    assert r.status_code == 201 and r.headers["content-type"].startswith("text/html"), r.text
    number = int(re.search(r"编号 (\d+)", r.text)[1])
    assert "感谢" in r.text and inst_token not in r.text
    from vigil.api.db_ledger import ComplaintRow, HazardPhotoRow
    with rt.sessions() as s:
        row = s.get(ComplaintRow, number)
        assert (row.institution_id, row.via, row.status, row.contact) == ("a1", "form", "new", None)
        photo = s.scalar(select(HazardPhotoRow).where(HazardPhotoRow.complaint_id == number))
        assert photo.sha256 == hashlib.sha256(jpeg).hexdigest() and photo.content_type == "image/jpeg"
        assert (rt.store.media_dir / photo.path).read_bytes() == jpeg

    # refused uploads: a text file named .jpg (422), a real JPEG above the limit (413); neither is stored
    r = public.post("/api/intake/complaints", data={"token": inst_token, "institution_id": "a1", "text": "照片"},
                    files={"photo": ("photo.jpg", b"just some text, not a picture\n" * 20, "image/jpeg")})
    assert r.status_code == 422 and "picture" in r.json()["detail"], r.text
    r = public.post("/api/intake/complaints", data={"token": inst_token, "institution_id": "a1", "text": "照片"},
                    files={"photo": ("big.jpg", noise_jpeg(MAX_BYTES), "image/jpeg")})
    assert r.status_code == 413, r.text
    r = public.post("/api/intake/complaints", data={"token": inst_token, "institution_id": "a1", "text": "照片",
                                                    "reply": "html"},
                    files={"photo": ("big.jpg", noise_jpeg(MAX_BYTES), "image/jpeg")})
    assert r.status_code == 413 and "照片太大" in r.text
    # bad bodies: blank text, NUL, unknown fields, not JSON nor a form
    assert file(public, inst_token, "a1", text="  \n ").status_code == 422
    assert file(public, inst_token, "a1", text="a\x00b").status_code == 422
    assert file(public, inst_token, "a1", extra=1).status_code == 422
    assert public.post("/api/intake/complaints", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
    assert public.post("/api/intake/complaints", content=b"{", headers={"content-type": "application/json"}
                       ).status_code == 400
    with rt.sessions() as s:
        assert s.query(ComplaintRow).count() == 2 and s.query(HazardPhotoRow).count() == 1

    # revoked: the form and the endpoint refuse it at once
    listed = {t["value"]: t for t in town_a.get("/api/intake/tokens").json()}
    assert set(listed) == {"a1"}  # the county's region token of 河西乡 is not the township's business
    assert town_a.delete(f"/api/intake/tokens/{listed['a1']['id']}").json()["state"] == "revoked"
    assert public.get(f"/intake/{inst_token}").status_code == 404
    assert file(public, inst_token, "a1").status_code == 404
    assert town_a.delete(f"/api/intake/tokens/{int(region_token.split('_')[1])}").status_code == 404

    # the secret is never shown again: not in any answer after creation, not in the audit log, not stored
    answers = [admin.get("/api/intake/tokens").text, town_a.get("/api/intake/tokens").text,
               admin.get("/api/complaints").text, admin.get(f"/api/complaints/{number}").text,
               admin.get("/api/audit", params={"limit": 10000}).text,
               admin.get("/api/audit", params={"format": "csv", "limit": 10000}).text,
               admin.delete(f"/api/intake/tokens/{int(region_token.split('_')[1])}").text]
    from vigil.api.db_access import AuditRow
    from vigil.api.db_ledger import IntakeTokenRow
    from vigil.api.db_outbox import OutboxRow
    with rt.sessions() as s:
        stored = [json.dumps([r.before, r.after, r.note, r.client], ensure_ascii=False) for r in s.scalars(select(AuditRow))]
        stored += [json.dumps(r.payload, ensure_ascii=False) for r in s.scalars(select(OutboxRow))]
        stored += [t.secret_hash for t in s.scalars(select(IntakeTokenRow))]
    for secret in secrets:
        assert all(secret not in a for a in answers + stored)
    # the audit log holds no personal data of the senders: neither the contact nor the text
    assert not any(CONTACT in a or "旁边堆着纸箱" in a for a in stored)
    acts = [x["action"] for x in json.loads(answers[4])["items"]]
    assert acts.count("intake_token.create") == 2 and acts.count("intake_token.revoke") == 1


def test_rate_limit(county):
    rt, c, public = county
    token = token_for(c["admin"], kind="region", region="示范县")
    for i in range(2):
        assert file(public, token, "a1", text=f"第{i}次").status_code == 201
    # a refused complaint costs no place
    r = public.post("/api/intake/complaints", data={"token": token, "institution_id": "a1", "text": "照片"},
                    files={"photo": ("a.jpg", b"GIF89a not really", "image/jpeg")})
    assert r.status_code == 422
    assert file(public, token, "a1", text="第三次").status_code == 201
    r = file(public, token, "a2", text="第四次")
    assert r.status_code == 429 and 3500 <= int(r.headers["retry-after"]) <= 3600, (r.status_code, r.headers)
    assert "address" in r.json()["detail"]
    r = public.post("/api/intake/complaints", data={"token": token, "institution_id": "a1", "text": "再试",
                                                    "reply": "html"})
    assert r.status_code == 429 and "提交过于频繁" in r.text and r.headers["retry-after"]
    # another address is not held up, until the token's own limit (4 an hour) is reached
    other = TestClient(public.app, client=("203.0.113.7", 40000))
    assert file(other, token, "b1").status_code == 201
    r = file(other, token, "b1")
    assert r.status_code == 429 and "token" in r.json()["detail"]
    # the window slides: an hour later the first address may file again
    rt.clock.advance(seconds=3601)
    assert file(public, token, "a1", text="一小时后").status_code == 201


def test_triage_scope_and_audit(county):
    rt, c, public = county
    admin, town_a, officer = c["admin"], c["town_a"], c["officer_a1"]
    token = token_for(admin, kind="region", region="示范县")
    r = public.post("/api/intake/complaints", data={"token": token, "institution_id": "a1", "contact": CONTACT,
                                                    "text": "走廊里停着三辆电动车在充电"},
                    files={"photo": ("ebike.jpg", bus_jpeg(), "image/jpeg")})
    assert r.status_code == 201 and r.json()["photo"], r.text
    ca = r.json()["id"]
    cb = file(public, token, "b1", text="消防栓被柜子挡住").json()["id"]

    # scoping: the township supervisor sees and triages only its township; an officer may not at all
    listed = town_a.get("/api/complaints").json()
    assert [x["id"] for x in listed["items"]] == [ca] and listed["total"] == 1
    got = town_a.get(f"/api/complaints/{ca}").json()
    assert got["contact"] == CONTACT and got["status"] == "new" and got["photo_url"] == f"/api/complaints/{ca}/photo"
    assert {x["id"] for x in admin.get("/api/complaints", params={"status": "new"}).json()["items"]} == {ca, cb}
    assert admin.get("/api/complaints", params={"institution": "b1"}).json()["total"] == 1
    for path in (f"/api/complaints/{cb}", f"/api/complaints/{cb}/photo", "/api/complaints/999"):
        assert town_a.get(path).status_code == 404, path
    assert town_a.post(f"/api/complaints/{cb}/triage", json={"action": "dismiss", "reason": "x"}).status_code == 404
    assert officer.get("/api/complaints").status_code == 403
    assert officer.get(f"/api/complaints/{ca}").status_code == 403
    assert officer.post(f"/api/complaints/{ca}/triage", json={"action": "dismiss", "reason": "x"}).status_code == 403

    # the photo, audited per view
    photo = town_a.get(f"/api/complaints/{ca}/photo")
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg" and photo.content == bus_jpeg()
    assert admin.get(f"/api/complaints/{cb}/photo").status_code == 404  # sent without one

    # triage into a hazard; a dismissal needs a reason; a second triage is refused naming the status
    assert town_a.post(f"/api/complaints/{ca}/triage", json={"action": "dismiss"}).status_code == 422
    assert town_a.post(f"/api/complaints/{ca}/triage", json={"action": "dismiss", "reason": "  "}).status_code == 422
    r = town_a.post(f"/api/complaints/{ca}/triage", json={"action": "hazard", "category": "ebike_indoor",
                                                         "severity": "major", "title": "走廊电动车充电"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "hazard" and done["triaged_by"] == "town_a" and done["hazard_url"]
    hazard = town_a.get(f"/api/hazards/{done['hazard_id']}").json()
    assert (hazard["source"], hazard["complaint_id"], hazard["category"], hazard["severity"]) == \
           ("complaint", ca, "ebike_indoor", "major")
    shots = [p for p in hazard["photos"] if p["kind"] == "complaint"]
    assert len(shots) == 1 and town_a.get(shots[0]["url"]).content == bus_jpeg()
    assert CONTACT not in json.dumps(hazard, ensure_ascii=False)  # the contact stays with the complaint
    again = admin.post(f"/api/complaints/{ca}/triage", json={"action": "dismiss", "reason": "重复"})
    assert again.status_code == 409 and "'hazard'" in again.json()["detail"]

    r = admin.post(f"/api/complaints/{cb}/triage", json={"action": "dismiss", "reason": "核实为柜子临时摆放，已挪开"})
    assert r.status_code == 200 and r.json()["status"] == "dismissed" and r.json()["reason"].startswith("核实")
    again = admin.post(f"/api/complaints/{cb}/triage", json={"action": "hazard", "category": "fire_equipment",
                                                            "title": "消防栓被挡"})
    assert again.status_code == 409 and "'dismissed'" in again.json()["detail"]
    assert admin.get("/api/complaints", params={"status": "new"}).json()["total"] == 0

    # the audit trail: receipt, photo view, triage (and the hazard it opened); the notification without personal data
    rows = admin.get("/api/audit", params={"object_type": "complaint", "limit": 100}).json()["items"]
    actions = sorted((x["action"], x["object_id"]) for x in rows)
    assert actions == sorted([("complaint.receive", str(ca)), ("complaint.receive", str(cb)),
                              ("media.complaint_photo", str(ca)), ("complaint.triage", str(ca)),
                              ("complaint.triage", str(cb))]), actions
    triaged = {x["object_id"]: x for x in rows if x["action"] == "complaint.triage"}
    assert triaged[str(ca)]["after"]["hazard_id"] == done["hazard_id"] and triaged[str(cb)]["note"].startswith("核实")
    assert {x["username"] for x in rows if x["action"] == "complaint.receive"} == {"public"}
    assert town_a.get("/api/audit", params={"action": "complaint.receive"}).json()["total"] == 1  # its township's
    from vigil.api.db_outbox import OutboxRow
    with rt.sessions() as s:
        notes = [o for o in s.scalars(select(OutboxRow)) if o.kind == "complaint.received"]
    assert {n.payload["id"] for n in notes} == {ca, cb} and all("text" not in n.payload for n in notes)
    assert not any(CONTACT in json.dumps(n.payload, ensure_ascii=False) for n in notes)


def test_the_demo_hands_out_a_fresh_county_form_each_run(tmp_path):
    """`make demo` prints a public complaint form URL: each run revokes the last run's demo token and makes a new
    one for the county (a secret is shown only once)."""
    from fastapi.testclient import TestClient

    from vigil.api.app import create_app
    from vigil.config import parse_config
    from vigil.demo import demo_intake_token, ensure_demo_users
    from vigil.service import Runtime
    from vigil_fixtures import service_config

    rt = Runtime(parse_config(service_config(tmp_path)), start_cameras=False)
    try:
        ensure_demo_users(rt)
        first, second = demo_intake_token(rt), demo_intake_token(rt)
        client = TestClient(create_app(rt))
        page = client.get(f"/intake/{second}")
        assert page.status_code == 200 and "示范县福缘养老院" in page.text and "示范县儿童福利院" in page.text
        assert client.get(f"/intake/{first}").status_code == 404  # the last run's form is closed
    finally:
        rt.stop()
