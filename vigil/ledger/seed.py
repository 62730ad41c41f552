"""`vigil db seed`: a county-sized inventory and a year of realistic events and hazards, bulk-loaded, for the
statistics benchmark (`vigil bench stats`) and for trying the ledger's pages with volume.

- Inventory: counties and townships (`示范县/城关镇`, ...), institutions spread over them, 2-8 cameras each (every
  ninth disabled) with zones and rules that fit their site kind, written through `vigil.inventory_sync` (validated
  and audited like `vigil inventory import`).
- Events: institutions weighted unevenly (a few produce most alarms), times spread over `days` up to now, review
  verdicts mostly decided (false alarms outnumber confirmations; recent ones still pending).
- Hazards: categories and severities as the rules find them plus inspections and complaints, deadlines from the
  default deadline policy, close times log-normal (skewed: most close well within the deadline, a tail far past
  it) and scaled per institution (some are slow), the states of the lifecycle for the ones not closed yet, a few
  never closed; overdue ones escalated and supervised-listed (挂牌督办) as the default escalation steps say.

PostgreSQL gets `COPY ... FROM STDIN` (psycopg), SQLite `executemany` in one transaction; then ANALYZE (VACUUM
ANALYZE on PostgreSQL, so that index-only scans work at once). The rows are generated with numpy, in chunks.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Engine

from vigil.ledger.config import CATEGORIES, RULE_CATEGORY, HazardsConfig

COUNTIES = ["示范县", "东山县", "西河县", "南湖县", "北岭县", "青川县", "白水县", "临江县"]
TOWNSHIPS = ["城关镇", "河西乡", "东风镇", "新华镇", "桥头镇", "白沙乡", "石门镇", "龙泉镇", "青山乡", "柳林镇",
             "三合镇", "红旗乡", "永安镇", "太平乡", "长兴镇", "和平乡"]
KINDS = [("elder_care", "敬老院", 0.7), ("child_welfare", "儿童福利院", 0.1), ("relief_station", "救助站", 0.1),
         ("funeral_home", "殡仪馆", 0.05), ("other", "福利中心", 0.05)]
SITES = [("corridor", ["blocked_exit", "ebike_indoor", "fire_smoke"]), ("exit", ["blocked_exit", "ebike_indoor"]),
         ("control_room", ["unattended_room", "fire_smoke"]), ("lobby", ["ebike_indoor", "fire_smoke"]),
         ("stairwell", ["blocked_exit"])]
EVENT_COLUMNS = ("camera_id", "institution_id", "zone", "rule", "state", "review_status", "started_at", "ended_at",
                 "peak_confidence", "params", "detail", "reviewed_at", "reviewer", "review_reason", "created_at")
HAZARD_COLUMNS = ("institution_id", "camera_id", "zone", "rule", "category", "severity", "source", "title", "state",
                  "responsible", "opened_at", "opened_by", "deadline_at", "sightings", "submitted_at", "verified_at",
                  "closed_at", "reopened", "escalation_level", "escalated_at", "supervised", "supervised_region",
                  "updated_at")
CHUNK = 50_000


@dataclass
class Site:
    institutions: list  # vigil.config.Institution
    cameras: list  # vigil.config.Camera (enabled ones carry events)


def inventory(n_institutions: int, n_townships: int) -> Site:
    from vigil.config import Camera, Institution

    n_counties = max(1, (n_townships + 4) // 5)
    towns = []
    for j in range(n_townships):
        county = COUNTIES[j % n_counties] if j % n_counties < len(COUNTIES) else f"第{j % n_counties + 1}县"
        name = TOWNSHIPS[j] if j < len(TOWNSHIPS) else f"第{j + 1}乡镇"
        towns.append((f"{county}/{name}", name))
    kinds = [k for k, _, share in KINDS for _ in range(round(share * 20))]
    insts, cams = [], []
    full = [[0, 0], [1, 0], [1, 1], [0, 1]]
    for i in range(n_institutions):
        path, town = towns[i % n_townships]
        kind = kinds[(i * 7) % len(kinds)]
        zh = next(z for k, z, _ in KINDS if k == kind)
        iid = f"seed-{i + 1:04d}"
        insts.append(Institution(id=iid, name=f"{town}第{i // n_townships + 1}{zh}", region=path, kind=kind))
        for c in range(2 + (i * 5) % 7):
            site, rules = SITES[(i + c) % len(SITES)]
            cams.append(Camera(id=f"{iid}-c{c + 1}", name=f"{c + 1}号{site}", url=f"rtsp://127.0.0.1:9/seed/{iid}/{c + 1}",
                               institution=iid, site_kind=site, detect_fps=2, enabled=(i + c) % 9 != 8,
                               zones=[{"name": "区域", "polygon": full, "rules": [{"type": r} for r in rules]}]))
    return Site(insts, cams)


def _ts(values: np.ndarray) -> list[str | None]:
    """datetime64[us] (NaT = None) -> 'YYYY-MM-DD HH:MM:SS.ffffff': the text SQLAlchemy stores on SQLite, and what
    PostgreSQL's COPY reads (the session's time zone set to UTC)."""
    out = np.datetime_as_string(values, unit="us")
    return [None if s == "NaT" else s.replace("T", " ") for s in out.tolist()]


def _weights(rng: np.random.Generator, n: int, skew: float = 0.9) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** skew
    rng.shuffle(w)
    return w / w.sum()


def event_chunks(site: Site, n: int, days: int, now: datetime, rng: np.random.Generator) -> Iterator[list[tuple]]:
    cams = [c for c in site.cameras if c.enabled]
    rules = [[r.type for z in c.zones for r in z.rules] + ["camera_offline"] for c in cams]
    zones = [c.zones[0].name for c in cams]
    p = _weights(rng, len(cams))
    now64 = np.datetime64(now.replace(tzinfo=None), "us")
    span_us = days * 86_400_000_000
    ages = np.sort((rng.random(n) ** 1.2 * span_us).astype("int64"))[::-1]  # oldest first, as a service writes them
    for lo in range(0, n, CHUNK):
        m = min(CHUNK, n - lo)
        cam = rng.choice(len(cams), size=m, p=p)
        age = ages[lo:lo + m]  # a little more recent than uniform
        start = now64 - age.astype("timedelta64[us]")
        end = start + (rng.integers(20, 1800, m) * 1_000_000).astype("timedelta64[us]")
        recent = age < 2 * 86_400_000_000
        status = rng.choice(4, size=m, p=[0.25, 0.65, 0.03, 0.07])  # confirmed, false_alarm, onsite, pending
        status[recent & (rng.random(m) < 0.6)] = 3
        reviewed = start + (rng.integers(60, 6 * 3600, m) * 1_000_000).astype("timedelta64[us]")
        reviewed[status == 3] = np.datetime64("NaT")
        conf = np.round(rng.uniform(0.4, 0.98, m), 3).tolist()
        pick = rng.integers(0, 1 << 30, m).tolist()
        starts, ends, revs = _ts(start), _ts(end), _ts(reviewed)
        names = ("confirmed", "false_alarm", "needs_onsite_check", "pending")
        reasons = ("misdetection", "allowed_object", "drill_or_test", "camera_fault", "other")
        rows = []
        for k, c in enumerate(cam.tolist()):
            rule = rules[c][pick[k] % len(rules[c])]
            st = names[status[k]]
            rows.append((cams[c].id, cams[c].institution, None if rule == "camera_offline" else zones[c], rule,
                         "closed", st, starts[k], ends[k], conf[k], "{}", "{}", revs[k],
                         None if st == "pending" else "seed", reasons[pick[k] % 5] if st == "false_alarm" else None,
                         starts[k]))
        yield rows


def hazard_chunks(site: Site, n: int, days: int, now: datetime, rng: np.random.Generator) -> Iterator[list[tuple]]:
    policy = HazardsConfig()
    by_inst: dict[str, list] = {}
    for c in site.cameras:
        by_inst.setdefault(c.institution, []).append(c)
    insts = site.institutions
    region = {i.id: i.region for i in insts}
    p_inst = _weights(rng, len(insts), 0.7)
    slowness = np.exp(rng.normal(0, 0.6, len(insts)))  # some institutions take much longer to rectify
    cats = list(CATEGORIES)
    p_cat = np.array([0.22, 0.04, 0.2, 0.1, 0.12, 0.12, 0.12, 0.08])
    rule_of = {v: k for k, v in RULE_CATEGORY.items()}
    now64 = np.datetime64(now.replace(tzinfo=None), "us")
    hour = np.timedelta64(3_600_000_000, "us")
    ages = np.sort((rng.random(n) * days * 86_400_000_000).astype("int64"))[::-1]  # oldest first
    for lo in range(0, n, CHUNK):
        m = min(CHUNK, n - lo)
        inst = rng.choice(len(insts), size=m, p=p_inst)
        cat = rng.choice(len(cats), size=m, p=p_cat / p_cat.sum())
        opened = now64 - ages[lo:lo + m].astype("timedelta64[us]")
        major = rng.random(m) < 0.15
        dur_h = np.exp(rng.normal(0, 1.0, m)) * slowness[inst]  # log-normal: skewed to the right
        never = rng.random(m) < 0.05
        src = rng.random(m)
        u = rng.random(m)
        rows = []
        for k in range(m):
            i, c = insts[inst[k]], cats[cat[k]]
            sev = "major" if major[k] or policy.severity_for(c) == "major" else "general"
            limit_h = policy.deadline_hours(c, sev)
            o = opened[k]
            deadline = o + max(limit_h, 0.0) * hour
            d_h = dur_h[k] * max(limit_h, 2.0) * 0.5
            close = None if never[k] else o + np.timedelta64(int(d_h * 3_600_000_000), "us")
            camera = rule = zone = None
            source = "camera" if c in rule_of and src[k] < 0.8 else ("inspection" if src[k] < 0.93 else "complaint")
            if source == "camera" and by_inst.get(i.id):
                cam = by_inst[i.id][int(u[k] * len(by_inst[i.id]))]
                camera, rule, zone = cam.id, rule_of[c], (None if c == "monitoring_fault" else cam.zones[0].name)
            submitted = verified = escalated = None
            if close is not None and close <= now64:
                state, submitted, verified = "closed", o + (close - o) * 0.8, o + (close - o) * 0.95
            else:
                close = None
                elapsed = (now64 - o) / hour / max(d_h, 1e-6)
                if never[k]:  # stuck: nobody started, or the work stalls
                    elapsed = 0.1 if u[k] < 0.5 else 0.5
                state = "open" if elapsed < 0.2 else "rectifying" if elapsed < 0.7 else \
                    ("submitted" if u[k] < 0.6 else "verified")
                if state in ("submitted", "verified"):
                    submitted = o + (now64 - o) * 0.7
                if state == "verified":
                    verified = o + (now64 - o) * 0.9
            late_h = ((close if close is not None else now64) - deadline) / hour
            level = 0 if late_h <= 0 else (1 if late_h < 24 else 2)
            if level:
                escalated = deadline + (0 if level == 1 else 24) * hour
            parts = region[i.id].split("/")
            sup_region = "/".join(parts[:max(1, len(parts) - level + 1)]) if level else None
            rows.append((i.id, camera, zone, rule, c, sev, source, f"{CATEGORIES[c][0]}：{i.name}", state,
                         f"负责人{inst[k] % 37 + 1}号", o, "seed", deadline, 1 + int(u[k] * 4), submitted, verified,
                         close, 0, level, escalated, bool(level), sup_region, close if close is not None else now64))
        yield _stringify(rows)


def _stringify(rows: list[tuple]) -> list[tuple]:
    """numpy datetime64 values -> the stored text."""
    out = []
    for r in rows:
        out.append(tuple(str(v).replace("T", " ") if isinstance(v, np.datetime64) else v for v in r))
    return out


def _load(engine: Engine, table: str, columns: tuple[str, ...], chunks: Iterator[list[tuple]]) -> int:
    n = 0
    if engine.dialect.name == "postgresql":
        cols = ", ".join(columns)
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            with raw.cursor() as cur:
                cur.execute("SET TIME ZONE 'UTC'")  # the timestamps' text is UTC
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
                    for rows in chunks:
                        for r in rows:
                            cp.write_row(r)
                        n += len(rows)
            raw.commit()
        return n
    marks = ", ".join("?" * len(columns))
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        raw.execute("PRAGMA cache_size=-262144")
        cur = raw.cursor()
        cur.execute("BEGIN")
        for rows in chunks:
            cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            n += len(rows)
        raw.commit()
    return n


def analyze(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) events, hazards"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def seed(engine: Engine, *, events: int, hazards: int, institutions: int = 200, townships: int = 10, days: int = 365,
         seed: int = 1, now: datetime | None = None, log: Callable[[str], None] = lambda _: None) -> dict:
    """Fill the database behind `engine` (at the head migration); returns what was written and how fast."""
    from vigil.api.db import make_sessionmaker
    from vigil.inventory_sync import import_inventory

    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    rng = np.random.default_rng(seed)
    site = inventory(institutions, townships)
    out: dict = {"database": engine.dialect.name, "institutions": institutions, "townships": townships,
                 "cameras": len(site.cameras), "days": days, "seed": seed}
    t0 = time.perf_counter()
    with make_sessionmaker(engine)() as s:
        rep = import_inventory(s, site.institutions, site.cameras, actor="cli:seed", client="seed")
        s.commit()
    out["inventory_s"] = round(time.perf_counter() - t0, 2)
    log(f"inventory: {len(rep.added)} added, {rep.unchanged} unchanged ({out['inventory_s']} s)")
    for table, cols, n, gen in (("events", EVENT_COLUMNS, events, event_chunks),
                                ("hazards", HAZARD_COLUMNS, hazards, hazard_chunks)):
        t = time.perf_counter()
        done = _load(engine, table, cols, gen(site, n, days, now, rng)) if n else 0
        secs = time.perf_counter() - t
        out[table] = {"rows": done, "seconds": round(secs, 2), "rows_per_s": round(done / secs) if secs else None}
        log(f"{table}: {done} rows in {secs:.1f} s ({out[table]['rows_per_s']} rows/s)")
    t = time.perf_counter()
    analyze(engine)
    out["analyze_s"] = round(time.perf_counter() - t, 2)
    total = out["events"]["rows"] + out["hazards"]["rows"]
    load_s = out["events"]["seconds"] + out["hazards"]["seconds"]
    out["rows_per_s"] = round(total / load_s) if load_s else None
    out["total_s"] = round(time.perf_counter() - t0, 2)
    log(f"analyze: {out['analyze_s']} s; total {out['total_s']} s")
    return out


def engine_for(config, db: str | None) -> Engine:
    """The database of `--config FILE` or `--db URL` (exactly one), at the head migration; bad input is one
    `error:` line (exit 2)."""
    from vigil.api.db import default_sqlite_url, make_engine
    from vigil.api.migrate import upgrade
    from vigil.cli_errors import database_problem, fail, load_config_or_exit

    if bool(config) == bool(db):
        fail("give exactly one of --config FILE or --db URL")
    if config:
        cfg = load_config_or_exit(config)
        db = cfg.storage.database_url or default_sqlite_url(cfg.storage.data_dir)
    try:
        engine = make_engine(db)
        upgrade(engine)
    except Exception as exc:  # noqa: BLE001 - a bad URL or an unreachable database is bad input here
        fail(f"database URL {db}: {database_problem(exc) or f'{type(exc).__name__}: {str(exc).splitlines()[0][:200]}'}")
    return engine


def human_lines(r: dict) -> list[str]:
    return [f"{r['database']}: {r['institutions']} institutions in {r['townships']} townships, {r['cameras']} cameras "
            f"({r['inventory_s']} s)",
            *(f"{t}: {r[t]['rows']} rows in {r[t]['seconds']} s ({r[t]['rows_per_s']} rows/s)" for t in ("events", "hazards")),
            f"ANALYZE {r['analyze_s']} s; {r['rows_per_s']} rows/s overall; {r['total_s']} s in all"]
