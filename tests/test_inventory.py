"""The inventory in the database (issue #15 item 1), on SQLite and PostgreSQL, on real parts:

- records validated by the configuration's own models: loading a camera back gives the same `Camera`; invalid input
  is a 422 naming the field and the reason, through the API as through `vigil config check`;
- the inventory module without HTTP: regions by path with parents, rename/move with everything below and users'
  scopes following, deletes refused while in use, the stored password kept when the redacted URL comes back;
- `vigil inventory import` / `export`: the round trip, passwords only with --with-secrets, --prune, the report;
- the service seeds an empty database from its config, then reads the database; migration 0004 both ways;
- every API change audited with before/after and no password;
- live apply on a real RTSP camera: added -> online with detections; zone edited -> the next events and rule status
  use the new zone; deleted -> its processor and decoder are gone.
"""
from __future__ import annotations

import json

import pytest
import yaml
from sqlalchemy import inspect, text

from helpers import REPO, run_vigil, wait_until
from vigil_fixtures import SECRET, authed_client, make_user, service_config

SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1]]


def _runtime(tmp_path, db_url, cameras=None, **kw):
    from vigil.config import parse_config
    from vigil.service import Runtime

    return Runtime(parse_config(service_config(tmp_path, db_url, cameras)), start_cameras=kw.pop("start", False), **kw)


@pytest.fixture
def rt(tmp_path, db_url):
    runtime = _runtime(tmp_path, db_url)
    yield runtime
    runtime.stop()


def test_records_round_trip_through_the_config_models(rt):
    from sqlalchemy import select

    from vigil import inventory
    from vigil.api.db_inventory import RuleRow, ZoneRow
    from vigil.config import Camera, load_config

    demo = load_config(REPO / "sample_videos" / "demo.yaml")
    with rt.sessions() as s:
        for inst in demo.institutions:
            inventory.put_institution(s, inst, create=True)
        for cam in demo.cameras:
            inventory.put_camera(s, cam, create=True)
        s.commit()
    with rt.sessions() as s:
        institutions, cameras = inventory.load(s)
        params = s.scalars(select(RuleRow.params).join(ZoneRow).where(ZoneRow.camera_id == "control-room")).all()
    loaded = {c.id: c for c in cameras}
    for cam in demo.cameras:  # the same object the YAML gives, zones and rules included
        assert isinstance(loaded[cam.id], Camera) and loaded[cam.id] == cam, cam.id
    assert [i for i in institutions if i.id in {d.id for d in demo.institutions}] == demo.institutions
    # a rule keeps the parameters the file set (and the camera's default min_persons); the rest stay defaults
    assert params == [{"absence_s": 20.0, "min_persons": 2}]


def test_regions_by_path_rename_and_deletes_in_use(rt):
    from vigil import accounts, inventory
    from vigil.api.db_inventory import RegionRow

    with rt.sessions() as s:
        deep = inventory.ensure_region(s, " 示范县 / 城关镇 /东街社区/ ")
        assert deep.path == "示范县/城关镇/东街社区" and deep.name == "东街社区"
        parent = s.get(RegionRow, deep.parent_id)
        assert parent.path == "示范县/城关镇" and s.get(RegionRow, parent.parent_id).path == "示范县"
        with pytest.raises(inventory.Conflict, match="exists"):
            inventory.create_region(s, "示范县/城关镇")
        user = accounts.add_user(s, "zhen", "supervisor", "correct-horse-battery-9", ["示范县/城关镇"], [])
        s.flush()
        with pytest.raises(inventory.Conflict, match="below itself"):
            inventory.move_region(s, parent, "示范县/城关镇/东街社区/x")
        inventory.move_region(s, parent, "示范县/城关新区")
        assert deep.path == "示范县/城关新区/东街社区"
        assert accounts.user_view(s, user)["regions"] == ["示范县/城关新区"]  # the supervisor's scope followed
        assert inventory.regions_by_institution(s)["fy"] == "示范县/城关新区"
        with pytest.raises(inventory.Conflict, match="regions below"):
            inventory.delete_region(s, parent)
        inventory.delete_region(s, deep)
        assert inventory.region_by_path(s, "示范县/城关新区/东街社区") is None
        with pytest.raises(inventory.Conflict, match="has institutions"):
            inventory.delete_region(s, parent)
        with pytest.raises(inventory.Conflict, match="has 1 camera"):
            inventory.delete_institution(s, "fy")


