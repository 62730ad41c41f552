"""The monthly bulletin (月度通报, vigil/ledger/bulletin): a small hazard ledger built by hand in a county of two
townships, its bulletin for November 2026 made through the API and the CLI, as Excel and as PDF.

- xlsx: read back with openpyxl: sheet names, header cells, frozen panes, number formats and the figures of several
  cells against values computed by hand below (on SQLite and on PostgreSQL);
- pdf: the first page rendered by poppler (pdftoppm): the title is in the text layer (pdftotext), its band in the
  picture holds glyph pixels, the masthead is red, and the CJK fonts are embedded (pdffonts);
- scope: a township supervisor gets its own township by default and 404 for the other one (and the county); an
  officer 403; a viewer its township; an unknown region, a month not begun 404; a malformed month 422;
- an audit row per download, and per bulletin made by the CLI; the CLI's bad input: one `error:` line, exit 2.

The hand-built ledger (local times, Asia/Shanghai; the API's clock stands at 2026-12-02 10:00):
  a1 城关镇敬老院 (2 cameras)  H1 closed in 12 h (on time), H2 major, closed in 24 h (late), H3 rectifying,
                               overdue since 11-23, supervised; events: 2 confirmed, 1 false alarm, 1 pending
  a2 城关镇儿童福利院 (1)       H4 closed in 72 h (on time); 1 confirmed event
  b1 河西乡敬老院 (1)           H5 major, open, overdue since 11-18; H6 open, deadline far ahead; events: 1 + 1 f.a.
  b2 河西乡救助站 (1, + 1 off) H7 opened in October, submitted, overdue since 10-23 (backlog only); H8 opened 11-28
                               and closed 12-01 (after the month: not closed within it)
Events on 12-01 00:30 and in October lie outside the month; 11-01 00:30 (10-31 16:30 UTC) lies inside.
"""
from __future__ import annotations

import io
import re
import subprocess
from datetime import datetime, timezone
from urllib.parse import quote
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from vigil_fixtures import bearer, make_user

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=SH)
COUNTY_TITLE = "示范县民政服务机构安全隐患排查整治情况通报（2026年11月）"
TOWN_TITLE = "示范县城关镇民政服务机构安全隐患排查整治情况通报（2026年11月）"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
INSTITUTIONS = [
    {"id": "a1", "name": "城关镇敬老院", "region": "示范县/城关镇"},
    {"id": "a2", "name": "城关镇儿童福利院", "region": "示范县/城关镇", "kind": "child_welfare"},
    {"id": "b1", "name": "河西乡敬老院", "region": "示范县/河西乡"},
    {"id": "b2", "name": "河西乡救助站", "region": "示范县/河西乡", "kind": "relief_station"},
]
CAMERAS = [("a1", "cam_a1", True), ("a1", "cam_a1b", True), ("a2", "cam_a2", True), ("b1", "cam_b1", True),
           ("b2", "cam_b2", True), ("b2", "cam_b2off", False)]
USERS = {"admin": ("admin", {}), "county": ("supervisor", {"regions": ["示范县"]}),
         "town_a": ("supervisor", {"regions": ["示范县/城关镇"]}), "officer_a1": ("officer", {"institutions": ["a1"]}),
         "viewer_b": ("viewer", {"regions": ["示范县/河西乡"]})}


