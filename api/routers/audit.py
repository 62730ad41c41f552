"""`GET /api/audit`: the audit trail (admins: all; supervisors: their region), as JSON pages or CSV."""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from vigil import audit
from vigil.access import Principal
from vigil.api.deps import get_runtime, get_session
from vigil.api.errors import error_responses
from vigil.api.schemas import ID_PATTERN, MAX_ID, USERNAME_PATTERN, UtcDateTime
from vigil.api.security import require
from vigil.service import Runtime

router = APIRouter(tags=["audit"])


class AuditOut(BaseModel):
    id: int
    at: Any
    username: str | None
    role: str | None
    client: str | None
    action: str
    object_type: str | None
    object_id: str | None
    institution_id: str | None
    region: str | None
    outcome: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str | None


class AuditPage(BaseModel):
    items: list[AuditOut]
    total: int
    limit: int
    offset: int


@router.get("/api/audit", response_model=AuditPage, responses={
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "JSON page, or with format=csv the matching rows as CSV (up to `limit`)"},
    **error_responses(401, 403, 422)})
def audit_log(
    action: str | None = Query(None, max_length=48, pattern=r"^[a-z_.]+$", description="e.g. media.clip, event.review"),
    username: str | None = Query(None, pattern=USERNAME_PATTERN),
    object_type: str | None = Query(None, pattern=r"^[a-z_]{1,32}$", description="event, camera, user, api_token ..."),
    object_id: str | None = Query(None, pattern=ID_PATTERN),
    institution: str | None = Query(None, pattern=ID_PATTERN),
    since: UtcDateTime | None = Query(None), until: UtcDateTime | None = Query(None),
    limit: int = Query(100, ge=1, le=10000), offset: int = Query(0, ge=0, le=MAX_ID),
    format: Literal["json", "csv"] = Query("json", description="csv: download the rows as CSV"),
    s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
    who: Principal = Depends(require("audit.read")),
):
    """Newest first. Supervisors see the rows about the institutions and regions of their scope; rows about no
    institution (logins, users, tokens) only admins."""
    if since and until and since >= until:
        raise HTTPException(422, "'since' must be earlier than 'until'")
    rows, total = audit.query(s, who.scope, rt.regions_by_institution(), action=action, username=username,
                              object_type=object_type, object_id=object_id, institution=institution, since=since,
                              until=until, limit=limit, offset=offset)
    if format == "csv":
        return Response(audit.to_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="vigil-audit.csv"'})
    return {"items": [audit.row_view(r) for r in rows], "total": total, "limit": limit, "offset": offset}