def test_stored_password_kept_when_the_redacted_url_comes_back(rt):
    from vigil import inventory
    from vigil.api.db_inventory import CameraRow

    with rt.sessions() as s:
        cam = rt.cfg.camera("exit1")
        shown = inventory.camera_view(cam)
        assert SECRET not in json.dumps(shown, ensure_ascii=False) and shown["url"].startswith("rtsp://admin:***@")
        edited = cam.model_copy(update={"url": shown["url"], "name": "新名字"})
        inventory.put_camera(s, edited, create=False)
        assert inventory.camera_of(s.get(CameraRow, "exit1")).url == cam.url
        other = cam.model_copy(update={"url": "rtsp://admin:new-pass-1@127.0.0.1:9/exit1"})
        inventory.put_camera(s, other, create=False)
        assert inventory.camera_of(s.get(CameraRow, "exit1")).url.endswith("new-pass-1@127.0.0.1:9/exit1")


def test_invalid_records_are_422_naming_field_and_reason(rt):
    client = authed_client(rt)
    cam = client.get("/api/inventory/cameras/exit1").json()
    cases = [  # (change, where, words)
        ({"zones": [{"name": "z", "polygon": [[0, 0], [1, 0]]}]}, ["body", "zones", 0, "polygon"], "needs >= 3 points"),
        ({"zones": [{"name": "z", "polygon": SQUARE, "rules": [{"type": "unattended_room"}]}]}, ["body"],
         "zones[0].rules[0]: unattended_room needs a camera of site kind control_room or gate, not exit"),
        ({"zones": [{"name": "z", "polygon": SQUARE, "rules": [{"type": "fire_smoke", "k": 6}]}]},
         ["body", "zones", 0, "rules", 0, "fire_smoke"], "k (6) must not exceed n (5)"),
        ({"url": "ftp://cam.example/x"}, ["body", "url"], "unsupported scheme 'ftp'"),
        ({"detect_fps": 0}, ["body", "detect_fps"], "greater than 0"),
        ({"colour": "red"}, ["body", "colour"], "Extra inputs are not permitted"),
    ]
    for change, where, words in cases:
        r = client.put("/api/inventory/cameras/exit1", json={**cam, **change})
        assert r.status_code == 422, (change, r.text)
        errs = r.json()["errors"]
        assert any(e["loc"] == where and words in e["msg"] for e in errs), (change, errs)
        assert words in r.json()["detail"]
    r = client.put("/api/inventory/cameras/exit1", json={**cam, "id": "other"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "id"]
    bad = client.post("/api/inventory/institutions", json={"id": "x", "name": "某院", "region": " / "})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "region"]
    unknown = client.post("/api/inventory/cameras", json={**cam, "id": "c2", "institution": "nope"})
    assert unknown.status_code == 422 and unknown.json()["errors"] == [
        {"loc": ["body", "institution"], "msg": "unknown institution 'nope'", "type": "value_error"}]
    strict = client.put("/api/inventory/cameras/exit1", json={**cam, "enabled": 1, "detect_fps": "2"})
    assert strict.status_code == 422 and {tuple(e["loc"]) for e in strict.json()["errors"]} == {
        ("body", "enabled"), ("body", "detect_fps")}  # JSON types as the schema states them
    assert client.post("/api/inventory/cameras", json=cam).status_code == 409
    assert client.get("/api/inventory/cameras/exit1").json() == cam  # nothing changed


