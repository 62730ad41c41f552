from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil import audit, review
from vigil.access import Principal
from vigil.api.db import EventRow, as_utc
from vigil.api.db_access import UserRow
from vigil.api.deps import get_runtime, get_session
from vigil.api.errors import RETRY_AFTER, error_responses
from vigil.api.schemas import (ID_PATTERN, MAX_ID, BulkReviewIn, BulkReviewOut, EventOut, EventPage, QueueOut, ReviewIn,
                               UtcDateTime)
from vigil.api.security import check_visible, client_address, require, visible_institutions
from vigil.config import RULE_TYPES
from vigil.outbox import messages as outbox
from vigil.service import Runtime

router = APIRouter(tags=["events"])
RuleName = Literal["blocked_exit", "unattended_room", "ebike_indoor", "fire_smoke", "gate", "camera_offline"]
assert set(RULE_TYPES) < set(RuleName.__args__)  # type: ignore[attr-defined]
EventId = Annotated[int, Path(ge=1, le=MAX_ID, description="Event id.", examples=[1])]
BINARY = {"schema": {"type": "string", "format": "binary"}}


def user_names(s: Session) -> dict[int, str]:
    return dict(s.execute(select(UserRow.id, UserRow.username)).all())


def event_out(row: EventRow, rt: Runtime, names: dict[int, str] | None = None) -> dict:
    cam = next((c for c in rt.cfg.cameras if c.id == row.camera_id), None)
    inst = rt.institutions.get(row.institution_id)
    claimed = row.claimed_by is not None and row.claimed_until is not None and \
        as_utc(row.claimed_until) > datetime.now(timezone.utc) or None
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
        "review_reason": row.review_reason, "claimed_until": claimed and as_utc(row.claimed_until),
        "claimed_by": claimed and ((names or {}).get(row.claimed_by) or f"user {row.claimed_by}"),
    }


def _get(s: Session, event_id: int, rt: Runtime, who: Principal) -> EventRow:
    """The event, or 404 when it does not exist or lies outside the caller's scope (the same answer)."""
    row = s.get(EventRow, event_id)
    if row is None:
        raise HTTPException(404, f"event {event_id} does not exist")
    check_visible(rt, who, row.institution_id, f"event {event_id}")
    return row


def _media_viewed(s: Session, rt: Runtime, who: Principal, request: Request, kind: str, row: EventRow) -> None:
    """One audit row per view of evidence, committed before the bytes go out."""
    audit.record(s, who, f"media.{kind}", client=client_address(request), object_type="event", object_id=row.id,
                 institution_id=row.institution_id, region=rt.regions_by_institution().get(row.institution_id),
                 note=row.camera_id)
    s.commit()


@router.get("/api/events", response_model=EventPage, summary="Events, newest first, filtered and paginated",
            responses=error_responses(401, 403, 422, e422={"description": "Invalid filters, or 'since' not earlier than 'until'"}))
def list_events(
    status: Literal["pending", "confirmed", "false_alarm", "needs_onsite_check"] | None = Query(
        None, description="Review status."),
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
    who: Principal = Depends(require("events.read")),
) -> dict:
    """The events of the institutions in the caller's scope only."""
    if since and until and since >= until:
        raise HTTPException(422, "'since' must be earlier than 'until'")
    q = select(EventRow)
    visible = visible_institutions(rt, who)
    if visible is not None:
        q = q.where(EventRow.institution_id.in_(sorted(visible)))
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
    names = user_names(s)
    return {"items": [event_out(r, rt, names) for r in rows], "total": total, "limit": limit, "offset": offset}


@router.get("/api/events/{event_id:int}", response_model=EventOut, responses=error_responses(401, 403, 404, 422))
def get_event(event_id: EventId, s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
              who: Principal = Depends(require("events.read"))) -> dict:
    return event_out(_get(s, event_id, rt, who), rt, user_names(s))


@router.get("/api/events/{event_id:int}/snapshot.jpg", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": BINARY}, "description": "Evidence JPEG (zone and boxes drawn)"},
                       **error_responses(401, 403, 404, 422)})
def event_snapshot(event_id: EventId, request: Request, s: Session = Depends(get_session),
                   rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("media.view"))):
    """The evidence picture; each view is audited."""
    row = _get(s, event_id, rt, who)
    path = rt.store.snapshot_file(row)
    if path is None:
        raise HTTPException(404, f"event {event_id} has no snapshot")
    _media_viewed(s, rt, who, request, "snapshot", row)
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


@router.get("/api/events/{event_id:int}/clip.mp4", response_class=FileResponse, responses={
    200: {"content": {"video/mp4": BINARY}, "description": "The MP4 clip"},
    206: {"content": {"video/mp4": BINARY, "multipart/byteranges": BINARY},
          "description": "The requested byte range(s) of the clip (seeking)"},
    400: {"content": {"text/plain": {"schema": {"type": "string"}}},
          "description": "Malformed Range header (or a range whose start is after its end)"},
    416: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Range beyond the end of the clip",
          "headers": {"Content-Range": {"description": "bytes */SIZE", "schema": {"type": "string"}}}},
    **error_responses(401, 403, 404, 409, 422, e404={"description": "No such event, no clip for it, clip failed or pruned by "
                                                          "retention (detail says which)"},
                      e409={"description": "Clip still recording; detail and Retry-After say when it should be ready",
                            "headers": RETRY_AFTER})})
