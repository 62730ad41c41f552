"""`/api/users` (issue #17 item 8's admin pages), through the real API on SQLite and PostgreSQL:

- an admin creates each role with the scope it needs; a scope that does not fit the role is 422 naming the field,
  a short password 422, a taken name 409; the new users log in and their last login shows;
- no answer and no audit row holds a password hash (`$argon2id$`) or the password;
- PATCH of role or scope changes what the user sees from the next request; disabling ends the user's session and
  stops their API token (enabling lets the token in again); an admin cannot disable or demote themselves (409);
- a new password ends the user's sessions, and the new password logs in;
- every other role gets 403 on every route; every change leaves an audit row.
"""
from __future__ import annotations

from datetime import datetime, timezone

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from vigil_fixtures import PASSWORD, bearer, make_user

TOWNS = {"a": "示范县/城关镇", "b": "示范县/河西乡"}
INSTITUTIONS = [{"id": "a1", "name": "城关镇敬老院", "region": TOWNS["a"]},
                {"id": "b1", "name": "河西乡敬老院", "region": TOWNS["b"]}]
NEW_PASSWORD = "another-horse-battery-7"
HASH = "$argon2id$"


@pytest.fixture
def county(tmp_path, db_url):
    """(runtime, app, admin headers); one event in each township."""
    from vigil.api.app import create_app
    from vigil.config import parse_config
    from vigil.service import Runtime
    from vigil.vision.events import EventRecord

    cams = [{"id": f"cam_{i['id']}", "name": f"{i['name']}出口", "url": f"rtsp://127.0.0.1:9/{i['id']}",
             "institution": i["id"], "site_kind": "exit",
             "zones": [{"name": "出口", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]], "rules": [{"type": "blocked_exit"}]}]}
            for i in INSTITUTIONS]
    cfg = {"institutions": INSTITUTIONS, "cameras": cams,
           "storage": {"database_url": db_url, "data_dir": str(tmp_path / "data")}}
    rt = Runtime(parse_config(cfg), start_cameras=False)
    jpeg = cv2.imencode(".jpg", np.zeros((48, 64, 3), np.uint8))[1].tobytes()
    for n, inst in enumerate(INSTITUTIONS):
        rt.store.started(EventRecord(f"cam_{inst['id']}", "出口", "blocked_exit", float(n), datetime.now(timezone.utc),
                                     0.8, {}, {}), jpeg)
    make_user(rt, "boss", "admin")
    yield rt, create_app(rt), bearer(rt, "boss")
    rt.stop()


def no_secrets(rt, *responses) -> None:
    """No response and no audit row holds a password hash or one of the test passwords."""
    for r in responses:
        assert HASH not in r.text and PASSWORD not in r.text and NEW_PASSWORD not in r.text, r.text
    with rt.sessions() as s:
        rows = s.execute(text("SELECT * FROM audit_log")).all()
    dump = repr(rows)
    assert rows and HASH not in dump and PASSWORD not in dump and NEW_PASSWORD not in dump


def audit_rows(rt, action: str) -> list:
    from sqlalchemy import select

    from vigil.api.db_access import AuditRow

    with rt.sessions() as s:
        return s.execute(select(AuditRow.username, AuditRow.object_id, AuditRow.before, AuditRow.after)
                         .where(AuditRow.action == action).order_by(AuditRow.id)).all()


def user_body(name: str, role: str, **extra) -> dict:
    return {"username": name, "display_name": f"{name} 同志", "role": role, "password": PASSWORD, **extra}


def login(c: TestClient, name: str, password: str = PASSWORD):
    return c.post("/api/auth/login", json={"username": name, "password": password})


def seen(c: TestClient) -> set[str]:
    r = c.get("/api/events", params={"limit": 500})
    assert r.status_code == 200, r.text
    return {e["institution_id"] for e in r.json()["items"]}