def test_changes_are_audited_with_before_after_and_no_password(rt):
    client = authed_client(rt)
    cam = client.get("/api/inventory/cameras/exit1").json()
    new = {**cam, "id": "exit2", "url": f"rtsp://admin:{SECRET}@127.0.0.1:9/exit2"}
    assert client.post("/api/inventory/cameras", json=new).status_code == 201
    zones = [{"name": "新出口", "polygon": SQUARE, "rules": [{"type": "blocked_exit", "dwell_s": 10}]}]
    assert client.put("/api/inventory/cameras/exit2", json={**new, "zones": zones}).json()["zones"][0]["name"] == "新出口"
    assert client.delete("/api/inventory/cameras/exit2").status_code == 204
    assert client.post("/api/inventory/institutions", json={"id": "nb", "name": "北院", "region": "示范县/北镇"}).status_code == 201
    rows = client.get("/api/audit", params={"object_type": "camera", "object_id": "exit2"}).json()["items"]
    assert [r["action"] for r in rows] == ["inventory.camera.delete", "inventory.camera.update", "inventory.camera.create"]
    deleted, updated, created = rows
    assert created["before"] is None and created["after"]["zones"][0]["name"] == "出口"
    assert updated["before"]["zones"][0]["name"] == "出口" and updated["after"]["zones"][0]["name"] == "新出口"
    assert deleted["before"]["zones"][0]["rules"][0]["dwell_s"] == 10 and deleted["after"] is None
    assert all(r["institution_id"] == "fy" and r["region"] == "示范县/城关镇" and r["username"] == "admin" for r in rows)
    inst = client.get("/api/audit", params={"action": "inventory.institution.create"}).json()["items"]
    assert [(r["object_id"], r["after"]["region"]) for r in inst if r["username"] == "admin"] == [("nb", "示范县/北镇")]
    with rt.engine.connect() as c:  # the password is in the cameras table only, never in the trail
        trail = json.dumps([list(map(str, row)) for row in c.execute(text("SELECT * FROM audit_log"))], ensure_ascii=False)
        assert "***@127.0.0.1:9/exit2" in trail and SECRET not in trail
        assert c.execute(text("SELECT url FROM cameras WHERE id = 'exit1'")).scalar().count(SECRET) == 1


def test_service_seeds_an_empty_database_then_reads_it(tmp_path, db_url):
    first = _runtime(tmp_path, db_url)
    try:
        assert [c.id for c in first.cfg.cameras] == ["exit1", "ctrl"]
        with first.engine.connect() as c:
            seeded = c.execute(text("SELECT action, username FROM audit_log WHERE action LIKE 'inventory.%'")).all()
        assert ("inventory.camera.create", "service start") in seeded and len(seeded) == 7  # 3 regions, 2 + 2
        authed_client(first).delete("/api/inventory/cameras/ctrl")
    finally:
        first.stop()
    cams = [{"id": "other", "name": "别的", "url": "rtsp://127.0.0.1:9/x", "institution": "fy", "site_kind": "exit"}]
    second = _runtime(tmp_path, db_url, cameras=cams)  # the database is the source of truth now
    try:
        assert [c.id for c in second.cfg.cameras] == ["exit1"]
    finally:
        second.stop()


def test_migration_0004_both_ways(db_url):
    from vigil.api.db import Base, make_engine
    from vigil.api.migrate import downgrade, upgrade

    eng = make_engine(db_url)
    try:
        upgrade(eng, "0004")
        tables = {"regions", "institutions", "cameras", "zones", "rules"}
        insp = inspect(eng)
        assert tables <= set(insp.get_table_names())
        for t in tables:
            assert {c["name"] for c in insp.get_columns(t)} == {c.name for c in Base.metadata.tables[t].columns}, t
        downgrade(eng, "0003")
        assert not tables & set(inspect(eng).get_table_names())
        assert "audit_log" in inspect(eng).get_table_names()
        upgrade(eng)
        assert tables <= set(inspect(eng).get_table_names())
    finally:
        eng.dispose()