def event_clip(event_id: EventId, request: Request, s: Session = Depends(get_session),
               rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("media.view"))):
    """The event's evidence clip (from `pre_s` before the event to `post_s` after it), as recorded
    from the camera's own stream. Seeking: send `Range: bytes=START-END` (RFC 9110) and get 206 with those
    bytes, 416 when START lies past the end, 400 when the header is malformed (Starlette's FileResponse).
    Each request that gets video is audited (a player's range requests each leave a row)."""
    row = _get(s, event_id, rt, who)
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
    _media_viewed(s, rt, who, request, "clip", row)
    return FileResponse(path, media_type="video/mp4", filename=f"event-{event_id}.mp4", content_disposition_type="inline",
                        headers={"Cache-Control": "private, no-store"})


def _review_one(s: Session, rt: Runtime, who: Principal, request: Request, event_id: int, body: ReviewIn,
                names: dict[int, str]) -> EventRow:
    row = _get(s, event_id, rt, who)
    before = {"review_status": row.review_status}
    try:
        row = review.decide(s, event_id, who, review.Verdict(body.verdict, getattr(body, "reason", None), body.note),
                            names)
    except review.ReviewError as exc:
        raise HTTPException(422, str(exc)) from None
    except review.ReviewConflict as exc:
        raise HTTPException(409, str(exc)) from None
    audit.record(s, who, "event.review", client=client_address(request), object_type="event", object_id=row.id,
                 institution_id=row.institution_id, region=rt.regions_by_institution().get(row.institution_id),
                 before=before, after={"review_status": row.review_status, "reason": row.review_reason,
                                       "note": row.review_note})
    outbox.announce_review(s, row, rt.regions_by_institution().get(row.institution_id), who.username)  # same commit
    if row.review_status == "confirmed":  # the ledger starts here: a hazard opens, or this is another sighting
        rt.ledger.on_confirmed(s, row, who, client_address(request))
    s.commit()
    return row


@router.post("/api/events/{event_id:int}/review", response_model=EventOut, responses=error_responses(
    400, 401, 403, 404, 409, 422, e404={"description": "No such event in the caller's scope"},
    e409={"description": "Already decided, or claimed by another reviewer"}))
def review_event(event_id: EventId, body: ReviewIn, request: Request, s: Session = Depends(get_session),
                 rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("events.review"))) -> dict:
    """Record the logged-in user's verdict (claimed or not: an event claimed by someone else answers 409)."""
    names = user_names(s)
    return event_out(_review_one(s, rt, who, request, event_id, body, names), rt, names)


@router.post("/api/events/review", response_model=BulkReviewOut, responses=error_responses(400, 401, 403, 422))
def review_bulk(body: BulkReviewIn, request: Request, s: Session = Depends(get_session),
                rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("events.review"))) -> dict:
    """Several verdicts at once; each item is reviewed on its own and gets its own result."""
    names, results = user_names(s), []
    for item in body.items:
        try:
            row = _review_one(s, rt, who, request, item.id, item, names)
            results.append({"id": item.id, "ok": True, "status": 200, "review_status": row.review_status})
        except HTTPException as exc:
            s.rollback()
            results.append({"id": item.id, "ok": False, "status": exc.status_code, "detail": exc.detail})
    ok = sum(r["ok"] for r in results)
    return {"results": results, "reviewed": ok, "failed": len(results) - ok}


@router.post("/api/events/{event_id:int}/claim", response_model=EventOut, responses=error_responses(
    401, 403, 404, 409, 422, e409={"description": "Claimed by another reviewer, or already decided"}))
def claim_event(event_id: EventId, request: Request, s: Session = Depends(get_session),
                rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("events.review"))) -> dict:
    """Take the review lease (5 minutes; claiming again extends it). The second reviewer gets 409."""
    _get(s, event_id, rt, who)
    names = user_names(s)
    try:
        row = review.claim(s, event_id, who, names)
    except review.ReviewConflict as exc:
        raise HTTPException(409, str(exc)) from None
    return event_out(row, rt, names)


@router.delete("/api/events/{event_id:int}/claim", response_model=EventOut, responses=error_responses(401, 403, 404, 422))
def release_event(event_id: EventId, s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
                  who: Principal = Depends(require("events.review"))) -> dict:
    """Give the lease back (its holder; an admin may release anyone's)."""
    _get(s, event_id, rt, who)
    review.release(s, event_id, who)
    row = s.get(EventRow, event_id)
    s.refresh(row)
    return event_out(row, rt, user_names(s))


@router.get("/api/review/queue", response_model=QueueOut, responses=error_responses(401, 403))
def review_queue(s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
                 who: Principal = Depends(require("events.read"))) -> dict:
    """Counts of what waits for review in the caller's scope, and the caller's own share."""
    return review.queue_counts(s, who, visible_institutions(rt, who))
