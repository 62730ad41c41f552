"""API on SQLite and on the machine's PostgreSQL: events, filters, review, snapshots, cameras, health."""
from __future__ import annotations

from pathlib import Path

import pytest

from fastapi.testclient import TestClient

from vigil_fixtures import SECRET, build_web


def test_events_list_newest_first_and_paginated(api):
    client, _, ids = api
    r = client.get("/api/events", params={"limit": 2})
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 5 and body["limit"] == 2 and len(body["items"]) == 2
    assert [e["id"] for e in body["items"]] == [ids[4], ids[3]]
    page2 = client.get("/api/events", params={"limit": 2, "offset": 2}).json()
    assert [e["id"] for e in page2["items"]] == [ids[2], ids[1]]
    e = body["items"][0]
    assert e["institution_name"] == "示范县儿童福利院" and e["camera_name"] == "消防控制室"
    assert e["started_at"].endswith(("Z", "+00:00")) and e["params"] == {"dwell_s": 30}


@pytest.mark.parametrize("query,expected", [
    ({"rule": "blocked_exit"}, 3), ({"camera": "ctrl"}, 2), ({"institution": "fy"}, 3), ({"state": "open"}, 2),
    ({"state": "closed"}, 3), ({"status": "pending"}, 5), ({"since": "2026-11-20T10:00:00Z"}, 3),
    ({"since": "2026-11-20T09:00:00+00:00", "until": "2026-11-20T11:00:00Z"}, 2), ({"rule": "fire_smoke"}, 0),
])
def test_event_filters(api, query, expected):
    client, _, _ = api
    r = client.get("/api/events", params=query)
    assert r.status_code == 200, r.text
    assert r.json()["total"] == expected


@pytest.mark.parametrize("query,fragment", [
    ({"status": "maybe"}, "status"), ({"rule": "alien"}, "rule"), ({"limit": 0}, "limit"),
    ({"since": "yesterday"}, "since"), ({"since": "2026-11-21T00:00:00Z", "until": "2026-11-20T00:00:00Z"}, "'since' must be earlier"),
])
def test_bad_filters_say_what_is_wrong(api, query, fragment):
    client, _, _ = api
    r = client.get("/api/events", params=query)
    assert r.status_code == 422
    assert fragment in r.json()["detail"]


def test_event_detail_and_snapshot(api):
    client, _, ids = api
    e = client.get(f"/api/events/{ids[0]}").json()
    assert e["rule"] == "blocked_exit" and e["state"] == "closed" and e["zone"] == "出口"
    snap = client.get(e["snapshot_url"])
    assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"
    assert snap.content[:2] == b"\xff\xd8" and len(snap.content) > 5000
    assert client.get("/api/events/999999").status_code == 404
    assert "999999" in client.get("/api/events/999999/snapshot.jpg").json()["detail"]


def test_review_flow_409_and_422(api):
    client, _, ids = api
    r = client.post(f"/api/events/{ids[1]}/review", json={"verdict": "confirmed", "note": "纸箱堵塞出口"})
    assert r.status_code == 200
    assert r.json()["review_status"] == "confirmed" and r.json()["review_note"] == "纸箱堵塞出口"
    again = client.post(f"/api/events/{ids[1]}/review", json={"verdict": "false_alarm", "reason": "misdetection"})
    assert again.status_code == 409 and "already reviewed as 'confirmed'" in again.json()["detail"]
    bad = client.post(f"/api/events/{ids[2]}/review", json={"verdict": "maybe"})
    assert bad.status_code == 422 and "verdict" in bad.json()["detail"]
    assert client.post("/api/events/424242/review", json={"verdict": "confirmed"}).status_code == 404
    assert client.get("/api/events", params={"status": "confirmed"}).json()["total"] == 1
    assert client.get("/api/events", params={"status": "pending"}).json()["total"] == 4


