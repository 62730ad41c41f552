"""`Bulletin`: the figures of one month's bulletin for one region, built from `vigil.ledger.stats`.

The month is a calendar month in the server's time zone (`server.timezone`); a bulletin of the running month
covers its days up to now (`partial`). Events, new hazards, closings and the rates count within the period; the
backlog (not closed, overdue, supervised-listed) and the overdue list are as of the moment the bulletin is made
(`as_of`, stated in it: 截至...), as `vigil.ledger.stats` counts them. The region is a path (`示范县`,
`示范县/城关镇`); the bulletin covers the institutions at or below it, its tables roll them up one level below
the region (a county's townships).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.access import normalise_region, region_covers
from vigil.ledger import stats
from vigil.ledger.config import CATEGORIES, SEVERITIES

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MONTH_PATTERN = r"^20\d{2}-(0[1-9]|1[0-2])$"  # the API's `month` (years 2000-2099)


class BulletinError(ValueError):
    """Input that gives no bulletin (a malformed month, an unknown format)."""


class FutureMonth(BulletinError):
    """The month has not begun."""


class UnknownRegion(BulletinError):
    """No institution lies in the region."""


# (Stats attribute, zh-CN header, kind): kind decides the number format (xlsx) and the text (pdf)
# text | int | days (0.0) | pct (0.0%) | hours (0.0) | rate (0.000) | score (0.0)
COLUMNS: dict[str, tuple[str, str]] = {
    "name": ("名称", "text"),
    "region": ("所属区域", "text"),
    "institutions": ("机构数", "int"),
    "cameras": ("摄像头（路）", "int"),
    "camera_days": ("监控时长（路·天）", "days"),
    "events": ("预警事件", "int"),
    "confirmed": ("确认", "int"),
    "false_alarm": ("误报", "int"),
    "pending": ("待复核", "int"),
    "confirmed_share": ("确认率", "pct"),
    "hazards_opened": ("新增隐患", "int"),
    "hazards_closed": ("整改销号", "int"),
    "hazards_open": ("未销号", "int"),
    "hazards_overdue": ("逾期", "int"),
    "supervised": ("挂牌督办", "int"),
    "rectification_rate": ("整改率", "pct"),
    "on_time_rate": ("按期整改率", "pct"),
    "median_close_h": ("整改用时中位数（小时）", "hours"),
    "p90_close_h": ("整改用时P90（小时）", "hours"),
    "hazards_per_camera_day": ("隐患/路·天", "rate"),
    "score": ("综合得分", "score"),
}
_FIGURES = [k for k in COLUMNS if k not in ("name", "region", "institutions")]
TOWNSHIP_COLUMNS = ["name", "institutions", *_FIGURES]
INSTITUTION_COLUMNS = ["name", "region", *_FIGURES]
CATEGORY_COLUMNS = ["name", "events", "confirmed", "hazards_opened", "hazards_closed", "hazards_open", "hazards_overdue",
                    "supervised", "rectification_rate", "on_time_rate", "median_close_h", "p90_close_h"]
RANKING_COLUMNS = ["name", "region", "score", "hazards_opened", "hazards_closed", "hazards_overdue", "supervised",
                   "rectification_rate", "on_time_rate", "median_close_h"]
# the overdue list: (key of the row, zh-CN header, kind); kind datetime: local time
OVERDUE_COLUMNS: list[tuple[str, str, str]] = [
    ("id", "隐患编号", "int"), ("institution_name", "机构名称", "text"), ("region", "所属区域", "text"),
    ("category_name", "隐患类别", "text"), ("severity_name", "隐患等级", "text"), ("opened_at", "发现时间", "datetime"),
    ("deadline_at", "整改期限", "datetime"), ("overdue_h", "逾期（小时）", "hours"), ("supervised_text", "挂牌督办", "text"),
    ("escalation_level", "督办层级", "int"), ("responsible", "责任人", "text"),
]
TREND_COLUMNS: list[tuple[str, str, str]] = [
    ("period", "日期", "date"), ("events", "预警事件", "int"), ("confirmed", "确认", "int"),
    ("hazards_opened", "新增隐患", "int"), ("hazards_closed", "整改销号", "int"),
]


def parse_month(month: str) -> tuple[int, int]:
    """'2026-11' -> (2026, 11); BulletinError for anything else."""
    m = MONTH_RE.match(str(month).strip())
    if not m:
        raise BulletinError(f"month {month!r}: expected YYYY-MM, e.g. 2026-11")
    return int(m[1]), int(m[2])


def month_bounds(year: int, month: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's first instant, in `tz`."""
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return start, end


def regions_of(insts: dict[str, stats.InstitutionInfo]) -> set[str]:
    """Every region path the institutions lie in, with all the paths above them."""
    out: set[str] = set()
    for info in insts.values():
        parts = normalise_region(info.region).split("/")
        out.update("/".join(parts[:n]) for n in range(1, len(parts) + 1) if parts[0])
    return out


