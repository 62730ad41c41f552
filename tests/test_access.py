"""Accounts, roles and scope (issue #15), through the real API on SQLite and PostgreSQL.

- every route but login, the public health line and the UI shell refuses a caller without credentials;
- the scoping matrix: officers of two institutions, township and county supervisors, a reviewer, a viewer and an
  admin against list / read / review / media / live / audit routes, every cell asserted;
- login: the same answer for an unknown user and a wrong password, the session cookie's flags, the rate limit
  (429 with Retry-After) without slowing other users, CSRF refused for cookie writes from another origin;
- API tokens: made by an admin, stored hashed, expire, revoked; a disabled user's credentials stop at once;
- the review claim race: two reviewers, one wins;
- the audit trail: a row per evidence view, filterable, CSV, append-only at the database.
"""
from __future__ import annotations

import re
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from datetime import datetime, timezone

import cv2

from vigil_fixtures import PASSWORD, bearer, make_user, ultralytics_asset

# two townships of one county, two institutions each
INSTITUTIONS = [
    {"id": "a1", "name": "城关镇敬老院", "region": "示范县/城关镇"},
    {"id": "a2", "name": "城关镇儿童福利院", "region": "示范县/城关镇", "kind": "child_welfare"},
    {"id": "b1", "name": "河西乡敬老院", "region": "示范县/河西乡"},
    {"id": "b2", "name": "河西乡救助站", "region": "示范县/河西乡", "kind": "relief_station"},
]
NAMES = {i["id"]: i["name"] for i in INSTITUTIONS}
USERS = {  # name: (role, scope)
    "admin": ("admin", {}),
    "county": ("supervisor", {"regions": ["示范县"]}),
    "town_a": ("supervisor", {"regions": ["示范县/城关镇"]}),
    "officer_a1": ("officer", {"institutions": ["a1"]}),
    "officer_b1": ("officer", {"institutions": ["b1"]}),
    "reviewer_b": ("reviewer", {"regions": ["示范县/河西乡"]}),
    "viewer_a2": ("viewer", {"institutions": ["a2"]}),
}
SEES = {  # institutions whose events each user sees
    "admin": {"a1", "a2", "b1", "b2"}, "county": {"a1", "a2", "b1", "b2"}, "town_a": {"a1", "a2"},
    "officer_a1": {"a1"}, "officer_b1": {"b1"}, "reviewer_b": {"b1", "b2"}, "viewer_a2": {"a2"},
}
REVIEWS = {"admin", "county", "town_a", "reviewer_b"}
AUDITS = {"admin", "county", "town_a"}
EDITS = {"admin": SEES["admin"], "county": SEES["county"], "town_a": SEES["town_a"]}  # whose inventory each edits
TOWNS = {"a": "示范县/城关镇", "b": "示范县/河西乡"}
PLACES = {"admin": {"a", "b"}, "county": {"a", "b"}, "town_a": {"a"}}  # townships where each may add an institution
REGIONS_SEEN = {  # regions each user lists: those of its scope, and those above its institutions
    "admin": {"示范县", *TOWNS.values()}, "county": {"示范县", *TOWNS.values()}, "town_a": {"示范县", TOWNS["a"]},
    "officer_a1": {"示范县", TOWNS["a"]}, "officer_b1": {"示范县", TOWNS["b"]}, "reviewer_b": {"示范县", TOWNS["b"]},
    "viewer_a2": {"示范县", TOWNS["a"]},
}


def county_config(tmp_path, db_url):
    cams = [{"id": f"cam_{i['id']}", "name": f"{i['name']}出口", "url": f"rtsp://127.0.0.1:9/{i['id']}",
             "institution": i["id"], "site_kind": "exit",
             "zones": [{"name": "出口", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]], "rules": [{"type": "blocked_exit"}]}]}
            for i in INSTITUTIONS]
    return {"institutions": INSTITUTIONS, "cameras": cams,
            "server": {"metrics_token": "m" * 32},
            "storage": {"database_url": db_url, "data_dir": str(tmp_path / "data")}}