def test_create_each_role_list_and_get_without_hashes(county):
    rt, app, boss = county
    c = TestClient(app, headers=boss)
    made = {"admin2": ("admin", {}), "town_a": ("supervisor", {"regions": [TOWNS["a"]]}),
            "officer_b1": ("officer", {"institutions": ["b1"]}),
            "reviewer": ("reviewer", {"regions": [TOWNS["a"]], "institutions": ["b1"]}),
            "viewer": ("viewer", {"institutions": ["a1"]})}
    answers = []
    for name, (role, scope) in made.items():
        r = c.post("/api/users", json=user_body(name, role, **scope))
        assert r.status_code == 201, r.text
        out = r.json()
        assert (out["username"], out["role"], out["disabled"], out["last_login_at"]) == (name, role, False, None)
        assert out["regions"] == scope.get("regions", []) and out["institutions"] == scope.get("institutions", [])
        assert out["display_name"] == f"{name} 同志" and out["created_at"]
        answers.append(r)
    # each new user logs in and sees what its scope covers
    sees = {"admin2": {"a1", "b1"}, "town_a": {"a1"}, "officer_b1": {"b1"}, "reviewer": {"a1", "b1"}, "viewer": {"a1"}}
    anon = TestClient(app)
    for name, want in sees.items():
        r = login(anon, name)
        assert r.status_code == 200, r.text
        assert seen(TestClient(app, headers={"Authorization": f"Bearer {r.json()['access_token']}"})) == want, name

    # scopes that do not fit the role: 422 naming the field; nothing is created
    bad = [(user_body("o2", "officer", institutions=["a1", "b1"]), "institutions"),
           (user_body("s2", "supervisor"), "regions"),
           (user_body("s3", "supervisor", regions=[TOWNS["a"]], institutions=["a1"]), "institutions"),
           (user_body("a3", "admin", regions=[TOWNS["a"]]), "regions"),
           (user_body("v2", "viewer"), "regions"),
           (user_body("o3", "officer", regions=[TOWNS["b"]]), "regions"),
           (user_body("x", "officer", institutions=["a1"], password="short"), "password"),
           (user_body("bad name", "officer", institutions=["a1"]), "username"),
           (user_body("..", "officer", institutions=["a1"]), "username"),
           (user_body("r2", "root"), "role"),
           ({**user_body("x2", "admin"), "password_hash": HASH}, "password_hash")]
    for body, field in bad:
        r = c.post("/api/users", json=body)
        assert r.status_code == 422, (body, r.text)
        assert [e["loc"] for e in r.json()["errors"]][0][:2] == ["body", field] or \
            field == "password_hash" and r.json()["errors"][0]["loc"][0] == "body", (body, r.json())
        answers.append(r)
    assert c.post("/api/users", json=user_body("town_a", "viewer", institutions=["a1"])).status_code == 409
    assert c.post("/api/users", json=user_body("boss", "admin")).status_code == 409

    listed = c.get("/api/users")
    assert listed.status_code == 200
    rows = {u["username"]: u for u in listed.json()}
    assert set(rows) == {"boss", *made}
    assert all(set(u) == set(rows["boss"]) for u in rows.values()) and not {"password", "password_hash"} & set(rows["boss"])
    assert rows["town_a"]["scope"] == f"region {TOWNS['a']}" and rows["town_a"]["last_login_at"]
    assert rows["boss"]["last_login_at"] is None  # a session made without a login request
    one = c.get("/api/users/officer_b1")
    assert one.status_code == 200 and one.json() == rows["officer_b1"]
    assert c.get("/api/users/nobody").status_code == 404
    no_secrets(rt, listed, one, *answers)
    created = audit_rows(rt, "user.create")
    assert [row[0] for row in created] == ["boss"] * len(made)
    assert {row[3]["username"]: (row[3]["role"], row[3]["regions"], row[3]["institutions"]) for row in created} == {
        n: (role, scope.get("regions", []), scope.get("institutions", [])) for n, (role, scope) in made.items()}