def test_cameras_and_health_never_show_password(api):
    client, _, _ = api
    for path in ("/api/cameras", "/api/health", "/api/status", "/api/cameras/exit1", "/openapi.json", "/api/events"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert SECRET not in r.text, path
    cams = client.get("/api/cameras").json()
    assert cams[0]["url"] == "rtsp://admin:***@127.0.0.1:9/exit1"
    assert client.get("/api/cameras/nope").status_code == 404
    assert client.get("/api/cameras/exit1/snapshot.jpg").status_code == 503


def test_health_reports_fire_rule_state(api):
    """With the catalogue's fire model present the fire rule is not disabled; the rule set is complete."""
    client, rt, _ = api
    h = client.get("/api/status").json()
    assert h["database"] == "ok"
    fire = [r for r in h["rules"] if r["rule"] == "fire_smoke"]
    assert fire and fire[0]["status"] != "disabled" and fire[0]["reason"] is None, fire
    assert {r["rule"] for r in h["rules"]} == {"blocked_exit", "fire_smoke", "unattended_room"}


def test_health_reports_disabled_fire_rule_with_reason(tmp_path):
    """fire_model: null (or a missing model) disables fire_smoke, and health says so: never silently absent."""

    from vigil.config import parse_config
    from vigil.service import Runtime
    from vigil_fixtures import authed_client, service_config

    for fire_model, words in ((None, "switched off"), ("/nonexistent/fire.onnx", "neither a catalogue name")):
        cfg = service_config(tmp_path / str(bool(fire_model)))
        cfg["detector"] = {"fire_model": fire_model}
        rt = Runtime(parse_config(cfg), start_cameras=False)
        try:
            fire = [r for r in authed_client(rt).get("/api/status").json()["rules"] if r["rule"] == "fire_smoke"]
            assert fire and fire[0]["status"] == "disabled" and words in fire[0]["reason"], fire
        finally:
            rt.stop()


def test_health_and_cameras_say_which_model_runs_and_why(tmp_path):
    """int8 models asked for in the config: /api/health names this CPU and, per purpose, the file really loaded, its
    kernel and the reason (the 8-bit COCO twin runs as float on a CPU without VNNI); each camera lists its files."""

    from vigil.config import parse_config
    from vigil.models.catalogue import resolve_model
    from vigil.models.cpu import cpu_info
    from vigil.models.precision import choose
    from vigil.service import Runtime
    from vigil_fixtures import authed_client, service_config

    cfg = service_config(tmp_path)
    cfg["detector"] = {"model": "yolov5n-coco-320-int8", "fire_model": "fire-smoke-yolov8n-320-int8"}
    rt = Runtime(parse_config(cfg))  # cameras start (their RTSP server is absent): the detectors load
    try:
        client = authed_client(rt)
        h = client.get("/api/status").json()
        assert h["cpu"] == cpu_info().label()
        runs = {m["purpose"]: m for m in h["models"]}
        want = choose(resolve_model("yolov5n-coco-320-int8"))
        assert runs["objects"]["requested"] == "yolov5n_coco_320_int8.onnx" and runs["objects"]["loaded"]
        assert (runs["objects"]["used"], runs["objects"]["reason"]) == (Path(want.used).name, want.reason)
        if not cpu_info().as_dict()["int8_8bit_weights_exact"]:
            assert runs["objects"]["used"] == "yolov5n_coco_320.onnx" and "CPU lacks VNNI" in runs["objects"]["reason"]
        assert runs["fire"]["used"] == "fire_smoke_yolov8n_320_int8.onnx" and runs["fire"]["precision"] == "int8"
        assert rt.detector.path.name == runs["objects"]["used"]  # what the health page says is what was loaded
        cams = {c["id"]: c["models"] for c in client.get("/api/cameras").json()}
        assert cams["exit1"] == {"objects": runs["objects"]["used"], "fire": "fire_smoke_yolov8n_320_int8.onnx"}
        assert cams["ctrl"] == {"objects": runs["objects"]["used"], "fire": None}  # no fire rule on that camera
    finally:
        rt.stop()


def test_openapi_and_web_app_served(api):
    """The built web app (review_ui/dist) is served at /app/, and / leads there; the old /ui/ page is gone."""
    build_web()
    from vigil.api.app import create_app

    client, rt, _ = api
    spec = client.get("/openapi.json").json()
    assert "/api/events/{event_id}/review" in spec["paths"]
    fresh = TestClient(create_app(rt))  # mounted at creation, now that the build exists
    assert fresh.get("/").url.path == "/app/"
    page = fresh.get("/app/")
    assert page.status_code == 200 and '<div id="root">' in page.text
    assert fresh.get("/ui/").status_code == 404


@pytest.mark.parametrize("method,path,body,fragment", [
    ("GET", "/api/events?offset=30741165166629949440", None, "offset"),  # was a 500: overflow reached the database
    ("GET", "/api/events/2147483648", None, "event_id"),  # beyond the INTEGER id column of PostgreSQL
    ("GET", "/api/events?camera=a%00b", None, "camera"),  # PostgreSQL text holds no NUL byte
    ("GET", "/api/events?until=0.5", None, "until"),  # pydantic alone reads a bare number as Unix time
    ("GET", "/api/cameras/a%20b/snapshot.jpg", None, "camera_id"),
    ("POST", "/api/events/1/review", {"verdict": "confirmed", "note": "a\u0000b"}, "note"),
    ("POST", "/api/events/1/review", None, "body"),
])
def test_bad_input_is_a_documented_422_never_a_500(api, method, path, body, fragment):
    """Cases schemathesis found: each is an ErrorOut 422 naming the field, on SQLite and PostgreSQL."""
    client, _, _ = api
    r = client.request(method, path, json=body)
    assert r.status_code == 422, r.text
    err = r.json()
    assert set(err) == {"detail", "errors"} and fragment in err["detail"], err
    assert all(set(e) == {"loc", "msg", "type"} for e in err["errors"]) and fragment in str(err["errors"][0]["loc"])


def test_openapi_documents_the_real_error_bodies_and_bounds(api):
    client, _, _ = api
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in str(spec)
    error_out = {"$ref": "#/components/schemas/ErrorOut"}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if op.get("parameters") or op.get("requestBody"):
                assert op["responses"]["422"]["content"]["application/json"]["schema"] == error_out, (method, path)
            for p in op.get("parameters", []):
                if p["schema"].get("type") == "integer":
                    assert p["schema"]["maximum"] <= 2**31 - 1, (path, p["name"])
    clip = spec["paths"]["/api/events/{event_id}/clip.mp4"]["get"]["responses"]
    assert {"200", "206", "400", "404", "409", "416", "422"} <= set(clip) and "video/mp4" in clip["206"]["content"]


def test_times_beyond_the_calendar_in_utc_are_accepted(api):
    """9999-12-31T23:59-05:00 is past datetime's range once in UTC: no event starts there (was a 500)."""
    client, _, _ = api
    assert client.get("/api/events", params={"since": "9999-12-31T23:59:59-05:00"}).json()["total"] == 0
    assert client.get("/api/events", params={"until": "9999-12-31T23:59:59-05:00"}).json()["total"] == 5
    assert client.get("/api/events", params={"since": "0001-01-01T00:00:00+05:00"}).json()["total"] == 5


def test_unknown_body_keys_are_not_echoed(api):
    client, _, ids = api
    r = client.post(f"/api/events/{ids[0]}/review", json={"verdict": "confirmed", "password=hunter2": 1})
    assert r.status_code == 422 and "hunter2" not in r.text and r.json()["errors"][0]["type"] == "extra_forbidden"