@pytest.fixture
def county(tmp_path, db_url):
    """(runtime, app, {institution: event id}, {user: auth headers})."""
    from vigil.api.app import create_app
    from vigil.config import parse_config
    from vigil.service import Runtime
    from vigil.vision.annotate import annotate, encode_jpeg
    from vigil.vision.events import EventRecord

    rt = Runtime(parse_config(county_config(tmp_path, db_url)), start_cameras=False)
    jpeg = encode_jpeg(annotate(cv2.imread(str(ultralytics_asset("bus.jpg"))), polygon_px=None, rule="blocked_exit", title="t"))
    events = {}
    for n, inst in enumerate(INSTITUTIONS):
        ev = EventRecord(f"cam_{inst['id']}", "出口", "blocked_exit", float(n), datetime.now(timezone.utc), 0.8, {}, {})
        rt.store.started(ev, jpeg)
        events[inst["id"]] = ev.id
    heads = {}
    for name, (role, scope) in USERS.items():
        make_user(rt, name, role, **scope)
        heads[name] = bearer(rt, name)
    yield rt, create_app(rt), events, heads
    rt.stop()


PUBLIC = {("POST", "/api/auth/login"), ("GET", "/api/health"), ("GET", "/")}  # "/" redirects to the UI shell
# the complaint intake: guarded by an intake token, not a login (a bad token answers 404, a bad body 422)
PUBLIC |= {("GET", "/intake/{token}"), ("POST", "/api/intake/complaints")}


def test_every_route_needs_credentials_but_login_health_and_the_ui(county):
    from vigil.api.errors import api_routes

    rt, app, events, _ = county
    client = TestClient(app)
    routes = [(m, r.path) for r in api_routes(app) for m in r.methods if m != "HEAD"]
    assert len(routes) >= 20 and PUBLIC <= set(routes) and ("GET", "/openapi.json") in routes
    assert client.get("/docs").status_code == 404  # Swagger UI would load its code from a CDN: not served
    for method, path in routes:
        url = re.sub(r"\{[a-z_]+(:int)?\}", lambda m: "1" if m.group(1) or "id" in m.group(0) else "cam_a1", path)
        url = url.replace("{camera_id}", "cam_a1")
        r = client.request(method, url, json={})
        if (method, path) in PUBLIC:
            assert r.status_code != 401, (method, path)
        else:
            assert r.status_code == 401, (method, path, r.status_code, r.text[:200])
            assert r.headers["www-authenticate"].startswith("Bearer"), (method, path)
    health = client.get("/api/health").json()
    assert set(health) == {"status", "database", "cameras_enabled", "cameras_online"}  # no names
    assert "出口" not in client.get("/api/health").text
    root = client.get("/", follow_redirects=False)  # the web app's shell is public; its data is not
    assert root.status_code == 307 and root.headers["location"] == "/app/"


@pytest.mark.parametrize("user", list(USERS))
def test_scoping_matrix(county, user):
    """Each cell: list, read, review, evidence, live, audit; outside the scope an object answers 404."""
    rt, app, events, heads = county
    c = TestClient(app, headers=heads[user])
    sees = SEES[user]
    listed = {e["institution_id"] for e in c.get("/api/events", params={"limit": 500}).json()["items"]}
    assert listed == sees
    assert {x["institution_id"] for x in c.get("/api/cameras").json()} == sees
    assert {x["id"] for x in c.get("/api/status").json()["cameras"]} == {f"cam_{i}" for i in sees}
    for inst, eid in events.items():
        inside = inst in sees
        assert c.get(f"/api/events/{eid}").status_code == (200 if inside else 404), (user, inst)
        assert c.get(f"/api/events/{eid}/snapshot.jpg").status_code == (200 if inside else 404), (user, inst)
        assert c.get(f"/api/cameras/cam_{inst}").status_code == (200 if inside else 404), (user, inst)
        live = c.get(f"/api/cameras/cam_{inst}/snapshot.jpg").status_code
        assert live == (503 if inside else 404), (user, inst)  # 503: allowed, the camera has no frame yet
        claim = c.post(f"/api/events/{eid}/claim").status_code
        # a role without review gets 403 for every id alike (nothing leaks); a reviewer 404 outside the scope
        assert claim == (403 if user not in REVIEWS else 200 if inside else 404), (user, inst, claim)
        if claim == 200:
            assert c.delete(f"/api/events/{eid}/claim").json()["claimed_by"] is None
    own = events[sorted(sees)[0]]
    verdict = c.post(f"/api/events/{own}/review", json={"verdict": "needs_onsite_check", "note": "去现场看"})
    assert verdict.status_code == (200 if user in REVIEWS else 403), (user, verdict.text)
    if user in REVIEWS:
        assert verdict.json()["reviewer"] == user and verdict.json()["review_status"] == "needs_onsite_check"
    assert c.get("/api/audit").status_code == (200 if user in AUDITS else 403)
    assert c.get("/metrics").status_code == (200 if user == "admin" else 403)
    me = c.get("/api/auth/me").json()
    assert me["username"] == user and me["role"] == USERS[user][0]
    # the names of the scope's institutions, for the header (officers: their institution's name, not its id)
    assert me["institution_names"] == {i: NAMES[i] for i in USERS[user][1].get("institutions", [])}, me


