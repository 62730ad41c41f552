"""Statistics over time (issue #16): the period helpers (this month in the server's timezone, bounds) and `trend`,
counts per day, ISO week or month of the server's timezone.

The counting is done in SQL by UTC hour (`date_trunc` on PostgreSQL, the first 13 characters of the stored UTC
text on SQLite); each hour then goes to its local day, week or month in Python. That is exact whenever the buckets
start on whole UTC hours (every zone with whole-hour offsets, daylight saving or not, China's included); otherwise
(half-hour zones such as Asia/Kolkata) each bucket is counted by its own range query.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, Literal

from sqlalchemy import Select, func, literal_column, select, text
from sqlalchemy.orm import Session

from vigil.api.db import EventRow
from vigil.api.db_base import utc
from vigil.api.db_ledger import HazardRow

Bucket = Literal["day", "week", "month"]
MAX_BUCKETS = 1000
# statistics look at times within these bounds (outside them nothing is stored; local-time arithmetic near
# datetime's own ends would overflow)
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)


def clamp(dt: datetime) -> datetime:
    return min(max(utc(dt), EARLIEST), LATEST)


def _month_start(d: date) -> date:
    return d.replace(day=1)


def _next_month(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def _local_midnight(d: date, tz: tzinfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=tz).astimezone(timezone.utc)


def month_period(at: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """[first of the month, first of the next month) of the local month holding `at`, in UTC."""
    first = _month_start(clamp(at).astimezone(tz).date())
    return _local_midnight(first, tz), _local_midnight(_next_month(first), tz)


def period(since: datetime | None, until: datetime | None, now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """The period a request means, in UTC within [EARLIEST, LATEST]: by default the local month of `now`; with only
    `since`, up to the end of its month; with only `until`, from the start of the month before it."""
    if since is None and until is None:
        return month_period(now, tz)
    if until is None:
        return clamp(since), max(clamp(since), month_period(since, tz)[1])
    if since is None:
        return min(month_period(clamp(until) - timedelta(microseconds=1), tz)[0], clamp(until)), clamp(until)
    return clamp(since), clamp(until)


def _start(d: date, bucket: Bucket) -> date:
    if bucket == "day":
        return d
    if bucket == "week":
        return d - timedelta(days=d.weekday())  # ISO weeks start on Monday
    return _month_start(d)


def _next(d: date, bucket: Bucket) -> date:
    return d + timedelta(days=1) if bucket == "day" else d + timedelta(days=7) if bucket == "week" else _next_month(d)


def label(d: date, bucket: Bucket) -> str:
    """2026-11-20 | 2026-W47 (ISO week) | 2026-11."""
    if bucket == "day":
        return d.isoformat()
    if bucket == "week":
        y, w, _ = d.isocalendar()
        return f"{y}-W{w:02d}"
    return f"{d.year}-{d.month:02d}"


def buckets(since: datetime, until: datetime, bucket: Bucket, tz: tzinfo) -> list[tuple[str, datetime, datetime]]:
    """(label, start, end) in UTC of each local bucket that [since, until) touches, cut to [since, until)."""
    since, until = clamp(since), clamp(until)
    out: list[tuple[str, datetime, datetime]] = []
    if since >= until:
        return out
    d = _start(since.astimezone(tz).date(), bucket)
    while True:
        start, end = _local_midnight(d, tz), _local_midnight(_next(d, bucket), tz)
        if start >= until:
            return out
        if end > since:
            out.append((label(d, bucket), max(start, since), min(end, until)))
            if len(out) > MAX_BUCKETS:
                raise ValueError(f"more than {MAX_BUCKETS} {bucket} buckets: ask for a shorter period")
        d = _next(d, bucket)


def earliest_since(until: datetime, bucket: Bucket) -> datetime:
    """The earliest `since` that keeps a trend ending at `until` within MAX_BUCKETS buckets."""
    days = {"day": 1, "week": 7, "month": 28}[bucket] * (MAX_BUCKETS - 10)
    return max(EARLIEST, clamp(until) - timedelta(days=days))


def _hour(d: str, col):
    """The UTC hour of a timestamp column. Constants inline, not as parameters: PostgreSQL must see the same
    expression in SELECT and GROUP BY. date_bin (PostgreSQL 14+) takes half the time of date_trunc in UTC."""
    if d == "postgresql":
        return func.date_bin(literal_column("interval '1 hour'"), col,
                             literal_column("timestamptz '2000-01-01 00:00:00+00'"))
    if d == "postgresql<14":
        return func.date_trunc(literal_column("'hour'"), func.timezone(literal_column("'UTC'"), col))
    return func.substr(col, literal_column("1"), literal_column("13"))  # 'YYYY-MM-DD HH' of the stored UTC text


def _parse_hour(v: Any) -> datetime:
    if isinstance(v, datetime):
        return utc(v)
    return datetime(int(v[:4]), int(v[5:7]), int(v[8:10]), int(v[11:13]), tzinfo=timezone.utc)


def custom_plans(s: Session) -> None:
    """PostgreSQL: plan every statement of this transaction for its own parameters. psycopg prepares a statement
    once it ran 5 times, and PostgreSQL then may switch to a generic plan, which for an IN list of institutions and a
    period is up to 10x slower (measured: 40 -> 450 ms for the hazards of a year). Ends with the transaction."""
    dialect = s.get_bind().dialect
    if dialect.name == "postgresql" and (dialect.server_version_info or (12,)) >= (12,):
        s.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def dialect_of(s: Session) -> str:
    """'sqlite', 'postgresql', or 'postgresql<14' (no date_bin)."""
    dialect = s.get_bind().dialect
    if dialect.name == "postgresql" and (dialect.server_version_info or (14,)) < (14,):
        return "postgresql<14"
    return dialect.name


def trend_queries(d: str, ids: list[str], since: datetime, until: datetime, hourly: bool = True) -> dict[str, Select]:
    """Events (with confirmed), hazards opened, hazards closed in [since, until), by UTC hour (or in all)."""
    since, until = clamp(since), clamp(until)
    n = func.count()
    e, h = EventRow, HazardRow
    specs = {"events": (e.started_at, (n, n.filter(e.review_status == "confirmed")), (e.institution_id.in_(ids),)),
             "opened": (h.opened_at, (n,), (h.institution_id.in_(ids),)),
             "closed": (h.closed_at, (n,), (h.institution_id.in_(ids), h.state == "closed"))}
    out = {}
    for name, (col, counts, where) in specs.items():
        cond = (*where, col >= since, col < until)
        out[name] = (select(_hour(d, col), *counts).where(*cond).group_by(_hour(d, col)) if hourly
                     else select(*counts).where(*cond))
    return out


def trend(s: Session, insts: Mapping[str, Any], since: datetime, until: datetime, bucket: Bucket,
          tz: tzinfo) -> list[dict]:
    """One dict per local day / ISO week / month touched by [since, until): period (label), start, end (local),
    events, confirmed, hazards_opened, hazards_closed (closed in that bucket). ValueError beyond MAX_BUCKETS."""
    bks = buckets(since, until, bucket, tz)
    rows = [{"period": lab, "start": a.astimezone(tz), "end": b.astimezone(tz), "events": 0, "confirmed": 0,
             "hazards_opened": 0, "hazards_closed": 0} for lab, a, b in bks]
    ids = sorted(insts)
    if not rows or not ids:
        return rows
    d = dialect_of(s)
    custom_plans(s)
    fields = {"events": ("events", "confirmed"), "opened": ("hazards_opened",), "closed": ("hazards_closed",)}
    if all(a.minute == a.second == a.microsecond == 0 for _, a, _ in bks[1:]):
        starts = [a for _, a, _ in bks]
        for name, q in trend_queries(d, ids, bks[0][1], bks[-1][2]).items():
            for hour, *counts in s.execute(q):
                row = rows[max(0, bisect_right(starts, _parse_hour(hour)) - 1)]
                for f, c in zip(fields[name], counts):
                    row[f] += c
        return rows
    for row, (_, a, b) in zip(rows, bks):  # buckets not on whole UTC hours: one range query per bucket
        for name, q in trend_queries(d, ids, a, b, hourly=False).items():
            for f, c in zip(fields[name], s.execute(q).one()):
                row[f] += c
    return rows
