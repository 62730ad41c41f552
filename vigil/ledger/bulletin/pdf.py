"""The bulletin as a printable A4 PDF in the style of a county civil-affairs bureau's 通报 (fpdf2).

Layout: a red masthead (民政服务机构安全监管通报, issue, issuing bureau, date, red double rule), the title, the
period, the salutation and 一、总体情况 (the summary paragraph built from the numbers), 二、各乡镇隐患整改情况
(table) with 图1 (daily events, confirmed events and new hazards, drawn as vector bars), 三、逾期未整改隐患,
四、督导优先排名, 五、工作要求, the bureau and date, and "— N —" page numbers.

Fonts: Noto Serif CJK SC (body, title) and Noto Sans CJK SC (headings, tables: the 黑体 of official documents),
from Debian's fonts-noto-cjk, regular weights only (bold is stroked, see FONT_FILES). They are OpenType collections with CFF outlines, which fpdf2 reads through fontTools
and embeds as subset CID fonts (CIDFontType0C) with a ToUnicode map: the glyphs are really in the file (pdffonts:
emb yes) and the text can be searched and copied (pdftotext).
"""
from __future__ import annotations

import math
import unicodedata
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from vigil.ledger.bulletin.data import OVERDUE_COLUMNS, Bulletin, BulletinError, cn_date, hours, pct

FONT_DIRS = ("/usr/share/fonts/opentype/noto", "/usr/share/fonts/opentype/noto-cjk", "/usr/share/fonts/noto-cjk",
             "/usr/share/fonts/google-noto-cjk", "/usr/local/share/fonts")
# two faces only: each embedded CFF face costs about a second of fontTools subsetting per document; the bold of the
# masthead, title and headings is drawn by stroking the regular glyphs (`_bold`), as Chinese office documents do
FONT_FILES = {"serif": "NotoSerifCJK-Regular.ttc", "sans": "NotoSansCJK-Regular.ttc"}
RED = (200, 16, 26)
INK = (20, 20, 20)
GREY = (110, 110, 110)
HEAD_BG = (220, 228, 238)
TOTAL_BG = (240, 240, 240)
SERIES = (("events", "预警事件", (150, 180, 215)), ("confirmed", "确认", (40, 80, 150)),
          ("hazards_opened", "新增隐患", (205, 45, 40)))


@lru_cache(maxsize=None)
def font_file(name: str) -> tuple[Path, int]:
    """The collection file and the index of its Simplified Chinese face (SC)."""
    from fontTools.ttLib import TTCollection

    for d in FONT_DIRS:
        path = Path(d) / name
        if path.is_file():
            with TTCollection(str(path), lazy=True) as coll:
                for i, font in enumerate(coll.fonts):
                    family = font["name"].getDebugName(1) or ""
                    if family.endswith(" SC") or " SC " in family + " ":
                        return path, i
            return path, 0
    raise BulletinError(f"the PDF needs the Noto CJK fonts ({name}): install fonts-noto-cjk "
                        "(scripts/setup_system.sh)")


class _Pdf(FPDF):
    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("serif", "", 10)
        self.set_text_color(*INK)
        self.cell(0, 6, f"— {self.page_no()} —", align="C")


@contextmanager
def _bold(pdf: FPDF, color: tuple[int, int, int], weight: float = 0.25):
    """Text drawn filled and stroked in its own colour: a heavier weight of the regular face."""
    with pdf.local_context(text_mode="FILL_STROKE", line_width=weight, draw_color=color, text_color=color):
        yield


def _heading(pdf: FPDF, text: str) -> None:
    if pdf.will_page_break(24):
        pdf.add_page()
    pdf.ln(3)
    pdf.set_font("sans", "", 13)
    with _bold(pdf, INK, 0.2):
        pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


NO_LINE_START = set("，。、；：？！）】》」』”’％%,.;:?!)]·…—")  # punctuation that never begins a line (避头)
NO_LINE_END = set("（【《「『“‘(")  # and that never ends one (避尾)


def clean(text: object) -> str:
    """Text fit for a PDF line: control characters (a tab, a line break in a name) become spaces."""
    return "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in str(text))


def _units(text: str) -> list[str]:
    """Break opportunities: each CJK character alone, a run of Latin letters, digits and .%:- kept whole."""
    out: list[str] = []
    for ch in text:
        if out and ch.isascii() and not ch.isspace() and out[-1][-1].isascii() and not out[-1][-1].isspace():
            out[-1] += ch
        else:
            out.append(ch)
    return out