@pytest.mark.parametrize("user", list(USERS))
def test_scoping_matrix_inventory(county, user):
    """Inventory cells: list and read (inventory.read: every role, within its scope), edit (inventory.edit: an admin
    anywhere, a supervisor within their region; the other roles 403 for every id alike, outside the scope 404)."""
    rt, app, events, heads = county
    c, admin = TestClient(app, headers=heads[user]), TestClient(app, headers=heads["admin"])
    sees, edits = SEES[user], EDITS.get(user)
    assert {i["id"] for i in c.get("/api/inventory/institutions").json()} == sees
    assert {x["id"] for x in c.get("/api/inventory/cameras").json()} == {f"cam_{i}" for i in sees}
    assert {r["path"] for r in c.get("/api/inventory/regions").json()} == REGIONS_SEEN[user]
    for inst in INSTITUTIONS:
        iid, inside = inst["id"], inst["id"] in sees
        cam = admin.get(f"/api/inventory/cameras/cam_{iid}").json()
        assert c.get(f"/api/inventory/cameras/cam_{iid}").status_code == (200 if inside else 404), (user, iid)
        assert c.get(f"/api/inventory/institutions/{iid}").status_code == (200 if inside else 404), (user, iid)
        want = 403 if edits is None else 200 if iid in edits else 404
        assert c.put(f"/api/inventory/cameras/cam_{iid}", json={**cam, "name": f"{user}改"}).status_code == want
        body = {**inst, "kind": inst.get("kind", "elder_care"), "name": f"{inst['name']}({user})"}
        assert c.put(f"/api/inventory/institutions/{iid}", json=body).status_code == want, (user, iid)
        assert c.delete(f"/api/inventory/cameras/cam_{iid}_none").status_code == (403 if edits is None else 404)
    for town, region in TOWNS.items():
        new = {"id": f"new_{town}", "name": "新院", "region": region}
        made = c.post("/api/inventory/institutions", json=new).status_code
        assert made == (201 if town in PLACES.get(user, ()) else 403), (user, town, made)
        cam = {"id": f"cam_new_{town}", "name": "新出口", "url": "rtsp://127.0.0.1:9/new", "institution": f"new_{town}",
               "site_kind": "exit"}
        added = c.post("/api/inventory/cameras", json=cam).status_code
        assert added == (201 if made == 201 else 403 if edits is None else 422), (user, town, added)  # 422: unknown
        if added == 201:
            assert c.delete(f"/api/inventory/cameras/cam_new_{town}").status_code == 204
            assert c.delete(f"/api/inventory/institutions/new_{town}").status_code == 204
    changed = {r["object_id"] for r in admin.get("/api/audit", params={"username": user, "limit": 500}).json()["items"]
               if r["action"].startswith("inventory.")}
    assert changed == (set() if edits is None else {f"cam_{i}" for i in edits} | set(edits)
                       | {f"new_{t}" for t in PLACES[user]} | {f"cam_new_{t}" for t in PLACES[user]})


def test_institution_region_change_applies_to_scopes_at_once(county):
    """An admin moves b1 from 河西乡 to 城关镇: from the next request the 城关镇 supervisor sees its events, camera and
    record, the 河西乡 reviewer no longer does; b1's officer (scoped by institution) keeps it."""
    rt, app, events, heads = county
    admin = TestClient(app, headers=heads["admin"])
    b1 = admin.get("/api/inventory/institutions/b1").json()
    assert admin.put("/api/inventory/institutions/b1", json={**b1, "region": "示范县/城关镇"}).status_code == 200
    assert rt.regions_by_institution()["b1"] == "示范县/城关镇"
    for user, sees_b1 in (("town_a", True), ("reviewer_b", False), ("officer_b1", True), ("county", True)):
        c = TestClient(app, headers=heads[user])
        ids = {e["institution_id"] for e in c.get("/api/events", params={"limit": 500}).json()["items"]}
        assert ("b1" in ids) == sees_b1, user
        assert c.get(f"/api/events/{events['b1']}").status_code == (200 if sees_b1 else 404), user
        assert c.get("/api/cameras/cam_b1").status_code == (200 if sees_b1 else 404), user
        assert c.get("/api/inventory/institutions/b1").status_code == (200 if sees_b1 else 404), user
    town = TestClient(app, headers=heads["town_a"])  # b1 lies in their region now, but may not leave it through them
    back = town.put("/api/inventory/institutions/b1", json={**b1, "region": "示范县/河西乡"})
    assert back.status_code == 403  # moving an institution out of their region is refused


