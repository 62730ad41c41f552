"""The bulletin as an Excel workbook (openpyxl): one sheet per section, zh-CN headers.

Sheets: 概况 (title, period, summary paragraph, key figures), 乡镇汇总, 机构明细 (each with a 合计 row), 隐患类别,
逾期隐患, 排名 (supervise-first), 每日趋势. Every sheet keeps its header row frozen (and the name column where there
is one), has an autofilter over its table, number formats (percent 0.0%, hours 0.0, dates), column widths fitted to
the content, and prints landscape on A4, one page wide, with the header row repeated on each page. Times are local
(the server's time zone, named on 概况): Excel cells hold no time zone.
"""
from __future__ import annotations

import io
import unicodedata
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from vigil.ledger.bulletin.data import (CATEGORY_COLUMNS, COLUMNS, INSTITUTION_COLUMNS, OVERDUE_COLUMNS,
                                        RANKING_COLUMNS, TOWNSHIP_COLUMNS, TREND_COLUMNS, Bulletin)

SHEETS = ("概况", "乡镇汇总", "机构明细", "隐患类别", "逾期隐患", "排名", "每日趋势")
FORMATS = {"int": "0", "days": "0.0", "pct": "0.0%", "hours": "0.0", "rate": "0.000", "score": "0.0",
           "datetime": "yyyy-mm-dd hh:mm", "date": "yyyy-mm-dd", "text": "@"}
HEAD_FILL = PatternFill("solid", fgColor="DDE4EE")
TOTAL_FILL = PatternFill("solid", fgColor="F2F2F2")
THIN = Side(style="thin", color="A0A0A0")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
BOLD = Font(bold=True)


def _width(value: Any, kind: str) -> int:
    """Display width of a cell's text: CJK and full-width characters count two."""
    if value is None:
        return 2
    if kind == "pct" and isinstance(value, (int, float)):
        text = f"{value * 100:.1f}%"
    elif kind == "datetime":
        text = "2026-11-30 23:59"
    elif kind in ("days", "hours", "score") and isinstance(value, float):
        text = f"{value:.1f}"
    elif kind == "rate" and isinstance(value, float):
        text = f"{value:.3f}"
    else:
        text = str(value)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _naive(v: Any) -> Any:
    """A cell value: a local datetime without its zone (Excel has none; already the server's time zone), text
    without the control characters a worksheet cannot hold."""
    if isinstance(v, datetime) and v.tzinfo is not None:
        return v.replace(tzinfo=None)
    if isinstance(v, str):
        return ILLEGAL_CHARACTERS_RE.sub(" ", v)
    return v


def _table(ws: Worksheet, columns: list[tuple[str, str]], rows: list[list[Any]], total: list[Any] | None = None,
           freeze_first_column: bool = True, start_row: int = 1) -> None:
    """Header at `start_row`, rows below it, an optional bold 合计 row; formats, widths, frozen panes, filter."""
    widths = [_width(h, "text") for h, _ in columns]
    for c, (header, _) in enumerate(columns, 1):
        cell = ws.cell(start_row, c, header)
        cell.font, cell.fill, cell.border = BOLD, HEAD_FILL, BOX
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    body = rows + ([total] if total is not None else [])
    for r, values in enumerate(body, start_row + 1):
        for c, ((_, kind), v) in enumerate(zip(columns, values), 1):
            cell = ws.cell(r, c, _naive(v))
            cell.border = BOX
            if v is not None:
                cell.number_format = FORMATS[kind]
            if kind != "text":
                cell.alignment = Alignment(horizontal="right")
            widths[c - 1] = max(widths[c - 1], _width(v, kind))
            if total is not None and r == start_row + len(body):
                cell.font, cell.fill = BOLD, TOTAL_FILL
    for c, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(c)].width = min(max(w + 2, 6), 48)
    ws.row_dimensions[start_row].height = 32
    last = get_column_letter(len(columns))
    ws.freeze_panes = f"{'B' if freeze_first_column else 'A'}{start_row + 1}"
    ws.auto_filter.ref = f"A{start_row}:{last}{start_row + max(len(rows), 1)}"
    ws.print_title_rows = f"{start_row}:{start_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _stats_columns(keys: list[str], name_header: str) -> list[tuple[str, str]]:
    return [(name_header if k == "name" else COLUMNS[k][0], COLUMNS[k][1]) for k in keys]


def _stats_rows(rows, keys: list[str]) -> list[list[Any]]:
    return [[getattr(r, k) for k in keys] for r in rows]


