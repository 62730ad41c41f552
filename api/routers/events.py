from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import FileResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.api.db import EventRow, as_utc
from vigil.api.deps import get_runtime, get_session
from vigil.api.errors import RETRY_AFTER, error_responses
from vigil.api.schemas import ID_PATTERN, MAX_ID, EventOut, EventPage, ReviewIn, UtcDateTime
from vigil.config import RULE_TYPES
from vigil.service import Runtime

router = APIRouter(tags=["events"])
RuleName = Literal["blocked_exit", "unattended_room", "ebike_indoor", "fire_smoke", "camera_offline"]
assert set(RULE_TYPES) < set(RuleName.__args__)  # type: ignore[attr-defined]
EventId = Annotated[int, Path(ge=1, le=MAX_ID, description="Event id.", examples=[1])]
BINARY = {"schema": {"type": "string", "format": "binary"}}


def event_out(row: EventRow, rt: Runtime) -> dict:
    cam = next((c for c in rt.cfg.cameras if c.id == row.camera_id), None)
    inst = rt.institutions.get(row.institution_id)
    return {
        "id": row.id, "camera_id": row.camera_id, "camera_name": cam.name if cam else None,
        "institution_id": row.institution_id, "institution_name": inst.name if inst else None,
        "zone": row.zone, "rule": row.rule, "state": row.state, "review_status": row.review_status,
        "started_at": as_utc(row.started_at), "ended_at": as_utc(row.ended_at), "peak_confidence": row.peak_confidence,
        "params": row.params or {}, "detail": row.detail or {},
        "snapshot_url": f"/api/events/{row.id}/snapshot.jpg" if row.snapshot_path else None,
        "clip_url": f"/api/events/{row.id}/clip.mp4" if row.clip_status == "ready" and row.clip_path else None,
        "clip_status": row.clip_status,
        "reviewed_at": as_utc(row.reviewed_at), "reviewer": row.reviewer, "review_note": row.review_note,
    }


def _get(s: Session, event_id: int) -> EventRow:
    row = s.get(EventRow, event_id)
    if row is None:
        raise HTTPException(404, f"event {event_id} does not exist")
    return row


@router.get("/api/events", response_model=EventPage, summary="Events, newest first, filtered and paginated",
            responses=error_responses(422, e422={"description": "Invalid filters, or 'since' not earlier than 'until'"}))
def list_events(
    status: Literal["pending", "confirmed", "false_alarm"] | None = Query(None, description="Review status."),
    state: Literal["open", "closed"] | None = Query(None, description="open: the condition still holds."),
    rule: RuleName | None = Query(None),
    camera: str | None = Query(None, pattern=ID_PATTERN, description="Camera id."),
    institution: str | None = Query(None, pattern=ID_PATTERN, description="Institution id."),
    since: UtcDateTime | None = Query(None, description="Started at or after (ISO 8601)."),
    until: UtcDateTime | None = Query(None, description="Started before (ISO 8601); must be later than `since` "
                                                        "(422 otherwise)."),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_ID),
    s: Session = Depends(get_session),
    rt: Runtime = Depends(get_runtime),
) -> dict:
    if since and until and since >= until:
        raise HTTPException(422, "'since' must be earlier than 'until'")
    q = select(EventRow)
    for col, val in ((EventRow.review_status, status), (EventRow.state, state), (EventRow.rule, rule),
                     (EventRow.camera_id, camera), (EventRow.institution_id, institution)):
        if val is not None:
            q = q.where(col == val)
    if since:
        q = q.where(EventRow.started_at >= since)
    if until:
        q = q.where(EventRow.started_at < until)
    total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = s.scalars(q.order_by(EventRow.started_at.desc(), EventRow.id.desc()).limit(limit).offset(offset)).all()
    return {"items": [event_out(r, rt) for r in rows], "total": total, "limit": limit, "offset": offset}


@router.get("/api/events/{event_id}", response_model=EventOut, responses=error_responses(404, 422))
def get_event(event_id: EventId, s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime)) -> dict:
    return event_out(_get(s, event_id), rt)


@router.get("/api/events/{event_id}/snapshot.jpg", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": BINARY}, "description": "Evidence JPEG (zone and boxes drawn)"},
                       **error_responses(404, 422)})
def event_snapshot(event_id: EventId, s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime)):
    row = _get(s, event_id)
    path = rt.store.snapshot_file(row)
    if path is None:
        raise HTTPException(404, f"event {event_id} has no snapshot")
    return FileResponse(path, media_type="image/jpeg")


@router.get("/api/events/{event_id}/clip.mp4", response_class=FileResponse, responses={
    200: {"content": {"video/mp4": BINARY}, "description": "The MP4 clip"},
    206: {"content": {"video/mp4": BINARY, "multipart/byteranges": BINARY},
          "description": "The requested byte range(s) of the clip (seeking)"},
    400: {"content": {"text/plain": {"schema": {"type": "string"}}},
          "description": "Malformed Range header (or a range whose start is after its end)"},
    416: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Range beyond the end of the clip",
          "headers": {"Content-Range": {"description": "bytes */SIZE", "schema": {"type": "string"}}}},
    **error_responses(404, 409, 422, e404={"description": "No such event, no clip for it, clip failed or pruned by "
                                                          "retention (detail says which)"},
                      e409={"description": "Clip still recording; detail and Retry-After say when it should be ready",
                            "headers": RETRY_AFTER})})
def event_clip(event_id: EventId, s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime)):
    """The event's evidence clip (from `pre_s` before the event to `post_s` after it), as recorded
    from the camera's own stream. Seeking: send `Range: bytes=START-END` (RFC 9110) and get 206 with those
    bytes, 416 when START lies past the end, 400 when the header is malformed (Starlette's FileResponse)."""
    row = _get(s, event_id)
    status = row.clip_status
    if status == "recording":
        ready = as_utc(row.started_at) + timedelta(seconds=rt.cfg.storage.clips.post_s)
        wait = (ready - datetime.now(timezone.utc)).total_seconds()
        when = ready.astimezone(rt.tz).isoformat(timespec="seconds") + ("" if wait > 0 else " (any moment now)")
        raise HTTPException(409, f"clip still recording, ready about {when}",
                            headers={"Retry-After": str(max(1, math.ceil(wait)))})
    if status == "pruned":
        raise HTTPException(404, f"the clip of event {event_id} was pruned by media retention (age or disk space)")
    if status == "failed":
        why = (row.detail or {}).get("clip_error") or "unknown error"
        raise HTTPException(404, f"the clip of event {event_id} could not be recorded: {why}")
    if status is None:
        raise HTTPException(404, f"no clip for event {event_id} (clips disabled, or the camera kept no video for it)")
    path = rt.store.clip_file(row)
    if path is None:
        raise HTTPException(404, f"the clip file of event {event_id} is missing from the media folder")
    return FileResponse(path, media_type="video/mp4", filename=f"event-{event_id}.mp4", content_disposition_type="inline")


@router.post("/api/events/{event_id}/review", response_model=EventOut, responses=error_responses(
    400, 404, 409, 422, e404={"description": "No such event"}, e409={"description": "Already reviewed"}))
def review_event(event_id: EventId, body: ReviewIn, s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime)) -> dict:
    row = _get(s, event_id)
    if row.review_status != "pending":
        raise HTTPException(409, f"event {event_id} was already reviewed as '{row.review_status}' at {as_utc(row.reviewed_at).isoformat()}")
    row.review_status = body.verdict
    row.review_note = body.note
    row.reviewer = body.reviewer
    row.reviewed_at = datetime.now(timezone.utc)
    s.commit()
    return event_out(row, rt)
