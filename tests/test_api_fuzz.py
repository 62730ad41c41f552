"""Schemathesis fuzzes the real API (Runtime + create_app under uvicorn, seeded events with every clip
state) with all its checks: no server error, every response as documented, valid input accepted,
invalid input rejected. Once on a SQLite file, once on the machine's PostgreSQL.

Set VIGIL_FUZZ_SEED / VIGIL_FUZZ_EXAMPLES to explore beyond the pinned run. The deep run (150 examples per
operation as admin on PostgreSQL, all phases; not timed yet) is marked slow: `make test-all` or `-m slow`."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vigil_fixtures import LiveServer, make_user, seed_clips, seed_events, service_config

# pinned; with the coverage phase it found the offset overflow (a 500) once the offset bound was taken out
SEED = int(os.environ.get("VIGIL_FUZZ_SEED", "2"))
# the admin run on SQLite explores most (every operation is open to it); the officer and PostgreSQL runs repeat
# the same schema with fewer examples each, to keep the suite's time on 2 cores; the slow deep run explores further
MAX_EXAMPLES = int(os.environ.get("VIGIL_FUZZ_EXAMPLES", "24"))
REPEAT_EXAMPLES = int(os.environ.get("VIGIL_FUZZ_EXAMPLES", "10"))
DEEP_EXAMPLES = int(os.environ.get("VIGIL_FUZZ_DEEP_EXAMPLES", "150"))
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
OPERATIONS = 74  # documented operations in /openapi.json (16 the inventory's, 4 the notifications', 23 the ledger's, 5 the users')


def api_token(rt, username: str, role: str, **scope) -> str:
    """An API token (`vgt_...`) of a new user: unlike a session, the fuzzer's logout call cannot end it, and the
    API refuses to let a token revoke itself."""
    from vigil import accounts

    make_user(rt, username, role, **scope)
    with rt.sessions() as s:
        _, token = accounts.create_api_token(s, accounts.get_user(s, username), f"fuzz as {role}", 1, None)
        s.commit()
    return token


def fuzz_command(url: str, token: str, examples: int, phases: str) -> list[str]:
    return [str(SCHEMATHESIS), "run", f"{url}/openapi.json", "--checks", "all",
            "--header", f"Authorization: Bearer {token}",
            "--phases", phases, "--max-examples", str(examples),
            "--seed", str(SEED), "--workers", "1",  # 2 threads hit CPython 3.11's ast.parse race in hypothesis ("AST constructor recursion depth mismatch")
            "--request-timeout", "10",
            # generation speed depends on the machine's load, not on the API
            "--suppress-health-check", "too_slow",
            "--generation-database", "none", "--no-color", "--output-truncate", "true"]


def seed_dead_letter(rt) -> int:
    """A dead letter as the dispatcher leaves one (the seeded events' first notification, given up by a webhook),
    so that redelivering the schema's example id (1) reaches its logic instead of a 404."""
    from vigil.api.db import utcnow
    from vigil.api.db_outbox import DeadLetterRow, OutboxRow
    from vigil.outbox.maintainer import NotificationMaintainer

    NotificationMaintainer(rt.sessions, rt.cfg.notifications, []).publish()
    with rt.sessions.begin() as s:
        first = s.query(OutboxRow).order_by(OutboxRow.seq).first()
        dead = DeadLetterRow(channel="webhook:fuzz", outbox_id=first.id, attempts=8, last_error="HTTP 500",
                             status="dead", created_at=utcnow(), updated_at=utcnow())
        s.add(dead)
        s.flush()
        return dead.id


def seed_ledger(rt) -> str:
    """Hazard 1 with photo 1, intake tokens 1 (a throwaway the fuzzer may revoke) and 2, complaint 1 with a photo:
    the schema's example ids reach the ledger's logic. Returns intake token 2 (the hooks put it into the public
    form's requests)."""
    from vigil import accounts
    from vigil.access import Principal, Scope
    from vigil.ledger import complaints as cm
    from vigil.ledger.hazards import Actor, open_hazard
    from vigil.ledger.photos import store_photo
    from vigil_fixtures import ultralytics_asset

    jpeg = ultralytics_asset("bus.jpg").read_bytes()
    now, policy, regions = rt.clock.now(), rt.cfg.hazards, rt.regions_by_institution()
    with rt.sessions() as s:
        h = open_hazard(s, policy, now, Actor(name="fuzz"), institution_id="fy", region=regions["fy"],
                        category="fire_equipment", title="灭火器压力不足", source="inspection")
        photo = store_photo(s, rt.store.media_dir, now, data=jpeg, kind="before", uploaded_by="fuzz", hazard_id=h.id,
                            max_bytes=policy.uploads.max_bytes)
        admin = accounts.get_user(s, "admin")
        who = Principal(admin.id, "admin", "admin", Scope.all())
        tokens = [cm.create_token(s, now, who, regions, name=f"fuzz {i}", kind="institution", value="fy")
                  for i in (1, 2)]
        c = cm.receive(s, now, tokens[1][0], regions, institution_id="fy", text="二楼走廊堆放杂物", contact=None,
                       photo=jpeg, via="api", client="127.0.0.1", policy=policy, media_dir=rt.store.media_dir)
        s.commit()
        assert (h.id, photo.id, c.id, tokens[1][0].id) == (1, 1, 1, 2), "the schema's example ids"
    return tokens[1][1]


# the coverage phase (boundary values of every parameter, about 5,900 cases whatever the example count) is most of
# a run's time: it runs once in the suite, on PostgreSQL (the production database, whose integer and text limits
# are the stricter); the SQLite runs (admin: every operation; officer: what its scope lets through) fuzz without it
ALL_PHASES = "examples,coverage,fuzzing,stateful"
NO_COVERAGE = "examples,fuzzing,stateful"
# the suite's PostgreSQL run: the boundary values against PostgreSQL's limits; random fuzzing and the stateful phase
# are the SQLite runs' (and the deep run's) part
PG_PHASES = "examples,coverage"


def run_fuzz(tmp_path: Path, db_url: str, record_property, role: str = "admin", examples: int = MAX_EXAMPLES,
             limit_s: int = 480, phases: str = NO_COVERAGE) -> None:
    from vigil.api.app import create_app
    from vigil.config import parse_config
    from vigil.service import Runtime

    cfg = service_config(tmp_path, db_url)
    # the event stream (GET /api/notifications/stream) ends after stream_max_s, as a browser's EventSource expects
    # (it reconnects with Last-Event-ID); short here so that every fuzzed request gets its whole answer
    cfg["notifications"] = {"stream_max_s": 0.5}
    # the public complaint form is rate-limited per address: the fuzzer is one address sending thousands
    cfg["hazards"] = {"complaints": {"max_text": 20000, "per_address_per_hour": 10000, "per_token_per_hour": 100000}}
    rt = Runtime(parse_config(cfg), start_cameras=False)
    clips = seed_clips(rt, seed_events(rt))
    assert seed_dead_letter(rt) == 1, "the schema's example dead letter id (1)"
    assert clips["ready"] == 1, "the schema's example event id (1) should be the event with a ready clip"
    scope = {"institutions": ["fy"]} if role == "officer" else {}
    token = api_token(rt, f"fuzz-{role}", role, **scope)
    make_user(rt, "admin", "admin")  # the schema's example username: POST /api/tokens reaches its logic
    intake = seed_ledger(rt)
    server = LiveServer(create_app(rt))
    cmd = fuzz_command(server.url, token, examples, phases)
    print(f"schemathesis as {role}, seed {SEED}, max-examples {examples}: {' '.join(cmd).replace(token, 'vgt_***')}")
    t0 = time.monotonic()
    try:
        # run in tmp_path: no schemathesis.toml of the checkout, no report folders left behind
        proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=limit_s,
                              env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "VIGIL_FUZZ_INTAKE": intake})
    finally:
        server.stop()
        rt.stop()
    out, took = proc.stdout + proc.stderr, time.monotonic() - t0
    out = out.replace(token, "vgt_***").replace(intake, "vgc_***")
    record_property("schemathesis_seed", SEED)
    record_property("schemathesis_seconds", round(took, 1))
    print(f"schemathesis took {took:.1f} s\n" + out[-1500:])
    tail = f"seed {SEED}, exit {proc.returncode}; schemathesis report (tail):\n{out[-6000:]}"
    assert proc.returncode == 0, tail
    assert re.search(rf"Selected: {OPERATIONS}/{OPERATIONS}\s+Tested: {OPERATIONS}\b", out), tail
    generated = re.search(r"(\d+) generated, (\d+) passed", out)
    assert generated and int(generated[1]) >= 300 and generated[1] == generated[2], tail
    assert f"Seed: {SEED}" in out and "failures" not in out.split("SUMMARY")[-1], tail
    # the only warnings allowed: the operations an officer may not use answered 401/403 only
    allowed = [] if role == "admin" else ["returned only 401/403"]
    warnings = out.split("Warnings:")[-1].split("Test cases:")[0] if "Warnings:" in out else ""
    assert all(any(a in w for a in allowed) for w in warnings.strip().splitlines()), tail
    assert "No issues found" in out or warnings.strip(), tail