def test_supervisor_audit_is_scoped_and_exports_csv(county):
    rt, app, events, heads = county
    TestClient(app, headers=heads["officer_b1"]).get(f"/api/events/{events['b1']}/snapshot.jpg")
    TestClient(app, headers=heads["officer_a1"]).get(f"/api/events/{events['a1']}/snapshot.jpg")
    town = TestClient(app, headers=heads["town_a"]).get("/api/audit", params={"action": "media.snapshot"}).json()
    assert [(r["username"], r["institution_id"]) for r in town["items"]] == [("officer_a1", "a1")]
    rows = TestClient(app, headers=heads["admin"]).get("/api/audit", params={"action": "media.snapshot"}).json()["items"]
    assert {(r["username"], r["object_id"]) for r in rows} == {("officer_a1", str(events["a1"])), ("officer_b1", str(events["b1"]))}
    csv = TestClient(app, headers=heads["county"]).get("/api/audit", params={"format": "csv", "action": "media.snapshot"})
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("id,at,username,role,client,action") and len(lines) == 3


def test_audit_log_is_append_only_at_the_database(county):
    from sqlalchemy.exc import DBAPIError

    rt, app, events, heads = county
    TestClient(app, headers=heads["admin"]).get(f"/api/events/{events['a1']}/snapshot.jpg")
    for stmt in ("UPDATE audit_log SET username = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            with rt.engine.begin() as c:
                c.execute(text(stmt))
    with rt.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM audit_log WHERE action = 'media.snapshot'")).scalar() == 1


def test_login_cookie_rate_limit_and_csrf(county):
    rt, app, events, heads = county
    c = TestClient(app, base_url="http://vigil.test")
    unknown = c.post("/api/auth/login", json={"username": "nobody", "password": "wrong-password-1"})
    wrong = c.post("/api/auth/login", json={"username": "reviewer_b", "password": "wrong-password-1"})
    assert unknown.status_code == wrong.status_code == 401 and unknown.json() == wrong.json()
    ok = c.post("/api/auth/login", json={"username": "reviewer_b", "password": PASSWORD})
    assert ok.status_code == 200
    body = ok.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 12 * 3600 and len(body["access_token"]) >= 40
    cookie = ok.headers["set-cookie"]
    assert "vigil_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    with rt.engine.connect() as conn:  # the token is stored only as its SHA-256
        stored = conn.execute(text("SELECT id FROM sessions")).scalars().all()
    assert body["access_token"] not in stored and len(stored) >= 1
    # the cookie authenticates reads; a write needs this site's Origin
    assert c.get("/api/auth/me").json()["username"] == "reviewer_b"
    eid = events["b1"]
    assert c.post(f"/api/events/{eid}/claim").status_code == 403  # no Origin: refused
    assert c.post(f"/api/events/{eid}/claim", headers={"Origin": "http://evil.example"}).status_code == 403
    assert c.post(f"/api/events/{eid}/claim", headers={"Origin": "http://vigil.test"}).status_code == 200
    # 5 failures a minute from one client address (2 above), then 429 before any hash; logged-in users go on
    for _ in range(3):
        assert c.post("/api/auth/login", json={"username": "town_a", "password": "wrong-password-2"}).status_code == 401
    limited = c.post("/api/auth/login", json={"username": "county", "password": PASSWORD})
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
    assert TestClient(app, headers=heads["county"]).get("/api/events").status_code == 200
    # logout ends the session
    assert c.post("/api/auth/logout", headers={"Origin": "http://vigil.test"}).status_code == 204
    assert TestClient(app, headers={"Authorization": f"Bearer {body['access_token']}"}).get("/api/auth/me").status_code == 401


def test_api_tokens_and_disabled_users(county):
    from vigil import accounts

    rt, app, events, heads = county
    admin = TestClient(app, headers=heads["admin"])
    made = admin.post("/api/tokens", json={"name": "dashboard", "username": "county", "days": 30})
    assert made.status_code == 201
    token = made.json()["token"]
    assert token.startswith("vgt_") and made.json()["state"] == "active"
    assert token not in admin.get("/api/tokens").text  # shown once only
    integ = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    assert integ.get("/api/auth/me").json()["via"] == "token"
    assert len(integ.get("/api/events").json()["items"]) == 4
    assert TestClient(app, headers=heads["county"]).post("/api/tokens", json={"name": "x", "username": "county"}).status_code == 403
    assert admin.delete(f"/api/tokens/{made.json()['id']}").json()["state"] == "revoked"
    assert integ.get("/api/events").status_code == 401
    # disabling a user ends their sessions and tokens at once
    other = admin.post("/api/tokens", json={"name": "b", "username": "officer_b1"}).json()["token"]
    with rt.sessions() as s:
        accounts.set_disabled(s, accounts.get_user(s, "officer_b1"))
        s.commit()
    assert TestClient(app, headers=heads["officer_b1"]).get("/api/events").status_code == 401
    assert TestClient(app, headers={"Authorization": f"Bearer {other}"}).get("/api/events").status_code == 401
    # /metrics: the configured token, or an admin
    assert TestClient(app, headers={"Authorization": "Bearer " + "m" * 32}).get("/metrics").status_code == 200
    assert TestClient(app).get("/metrics").status_code == 401


def test_review_claim_race_has_one_winner(county):
    """Two reviewers claim the same event at the same moment, ten times over: exactly one wins each time."""
    rt, app, events, heads = county
    make_user(rt, "reviewer_b2", "reviewer", regions=["示范县/河西乡"])
    clients = [TestClient(app, headers=heads["reviewer_b"]), TestClient(app, headers=bearer(rt, "reviewer_b2"))]
    for round_ in range(10):
        eid = events["b2"]
        for c in clients:  # start each round free
            c.delete(f"/api/events/{eid}/claim")
        barrier, codes = threading.Barrier(2), []

        def go(c):
            barrier.wait()
            codes.append(c.post(f"/api/events/{eid}/claim").status_code)

        threads = [threading.Thread(target=go, args=(c,)) for c in clients]
        [t.start() for t in threads]
        [t.join(30) for t in threads]
        assert sorted(codes) == [200, 409], (round_, codes)
    holder = clients[0].get(f"/api/events/{events['b2']}").json()["claimed_by"]
    loser = clients[1] if holder == "reviewer_b" else clients[0]
    r = loser.post(f"/api/events/{events['b2']}/review", json={"verdict": "confirmed"})
    assert r.status_code == 409 and f"claimed by {holder}" in r.json()["detail"]


def test_bulk_review_and_queue_counts(county):
    rt, app, events, heads = county
    c = TestClient(app, headers=heads["county"])
    q = c.get("/api/review/queue").json()
    assert q["pending"] == 4 and q["unclaimed"] == 4 and q["mine_reviewed_today"] == 0
    assert c.post(f"/api/events/{events['a2']}/claim").status_code == 200
    assert c.get("/api/review/queue").json()["mine_claimed"] == 1
    r = c.post("/api/events/review", json={"items": [
        {"id": events["a1"], "verdict": "confirmed"},
        {"id": events["b1"], "verdict": "false_alarm", "reason": "drill_or_test", "note": "消防演练"},
        {"id": 999999, "verdict": "confirmed"}]}).json()
    assert (r["reviewed"], r["failed"]) == (2, 1)
    assert [x["status"] for x in r["results"]] == [200, 200, 404]
    assert c.post("/api/events/review", json={"items": [{"id": events["a1"], "verdict": "false_alarm"}]}).status_code == 422
    q = c.get("/api/review/queue").json()
    assert q["pending"] == 2 and q["mine_reviewed_today"] == 2
    town = TestClient(app, headers=heads["town_a"]).get("/api/review/queue").json()
    assert town["pending"] == 1  # a2 only, in its scope
    b1 = c.get(f"/api/events/{events['b1']}").json()
    assert (b1["review_status"], b1["review_reason"], b1["reviewer"]) == ("false_alarm", "drill_or_test", "county")