def test_patch_role_scope_and_disable_apply_at_once(county):
    from vigil import accounts

    rt, app, boss = county
    c = TestClient(app, headers=boss)
    assert c.post("/api/users", json=user_body("sup", "supervisor", regions=[TOWNS["a"]])).status_code == 201
    sup = TestClient(app, headers=bearer(rt, "sup"))
    assert seen(sup) == {"a1"}
    # moved to the other township: the same session sees the other's events on its next request
    r = c.patch("/api/users/sup", json={"regions": [TOWNS["b"]], "display_name": "河西乡督导"})
    assert r.status_code == 200, r.text
    assert r.json()["regions"] == [TOWNS["b"]] and r.json()["display_name"] == "河西乡督导"
    assert seen(sup) == {"b1"}
    # demoted to officer of a1: the role's scope must be sent with it; a misfit is 422 naming the field
    r = c.patch("/api/users/sup", json={"role": "officer"})  # the kept region does not fit an officer
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "regions"], r.text
    r = c.patch("/api/users/sup", json={"role": "officer", "regions": []})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "institutions"], r.text
    r = c.patch("/api/users/sup", json={"role": "officer", "regions": [], "institutions": ["a1"]})
    assert r.status_code == 200 and r.json()["role"] == "officer", r.text
    assert seen(sup) == {"a1"}
    assert sup.post("/api/events/1/claim").status_code == 403  # an officer does not review
    assert c.patch("/api/users/sup", json={"disabled": "yes"}).status_code == 422  # JSON types as stated
    assert c.patch("/api/users/nobody", json={"disabled": True}).status_code == 404

    # disabling ends the session and stops the API token at once; enabling lets the token in again
    with rt.sessions() as s:
        _, token = accounts.create_api_token(s, accounts.get_user(s, "sup"), "integration", 1, None)
        s.commit()
    tok = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    assert tok.get("/api/auth/me").status_code == 200
    r = c.patch("/api/users/sup", json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert sup.get("/api/auth/me").status_code == 401 and tok.get("/api/auth/me").status_code == 401
    assert login(TestClient(app), "sup").status_code == 401
    r = c.patch("/api/users/sup", json={"disabled": False})
    assert r.status_code == 200 and r.json()["disabled"] is False
    assert tok.get("/api/auth/me").status_code == 200 and sup.get("/api/auth/me").status_code == 401  # the session stays ended

    # an admin cannot lock themselves out; another admin can be demoted
    for body in ({"disabled": True}, {"role": "viewer", "institutions": ["a1"]}):
        r = c.patch("/api/users/boss", json=body)
        assert r.status_code == 409, r.text
    assert c.get("/api/users/boss").json()["role"] == "admin" and c.get("/api/auth/me").status_code == 200
    assert c.patch("/api/users/boss", json={"display_name": "局长"}).json()["display_name"] == "局长"
    assert c.post("/api/users", json=user_body("admin2", "admin")).status_code == 201
    r = c.patch("/api/users/admin2", json={"role": "viewer", "regions": [TOWNS["a"]]})
    assert r.status_code == 200 and r.json()["scope"] == f"region {TOWNS['a']}"

    updates = audit_rows(rt, "user.update")
    assert updates[0][2] == {"username": "sup", "display_name": "sup 同志", "regions": [TOWNS["a"]]}
    assert updates[0][3] == {"username": "sup", "display_name": "河西乡督导", "regions": [TOWNS["b"]]}
    assert {"disabled": True, "username": "sup"} in [row[3] for row in updates]
    assert all(row[0] == "boss" for row in updates) and len(updates) == 6, updates
    no_secrets(rt, r)


def test_password_reset_ends_sessions_and_the_new_password_logs_in(county):
    rt, app, boss = county
    c, anon = TestClient(app, headers=boss), TestClient(app)
    assert c.post("/api/users", json=user_body("rev", "reviewer", regions=[TOWNS["b"]])).status_code == 201
    first = login(anon, "rev")
    assert first.status_code == 200
    sess = TestClient(app, headers={"Authorization": f"Bearer {first.json()['access_token']}"})
    assert sess.get("/api/auth/me").status_code == 200
    r = c.post("/api/users/rev/password", json={"password": "short"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "password"]
    assert c.post("/api/users/nobody/password", json={"password": NEW_PASSWORD}).status_code == 404
    r = c.post("/api/users/rev/password", json={"password": NEW_PASSWORD})
    assert r.status_code == 200 and r.json()["username"] == "rev", r.text
    assert sess.get("/api/auth/me").status_code == 401
    assert login(anon, "rev").status_code == 401
    again = login(anon, "rev", NEW_PASSWORD)
    assert again.status_code == 200
    assert TestClient(app, headers={"Authorization": f"Bearer {again.json()['access_token']}"}).get(
        "/api/auth/me").json()["username"] == "rev"
    rows = audit_rows(rt, "user.passwd")
    assert len(rows) == 1 and rows[0][0] == "boss" and rows[0][2] is None and rows[0][3] is None
    no_secrets(rt, r)


def test_only_admins_manage_users(county):
    rt, app, boss = county
    others = {"sup": ("supervisor", {"regions": ["示范县"]}), "off": ("officer", {"institutions": ["a1"]}),
              "rev": ("reviewer", {"regions": [TOWNS["a"]]}), "view": ("viewer", {"institutions": ["b1"]})}
    calls = [("GET", "/api/users", None), ("POST", "/api/users", user_body("new", "viewer", institutions=["a1"])),
             ("GET", "/api/users/boss", None), ("PATCH", "/api/users/boss", {"disabled": True}),
             ("PATCH", "/api/users/off", {"role": "admin", "institutions": []}),
             ("POST", "/api/users/boss/password", {"password": NEW_PASSWORD})]
    for name, (role, scope) in others.items():
        make_user(rt, name, role, **scope)
        c = TestClient(app, headers=bearer(rt, name))
        for method, url, body in calls:
            r = c.request(method, url, json=body)
            assert r.status_code == 403, (name, method, url, r.status_code)
        assert c.get("/api/auth/me").json()["role"] == role  # nothing changed
    assert TestClient(app).get("/api/users").status_code == 401
    c = TestClient(app, headers=boss)
    assert {u["username"] for u in c.get("/api/users").json()} == {"boss", *others}
    assert login(TestClient(app), "boss").status_code == 200  # the password is unchanged
    assert not audit_rows(rt, "user.create") and not audit_rows(rt, "user.update") and not audit_rows(rt, "user.passwd")