def default_region(insts: dict[str, stats.InstitutionInfo]) -> str | None:
    """The top of the region tree (the county) when the institutions share one, else None."""
    tops = {normalise_region(i.region).split("/")[0] for i in insts.values() if normalise_region(i.region)}
    return tops.pop() if len(tops) == 1 else None


def relative_region(path: str, region: str) -> str:
    """`示范县/城关镇` under `示范县` -> `城关镇`; the region itself -> its last part."""
    path, region = normalise_region(path), normalise_region(region)
    if path.startswith(region + "/"):
        return path[len(region) + 1:]
    return path.rsplit("/", 1)[-1]


def pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def hours(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}"


def cn_date(d: date | datetime) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


@dataclass
class Bulletin:
    title: str
    bureau: str  # the issuing body, e.g. 示范县民政局
    region: str  # path
    region_label: str  # the path without '/', e.g. 示范县城关镇
    month: str  # YYYY-MM
    since: datetime  # local: the month's first instant
    until: datetime  # local: the period's exclusive end (the next month's first instant, or now)
    as_of: datetime  # local: the moment the backlog (open, overdue, supervised) and the overdue list refer to
    partial: bool  # the running month, up to now
    generated_at: datetime  # local
    timezone: str
    summary: stats.Stats
    major_opened: int
    townships: list[stats.Stats]
    institutions: list[stats.Stats]
    categories: list[stats.Stats]
    overdue: list[dict[str, Any]]
    ranking: list[stats.Stats]
    trend: list[dict[str, Any]]
    institution_count: int
    camera_count: int
    township_total: stats.Stats | None = None
    institution_total: stats.Stats | None = None

    @property
    def last_day(self) -> date:
        return (self.until - timedelta(microseconds=1)).date()

    @property
    def period_label(self) -> str:
        """2026年11月1日至11月30日"""
        last = self.last_day
        return f"{cn_date(self.since)}至{last.month}月{last.day}日" + ("（截至生成时）" if self.partial else "")

    @property
    def subtitle(self) -> str:
        return f"统计期间：{self.period_label}　　印发日期：{cn_date(self.generated_at)}"

    def filename(self, fmt: str) -> str:
        """示范县月度通报-2026-11.pdf: no control characters, nothing a file system refuses."""
        label = "".join("_" if c in '/\\:*?"<>|' or unicodedata.category(c).startswith("C") else c
                        for c in self.region_label)
        return f"{label}月度通报-{self.month}.{fmt}"

    def ascii_filename(self, fmt: str) -> str:
        return f"vigil-monthly-bulletin-{self.month}.{fmt}"

    def summary_text(self) -> str:
        """The summary paragraph (总体情况), built from the numbers."""
        t = self.summary
        parts = [f"{self.period_label.removesuffix('（截至生成时）')}，{self.region_label}辖区"
                 f"{self.institution_count}家民政服务机构共接入监控摄像头{self.camera_count}路，"
                 f"累计监控{t.camera_days:.1f}路·天。"]
        if t.events:
            parts.append(f"平台共推送安全预警{t.events}起，经人工复核确认{t.confirmed}起、排除误报{t.false_alarm}起、"
                         f"尚待复核{t.pending}起" + (f"，确认率{pct(t.confirmed_share)}。" if t.confirmed_share is not None
                                                   else "。"))
        else:
            parts.append("本期平台未推送安全预警。")
        if t.hazards_opened:
            s = f"本期新发现安全隐患{t.hazards_opened}处（其中重大隐患{self.major_opened}处），整改销号{t.hazards_closed}处"
            if t.rectification_rate is not None:
                s += f"，整改率{pct(t.rectification_rate)}"
            if t.on_time_rate is not None:
                s += f"，按期整改率{pct(t.on_time_rate)}"
            if t.median_close_h is not None:
                s += f"，整改用时中位数{hours(t.median_close_h)}小时"
            parts.append(s + "。")
        else:
            parts.append(f"本期未新发现安全隐患，整改销号{t.hazards_closed}处。")
        as_of = self.as_of
        parts.append(f"截至{as_of.month}月{as_of.day}日，尚有{t.hazards_open}处隐患未整改销号，"
                     f"其中逾期未整改{t.hazards_overdue}处，挂牌督办{t.supervised}处。")
        rated = [r for r in self.townships if r.rectification_rate is not None]
        if len(rated) > 1:
            best = max(rated, key=lambda r: r.rectification_rate)
            worst = min(rated, key=lambda r: r.rectification_rate)
            if best.rectification_rate != worst.rectification_rate:
                parts.append(f"从各乡镇看，{best.name}整改率最高（{pct(best.rectification_rate)}），"
                             f"{worst.name}最低（{pct(worst.rectification_rate)}）。")
        if self.ranking:
            first = "、".join(r.name for r in self.ranking[:3])
            parts.append(f"按督导优先排名，{first}位居前列，请属地乡镇和机构主要负责人重点督导、限期整改。")
        return "".join(parts)