def _overview(ws: Worksheet, b: Bulletin) -> None:
    t = b.summary
    ws["A1"] = _naive(b.title)
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = _naive(f"统计区域：{b.region}　　统计期间：{b.period_label}")
    ws["A3"] = _naive(f"统计截至：{b.as_of:%Y-%m-%d %H:%M}　　生成时间：{b.generated_at:%Y-%m-%d %H:%M}"
                      f"（{b.timezone}）　　发文单位：{b.bureau}")
    ws["A4"] = _naive(b.summary_text())
    ws["A4"].alignment = Alignment(wrap_text=True, vertical="top")
    ws.merge_cells("A1:C1")
    ws.merge_cells("A4:C4")
    ws.row_dimensions[4].height = 150
    figures: list[tuple[str, Any, str, str]] = [
        ("机构数", b.institution_count, "int", "家"), ("摄像头", b.camera_count, "int", "路"),
        ("监控时长", t.camera_days, "days", "路·天"), ("预警事件", t.events, "int", "起"),
        ("其中确认", t.confirmed, "int", "起"), ("其中误报", t.false_alarm, "int", "起"),
        ("待复核", t.pending, "int", "起"), ("确认率", t.confirmed_share, "pct", ""),
        ("新增隐患", t.hazards_opened, "int", "处"), ("其中重大隐患", b.major_opened, "int", "处"),
        ("整改销号", t.hazards_closed, "int", "处"), ("未销号", t.hazards_open, "int", "处"),
        ("逾期未整改", t.hazards_overdue, "int", "处"), ("挂牌督办", t.supervised, "int", "处"),
        ("整改率", t.rectification_rate, "pct", ""), ("按期整改率", t.on_time_rate, "pct", ""),
        ("整改用时中位数", t.median_close_h, "hours", "小时"), ("整改用时P90", t.p90_close_h, "hours", "小时"),
        ("每路·天隐患数", t.hazards_per_camera_day, "rate", "处"),
    ]
    _table(ws, [("指标", "text"), ("数值", "text"), ("单位", "text")],
           [[name, value, unit] for name, value, _, unit in figures], freeze_first_column=False, start_row=6)
    for r, (_, value, kind, _) in enumerate(figures, 7):  # the value column's format follows each figure
        if value is not None:
            ws.cell(r, 2).number_format = FORMATS[kind]
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["B"].width = 14
    ws.column_dimensions["C"].width = 60
    ws.page_setup.orientation = "portrait"


def to_xlsx(b: Bulletin) -> bytes:
    wb = Workbook()
    wb.properties.title, wb.properties.creator, wb.properties.subject = _naive(b.title), "vigil", _naive(b.bureau)
    wb.properties.created = wb.properties.modified = _naive(b.generated_at)
    sheets = {name: (wb.active if i == 0 else wb.create_sheet()) for i, name in enumerate(SHEETS)}
    for name, ws in sheets.items():
        ws.title = name
    _overview(sheets["概况"], b)

    def total_row(keys: list[str], t) -> list[Any] | None:
        return None if t is None else [("合计" if k == "name" else "" if k == "region" else getattr(t, k)) for k in keys]

    _table(sheets["乡镇汇总"], _stats_columns(TOWNSHIP_COLUMNS, "乡镇（街道）"), _stats_rows(b.townships, TOWNSHIP_COLUMNS),
           total_row(TOWNSHIP_COLUMNS, b.township_total))
    _table(sheets["机构明细"], _stats_columns(INSTITUTION_COLUMNS, "机构名称"),
           _stats_rows(b.institutions, INSTITUTION_COLUMNS), total_row(INSTITUTION_COLUMNS, b.institution_total))
    _table(sheets["隐患类别"], _stats_columns(CATEGORY_COLUMNS, "隐患类别"), _stats_rows(b.categories, CATEGORY_COLUMNS))
    _table(sheets["逾期隐患"], [(h, k) for _, h, k in OVERDUE_COLUMNS],
           [[row.get(key) for key, _, _ in OVERDUE_COLUMNS] for row in b.overdue], freeze_first_column=False)
    _table(sheets["排名"], [("排名", "int"), *_stats_columns(RANKING_COLUMNS, "机构名称")],
           [[n, *values] for n, values in enumerate(_stats_rows(b.ranking, RANKING_COLUMNS), 1)])
    _table(sheets["每日趋势"], [(h, k) for _, h, k in TREND_COLUMNS],
           [[(t.get(key) if not isinstance(t.get(key), datetime) else t[key].date()) for key, _, _ in TREND_COLUMNS]
            for t in b.trend], freeze_first_column=False)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


__all__ = ["SHEETS", "to_xlsx"]