def test_cli_import_export_round_trip(tmp_path, db_url):
    from vigil.config import load_config

    src = tmp_path / "site.yaml"
    cfg = service_config(tmp_path)
    cfg.pop("storage")
    src.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    r = run_vigil("inventory", "import", str(src), "--db", db_url)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["added region 示范县", "added region 示范县/城关镇", "added institution fy",
                                     "added region 示范县/河西乡", "added institution et", "added camera exit1",
                                     "added camera ctrl", "7 added, 0 changed, 0 removed, 0 unchanged"]
    plain, secret = tmp_path / "plain.yaml", tmp_path / "secret.yaml"
    assert run_vigil("inventory", "export", "--db", db_url, "--out", str(plain)).returncode == 0
    r = run_vigil("inventory", "export", "--db", db_url, "--with-secrets", "--out", str(secret))
    assert r.returncode == 0 and oct(secret.stat().st_mode & 0o777) == "0o600"
    assert SECRET not in plain.read_text() and "rtsp://admin:***@127.0.0.1:9/exit1" in plain.read_text()
    assert run_vigil("config", "check", str(plain)).returncode == 0
    assert load_config(secret).cameras == load_config(src).cameras  # the round trip
    assert load_config(secret).institutions == load_config(src).institutions
    again = run_vigil("inventory", "import", str(plain), "--db", db_url)  # *** keeps the stored passwords
    assert again.stdout.splitlines()[-1] == "0 added, 0 changed, 0 removed, 4 unchanged", again.stdout
    edited = yaml.safe_load(secret.read_text())
    edited["cameras"] = [edited["cameras"][0]]
    edited["cameras"][0]["zones"][0]["name"] = "东门"
    edited["institutions"] = [edited["institutions"][0]]
    src.write_text(yaml.safe_dump(edited, allow_unicode=True), encoding="utf-8")
    dry = run_vigil("inventory", "import", str(src), "--db", db_url, "--prune", "--dry-run", "--json")
    assert json.loads(dry.stdout) == {"added": [], "changed": ["camera exit1"], "warnings": [], "unchanged": 1,
                                      "removed": ["camera ctrl", "institution et", "region 示范县/河西乡"], "dry_run": True}
    r = run_vigil("inventory", "import", str(src), "--db", db_url, "--prune")
    assert r.stdout.splitlines()[-1] == "0 added, 1 changed, 3 removed, 1 unchanged", r.stdout
    shown = yaml.safe_load(run_vigil("inventory", "export", "--db", db_url).stdout)
    assert [c["id"] for c in shown["cameras"]] == ["exit1"] and shown["cameras"][0]["zones"][0]["name"] == "东门"
    from sqlalchemy import create_engine
    eng = create_engine(db_url)
    with eng.connect() as c:
        rows = c.execute(text("SELECT action, client FROM audit_log WHERE action LIKE 'inventory.%'")).all()
    eng.dispose()
    assert len(rows) == 7 + 4 and {client for _, client in rows} == {"cli"}  # the dry run left none
    bad = run_vigil("inventory", "import", str(tmp_path / "missing.yaml"), "--db", db_url)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_live_apply_on_a_real_rtsp_camera(tmp_path, db_url, rtsp_server_factory):
    """Add a camera through the API -> it starts, goes online and detects; edit its zone -> the next events and the
    rule status name the new zone; delete it -> its processor and decoder process are gone."""
    from vigil.streams.reader import ReaderSettings

    srv = rtsp_server_factory(auth=("admin", SECRET))
    rt = _runtime(tmp_path, db_url, cameras=[], start=True,
                  reader_settings=ReaderSettings(open_timeout_s=3, read_timeout_s=3, backoff_initial_s=0.5))
    try:
        assert rt.processors == {} and rt.scheduler is None
        client = authed_client(rt)
        # fewer than 20 people in the zone at once: an unattended_room event from the first detection frame
        rule = {"type": "unattended_room", "min_persons": 20, "absence_s": 0, "restore_s": 0}
        cam = {"id": "live1", "name": "值班室", "url": srv.url("cam"), "institution": "et", "site_kind": "control_room",
               "detect_fps": 2, "zones": [{"name": "旧区", "polygon": SQUARE, "rules": [rule]}]}
        r = client.post("/api/inventory/cameras", json=cam)
        assert r.status_code == 201 and SECRET not in r.text
        assert "live1" in rt.processors and rt.scheduler is not None
        assert wait_until(lambda: client.get("/api/cameras/live1").json()["status"] == "online", 30)
        assert wait_until(lambda: rt.processors["live1"].pipeline.frames_processed >= 3, 30)
        assert len(rt.processors["live1"].pipeline.last_detections) > 0  # people in the street clip
        assert wait_until(lambda: _events(client, "旧区"), 20)
        reader = rt.processors["live1"].reader

        zones = [{"name": "新区", "polygon": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]], "rules": [rule]}]
        assert client.put("/api/inventory/cameras/live1", json={**cam, "zones": zones}).status_code == 200
        assert rt.processors["live1"].reader is reader  # same stream, new zones from the next frame
        status = [x for x in client.get("/api/status").json()["rules"] if x["camera_id"] == "live1"]
        assert [(x["zone"], x["rule"]) for x in status] == [("新区", "unattended_room")]
        old = _events(client, "旧区")
        assert old and all(e["state"] == "closed" and e["detail"]["end_reason"] == "camera reconfigured" for e in old)
        assert wait_until(lambda: _events(client, "新区"), 20)
        assert rt.camera_info("live1")["zones"] == ["新区"]

        assert client.delete("/api/inventory/cameras/live1").status_code == 204
        assert "live1" not in rt.processors and rt.scheduler.processors == []
        assert wait_until(lambda: not reader.alive, 10) and client.get("/api/cameras/live1").status_code == 404
        new = _events(client, "新区")
        assert new and all(e["state"] == "closed" and e["detail"]["end_reason"] == "camera removed or disabled" for e in new)
        frames = reader.health.snapshot()["frames"]
        assert not wait_until(lambda: reader.health.snapshot()["frames"] > frames, 2)  # no more frames come in
    finally:
        rt.stop()