def _local(dt: Any, tz: ZoneInfo) -> Any:
    if isinstance(dt, datetime):
        return dt.astimezone(tz) if dt.tzinfo else dt.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)
    return dt


def _period(p: Any) -> Any:
    """A trend bucket as a date (the stats give a date, a datetime or an ISO string)."""
    if isinstance(p, datetime):
        return p.date()
    if isinstance(p, str):
        try:
            return date.fromisoformat(p[:10])
        except ValueError:
            return p
    return p


def _major_opened(s: Session, ids: list[str], since: datetime, until: datetime) -> int:
    from vigil.api.db_ledger import HazardRow

    if not ids:
        return 0
    return s.scalar(select(func.count()).select_from(HazardRow).where(
        HazardRow.institution_id.in_(ids), HazardRow.severity == "major", HazardRow.opened_at >= since,
        HazardRow.opened_at < until)) or 0


def _shown(rows: list[stats.Stats], region: str) -> list[stats.Stats]:
    """Copies whose region reads relative to the bulletin's (`城关镇` in the county's bulletin)."""
    return [replace(r, region=relative_region(r.region, region)) for r in rows]


def build(s: Session, insts: dict[str, stats.InstitutionInfo], *, month: str, region: str, now: datetime,
          tz: ZoneInfo) -> Bulletin:
    """The bulletin of `month` (YYYY-MM, in `tz`) for the institutions of `insts` at or below `region`."""
    year, mon = parse_month(month)
    region = normalise_region(region)
    now_local = now.astimezone(tz).replace(second=0, microsecond=0)  # a bulletin states times to the minute
    since, end = month_bounds(year, mon, tz)
    if since > now_local:
        raise FutureMonth(f"month {month} has not begun (it is {now_local:%Y-%m-%d %H:%M} in {tz.key})")
    mine = {k: v for k, v in insts.items() if region and region_covers(region, v.region)}
    if not mine:
        known = sorted(regions_of(insts))
        raise UnknownRegion(f"region {region!r}: no institution lies in it"
                            + (f" (regions: {', '.join(known[:12])}{' ...' if len(known) > 12 else ''})" if known else ""))
    partial = end > now_local
    until = now_local if partial else end
    utc = ZoneInfo("UTC")
    s_utc, u_utc, n_utc = since.astimezone(utc), until.astimezone(utc), now_local.astimezone(utc)

    rows = stats.per_institution(s, mine, s_utc, u_utc, n_utc)
    depth = len(region.split("/"))
    deeper = any(len(normalise_region(i.region).split("/")) > depth for i in mine.values())
    townships = [replace(r, name=relative_region(r.key, region) if r.key else r.name)
                 for r in stats.rollup(rows, depth + 1 if deeper else depth)]
    summary = stats.total(rows, name="合计")
    categories = stats.by_category(s, mine, s_utc, u_utc, n_utc)
    for r in categories:
        if r.key in CATEGORIES and (not r.name or r.name == r.key):
            r.name = CATEGORIES[r.key][0]
    overdue = []
    for row in stats.overdue(s, mine, n_utc):
        row = dict(row)
        inst = mine.get(str(row.get("institution")))
        row["institution_name"] = inst.name if inst else row.get("institution")
        row["region"] = relative_region(inst.region, region) if inst else ""
        row["category_name"] = CATEGORIES.get(row.get("category"), (row.get("category"),))[0]
        row["severity_name"] = SEVERITIES.get(row.get("severity"), (row.get("severity"),))[0]
        row["supervised_text"] = "是" if row.get("supervised") else "否"
        row["opened_at"], row["deadline_at"] = _local(row.get("opened_at"), tz), _local(row.get("deadline_at"), tz)
        overdue.append(row)
    trend = [{**t, "period": _period(t.get("period"))} for t in stats.trend(s, mine, s_utc, u_utc, "day", tz)]
    label = region.replace("/", "")
    return Bulletin(
        title=f"{label}民政服务机构安全隐患排查整治情况通报（{year}年{mon}月）",
        bureau=f"{region.split('/')[0]}民政局", region=region, region_label=label, month=f"{year:04d}-{mon:02d}",
        since=since, until=until, as_of=now_local, partial=partial, generated_at=now_local, timezone=tz.key,
        summary=summary, major_opened=_major_opened(s, list(mine), s_utc, u_utc), townships=townships,
        institutions=_shown(rows, region), categories=categories, overdue=overdue,
        ranking=_shown(stats.ranking(rows), region), trend=trend,
        institution_count=len(mine), camera_count=sum(i.cameras for i in mine.values()),
        township_total=stats.total(townships, name="合计") if townships else None,
        institution_total=summary)
