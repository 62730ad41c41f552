"""The monthly bulletin (月度通报) of a region: what the county (or a township) civil-affairs bureau sends its
institutions about a month's hazards (no web framework here).

- `data`: `build(...)` makes a `Bulletin` value from `vigil.ledger.stats` for one month (in the server's time zone)
  and one region path: summary figures and paragraph, per-township and per-institution tables, categories, the
  overdue list, the supervise-first ranking and the daily trend.
- `xlsx`: the bulletin as an Excel workbook (openpyxl), one sheet per section.
- `pdf`: the bulletin as a printable A4 PDF (fpdf2, Noto CJK fonts embedded), with a daily trend chart.

Used by `vigil report monthly` (vigil/cli_report.py) and `GET /api/reports/monthly` (api/routers/reports.py).
"""
import hashlib
import threading
from collections import OrderedDict
from typing import Literal

from vigil.ledger.bulletin.data import (Bulletin, BulletinError, FutureMonth, UnknownRegion, build, default_region,
                                        parse_month)

Format = Literal["xlsx", "pdf"]
FORMATS = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "pdf": "application/pdf"}


_rendered: OrderedDict[tuple[str, str], bytes] = OrderedDict()  # the last few files made: (format, digest) -> bytes
_lock = threading.Lock()


def render(b: Bulletin, fmt: str) -> bytes:
    """The bulletin as a file of `fmt` ('xlsx' or 'pdf'). The same bulletin (figures to the minute) asked again gives
    the bytes made before: a PDF costs a second or two of font subsetting."""
    if fmt not in FORMATS:
        raise BulletinError(f"unknown format {fmt!r} (xlsx or pdf)")
    key = (fmt, hashlib.sha256(repr(b).encode()).hexdigest())
    with _lock:
        if key in _rendered:
            _rendered.move_to_end(key)
            return _rendered[key]
    if fmt == "xlsx":
        from vigil.ledger.bulletin.xlsx import to_xlsx
        data = to_xlsx(b)
    else:
        from vigil.ledger.bulletin.pdf import to_pdf
        data = to_pdf(b)
    with _lock:
        _rendered[key] = data
        while len(_rendered) > 8:
            _rendered.popitem(last=False)
    return data


__all__ = ["FORMATS", "Format", "Bulletin", "BulletinError", "FutureMonth", "UnknownRegion", "build", "default_region",
           "parse_month", "render"]