def _events(client, zone: str) -> list[dict]:
    items = client.get("/api/events", params={"camera": "live1", "limit": 500}).json()["items"]
    return [e for e in items if e["zone"] == zone]


def test_disable_stops_and_supervisor_edits_stay_in_region(rt):
    make_user(rt, "town_a", "supervisor", regions=["示范县/城关镇"])
    sup = authed_client(rt, "town_a")
    cam = sup.get("/api/inventory/cameras/exit1").json()
    assert sup.get("/api/inventory/cameras/ctrl").status_code == 404  # 河西乡: outside
    moved = sup.put("/api/inventory/cameras/exit1", json={**cam, "institution": "et"})  # et: 河西乡, unknown to them
    assert moved.status_code == 422 and moved.json()["errors"][0]["msg"] == "unknown institution 'et'"
    inst = sup.get("/api/inventory/institutions/fy").json()
    moved = sup.put("/api/inventory/institutions/fy", json={**inst, "region": "示范县/河西乡"})
    assert moved.status_code == 403 and "outside" in moved.json()["detail"]
    assert sup.post("/api/inventory/institutions", json={"id": "n1", "name": "新院", "region": "示范县"}).status_code == 403
    assert sup.post("/api/inventory/institutions", json={"id": "n1", "name": "新院", "region": "示范县/城关镇/东街"}).status_code == 201
    regions = {r["path"]: r["id"] for r in sup.get("/api/inventory/regions").json()}
    assert set(regions) == {"示范县", "示范县/城关镇", "示范县/城关镇/东街"}
    assert sup.put(f"/api/inventory/regions/{regions['示范县/城关镇']}", json={"path": "示范县/新城"}).status_code == 403
    assert sup.put(f"/api/inventory/regions/{regions['示范县/城关镇/东街']}", json={"path": "示范县/城关镇/西街"}).status_code == 200
    assert rt.regions_by_institution()["n1"] == "示范县/城关镇/西街"
    off = sup.put("/api/inventory/cameras/exit1", json={**cam, "enabled": False})
    assert off.status_code == 200 and rt.camera_info("exit1")["status"] == "disabled"