def wrap(pdf: FPDF, text: str, width: float, indent: float = 0.0) -> list[str]:
    """Greedy CJK line breaking: any character may end a line, except that closing punctuation hangs on the line
    before it and opening punctuation moves to the next line; Latin words and numbers are not split."""
    lines: list[str] = []
    line, room = "", width - indent
    for unit in _units(clean(text)):
        if line and pdf.get_string_width(line + unit) > room and unit[0] not in NO_LINE_START:
            carry = ""
            while line and line[-1] in NO_LINE_END:
                line, carry = line[:-1], line[-1] + carry
            lines.append(line)
            line, room = carry, width
        line += unit
    if line:
        lines.append(line)
    return lines


def _paragraph(pdf: FPDF, text: str, size: float = 11.5, indent_chars: int = 2) -> None:
    """A paragraph whose first line is indented by two characters (公文 style)."""
    pdf.set_font("serif", "", size)
    pdf.set_text_color(*INK)
    height = size * 0.62
    indent = pdf.get_string_width("\u4e00") * indent_chars
    for n, line in enumerate(wrap(pdf, text, pdf.epw, indent)):
        if pdf.will_page_break(height):
            pdf.add_page()
        pdf.set_x(pdf.l_margin + (indent if n == 0 else 0))
        pdf.cell(0, height, line, new_x="LMARGIN", new_y="NEXT")


def _table(pdf: FPDF, headers: list[str], rows: list[list[str]], widths: list[float], total: list[str] | None = None,
           size: float = 8, kinds: list[str] | None = None) -> None:
    """A bordered table; `kinds` (text, int, pct, ...) align each column: text left, dates centred, numbers right."""
    pdf.set_font("sans", "", size)
    pdf.set_text_color(*INK)
    pdf.set_draw_color(150, 150, 150)
    pdf.set_line_width(0.2)
    pdf.set_fill_color(255, 255, 255)
    align = ["LEFT" if k == "text" else "CENTER" if k in ("datetime", "rank") else "RIGHT"
             for k in (kinds or ["text"] * len(headers))]
    strong = FontFace(family="sans", size_pt=size, fill_color=TOTAL_BG)
    with pdf.table(col_widths=widths, width=sum(widths), text_align=align, line_height=size * 0.55,
                   headings_style=FontFace(family="sans", size_pt=size, fill_color=HEAD_BG),
                   padding=(0.9, 1.2), v_align="MIDDLE", wrapmode="CHAR") as table:
        head = table.row()
        for h in headers:
            head.cell(h, align="CENTER")
        for values in rows:
            row = table.row()
            for v in values:
                row.cell(clean(v))
        if total is not None:
            row = table.row()
            for v in total:
                row.cell(clean(v), style=strong)
    pdf.ln(2)


def _fmt(v, kind: str) -> str:
    if v is None:
        return "—"
    return {"pct": pct, "hours": hours}.get(kind, lambda x: f"{x:.1f}" if isinstance(x, float) else str(x))(v)


TOWNSHIP = [("name", "乡镇（街道）", "text", 24), ("institutions", "机构数", "int", 11),
            ("events", "预警事件", "int", 14), ("confirmed", "确认", "int", 10), ("hazards_opened", "新增隐患", "int", 14),
            ("hazards_closed", "整改销号", "int", 14), ("hazards_open", "未销号", "int", 11),
            ("hazards_overdue", "逾期", "int", 9), ("supervised", "挂牌督办", "int", 14),
            ("rectification_rate", "整改率", "pct", 14), ("on_time_rate", "按期整改率", "pct", 17),
            ("median_close_h", "中位用时(h)", "hours", 18)]
RANKING = [("name", "机构名称", "text", 44), ("region", "所属区域", "text", 22), ("score", "得分", "score", 12),
           ("hazards_opened", "新增", "int", 11), ("hazards_closed", "销号", "int", 11),
           ("hazards_overdue", "逾期", "int", 11), ("supervised", "督办", "int", 11),
           ("rectification_rate", "整改率", "pct", 16), ("on_time_rate", "按期率", "pct", 16)]
OVERDUE = [("id", "编号", 10), ("institution_name", "机构名称", 40), ("category_name", "隐患类别", 34),
           ("severity_name", "等级", 16), ("deadline_at", "整改期限", 25), ("overdue_h", "逾期(h)", 15),
           ("supervised_text", "督办", 10), ("responsible", "责任人", 20)]