def L(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    """A local time, as the UTC time the database keeps (SQLite stores the text of the UTC time)."""
    return datetime(year, month, day, hour, minute, tzinfo=SH).astimezone(timezone.utc)


# id: (institution, category, severity, state, opened, deadline, closed, supervised, escalation, responsible)
HAZARDS = {
    1: ("a1", "blocked_passage", "general", "closed", L(11, 3, 9), L(11, 4, 9), L(11, 3, 21), False, 0, None),
    2: ("a1", "open_flame", "major", "closed", L(11, 10, 8), L(11, 10, 8), L(11, 11, 8), False, 0, None),
    3: ("a1", "ebike_indoor", "general", "rectifying", L(11, 20, 10), L(11, 23, 10), None, True, 2, "张三"),
    4: ("a2", "electrical", "general", "closed", L(11, 5, 10), L(11, 12, 10), L(11, 8, 10), False, 0, None),
    5: ("b1", "fire_equipment", "major", "open", L(11, 15, 10), L(11, 18, 10), None, False, 1, "李四"),
    6: ("b1", "other", "general", "open", L(11, 25, 10), L(1, 1, 10, year=2099), None, False, 0, None),
    7: ("b2", "monitoring_fault", "general", "submitted", L(10, 20, 10), L(10, 23, 10), None, False, 2, "王五"),
    8: ("b2", "blocked_passage", "general", "closed", L(11, 28, 10), L(11, 29, 10), L(12, 1, 10), False, 0, None),
}
# (camera, review status, local start)
EVENTS = [("cam_a1", "confirmed", L(11, 1, 0, 30)), ("cam_a1", "confirmed", L(11, 3, 8)),
          ("cam_a1b", "false_alarm", L(11, 12, 14)), ("cam_a1", "pending", L(11, 30, 23, 50)),
          ("cam_a2", "confirmed", L(11, 5, 9)), ("cam_b1", "confirmed", L(11, 15, 9)),
          ("cam_b1", "false_alarm", L(11, 16, 9)),
          ("cam_a1", "confirmed", L(12, 1, 0, 30)), ("cam_b2", "confirmed", L(10, 15, 9))]  # outside November


def config(tmp_path, db_url) -> dict:
    cams = [{"id": cid, "name": f"{cid}出口", "url": f"rtsp://127.0.0.1:9/{cid}", "institution": inst, "enabled": on,
             "site_kind": "exit", "zones": [{"name": "出口", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                                              "rules": [{"type": "blocked_exit"}]}]} for inst, cid, on in CAMERAS]
    return {"institutions": INSTITUTIONS, "cameras": cams,
            "storage": {"database_url": db_url, "data_dir": str(tmp_path / "data")}}


def seed_ledger(rt) -> None:
    from vigil.api.db import EventRow
    from vigil.api.db_ledger import HazardRow

    inst_of = {cid: inst for inst, cid, _ in CAMERAS}
    with rt.sessions.begin() as s:
        for cam, status, at in EVENTS:
            s.add(EventRow(camera_id=cam, institution_id=inst_of[cam], zone="出口", rule="blocked_exit", state="closed",
                           review_status=status, started_at=at, ended_at=at, peak_confidence=0.8, params={}, detail={}))
        for hid, (inst, cat, sev, state, opened, deadline, closed, sup, esc, resp) in HAZARDS.items():
            s.add(HazardRow(id=hid, institution_id=inst, category=cat, severity=sev, source="inspection",
                            title=f"隐患{hid}", state=state, opened_at=opened, deadline_at=deadline, closed_at=closed,
                            supervised=sup, escalation_level=esc, responsible=resp, updated_at=opened))


def _ledger(tmp_path, db_url, users=()):
    from vigil.api.app import create_app
    from vigil.clock import ManualClock
    from vigil.config import parse_config
    from vigil.service import Runtime

    cfg = config(tmp_path, db_url)
    rt = Runtime(parse_config(cfg), start_cameras=False)
    rt.clock = ManualClock(NOW)
    seed_ledger(rt)
    heads = {}
    for name in users:  # argon2id hashes are slow on purpose: only the accounts a test uses
        role, scope = USERS[name]
        make_user(rt, name, role, **scope)
        heads[name] = bearer(rt, name)
    cfg_file = tmp_path / "vigil.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return rt, create_app(rt), heads, cfg_file


@pytest.fixture
def ledger(tmp_path, db_url):
    """(runtime, app, {user: auth headers}, config file) on SQLite and on PostgreSQL."""
    rt, app, heads, cfg_file = _ledger(tmp_path, db_url, users=["county"])
    yield rt, app, heads, cfg_file
    rt.stop()


@pytest.fixture
def sqlite_ledger(tmp_path):
    rt, app, heads, cfg_file = _ledger(tmp_path, f"sqlite:///{tmp_path / 'vigil.db'}",
                                       users=["admin", "town_a", "officer_a1", "viewer_b"])
    yield rt, app, heads, cfg_file
    rt.stop()


def _sheet_table(ws, header_row: int = 1) -> tuple[dict[str, int], dict[str, int]]:
    """({header: column}, {first-column value: row})."""
    cols = {c.value: c.column for c in ws[header_row] if c.value is not None}
    rows = {ws.cell(r, 1).value: r for r in range(header_row + 1, ws.max_row + 1)}
    return cols, rows


def _cell(ws, row_key, header, header_row: int = 1):
    cols, rows = _sheet_table(ws, header_row)
    return ws.cell(rows[row_key], cols[header])


def check_county_workbook(data: bytes, exact_backlog: bool = True) -> None:
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["概况", "乡镇汇总", "机构明细", "隐患类别", "逾期隐患", "排名", "每日趋势"]
    over = wb["概况"]
    assert over["A1"].value == COUNTY_TITLE and over.freeze_panes == "A7"
    assert "2026年11月1日至11月30日" in over["A2"].value and "示范县" in over["A2"].value
    assert [c.value for c in over[6]][:3] == ["指标", "数值", "单位"]
    figures = {over.cell(r, 1).value: over.cell(r, 2) for r in range(7, over.max_row + 1)}
    assert figures["机构数"].value == 4 and figures["摄像头"].value == 5  # the disabled camera does not count
    assert figures["监控时长"].value == pytest.approx(150.0) and figures["监控时长"].number_format == "0.0"
    assert (figures["预警事件"].value, figures["其中确认"].value, figures["其中误报"].value) == (7, 4, 2)
    assert figures["新增隐患"].value == 7 and figures["其中重大隐患"].value == 2 and figures["整改销号"].value == 3
    assert figures["整改率"].value == pytest.approx(3 / 7) and figures["整改率"].number_format == "0.0%"
    assert figures["整改用时中位数"].value == pytest.approx(24.0) and figures["整改用时中位数"].number_format == "0.0"
    assert (figures["未销号"].value, figures["逾期未整改"].value, figures["挂牌督办"].value) == (4, 3, 1)
    assert "新发现安全隐患7处（其中重大隐患2处），整改销号3处，整改率42.9%" in over["A4"].value

    town = wb["乡镇汇总"]
    assert town.freeze_panes == "B2" and town["A1"].value == "乡镇（街道）"
    assert [c.value for c in town[1]][:5] == ["乡镇（街道）", "机构数", "摄像头（路）", "监控时长（路·天）", "预警事件"]
    cols, rows = _sheet_table(town)
    assert list(rows) == ["城关镇", "河西乡", "合计"]
    expect = {  # header: (城关镇, 河西乡, 合计)
        "机构数": (2, 2, 4), "摄像头（路）": (3, 2, 5), "监控时长（路·天）": (90.0, 60.0, 150.0),
        "预警事件": (5, 2, 7), "确认": (3, 1, 4), "误报": (1, 1, 2), "待复核": (1, 0, 1), "确认率": (0.75, 0.5, 4 / 6),
        "新增隐患": (4, 3, 7), "整改销号": (3, 0, 3), "未销号": (1, 3, 4), "逾期": (1, 2, 3), "挂牌督办": (1, 0, 1),
        "整改率": (0.75, 0.0, 3 / 7), "按期整改率": (2 / 3, None, 2 / 3), "整改用时中位数（小时）": (24.0, None, 24.0),
        "整改用时P90（小时）": (62.4, None, 62.4), "隐患/路·天": (4 / 90, 3 / 60, 7 / 150),
    }
    for header, values in expect.items():
        for key, want in zip(("城关镇", "河西乡", "合计"), values):
            got = town.cell(rows[key], cols[header]).value
            assert got == (None if want is None else pytest.approx(want)), (header, key, got, want)
    assert town.cell(rows["城关镇"], cols["整改率"]).number_format == "0.0%"
    assert town.cell(rows["城关镇"], cols["整改用时P90（小时）"]).number_format == "0.0"
    assert town.cell(rows["合计"], 1).font.b

    inst = wb["机构明细"]
    assert inst.freeze_panes == "B2" and [c.value for c in inst[1]][:2] == ["机构名称", "所属区域"]
    assert _cell(inst, "城关镇敬老院", "所属区域").value == "城关镇"
    assert _cell(inst, "城关镇敬老院", "整改率").value == pytest.approx(2 / 3)
    assert _cell(inst, "城关镇敬老院", "整改用时P90（小时）").value == pytest.approx(22.8)  # 12 + 0.9 x (24 - 12)
    assert _cell(inst, "城关镇敬老院", "监控时长（路·天）").value == pytest.approx(60.0)
    if exact_backlog:
        # 3 overdue + 2 supervised + 1 open + 10 x (1 - 2/3) + 5 x (1 - 1/2) + 100 x 3/60
        assert _cell(inst, "城关镇敬老院", "综合得分").value == pytest.approx(16.8333, abs=1e-4)
        assert _cell(inst, "河西乡救助站", "综合得分").value == pytest.approx(17.3333, abs=1e-4)
    assert _cell(inst, "河西乡救助站", "新增隐患").value == 1 and _cell(inst, "河西乡救助站", "整改销号").value == 0
    assert _cell(inst, "河西乡救助站", "未销号").value == 1  # H7, opened in October
    assert _cell(inst, "河西乡救助站", "确认率").value is None

    cat = wb["隐患类别"]
    assert cat.freeze_panes == "B2" and cat["A1"].value == "隐患类别"
    assert _cell(cat, "安全出口/疏散通道堵塞", "新增隐患").value == 2
    assert _cell(cat, "安全出口/疏散通道堵塞", "预警事件").value == 7
    assert _cell(cat, "明火/烟雾", "按期整改率").value == 0.0

    late = wb["逾期隐患"]
    assert late.freeze_panes == "A2"
    assert [c.value for c in late[1]] == ["隐患编号", "机构名称", "所属区域", "隐患类别", "隐患等级", "发现时间",
                                          "整改期限", "逾期（小时）", "挂牌督办", "督办层级", "责任人"]
    assert [late.cell(r, 1).value for r in range(2, late.max_row + 1)] == [7, 5, 3]  # longest overdue first
    assert late["B3"].value == "河西乡敬老院" and late["E3"].value == "重大隐患" and late["D3"].value == "消防设施器材"
    assert late["F3"].value == datetime(2026, 11, 15, 10, 0) and late["F3"].number_format == "yyyy-mm-dd hh:mm"
    assert late["I4"].value == "是" and late["K4"].value == "张三" and late["J4"].value == 2
    if exact_backlog:
        assert late["H3"].value == pytest.approx(14 * 24) and late["H3"].number_format == "0.0"

    rank = wb["排名"]
    assert [c.value for c in rank[1]][:4] == ["排名", "机构名称", "所属区域", "综合得分"]
    order = [rank.cell(r, 2).value for r in range(2, 6)]
    assert order == (["河西乡敬老院", "河西乡救助站", "城关镇敬老院", "城关镇儿童福利院"] if exact_backlog else order)
    assert [rank.cell(r, 1).value for r in range(2, 6)] == [1, 2, 3, 4]

    trend = wb["每日趋势"]
    assert trend.max_row == 31 and trend["A2"].value == datetime(2026, 11, 1) and trend["A2"].number_format == "yyyy-mm-dd"
    days = {trend.cell(r, 1).value.day: [trend.cell(r, c).value for c in range(2, 6)] for r in range(2, 32)}
    assert days[1] == [1, 1, 0, 0] and days[3] == [1, 1, 1, 1] and days[30] == [1, 0, 0, 0]  # 11-30 23:50 pending
    assert sum(d[2] for d in days.values()) == 7 and sum(d[3] for d in days.values()) == 3
    assert inst.column_dimensions["A"].width >= 16  # 城关镇儿童福利院: eight characters of double width
    assert all(ws.column_dimensions["A"].width >= 6 for ws in wb.worksheets)


def test_xlsx_through_the_api(ledger):
    from sqlalchemy import select

    from vigil.api.db_access import AuditRow

    rt, app, heads, _ = ledger
    with TestClient(app, headers=heads["county"]) as c:
        r = c.get("/api/reports/monthly", params={"month": "2026-11", "format": "xlsx"})  # region: the county
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX and r.headers["cache-control"] == "private, no-store"
    cd = r.headers["content-disposition"]
    assert cd.startswith("attachment; filename=\"vigil-monthly-bulletin-2026-11.xlsx\"")
    assert f"filename*=UTF-8''{quote('示范县月度通报-2026-11.xlsx')}" in cd and cd.isascii()
    check_county_workbook(r.content)
    with rt.sessions() as s:
        rows = s.scalars(select(AuditRow).where(AuditRow.action == "report.monthly")).all()
    assert [(a.username, a.region, a.note, a.object_id) for a in rows] == [("county", "示范县", "xlsx", "monthly-2026-11")]
    assert rows[0].after["bytes"] == len(r.content)


def _pdf_checks(pdf: bytes, title: str, tmp_path) -> str:
    """The first page's text; asserts the title is drawn with embedded CJK glyphs."""
    from PIL import Image

    assert pdf.startswith(b"%PDF-")
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "bulletin.pdf"
    path.write_bytes(pdf)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    cjk = [line for line in fonts.splitlines() if "NotoSerifCJKsc" in line.replace("SC", "sc") or "CJK" in line]
    assert cjk and all(line.split()[-5] == "yes" for line in cjk), fonts  # emb
    assert any("CID Type 0C" in line for line in cjk), fonts
    text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert title in "".join(text.split()), text[:500]
    subprocess.run(["pdftoppm", "-png", "-r", "100", "-f", "1", "-l", "1", str(path), str(tmp_path / "page")],
                   check=True, capture_output=True)
    page = Image.open(next(tmp_path.glob("page*.png"))).convert("RGB")
    assert page.size == (827, 1170)  # A4 at 100 dpi
    # where the title lies: poppler's own word boxes (points), then its band in the picture
    html = subprocess.run(["pdftotext", "-bbox-layout", "-f", "1", "-l", "1", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    boxes = [tuple(float(v) for v in m.groups()[:4]) for m in re.finditer(
        r'<line xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</line>', html, re.S)
        if "排查整治" in re.sub(r"<[^>]+>|\s", "", m.group(5))]
    assert boxes, html[:1000]
    x0, y0, x1, y1 = (v * 100 / 72 for v in boxes[0])
    band = np.asarray(page.crop((int(x0), int(y0), int(x1) + 1, int(y1) + 1)).convert("L")) < 110
    # glyphs: ink over much of the band's width, yet far from a filled box (a missing-glyph box or a bar)
    assert band.shape[1] > 150 and 0.08 < band.mean() < 0.6, (band.shape, band.mean())
    assert band.any(axis=0).mean() > 0.6, band.any(axis=0).mean()
    top = np.asarray(page.crop((0, 0, 827, 300))).astype(int)
    red = ((top[..., 0] > 150) & (top[..., 1] < 80) & (top[..., 2] < 80)).sum()
    assert red > 2000, red  # the red masthead and its rule
    assert np.asarray(page.crop((0, 0, 827, 40)).convert("L")).min() > 240  # an empty top margin: the ink is glyphs
    return text


def test_pdf_through_the_api_and_scope(sqlite_ledger, tmp_path):
    from sqlalchemy import select

    from vigil.api.db_access import AuditRow

    rt, app, heads, _ = sqlite_ledger
    town = TestClient(app, headers=heads["town_a"])
    r = town.get("/api/reports/monthly", params={"month": "2026-11", "format": "pdf"})  # its own township
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert f"filename*=UTF-8''{quote('示范县城关镇月度通报-2026-11.pdf')}" in r.headers["content-disposition"]
    text = _pdf_checks(r.content, TOWN_TITLE, tmp_path)
    flat = "".join(text.split())
    assert "民政服务机构安全监管通报" in flat and "一、总体情况" in flat
    assert "新发现安全隐患4处（其中重大隐患1处），整改销号3处，整改率75.0%" in flat
    # scope: the other township and the county lie outside a township supervisor's scope
    for region in ("示范县/河西乡", "示范县"):
        r = town.get("/api/reports/monthly", params={"month": "2026-11", "region": region})
        assert r.status_code == 404, (region, r.text)
    assert town.get("/api/reports/monthly", params={"region": "示范县/城关镇/", "month": "2026-11"}).status_code == 200
    officer = TestClient(app, headers=heads["officer_a1"])
    assert officer.get("/api/reports/monthly", params={"month": "2026-11"}).status_code == 403
    viewer = TestClient(app, headers=heads["viewer_b"])
    r = viewer.get("/api/reports/monthly", params={"month": "2026-11"})
    assert r.status_code == 200 and quote("示范县河西乡月度通报") in r.headers["content-disposition"]
    admin = TestClient(app, headers=heads["admin"])
    assert admin.get("/api/reports/monthly", params={"month": "2026-11", "region": "示范县/东山镇"}).status_code == 404
    r = admin.get("/api/reports/monthly", params={"month": "2027-01"})
    assert r.status_code == 404 and "has not begun" in r.json()["detail"]
    for bad in ("2026-13", "2026-1", "11-2026", "2026-11-01"):
        assert admin.get("/api/reports/monthly", params={"month": bad}).status_code == 422, bad
    assert admin.get("/api/reports/monthly", params={"format": "docx"}).status_code == 422
    assert TestClient(app).get("/api/reports/monthly").status_code == 401
    r = admin.get("/api/reports/monthly", params={"month": "2026-12", "region": "示范县"})  # the running month
    assert r.status_code == 200 and r.content.startswith(b"PK")
    with rt.sessions() as s:
        rows = s.scalars(select(AuditRow).where(AuditRow.action == "report.monthly").order_by(AuditRow.id)).all()
    assert [(a.username, a.region, a.note) for a in rows] == [
        ("town_a", "示范县/城关镇", "pdf"), ("town_a", "示范县/城关镇", "xlsx"), ("viewer_b", "示范县/河西乡", "xlsx"),
        ("admin", "示范县", "xlsx")]  # refused requests leave none
    schema = admin.get("/openapi.json").json()["paths"]["/api/reports/monthly"]["get"]
    assert set(schema["responses"]["200"]["content"]) == {XLSX, "application/pdf"}
    assert {"401", "403", "404", "422"} <= set(schema["responses"])


def _vigil(*args: str):
    from typer.testing import CliRunner

    from vigil.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_writes_both_formats_and_refuses_bad_input(sqlite_ledger, tmp_path):
    from sqlalchemy import select

    from vigil.api.db_access import AuditRow

    rt, _, _, cfg_file = sqlite_ledger
    out = tmp_path / "out" / "通报.xlsx"
    r = _vigil("report", "monthly", "--month", "2026-11", "--region", "示范县", "--out", str(out), "--config",
               str(cfg_file))
    assert r.exit_code == 0, r.output
    assert COUNTY_TITLE in r.output and "7 new hazard(s), 3 closed, 3 overdue" in r.output
    check_county_workbook(out.read_bytes(), exact_backlog=False)  # the CLI's clock is the real one
    pdf = tmp_path / "bulletin.pdf"
    r = _vigil("report", "monthly", "--month", "2026-11", "--region", "示范县", "--format", "pdf", "--out", str(pdf),
               "--db", rt.database_url)
    assert r.exit_code == 0, r.output
    flat = "".join(_pdf_checks(pdf.read_bytes(), COUNTY_TITLE, tmp_path / "cli").split())
    assert "河西乡" in flat and "二、各乡镇隐患整改情况" in flat
    with rt.sessions() as s:
        rows = s.scalars(select(AuditRow).where(AuditRow.action == "report.monthly").order_by(AuditRow.id)).all()
    assert [(a.client, a.region, a.note) for a in rows] == [("cli", "示范县", "xlsx"), ("cli", "示范县", "pdf")]
    assert all(a.username.startswith("cli:") for a in rows)

    base = ["report", "monthly", "--config", str(cfg_file)]
    cases = [  # (arguments, what the error line says)
        (["--month", "2026-13", "--out", str(out)], "--month: month '2026-13': expected YYYY-MM"),
        (["--month", "Nov", "--out", str(out)], "expected YYYY-MM"),
        (["--month", "2099-01", "--out", str(out)], "--month: month 2099-01 has not begun"),
        (["--month", "2026-11", "--region", "示范县/东山镇", "--out", str(out)],
         "--region: region '示范县/东山镇': no institution lies in it (regions: 示范县, 示范县/城关镇, 示范县/河西乡)"),
        (["--month", "2026-11", "--out", str(tmp_path / "x.docx")], "--format must be xlsx or pdf, not 'docx'"),
        (["--month", "2026-11", "--out", str(tmp_path)], "is a folder, not a file"),
    ]
    for args, says in cases:
        r = _vigil(*base, *args)
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], (args, r.output)
    r = _vigil("report", "monthly", "--month", "2026-11", "--out", str(out))
    assert r.exit_code == 2 and "exactly one of --config FILE or --db URL" in r.output
