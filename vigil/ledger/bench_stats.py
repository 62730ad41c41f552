"""`vigil bench stats`: how long the statistics take on a seeded database (`vigil db seed`), and why.

For each period (this month, the API's default; last month, a bulletin's; the last 365 days) and each caller (an admin: every
institution; the supervisor of one township), p50/p95 over `runs` calls of:
- the module functions (vigil/ledger/stats.py): per_institution, by_category, ranking, trend (day, month), overdue;
- the HTTP endpoints through the real app (FastAPI TestClient; the caller injected in place of the token lookup,
  so nothing is written to the database): /api/stats (institution, township, county, category), /api/stats/ranking,
  /api/stats/trend (day, month), /api/stats/overdue.
Then the plan of every statement behind them: EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL, EXPLAIN QUERY PLAN on
SQLite. `compare_indexes` first drops the indexes of migration 0007 (`stats_indexes()`), times the module functions
(a quarter of the runs, at least 3) and takes the plans without them, and creates them again.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine



def stats_indexes() -> dict[str, tuple[str, list[str]]]:
    """name -> (table, columns) of the indexes migration 0007 adds."""
    import importlib

    return importlib.import_module("vigil.api.migrations.versions.0007_stats_indexes").INDEXES


def _pcts(values: list[float]) -> dict[str, float]:
    v = sorted(values)
    q = statistics.quantiles(v, n=20, method="inclusive") if len(v) > 1 else v * 19
    return {"p50_ms": round(statistics.median(v) * 1000, 1), "p95_ms": round(q[18] * 1000, 1), "n": len(v)}


def _time(fn: Callable[[], Any], runs: int) -> dict[str, float]:
    fn()  # warm-up, not counted
    lat = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        lat.append(time.perf_counter() - t)
    return _pcts(lat)


def machine() -> dict:
    import os
    import platform

    from vigil.models.cpu import cpu_info

    cpu = cpu_info()
    return {"cpu": cpu.model, "cores": os.cpu_count(), "flags": cpu.speed_flags, "python": platform.python_version()}


def _runtime(url: str, data_dir: str):
    from vigil.config import parse_config
    from vigil.service import Runtime

    # a seeded database holds the inventory: the placeholder institution is never imported (not an empty database)
    cfg = {"institutions": [{"id": "bench", "name": "bench", "region": "bench"}], "cameras": [],
           "storage": {"database_url": url, "data_dir": data_dir}}
    return Runtime(parse_config(cfg), start_cameras=False)  # the inventory comes from the database


def _callers(rt) -> dict[str, Any]:
    from vigil.access import Principal, Scope
    from vigil.ledger.stats import institutions_from_runtime

    insts = institutions_from_runtime(rt)
    towns: dict[str, int] = {}
    for i in insts.values():
        town = "/".join(i.region.split("/")[:2])
        towns[town] = towns.get(town, 0) + 1
    town = max(sorted(towns), key=lambda t: towns[t])
    return {"admin": Principal(1, "bench-admin", "admin", Scope.all(), via="token"),
            "township": Principal(2, "bench-township", "supervisor", Scope(False, frozenset({town})), via="token")}


def _scoped(rt, who) -> dict:
    from vigil.api.security import visible_institutions
    from vigil.ledger.stats import institutions_from_runtime

    insts, visible = institutions_from_runtime(rt), visible_institutions(rt, who)
    return insts if visible is None else {k: v for k, v in insts.items() if k in visible}


def module_calls(s, insts: dict, since: datetime, until: datetime, now: datetime, tz) -> dict[str, Callable]:
    from vigil.ledger import stats

    return {"per_institution": lambda: stats.per_institution(s, insts, since, until, now),
            "rollup_township": lambda: stats.rollup(stats.per_institution(s, insts, since, until, now), 2),
            "by_category": lambda: stats.by_category(s, insts, since, until, now),
            "ranking": lambda: stats.ranking(stats.per_institution(s, insts, since, until, now)),
            "trend_day": lambda: stats.trend(s, insts, since, until, "day", tz),
            "trend_month": lambda: stats.trend(s, insts, since, until, "month", tz),
            "overdue": lambda: stats.overdue(s, insts, now)}


def statements(dialect: str, ids: list[str], since: datetime, until: datetime, now: datetime) -> dict[str, Any]:
    from vigil.ledger import stats
    from vigil.ledger.stats_trend import trend_queries

    out = {f"institution.{k}": q for k, q in stats.queries(dialect, "institution", ids, since, until, now).items()}
    out |= {f"category.{k}": q for k, q in stats.queries(dialect, "category", ids, since, until, now).items()
            if k != "durations"}  # the same statement as institution.durations but for its key column
    out |= {f"trend.{k}": q for k, q in trend_queries(dialect, ids, since, until).items()}
    out["overdue"] = stats.overdue_query(ids, now, 200)
    return out


def explain(engine: Engine, stmt) -> dict:
    """The plan of one statement (PostgreSQL: executed, with its time)."""
    sql = str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    with engine.connect() as c:
        if engine.dialect.name == "postgresql":
            lines = [r[0] for r in c.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql.replace("%", "%%"))]
            ms = next((float(x.split(":")[1].split()[0]) for x in lines if x.startswith("Execution Time")), None)
            return {"ms": ms, "plan": lines}
        t = time.perf_counter()
        c.exec_driver_sql(sql).all()
        ms = round((time.perf_counter() - t) * 1000, 1)
        return {"ms": ms, "plan": [r[-1] for r in c.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]}


def _periods(now: datetime, tz, names: list[str]) -> dict[str, tuple[datetime, datetime]]:
    from vigil.ledger.stats_trend import month_period

    this = month_period(now, tz)
    all_ = {"this_month": this, "last_month": month_period(this[0] - timedelta(days=1), tz),
            "year": (now - timedelta(days=365), now)}
    return {n: all_[n] for n in names}


def _module_pass(rt, callers: dict, periods: dict, runs: int, log) -> tuple[dict, dict]:
    timings: dict = {}
    plans: dict = {}
    now = rt.clock.now()
    for pname, (since, until) in periods.items():
        for cname, who in callers.items():
            insts = _scoped(rt, who)
            with rt.sessions() as s:
                for fname, fn in module_calls(s, insts, since, until, now, rt.tz).items():
                    timings.setdefault(pname, {}).setdefault(cname, {})[fname] = r = _time(fn, runs)
                    log(f"{pname} {cname} {fname}: p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms")
            for qname, stmt in statements(rt.engine.dialect.name, sorted(insts), since, until, now).items():
                plans.setdefault(pname, {}).setdefault(cname, {})[qname] = explain(rt.engine, stmt)
    return timings, plans


def _http_pass(rt, callers: dict, periods: dict, runs: int, log) -> dict:
    from fastapi.testclient import TestClient

    from vigil.api.app import create_app
    from vigil.api.security import get_principal

    app = create_app(rt)
    current: dict = {}
    app.dependency_overrides[get_principal] = lambda: current["who"]
    client = TestClient(app)
    out: dict = {}
    paths = {"stats_institution": ("/api/stats", {}), "stats_township": ("/api/stats", {"group": "township"}),
             "stats_county": ("/api/stats", {"group": "county"}), "stats_category": ("/api/stats", {"group": "category"}),
             "ranking": ("/api/stats/ranking", {"limit": 20}), "trend_day": ("/api/stats/trend", {"bucket": "day"}),
             "trend_month": ("/api/stats/trend", {"bucket": "month"}), "overdue": ("/api/stats/overdue", {})}
    for pname, (since, until) in periods.items():
        for cname, who in callers.items():
            current["who"] = who
            for name, (path, params) in paths.items():
                q = params if path.endswith("overdue") else {**params, "since": since.isoformat(), "until": until.isoformat()}

                def call(path=path, q=q):
                    r = client.get(path, params=q)
                    assert r.status_code == 200, (path, r.status_code, r.text[:300])

                out.setdefault(pname, {}).setdefault(cname, {})[f"GET {path} {params or ''}".strip()] = r = _time(call, runs)
                log(f"{pname} {cname} GET {path} {params}: p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms")
    return out


def _stats_indexes(engine: Engine):
    from vigil.api.db import Base

    names = stats_indexes()
    return [i for t in ("events", "hazards") for i in Base.metadata.tables[t].indexes if i.name in names]


PERIODS = ("this_month", "last_month", "year")


def bench_stats(url: str, runs: int = 20, periods: tuple[str, ...] = ("last_month", "year"), compare_indexes: bool = False,
                http: bool = True, log: Callable[[str], None] = lambda _: None) -> dict:
    from vigil.api.db import EventRow
    from vigil.api.db_ledger import HazardRow

    with tempfile.TemporaryDirectory(prefix="vigil-bench-stats-") as data_dir:
        rt = _runtime(url, data_dir)
        try:
            with rt.sessions() as s:
                counts = {"events": s.scalar(select(func.count()).select_from(EventRow)),
                          "hazards": s.scalar(select(func.count()).select_from(HazardRow)),
                          "institutions": len(rt.institutions)}
            callers = _callers(rt)
            now = rt.clock.now()
            pers = _periods(now, rt.tz, list(periods))
            result: dict = {"machine": machine(), "database": rt.engine.dialect.name,
                            "server_version": _version(rt.engine), "rows": counts, "runs": runs,
                            "callers": {k: v.scope.describe() for k, v in callers.items()},
                            "institutions_seen": {k: len(_scoped(rt, v)) for k, v in callers.items()},
                            "periods": {k: [a.isoformat(), b.isoformat()] for k, (a, b) in pers.items()}}
            if compare_indexes:
                idx = _stats_indexes(rt.engine)
                for i in idx:
                    i.drop(bind=rt.engine, checkfirst=True)
                _analyze(rt.engine)
                log("without the 0007 indexes:")
                try:
                    few = max(3, runs // 4)  # slow without them: fewer runs
                    result["without_indexes"] = dict(zip(("module", "plans"), _module_pass(rt, callers, pers, few, log)))
                finally:
                    t = time.perf_counter()
                    for i in idx:
                        i.create(bind=rt.engine, checkfirst=True)
                    _analyze(rt.engine)
                    result["index_build_s"] = round(time.perf_counter() - t, 1)
                log("with them:")
            result["module"], result["plans"] = _module_pass(rt, callers, pers, runs, log)
            if http:
                result["http"] = _http_pass(rt, callers, pers, runs, log)
        finally:
            rt.stop()
            rt.engine.dispose()
    return result


def _analyze(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE"))


def _version(engine: Engine) -> str:
    with engine.connect() as c:
        if engine.dialect.name == "postgresql":
            return c.execute(text("SHOW server_version")).scalar()
        return "SQLite " + c.execute(text("select sqlite_version()")).scalar()


def human_lines(r: dict) -> list[str]:
    out = [f"CPU: {r['machine']['cpu']} ({r['machine']['cores']} cores); {r['server_version']}; {r['rows']}"]
    for part in ("module", "http"):
        for pname, by_caller in r.get(part, {}).items():
            for cname, items in by_caller.items():
                for name, t in items.items():
                    out.append(f"{part:6} {pname:10} {cname:8} {name:50} p50 {t['p50_ms']:8.1f} ms  p95 {t['p95_ms']:8.1f} ms")
    return out

