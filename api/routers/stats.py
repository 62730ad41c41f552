"""Statistics and rankings of the hazard ledger over HTTP (thin: the figures are computed in vigil/ledger/stats.py).

Every route asks `stats.read` and counts only the institutions of the caller's scope; an `institution` or `region`
filter outside that scope answers 404, the same as one that does not exist. Periods are [since, until), by default
the current month of the server's timezone (`server.timezone`)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.access import Principal, normalise_region, region_covers
from vigil.api.db_inventory import RegionRow
from vigil.api.deps import get_runtime, get_session
from vigil.api.errors import error_responses
from vigil.api.schemas import ID_PATTERN, MAX_ID, UtcDateTime
from vigil.api.security import require, visible_institutions
from vigil.ledger import stats
from vigil.ledger.stats_trend import earliest_since, period
from vigil.service import Runtime

router = APIRouter(tags=["stats"])
REGION_PATTERN = r"^[^\x00]{1,255}$"
ERRORS = error_responses(401, 403, 404, 422, e404={"description": "The institution or region does not exist, or lies "
                                                                   "outside the caller's scope"},
                         e422={"description": "Invalid parameters, or 'since' not earlier than 'until'"})


class StatsOut(BaseModel):
    key: str = Field(title="Key", description="Institution id, region path, category, or 'total'.")
    name: str = Field(title="Name", description="Institution name, the region's last part, or the category (zh-CN).")
    region: str = Field(title="Region", description="Region path (empty for categories and totals).")
    institutions: int = Field(title="Institutions", description="Institutions counted.", ge=0, le=MAX_ID)
    cameras: int = Field(title="Cameras", description="Enabled cameras now.", ge=0, le=MAX_ID)
    camera_days: float = Field(title="Camera-days", description="Cameras x days of the period up to now.", ge=0)
    events: int = Field(title="Events", description="Events started in the period.", ge=0, le=MAX_ID)
    confirmed: int = Field(title="Confirmed", description="Of them, confirmed by a reviewer.", ge=0, le=MAX_ID)
    false_alarm: int = Field(title="False alarms", description="Of them, dismissed as false alarms.", ge=0, le=MAX_ID)
    pending: int = Field(title="Pending", description="Of them, not reviewed yet.", ge=0, le=MAX_ID)
    needs_onsite_check: int = Field(title="On-site checks", description="Of them, waiting for an on-site check.",
                                    ge=0, le=MAX_ID)
    confirmed_share: float | None = Field(title="Confirmed share", description=(
        "confirmed / (confirmed + false alarms); null when none was decided."), ge=0, le=1)
    hazards_opened: int = Field(title="Hazards opened", description="Hazards opened in the period.", ge=0, le=MAX_ID)
    hazards_closed: int = Field(title="Hazards closed", description=(
        "Of the hazards opened in the period, those closed before its end."), ge=0, le=MAX_ID)
    hazards_on_time: int = Field(title="Closed on time", description="Of those closed, closed by their deadline.",
                                 ge=0, le=MAX_ID)
    hazards_open: int = Field(title="Open now", description=(
        "Hazards opened before the period's end and not closed now."), ge=0, le=MAX_ID)
    hazards_overdue: int = Field(title="Overdue now", description="Of the open ones, past their deadline now.",
                                 ge=0, le=MAX_ID)
    supervised: int = Field(title="Supervised (挂牌督办)", description="Of the open ones, supervised-listed.",
                            ge=0, le=MAX_ID)
    rectification_rate: float | None = Field(title="Rectification rate (整改率)", description=(
        "hazards_closed / hazards_opened; null without hazards opened."), ge=0, le=1)
    on_time_rate: float | None = Field(title="On-time rate", description=(
        "hazards_on_time / hazards_closed; null without hazards closed."), ge=0, le=1)
    median_close_h: float | None = Field(title="Median close time (h)", description=(
        "Hours from opening to closing of the hazards closed (null: none)."), ge=0)
    p90_close_h: float | None = Field(title="90th percentile close time (h)", description=(
        "Hours from opening to closing, 90th percentile (linear interpolation)."), ge=0)
    hazards_per_camera_day: float | None = Field(title="Hazards per camera-day", description=(
        "hazards_opened / camera_days; null without camera-days."), ge=0)
    gate_in: int = Field(0, title="Gate: in", description=(
        "People the gate cameras counted going in during the period (gate rule; 0 for categories)."), ge=0, le=MAX_ID)
    gate_out: int = Field(0, title="Gate: out", description="People counted going out during the period.", ge=0,
                          le=MAX_ID)
    night_exits: int = Field(0, title="Night exits", description=(
        "Of those going out, inside the gate rule's night window (夜间外出)."), ge=0, le=MAX_ID)
    score: float = Field(title="Score", description=(
        "Higher = supervise first: 3 x overdue + 2 x supervised + 1 x open + 10 x (1 - rectification rate) "
        "+ 5 x (1 - on-time rate) + 100 x hazards per camera-day (a null rate adds nothing)."), ge=0)


class StatsPage(BaseModel):
    since: datetime = Field(title="Since", description="Start of the period (UTC, included).")
    until: datetime = Field(title="Until", description="End of the period (UTC, excluded).")
    now: datetime = Field(title="Now", description="When the backlog (open, overdue, supervised) was counted.")
    group: Literal["institution", "township", "county", "category"] = Field(title="Grouped by")
    rows: list[StatsOut] = Field(title="Rows", description="One per institution, township, county or category.")
    total: StatsOut = Field(title="Total", description="All rows together.")
    timezone: str = Field(title="Time zone", description=(
        "The service's time zone (server.timezone), in which the default period and the days are counted: a "
        "client picking calendar days sends their midnights in it."), examples=["Asia/Shanghai"])


class RankedOut(StatsOut):
    rank: int = Field(title="Rank", description="1 = supervise first.", ge=1, le=MAX_ID)


class RankingPage(BaseModel):
    since: datetime = Field(title="Since")
    until: datetime = Field(title="Until")
    now: datetime = Field(title="Now")
    items: list[RankedOut] = Field(title="Institutions", description="Highest score first (ties: more overdue, "
                                                                     "then by name).")


class TrendPoint(BaseModel):
    period: str = Field(title="Period", description="2026-11-20 (day), 2026-W47 (ISO week) or 2026-11 (month).")
    start: datetime = Field(title="Start", description="Start of the bucket within the period (server timezone).")
    end: datetime = Field(title="End", description="End of the bucket within the period (excluded).")
    events: int = Field(title="Events", ge=0, le=MAX_ID)
    confirmed: int = Field(title="Confirmed events", ge=0, le=MAX_ID)
    hazards_opened: int = Field(title="Hazards opened", ge=0, le=MAX_ID)
    hazards_closed: int = Field(title="Hazards closed", ge=0, le=MAX_ID)


class TrendPage(BaseModel):
    since: datetime = Field(title="Since", description=(
        "Start of the period; moved later when more than 1000 buckets were asked for."))
    until: datetime = Field(title="Until")
    bucket: Literal["day", "week", "month"] = Field(title="Bucket")
    timezone: str = Field(title="Timezone", description="The server's timezone, in which buckets start.")
    items: list[TrendPoint] = Field(title="Buckets", description="Every bucket of the period, empty ones too.")


class OverdueOut(BaseModel):
    id: int = Field(title="Hazard id", ge=1, le=MAX_ID)
    institution: str = Field(title="Institution id")
    institution_name: str | None = Field(title="Institution")
    region: str | None = Field(title="Region")
    category: str = Field(title="Category")
    category_name: str = Field(title="Category (zh-CN)")
    severity: str = Field(title="Severity", description="major | general")
    state: str = Field(title="State", description="open | rectifying | submitted | verified")
    title: str = Field(title="Title")
    opened_at: datetime = Field(title="Opened")
    deadline_at: datetime = Field(title="Deadline")
    overdue_h: float = Field(title="Overdue (h)", description="Hours past the deadline now.", ge=0)
    supervised: bool = Field(title="Supervised (挂牌督办)")
    escalation_level: int = Field(title="Escalation level", description="0 = the institution, 1 = township, ...",
                                  ge=0, le=MAX_ID)
    responsible: str | None = Field(title="Responsible")


class OverduePage(BaseModel):
    now: datetime = Field(title="Now")
    items: list[OverdueOut] = Field(title="Overdue hazards", description="Longest overdue first.")


def _scope(s: Session, rt: Runtime, who: Principal, institution: str | None,
           region: str | None) -> dict[str, stats.InstitutionInfo]:
    """The institutions counted: the caller's scope, narrowed by the filters (404 outside it)."""
    insts = stats.institutions_from_runtime(rt)
    visible = visible_institutions(rt, who)
    if visible is not None:
        insts = {k: v for k, v in insts.items() if k in visible}
    if institution is not None:
        if institution not in insts:
            raise HTTPException(404, f"institution {institution} does not exist")
        insts = {institution: insts[institution]}
    if region is not None:
        path = normalise_region(region)
        inside = who.scope.everything or any(region_covers(r, path) for r in who.scope.regions)
        if not path or not inside or s.scalar(select(RegionRow.id).where(RegionRow.path == path)) is None:
            raise HTTPException(404, f"region {region} does not exist")
        insts = {k: v for k, v in insts.items() if region_covers(path, v.region)}
    return insts


