"""Statistics and rankings of the hazard ledger (issue #16): per institution, rolled up by township and county, per
category, over time, and the overdue list. Plain functions on a Session (no web framework); the counting is done in
SQL (GROUP BY with conditional counts), the close-time percentiles in Python from the close durations, which SQL
returns in seconds. SQLite and PostgreSQL alike.

The figures of a period [since, until) (`Stats`):
- events: events that started in the period, by review status; `confirmed_share` = confirmed / (confirmed +
  false_alarm), the share of decided events that were real (None when none was decided).
- hazards_opened: hazards opened in the period. hazards_closed: those of them closed before `until`
  (state closed). rectification_rate (整改率) = hazards_closed / hazards_opened; on_time_rate = closed by their
  deadline / hazards_closed; median_close_h / p90_close_h: hours from opening to closing of the closed ones
  (linear interpolation between ranks, as PostgreSQL's percentile_cont).
- hazards_open, hazards_overdue, supervised: the backlog at `now` among hazards opened before `until`: not closed;
  of those, past their deadline; of those not closed, supervised-listed (挂牌督办).
- cameras: enabled cameras now; camera_days = cameras x days of the period up to `now`;
  hazards_per_camera_day = hazards_opened / camera_days.
- gate_in, gate_out, night_exits: people the institution's gate cameras counted going in and out in the period (hours
  starting in it), and the exits inside the gate rule's night window (not part of the score).
- score (higher = supervise first), see `SCORE_WEIGHTS`:
      3 x overdue + 2 x supervised + 1 x open + 10 x (1 - rectification_rate) + 5 x (1 - on_time_rate)
      + 100 x hazards_per_camera_day                      (a rate that is None adds nothing)
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Integer, Select, and_, cast, extract, func, select
from sqlalchemy.orm import Session

from vigil.access import normalise_region
from vigil.api.db import EventRow
from vigil.api.db_base import utc  # every bound aware UTC: SQLite compares the stored UTC text
from vigil.api.db_gate import GateCountRow
from vigil.api.db_ledger import HazardRow
from vigil.ledger.config import CATEGORIES, RULE_CATEGORY
from vigil.ledger.states import OPEN_STATES
from vigil.ledger.stats_trend import custom_plans, trend, trend_queries  # the trend lives next door

SCORE_WEIGHTS = {"overdue": 3.0, "supervised": 2.0, "open": 1.0, "unrectified": 10.0, "late": 5.0, "density": 100.0}
Key = Literal["institution", "category"]


@dataclass(frozen=True)
class InstitutionInfo:
    id: str
    name: str
    region: str  # path "示范县/城关镇"
    cameras: int  # enabled cameras


@dataclass
class Stats:
    """One institution, or a region/category rollup (see the module's docstring for each figure)."""

    key: str
    name: str
    region: str
    cameras: int = 0
    camera_days: float = 0.0
    events: int = 0
    confirmed: int = 0
    false_alarm: int = 0
    pending: int = 0
    confirmed_share: float | None = None
    hazards_opened: int = 0
    hazards_closed: int = 0
    hazards_open: int = 0
    hazards_overdue: int = 0
    supervised: int = 0
    rectification_rate: float | None = None
    on_time_rate: float | None = None
    median_close_h: float | None = None
    p90_close_h: float | None = None
    hazards_per_camera_day: float | None = None
    score: float = 0.0
    gate_in: int = 0  # people the gate cameras saw going in during the period (the gate rule's counts)
    gate_out: int = 0
    night_exits: int = 0  # of gate_out, inside the rule's night window
    # beyond the interface: what rollups need to recompute the rates and percentiles exactly
    needs_onsite_check: int = 0
    hazards_on_time: int = 0
    institutions: int = 0
    close_hours: tuple[float, ...] = field(default=(), repr=False, compare=False)


COUNTS = ("cameras", "camera_days", "events", "confirmed", "false_alarm", "pending", "needs_onsite_check",
          "hazards_opened", "hazards_closed", "hazards_on_time", "hazards_open", "hazards_overdue", "supervised",
          "institutions", "gate_in", "gate_out", "night_exits")


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks (PostgreSQL's percentile_cont); None for no values."""
    if not values:
        return None
    v = sorted(values)
    pos = (len(v) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def finish(st: Stats) -> Stats:
    """Fill in the derived figures (shares, rates, percentiles, score) from the counts and close hours."""
    st.confirmed_share = _ratio(st.confirmed, st.confirmed + st.false_alarm)
    st.rectification_rate = _ratio(st.hazards_closed, st.hazards_opened)
    st.on_time_rate = _ratio(st.hazards_on_time, st.hazards_closed)
    hours = sorted(st.close_hours)
    st.close_hours = tuple(hours)
    st.median_close_h, st.p90_close_h = percentile(hours, 0.5), percentile(hours, 0.9)
    st.hazards_per_camera_day = _ratio(st.hazards_opened, st.camera_days)
    st.score = score(st)
    return st


def score(st: Stats) -> float:
    w = SCORE_WEIGHTS
    value = w["overdue"] * st.hazards_overdue + w["supervised"] * st.supervised + w["open"] * st.hazards_open
    if st.rectification_rate is not None:
        value += w["unrectified"] * (1 - st.rectification_rate)
    if st.on_time_rate is not None:
        value += w["late"] * (1 - st.on_time_rate)
    if st.hazards_per_camera_day is not None:
        value += w["density"] * st.hazards_per_camera_day
    return round(value, 4)


def institutions_from_runtime(rt) -> dict[str, InstitutionInfo]:
    cams: dict[str, int] = defaultdict(int)
    for c in rt.cfg.cameras:
        if c.enabled:
            cams[c.institution] += 1
    return {i.id: InstitutionInfo(i.id, i.name, normalise_region(i.region), cams.get(i.id, 0))
            for i in rt.institutions.values()}


# -- the queries ---------------------------------------------------------------------------------------------------

def dialect(s: Session) -> str:
    return s.get_bind().dialect.name


def seconds_between(d: str, start, end):
    """SQL: whole seconds from `start` to `end` (two timestamp columns), an integer (cheap to fetch, the same on
    both databases)."""
    secs = extract("epoch", end - start) if d == "postgresql" else \
        (func.julianday(end) - func.julianday(start)) * 86400.0
    return cast(func.round(secs), Integer)


def not_closed() -> tuple:
    """Hazards not closed: closing sets closed_at and reopening clears it, so `closed_at IS NULL` says the same as the
    state, and both planners know it is rare (PostgreSQL's null fraction; SQLite's index statistics)."""
    return HazardRow.closed_at.is_(None), HazardRow.state.in_(OPEN_STATES)


def _closed_by(until: datetime):
    return and_(HazardRow.state == "closed", HazardRow.closed_at.is_not(None), HazardRow.closed_at < until)


def queries(d: str, key: Key, ids: list[str], since: datetime, until: datetime, now: datetime) -> dict[str, Select]:
    """The four statements behind `per_institution` (key institution) and `by_category` (key category); the
    benchmark EXPLAINs them. `ids` are the institutions counted."""
    since, until, now = utc(since), utc(until), utc(now)
    ekey = EventRow.institution_id if key == "institution" else EventRow.rule
    hkey = HazardRow.institution_id if key == "institution" else HazardRow.category
    n = func.count()
    events = (select(ekey, n, n.filter(EventRow.review_status == "confirmed"),
                     n.filter(EventRow.review_status == "false_alarm"), n.filter(EventRow.review_status == "pending"),
                     n.filter(EventRow.review_status == "needs_onsite_check"))
              .where(EventRow.institution_id.in_(ids), EventRow.started_at >= since, EventRow.started_at < until)
              .group_by(ekey))
    in_period = (HazardRow.institution_id.in_(ids), HazardRow.opened_at >= since, HazardRow.opened_at < until)
    closed = _closed_by(until)
    hazards = (select(hkey, n, n.filter(closed), n.filter(closed, HazardRow.closed_at <= HazardRow.deadline_at))
               .where(*in_period).group_by(hkey))
    backlog = (select(hkey, n, n.filter(HazardRow.deadline_at < now), n.filter(HazardRow.supervised.is_(True)))
               .where(HazardRow.institution_id.in_(ids), *not_closed(), HazardRow.opened_at < until)
               .group_by(hkey))
    secs = seconds_between(d, HazardRow.opened_at, HazardRow.closed_at)
    # one row per key with all its close durations (an array / a comma list): 3-4x faster to fetch than a row each
    durations = (select(hkey, func.array_agg(secs) if d == "postgresql" else func.group_concat(secs))
                 .where(*in_period, closed).group_by(hkey))
    out = {"events": events, "hazards": hazards, "backlog": backlog, "durations": durations}
    if key == "institution":  # people in and out (the gate rule's hourly counts; hours starting in the period)
        g = GateCountRow
        out["gate"] = (select(g.institution_id, func.sum(g.entries), func.sum(g.exits), func.sum(g.night_out))
                       .where(g.institution_id.in_(ids), g.hour >= since, g.hour < until).group_by(g.institution_id))
    return out


def _collect(s: Session, key: Key, ids: list[str], since: datetime, until: datetime, now: datetime) -> dict[str, dict]:
    """key -> counts and close hours."""
    out: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    if not ids:
        return out
    q = queries(dialect(s), key, ids, since, until, now)
    custom_plans(s)
    fix = (lambda k: RULE_CATEGORY.get(k, "other")) if key == "category" else (lambda k: k)
    for k, total, confirmed, false_alarm, pending, onsite in s.execute(q["events"]):
        o = out[fix(k)]
        o["events"] += total
        o["confirmed"] += confirmed
        o["false_alarm"] += false_alarm
        o["pending"] += pending
        o["needs_onsite_check"] += onsite
    for k, opened, closed, on_time in s.execute(q["hazards"]):
        out[k].update(hazards_opened=opened, hazards_closed=closed, hazards_on_time=on_time)
    for k, open_, overdue_, supervised in s.execute(q["backlog"]):
        out[k].update(hazards_open=open_, hazards_overdue=overdue_, supervised=supervised)
    if "gate" in q:
        for k, entries, exits, night in s.execute(q["gate"]):
            out[k].update(gate_in=int(entries or 0), gate_out=int(exits or 0), night_exits=int(night or 0))
    for k, secs in s.execute(q["durations"]):
        values = secs if isinstance(secs, list) else str(secs).split(",")
        out[k]["close_hours"] = tuple(int(v) / 3600.0 for v in values)
    return out


def _days(since: datetime, until: datetime, now: datetime) -> float:
    return max(0.0, (min(utc(until), utc(now)) - utc(since)).total_seconds() / 86400.0)


def _stats(key: str, name: str, region: str, cameras: int, days: float, counts: Mapping[str, Any],
           institutions: int = 1) -> Stats:
    st = Stats(key=key, name=name, region=region, cameras=cameras, camera_days=cameras * days,
               institutions=institutions, close_hours=tuple(counts.get("close_hours", ())))
    for f in COUNTS:
        if f in counts:
            setattr(st, f, counts[f])
    return finish(st)


def per_institution(s: Session, insts: Mapping[str, InstitutionInfo], since: datetime, until: datetime,
                    now: datetime) -> list[Stats]:
    """One row per institution of `insts` (those without events or hazards too), in name order."""
    counts = _collect(s, "institution", sorted(insts), since, until, now)
    days = _days(since, until, now)
    rows = [_stats(i.id, i.name, i.region, i.cameras, days, counts.get(i.id, {})) for i in insts.values()]
    return sorted(rows, key=lambda r: (r.region, r.name, r.key))


def by_category(s: Session, insts: Mapping[str, InstitutionInfo], since: datetime, until: datetime,
                now: datetime) -> list[Stats]:
    """One row per category (CATEGORIES' order; key = category, name = its zh-CN name). Events count under the
    category of their rule (RULE_CATEGORY; any other rule under `other`)."""
    counts = _collect(s, "category", sorted(insts), since, until, now)
    cameras, days = sum(i.cameras for i in insts.values()), _days(since, until, now)
    return [_stats(c, zh, "", cameras, days, counts.get(c, {}), len(insts)) for c, (zh, _en) in CATEGORIES.items()]


def _merge(key: str, name: str, region: str, rows: list[Stats]) -> Stats:
    st = Stats(key=key, name=name, region=region)
    for f in COUNTS:
        setattr(st, f, sum(getattr(r, f) for r in rows))
    st.close_hours = tuple(h for r in rows for h in r.close_hours)
    return finish(st)


def rollup(rows: list[Stats], level: int) -> list[Stats]:
    """Institution rows grouped by the first `level` parts of their region path (1: county, 2: township); key and
    region = that path, name = its last part. Rates and percentiles are recomputed from the sums and close hours."""
    groups: dict[str, list[Stats]] = defaultdict(list)
    for r in rows:
        groups["/".join(normalise_region(r.region).split("/")[:level])].append(r)
    return [_merge(path, path.rsplit("/", 1)[-1], path, g) for path, g in sorted(groups.items())]


def total(rows: list[Stats], name: str = "合计") -> Stats:
    """All rows together (institution rows: their institutions; category rows of one scope: see `by_category`)."""
    if rows and all(r.region == "" for r in rows):  # category rows share the cameras and institutions of the scope
        st = _merge("total", name, "", rows)
        st.cameras, st.camera_days, st.institutions = rows[0].cameras, rows[0].camera_days, rows[0].institutions
        return finish(st)
    return _merge("total", name, "", rows)


def ranking(rows: list[Stats]) -> list[Stats]:
    """Sorted by score, highest first (ties: more overdue first, then by name)."""
    return sorted(rows, key=lambda r: (-r.score, -r.hazards_overdue, r.name, r.key))


def overdue_query(ids: list[str], now: datetime, limit: int) -> Select:
    h = HazardRow
    return (select(h.id, h.institution_id, h.category, h.severity, h.state, h.title, h.opened_at, h.deadline_at,
                   h.supervised, h.escalation_level, h.responsible)
            .where(h.institution_id.in_(ids), *not_closed(), h.deadline_at < utc(now))
            .order_by(h.deadline_at, h.id).limit(limit))


def overdue(s: Session, insts: Mapping[str, InstitutionInfo], now: datetime, limit: int = 200) -> list[dict]:
    """Hazards not closed and past their deadline at `now`, longest overdue first (at most `limit`)."""
    if not insts:
        return []
    now = utc(now)
    custom_plans(s)
    out = []
    for r in s.execute(overdue_query(sorted(insts), now, limit)):
        inst = insts.get(r.institution_id)
        deadline = utc(r.deadline_at)
        out.append({"id": r.id, "institution": r.institution_id, "institution_name": inst.name if inst else None,
                    "region": inst.region if inst else None, "category": r.category,
                    "category_name": CATEGORIES.get(r.category, (r.category,))[0], "severity": r.severity,
                    "state": r.state, "title": r.title, "opened_at": utc(r.opened_at), "deadline_at": deadline,
                    "overdue_h": round((now - deadline).total_seconds() / 3600.0, 2), "supervised": bool(r.supervised),
                    "escalation_level": r.escalation_level, "responsible": r.responsible})
    return out


def as_dict(st: Stats) -> dict[str, Any]:
    """The figures of a row without its raw close hours (what the API and the bulletin show)."""
    return {f.name: getattr(st, f.name) for f in fields(st) if f.name != "close_hours"}


__all__ = ["InstitutionInfo", "SCORE_WEIGHTS", "Stats", "as_dict", "by_category", "finish", "institutions_from_runtime",
           "overdue", "overdue_query", "per_institution", "percentile", "queries", "ranking", "rollup", "score",
           "total", "trend", "trend_queries"]
