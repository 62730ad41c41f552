"""`GET /api/reports/monthly`: the monthly bulletin (月度通报) of a region as Excel or PDF (vigil/ledger/bulletin).

`reports.read` (admins, supervisors, viewers). The region must lie within the caller's scope (a supervisor's own
region or one below it; an admin's anywhere), else 404, as for any object outside a scope. Each download is
audited (`report.monthly`, with the region, month, format and size) before the bytes go out."""
from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from vigil import audit
from vigil.access import Principal, normalise_region, region_covers
from vigil.api.deps import get_runtime, get_session
from vigil.api.errors import error_responses
from vigil.api.security import client_address, require
from vigil.config import REGION_PATTERN
from vigil.ledger import bulletin, stats
from vigil.ledger.bulletin.data import MONTH_PATTERN
from vigil.service import Runtime

router = APIRouter(tags=["reports"])
BINARY = {"schema": {"type": "string", "format": "binary"}}


def _in_scope(who: Principal, region: str) -> bool:
    return who.scope.everything or any(region_covers(r, region) for r in who.scope.regions)


def _default_region(who: Principal, insts: dict[str, stats.InstitutionInfo]) -> str:
    if who.scope.everything:
        region = bulletin.default_region(insts)
        if region is None:
            raise HTTPException(422, "the institutions lie in more than one county: say which with region=")
        return region
    if len(who.scope.regions) == 1:
        return next(iter(who.scope.regions))
    if who.scope.regions:
        raise HTTPException(422, f"your scope holds several regions ({', '.join(sorted(who.scope.regions))}): "
                                 "say which with region=")
    raise HTTPException(404, "no region lies in your scope (a bulletin covers a region)")


def _last_month(now: datetime) -> str:
    y, m = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{y:04d}-{m:02d}"


def content_disposition(utf8_name: str, ascii_name: str) -> str:
    """attachment with an ASCII fallback and the UTF-8 name (RFC 6266 / RFC 5987)."""
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(utf8_name, safe='')}"


@router.get("/api/reports/monthly", response_class=Response, summary="The monthly bulletin of a region (xlsx or pdf)",
            responses={200: {"content": {bulletin.FORMATS["xlsx"]: BINARY, bulletin.FORMATS["pdf"]: BINARY},
                             "description": "The bulletin as an attachment (Content-Disposition with a UTF-8 file "
                                            "name)"},
                       **error_responses(401, 403, 404, 422, e404={"description": (
                           "The region is unknown or outside the caller's scope, or the month has not begun")})})
def monthly_bulletin(
    request: Request,
    month: str | None = Query(None, pattern=MONTH_PATTERN, description=(
        "YYYY-MM, a calendar month of the server's time zone (default: last month); the running month covers its "
        "days up to now."), examples=["2026-11"]),
    region: str | None = Query(None, max_length=255, pattern=REGION_PATTERN, description=(
        "Region path, e.g. 示范县 or 示范县/城关镇 (default: a supervisor's own region; an admin's county)."),
        examples=["示范县"]),
    format: bulletin.Format = Query("xlsx", description="xlsx: an Excel workbook, one sheet per section; pdf: the "
                                                        "printable A4 bulletin."),
    s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
    who: Principal = Depends(require("reports.read")),
) -> Response:
    """Summary figures and paragraph, per-township and per-institution tables, categories, the overdue list, the
    supervise-first ranking and the daily trend of the institutions at or below `region`."""
    insts = stats.institutions_from_runtime(rt)
    region = normalise_region(region) if region else _default_region(who, insts)
    if not region or not _in_scope(who, region):
        raise HTTPException(404, f"region {region} does not exist")
    now = rt.clock.now()
    try:
        b = bulletin.build(s, insts, month=month or _last_month(now.astimezone(rt.tz)), region=region, now=now,
                           tz=rt.tz)
    except bulletin.UnknownRegion:
        raise HTTPException(404, f"region {region} does not exist") from None
    except bulletin.FutureMonth as exc:
        raise HTTPException(404, str(exc)) from None
    except bulletin.BulletinError as exc:
        raise HTTPException(422, str(exc)) from None
    data = bulletin.render(b, format)
    audit.record(s, who, "report.monthly", client=client_address(request), object_type="report",
                 object_id=f"monthly-{b.month}", region=b.region, note=format,
                 after={"month": b.month, "region": b.region, "format": format, "bytes": len(data)})
    s.commit()
    return Response(data, media_type=bulletin.FORMATS[format],
                    headers={"Content-Disposition": content_disposition(b.filename(format), b.ascii_filename(format)),
                             "Cache-Control": "private, no-store"})