def _stats_table(pdf: FPDF, spec, rows, total=None, rank: bool = False) -> None:
    headers = (["排名"] if rank else []) + [h for _, h, _, _ in spec]
    widths = ([10.0] if rank else []) + [float(w) for *_, w in spec]
    body = [([str(n)] if rank else []) + [_fmt(getattr(r, k), kind) for k, _, kind, _ in spec]
            for n, r in enumerate(rows, 1)]
    tot = None if total is None else [("合计" if k == "name" else _fmt(getattr(total, k), kind))
                                      for k, _, kind, _ in spec]
    _table(pdf, headers, body, widths, tot, kinds=(["rank"] if rank else []) + [kind for _, _, kind, _ in spec])


def _chart(pdf: FPDF, b: Bulletin) -> None:
    """图1: per day, the events, the confirmed events and the new hazards, as grouped bars (vector)."""
    h_plot, h_total = 48.0, 66.0
    if pdf.will_page_break(h_total):
        pdf.add_page()
    x0, top, width = pdf.l_margin + 10, pdf.get_y() + 6, pdf.epw - 12
    days = b.trend
    peak = max([max(int(d.get(k) or 0) for k, _, _ in SERIES) for d in days] + [1])
    step = next(m * 10 ** e for e in range(12) for m in (1, 2, 5) if math.ceil(peak / (m * 10 ** e)) <= 6)
    top_v = step * math.ceil(peak / step)
    y_base = top + h_plot
    pdf.set_font("sans", "", 7)
    pdf.set_text_color(*GREY)
    pdf.set_draw_color(210, 210, 210)
    pdf.set_line_width(0.15)
    for v in range(0, top_v + 1, step):
        y = y_base - h_plot * v / top_v
        pdf.line(x0, y, x0 + width, y)
        pdf.set_xy(x0 - 10, y - 2)
        pdf.cell(8.5, 4, str(v), align="R")
    n = max(len(days), 1)
    slot = width / n
    bar = slot * 0.8 / len(SERIES)
    for i, d in enumerate(days):
        for j, (key, _, color) in enumerate(SERIES):
            v = int(d.get(key) or 0)
            if v:
                pdf.set_fill_color(*color)
                hh = h_plot * v / top_v
                pdf.rect(x0 + i * slot + slot * 0.1 + j * bar, y_base - hh, bar, hh, style="F")
        period = d.get("period")
        label = str(getattr(period, "day", period))
        if n <= 16 or i % 2 == 0:
            pdf.set_xy(x0 + i * slot, y_base + 0.5)
            pdf.cell(slot, 4, label, align="C")
    pdf.set_draw_color(*INK)
    pdf.set_line_width(0.3)
    pdf.line(x0, y_base, x0 + width, y_base)
    lx = x0 + width - 62
    for key, name, color in SERIES:
        pdf.set_fill_color(*color)
        pdf.rect(lx, top - 4.2, 3, 3, style="F")
        pdf.set_xy(lx + 3.5, top - 5)
        pdf.cell(16, 4.5, name)
        lx += 21
    pdf.set_xy(pdf.l_margin, y_base + 6)
    pdf.set_font("serif", "", 9.5)
    pdf.set_text_color(*INK)
    last = b.last_day
    pdf.cell(0, 5, f"图1　每日预警事件、确认事件与新增隐患（{b.since.month}月1日至{last.month}月{last.day}日，单位：起/处）",
             align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def _masthead(pdf: FPDF, b: Bulletin) -> None:
    pdf.set_font("serif", "", 25)
    with _bold(pdf, RED, 0.45):
        pdf.cell(0, 14, "民政服务机构安全监管通报", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("serif", "", 12)
    pdf.set_text_color(*INK)
    pdf.cell(0, 7, f"{b.since.year}年第{b.since.month}期", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.cell(pdf.epw / 2, 7, clean(f"{b.bureau}编"))
    pdf.cell(pdf.epw / 2, 7, cn_date(b.generated_at), align="R", new_x="LMARGIN", new_y="NEXT")
    y = pdf.get_y() + 1.5
    pdf.set_draw_color(*RED)
    pdf.set_line_width(0.9)
    pdf.line(pdf.l_margin, y, pdf.l_margin + pdf.epw, y)
    pdf.set_line_width(0.3)
    pdf.line(pdf.l_margin, y + 1.3, pdf.l_margin + pdf.epw, y + 1.3)
    pdf.set_y(y + 6)


def _requirements(b: Bulletin) -> list[str]:
    t, out = b.summary, []
    if t.hazards_overdue:
        out.append(f"逾期未整改的{t.hazards_overdue}处隐患，所在机构要立即落实整改责任人和防范措施，尽快整改到位并提交复核；"
                   "属地乡镇要跟踪督办，逐项对账销号。")
    if t.supervised:
        out.append(f"挂牌督办的{t.supervised}处隐患，由督办单位盯办到底，整改完成前不得摘牌。")
    if t.pending:
        out.append(f"尚待复核的{t.pending}起预警，请各复核人员及时研判，确认的隐患及时建档。")
    out.append("各机构要落实安全出口、疏散通道、消防控制室值班和电动车管理等日常检查制度，发现隐患立即整改，"
               "杜绝隐患“边改边生”。")
    numerals = "一二三四五六"
    return [f"（{numerals[i]}）{text}" for i, text in enumerate(out)]


def to_pdf(b: Bulletin) -> bytes:
    pdf = _Pdf(format="A4", unit="mm")
    pdf.set_margins(20, 18, 20)
    pdf.set_auto_page_break(True, margin=20)
    for family, name in FONT_FILES.items():
        path, index = font_file(name)
        pdf.add_font(family, "", str(path), collection_font_number=index)
    pdf.set_title(clean(b.title))
    pdf.set_author(clean(b.bureau))
    pdf.set_creator("vigil")
    pdf.set_lang("zh-CN")
    pdf.set_creation_date(b.generated_at)
    pdf.add_page()
    _masthead(pdf, b)
    pdf.set_font("serif", "", 16)
    with _bold(pdf, INK, 0.3):
        for line in wrap(pdf, b.title, pdf.epw):
            pdf.cell(0, 9, line, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("serif", "", 10.5)
    pdf.set_text_color(*GREY)
    pdf.cell(0, 7, f"（统计期间：{b.period_label}）", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_text_color(*INK)
    pdf.set_font("serif", "", 11.5)
    pdf.cell(0, 7, "各乡镇（街道）、各民政服务机构：", new_x="LMARGIN", new_y="NEXT")
    _paragraph(pdf, f"现将{b.since.year}年{b.since.month}月{b.region_label}民政服务机构安全隐患排查整治情况通报如下：")
    _heading(pdf, "一、总体情况")
    _paragraph(pdf, b.summary_text())
    _heading(pdf, "二、各乡镇隐患整改情况")
    _stats_table(pdf, TOWNSHIP, b.townships, b.township_total)
    _chart(pdf, b)
    _heading(pdf, "三、逾期未整改隐患")
    if b.overdue:
        kinds = {k: kind for k, _, kind in OVERDUE_COLUMNS}
        rows = [[(f"{r[k]:%m-%d %H:%M}" if kinds[k] == "datetime" and r.get(k) else _fmt(r.get(k), kinds[k]))
                 for k, _, _ in OVERDUE] for r in b.overdue]
        _table(pdf, [h for _, h, _ in OVERDUE], rows, [float(w) for *_, w in OVERDUE],
               kinds=["rank" if k == "id" else kinds[k] for k, _, _ in OVERDUE])
    else:
        _paragraph(pdf, f"截至{b.last_day.month}月{b.last_day.day}日，无逾期未整改隐患。")
    _heading(pdf, "四、督导优先排名")
    if b.ranking:
        _paragraph(pdf, "按逾期、挂牌督办、未销号隐患数、整改率、按期整改率和隐患密度综合评分，得分越高越需督导，排名靠前的机构请属地乡镇重点督导。",
                   size=10.5)
        _stats_table(pdf, RANKING, b.ranking, rank=True)
    _heading(pdf, "五、工作要求")
    for line in _requirements(b):
        _paragraph(pdf, line)
    pdf.ln(8)
    pdf.set_font("serif", "", 12)
    pdf.cell(0, 7, clean(b.bureau), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 7, cn_date(b.generated_at), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("sans", "", 8)
    pdf.set_text_color(*GREY)
    note = (f"本通报由 vigil 根据平台数据生成（统计截至{b.as_of:%Y-%m-%d %H:%M}，{b.timezone}）。整改率 = 本期整改销号数 ÷ "
            "本期新增隐患数；按期整改率 = 按期销号数 ÷ 本期整改销号数；未销号、逾期、挂牌督办为统计截至时的数量。")
    for line in wrap(pdf, note, pdf.epw):
        pdf.cell(0, 4.5, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
