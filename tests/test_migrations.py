"""The Alembic migration builds the schema the models expect, on SQLite and PostgreSQL, and reverses."""
from __future__ import annotations

from sqlalchemy import inspect

from vigil.api.db import Base, make_engine
from vigil.api.migrate import downgrade, upgrade


def test_upgrade_matches_models_and_downgrades(db_url):
    eng = make_engine(db_url)
    try:
        upgrade(eng)
        insp = inspect(eng)
        assert set(insp.get_table_names()) >= {"events", "alembic_version"}
        cols = {c["name"] for c in insp.get_columns("events")}
        assert cols == {c.name for c in Base.metadata.tables["events"].columns}
        idx = {i["name"] for i in insp.get_indexes("events")}
        assert {"ix_events_open_key", "ix_events_started_at", "ix_events_review_status"} <= idx
        upgrade(eng)  # idempotent
        downgrade(eng)
        assert "events" not in inspect(eng).get_table_names()
    finally:
        eng.dispose()


def test_clip_columns_migrate_both_ways_and_keep_rows(db_url):
    """0002 adds clip_path/clip_status (+ index) to a table that already holds events, and removes them
    again on downgrade to 0001 without losing the rows."""
    from sqlalchemy import text

    eng = make_engine(db_url)
    try:
        upgrade(eng, "0001")
        assert "clip_path" not in {c["name"] for c in inspect(eng).get_columns("events")}
        with eng.begin() as c:
            c.execute(text("INSERT INTO events (camera_id, institution_id, rule, state, review_status, started_at, "
                           "peak_confidence, params, detail, created_at) VALUES ('cam', 'fy', 'blocked_exit', 'open', "
                           "'pending', '2026-11-20 08:00:00+00:00', 0.5, '{}', '{}', '2026-11-20 08:00:00+00:00')"))
        upgrade(eng, "0002")
        insp = inspect(eng)
        cols = {c["name"]: c for c in insp.get_columns("events")}
        assert cols["clip_path"]["nullable"] and cols["clip_status"]["nullable"]
        assert "ix_events_clip_status" in {i["name"] for i in insp.get_indexes("events")}
        with eng.begin() as c:
            assert c.execute(text("SELECT camera_id, clip_path, clip_status FROM events")).all() == [("cam", None, None)]
            c.execute(text("UPDATE events SET clip_path = 'clips/cam/x.mp4', clip_status = 'ready'"))
        downgrade(eng, "0001")
        insp = inspect(eng)
        assert not {"clip_path", "clip_status"} & {c["name"] for c in insp.get_columns("events")}
        idx = {i["name"] for i in insp.get_indexes("events")}
        assert "ix_events_clip_status" not in idx and {"ix_events_open_key", "ix_events_started_at"} <= idx
        with eng.begin() as c:
            assert c.execute(text("SELECT camera_id FROM events")).scalars().all() == ["cam"]
    finally:
        eng.dispose()
