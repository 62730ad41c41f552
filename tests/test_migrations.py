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