def _period(rt: Runtime, since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    if since and until and since >= until:
        raise HTTPException(422, "'since' must be earlier than 'until'")
    return period(since, until, rt.clock.now(), rt.tz)


def _row(st: stats.Stats) -> dict:
    return stats.as_dict(st)


SINCE = Query(None, description="Start (ISO 8601, included); default: the first of this month, server timezone.")
UNTIL = Query(None, description="End (ISO 8601, excluded); must be later than `since` (422 otherwise); default: the "
                                "first of next month.")
INSTITUTION = Query(None, pattern=ID_PATTERN, description="Only this institution (404 outside the caller's scope).")
REGION = Query(None, pattern=REGION_PATTERN, description="Only this region and below, e.g. 示范县/城关镇 (404 outside "
                                                         "the caller's scope).")


@router.get("/api/stats", response_model=StatsPage, summary="Statistics per institution, township, county or category",
            responses=ERRORS)
def get_stats(
    since: UtcDateTime | None = SINCE, until: UtcDateTime | None = UNTIL,
    group: Literal["institution", "township", "county", "category"] = Query(
        "institution", description="township / county: institutions summed by the first 2 / 1 parts of their region."),
    institution: str | None = INSTITUTION, region: str | None = REGION,
    s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("stats.read")),
) -> dict:
    """Events, hazards, rectification (整改率), on-time closing, close times and the score, for the institutions of
    the caller's scope."""
    since, until = _period(rt, since, until)
    insts, now = _scope(s, rt, who, institution, region), rt.clock.now()
    if group == "category":
        rows = stats.by_category(s, insts, since, until, now)
        total = stats.total(rows)
    else:
        rows = stats.per_institution(s, insts, since, until, now)
        total = stats.total(rows)
        if group != "institution":
            rows = stats.rollup(rows, 2 if group == "township" else 1)
    return {"since": since, "until": until, "now": now, "group": group, "rows": [_row(r) for r in rows],
            "total": _row(total), "timezone": rt.cfg.server.timezone}