def empty_schema(pg_url: str) -> None:
    """Drop and recreate PostgreSQL's public schema: the run's ids begin at 1, as the schema's examples expect."""
    from sqlalchemy import create_engine, text

    eng = create_engine(pg_url)
    with eng.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    eng.dispose()


@pytest.mark.timeout(600)  # schemathesis itself stops at 480 s; its own report says what failed
@pytest.mark.parametrize("role", ["admin", "officer"])
def test_api_survives_fuzzing_on_sqlite(tmp_path, record_property, role):
    run_fuzz(tmp_path, f"sqlite:///{tmp_path / 'vigil.db'}", record_property, role,
             MAX_EXAMPLES if role == "admin" else REPEAT_EXAMPLES)


@pytest.mark.timeout(600)
@pytest.mark.postgres
def test_api_survives_fuzzing_on_postgres(tmp_path, pg_url, record_property):
    empty_schema(pg_url)
    run_fuzz(tmp_path, pg_url, record_property, "admin", REPEAT_EXAMPLES, phases=PG_PHASES)


@pytest.mark.slow
@pytest.mark.timeout(1900)
@pytest.mark.postgres
def test_api_survives_deep_fuzzing_on_postgres(tmp_path, pg_url, record_property):
    empty_schema(pg_url)
    run_fuzz(tmp_path, pg_url, record_property, "admin", DEEP_EXAMPLES, limit_s=1800, phases=ALL_PHASES)