@router.get("/api/stats/ranking", response_model=RankingPage, summary="Institutions to supervise first",
            responses=ERRORS)
def get_ranking(
    since: UtcDateTime | None = SINCE, until: UtcDateTime | None = UNTIL,
    limit: int = Query(20, ge=1, le=1000, description="How many institutions."),
    institution: str | None = INSTITUTION, region: str | None = REGION,
    s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("stats.read")),
) -> dict:
    """The institutions of the caller's scope by score, highest first."""
    since, until = _period(rt, since, until)
    insts, now = _scope(s, rt, who, institution, region), rt.clock.now()
    ranked = stats.ranking(stats.per_institution(s, insts, since, until, now))[:limit]
    return {"since": since, "until": until, "now": now,
            "items": [{**_row(r), "rank": n} for n, r in enumerate(ranked, 1)]}


@router.get("/api/stats/trend", response_model=TrendPage, summary="Events and hazards per day, week or month",
            responses=ERRORS)
def get_trend(
    since: UtcDateTime | None = SINCE, until: UtcDateTime | None = UNTIL,
    bucket: Literal["day", "week", "month"] = Query("day", description="Buckets of the server's timezone (ISO weeks)."),
    institution: str | None = INSTITUTION, region: str | None = REGION,
    s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("stats.read")),
) -> dict:
    """Counts per bucket; at most 1000 buckets (an earlier `since` is moved up, the answer says to when)."""
    since, until = _period(rt, since, until)
    since = max(since, earliest_since(until, bucket)) if since < until else since
    insts = _scope(s, rt, who, institution, region)
    items = stats.trend(s, insts, since, until, bucket, rt.tz)
    return {"since": since, "until": until, "bucket": bucket, "timezone": str(rt.tz), "items": items}


@router.get("/api/stats/overdue", response_model=OverduePage, summary="Hazards past their deadline",
            responses=ERRORS)
def get_overdue(
    limit: int = Query(200, ge=1, le=1000, description="At most this many, longest overdue first."),
    institution: str | None = INSTITUTION, region: str | None = REGION,
    s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("stats.read")),
) -> dict:
    """Hazards of the caller's scope that are not closed and past their deadline now."""
    insts, now = _scope(s, rt, who, institution, region), rt.clock.now()
    return {"now": now, "items": stats.overdue(s, insts, now, limit)}
