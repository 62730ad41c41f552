"""The hazard ledger over HTTP (thin: the rules live in vigil/ledger)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from vigil import audit
from vigil.access import PERMISSIONS, Principal
from vigil.api.db import as_utc
from vigil.api.db_ledger import HazardEventRow, HazardHistoryRow, HazardPhotoRow, HazardRow
from vigil.api.deps import get_runtime, get_session
from vigil.api.errors import error_responses
from vigil.api.schemas import ID_PATTERN, MAX_ID
from vigil.api.schemas_ledger import (Category, CommentIn, HazardDetail, HazardIn, HazardPage, HazardPatch,
                                      PhotoKind, PhotoOut, Severity, State, StepIn, SuperviseIn)
from vigil.api.security import check_visible, client_address, require, visible_institutions
from vigil.ledger import hazards as ledger
from vigil.ledger.config import CATEGORIES
from vigil.ledger.photos import PhotoLimit, TooLarge, photo_file, store_photo
from vigil.ledger.states import IllegalTransition, LedgerError, NotAllowed, steps_for
from vigil.service import Runtime

router = APIRouter(tags=["hazards"])
HazardId = Annotated[int, Path(ge=1, le=MAX_ID, description="Hazard id.", examples=[1])]
PhotoId = Annotated[int, Path(ge=1, le=MAX_ID, description="Photo id.", examples=[1])]
IMAGE = {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                     "image/png": {"schema": {"type": "string", "format": "binary"}},
                     "image/webp": {"schema": {"type": "string", "format": "binary"}}}}


def _errors(exc: Exception) -> HTTPException:
    if isinstance(exc, TooLarge):
        return HTTPException(413, str(exc))
    if isinstance(exc, (IllegalTransition, PhotoLimit)):
        return HTTPException(409, str(exc))
    if isinstance(exc, NotAllowed):
        return HTTPException(403, str(exc))
    return HTTPException(422, str(exc))


def hazard_out(h: HazardRow, rt: Runtime, who: Principal, regions: Mapping[str, str] | None = None) -> dict:
    """The hazard as the API shows it; a listing passes `regions` (institution -> region path) made once."""
    inst = rt.institutions.get(h.institution_id)
    now = rt.clock.now()
    regions = rt.regions_by_institution() if regions is None else regions
    steps = steps_for(h.state, PERMISSIONS.get(who.role, frozenset()))
    if "verify" in steps and h.submitted_by_id == who.user_id:
        steps.remove("verify")  # four-eyes rule
    return {
        "id": h.id, "institution_id": h.institution_id, "institution_name": inst.name if inst else None,
        "region": regions.get(h.institution_id), "camera_id": h.camera_id, "zone": h.zone, "rule": h.rule,
        "category": h.category, "category_name": CATEGORIES.get(h.category, (h.category,))[0],
        "severity": h.severity, "source": h.source, "title": h.title, "description": h.description,
        "location": h.location, "state": h.state, "responsible": h.responsible, "opened_at": as_utc(h.opened_at),
        "opened_by": h.opened_by, "deadline_at": as_utc(h.deadline_at), "overdue": ledger.is_overdue(h, now),
        "last_seen_at": as_utc(h.last_seen_at), "sightings": h.sightings or 0, "submitted_at": as_utc(h.submitted_at),
        "verified_at": as_utc(h.verified_at), "verified_by": h.verified_by, "closed_at": as_utc(h.closed_at),
        "reopened": h.reopened or 0, "recheck_status": h.recheck_status, "recheck_at": as_utc(h.recheck_at),
        "recheck_detail": h.recheck_detail, "escalation_level": h.escalation_level or 0,
        "supervised": bool(h.supervised), "supervised_region": h.supervised_region, "supervisor": h.supervisor,
        "complaint_id": h.complaint_id, "steps": steps,
    }


def _photo_out(p: HazardPhotoRow) -> dict:
    return {"id": p.id, "kind": p.kind, "content_type": p.content_type, "size": p.size, "uploaded_by": p.uploaded_by,
            "uploaded_at": as_utc(p.uploaded_at), "url": f"/api/hazards/{p.hazard_id}/photos/{p.id}"}


def _get(s: Session, rt: Runtime, who: Principal, hazard_id: int) -> HazardRow:
    h = s.get(HazardRow, hazard_id)
    if h is None:
        raise HTTPException(404, f"hazard {hazard_id} does not exist")
    check_visible(rt, who, h.institution_id, f"hazard {hazard_id}")
    return h


def _actor(who: Principal, request: Request) -> ledger.Actor:
    return ledger.Actor(who, client=client_address(request))


def _detail(s: Session, rt: Runtime, who: Principal, h: HazardRow) -> dict:
    hist = s.scalars(select(HazardHistoryRow).where(HazardHistoryRow.hazard_id == h.id).order_by(HazardHistoryRow.id))
    photos = s.scalars(select(HazardPhotoRow).where(HazardPhotoRow.hazard_id == h.id).order_by(HazardPhotoRow.id))
    events = s.scalars(select(HazardEventRow.event_id).where(HazardEventRow.hazard_id == h.id)
                       .order_by(HazardEventRow.event_id))
    return dict(hazard_out(h, rt, who),
                history=[{"at": as_utc(r.at), "username": r.username, "action": r.action, "from_state": r.from_state,
                          "to_state": r.to_state, "note": r.note, "data": r.data} for r in hist],
                photos=[_photo_out(p) for p in photos], event_ids=list(events))


@router.get("/api/hazards", response_model=HazardPage, summary="The hazard ledger, newest first",
            responses=error_responses(401, 403, 422))
def list_hazards(
    state: State | None = Query(None, description="Lifecycle state."),
    open_only: bool = Query(False, description="Only hazards not yet closed."),
    category: Category | None = Query(None), severity: Severity | None = Query(None),
    institution: str | None = Query(None, pattern=ID_PATTERN, description="Institution id."),
    camera: str | None = Query(None, pattern=ID_PATTERN, description="Camera id."),
    overdue: bool | None = Query(None, description="Past the deadline and not handed in (open or rectifying)."),
    supervised: bool | None = Query(None, description="Listed for supervision (挂牌督办)."),
    limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_ID),
    s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
    who: Principal = Depends(require("hazards.read")),
) -> dict:
    q = select(HazardRow)
    visible = visible_institutions(rt, who)
    if visible is not None:
        q = q.where(HazardRow.institution_id.in_(sorted(visible)))
    now = rt.clock.now()
    for col, val in ((HazardRow.state, state), (HazardRow.category, category), (HazardRow.severity, severity),
                     (HazardRow.institution_id, institution), (HazardRow.camera_id, camera),
                     (HazardRow.supervised, supervised)):
        if val is not None:
            q = q.where(col == val)
    if open_only:
        q = q.where(HazardRow.state != "closed")
    late = HazardRow.state.in_(("open", "rectifying")) & (HazardRow.deadline_at < now)
    if overdue is True:
        q = q.where(late)
    elif overdue is False:
        q = q.where(or_(HazardRow.state.not_in(("open", "rectifying")), HazardRow.deadline_at >= now))
    total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = s.scalars(q.order_by(HazardRow.opened_at.desc(), HazardRow.id.desc()).limit(limit).offset(offset)).all()
    regions = rt.regions_by_institution()
    return {"total": total, "items": [hazard_out(h, rt, who, regions) for h in rows]}


@router.post("/api/hazards", response_model=HazardDetail, status_code=201, summary="Enter a hazard by hand",
             responses=error_responses(400, 401, 403, 404, 422))
def create_hazard(body: HazardIn, request: Request, s: Session = Depends(get_session),
                  rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("hazards.create"))) -> dict:
    """An on-site inspection's finding (photos follow with POST /api/hazards/{id}/photos)."""
    if body.institution_id not in rt.institutions:
        raise HTTPException(404, f"institution {body.institution_id} does not exist")
    check_visible(rt, who, body.institution_id, f"institution {body.institution_id}")
    now = rt.clock.now()
    if body.deadline_at is not None and body.deadline_at < now:
        raise HTTPException(422, "deadline_at: the deadline cannot be in the past")
    try:
        h = ledger.open_hazard(s, rt.cfg.hazards, now, _actor(who, request), institution_id=body.institution_id,
                               region=rt.ledger.region(body.institution_id), category=body.category,
                               severity=body.severity, title=body.title, source="inspection",
                               description=body.description, location=body.location, responsible=body.responsible,
                               deadline_at=body.deadline_at)
    except LedgerError as exc:
        raise _errors(exc) from None
    s.commit()
    return _detail(s, rt, who, h)


@router.get("/api/hazards/{hazard_id:int}", response_model=HazardDetail, responses=error_responses(401, 403, 404, 422))
def get_hazard(hazard_id: HazardId, s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
               who: Principal = Depends(require("hazards.read"))) -> dict:
    """One hazard with its history, photos, sightings and the steps the caller may take."""
    return _detail(s, rt, who, _get(s, rt, who, hazard_id))


@router.post("/api/hazards/{hazard_id:int}/steps", response_model=HazardDetail, responses=error_responses(
    400, 401, 403, 404, 409, 422, e409={"description": "Not allowed from the hazard's state (detail names the state "
                                                       "and the allowed steps), or the re-check still sees it"}))
def take_step(hazard_id: HazardId, body: StepIn, request: Request, s: Session = Depends(get_session),
              rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("hazards.read"))) -> dict:
    """start, submit (a camera-found hazard then gets the camera re-check), reject, verify, close, reopen."""
    h = _get(s, rt, who, hazard_id)
    try:
        h = ledger.take_step(s, rt.clock.now(), _actor(who, request), h, body.step, rt.ledger.region(h.institution_id),
                             note=body.note, override=body.override)
    except (LedgerError, IllegalTransition, NotAllowed) as exc:
        raise _errors(exc) from None
    s.commit()
    if body.step == "submit" and h.recheck_status == "pending":
        rt.ledger.recheck.submit(h.id)
    return _detail(s, rt, who, h)


@router.patch("/api/hazards/{hazard_id:int}", response_model=HazardDetail,
              responses=error_responses(400, 401, 403, 404, 409, 422))
def assign_hazard(hazard_id: HazardId, body: HazardPatch, request: Request, s: Session = Depends(get_session),
                  rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("hazards.assign"))) -> dict:
    """Name the responsible person, change the severity or the deadline."""
    h = _get(s, rt, who, hazard_id)
    try:
        ledger.assign(s, rt.clock.now(), _actor(who, request), h, rt.ledger.region(h.institution_id),
                      responsible=body.responsible, severity=body.severity, deadline_at=body.deadline_at,
                      policy=rt.cfg.hazards, note=body.note)
    except (LedgerError, IllegalTransition) as exc:
        raise _errors(exc) from None
    s.commit()
    return _detail(s, rt, who, h)


@router.post("/api/hazards/{hazard_id:int}/comments", response_model=HazardDetail, status_code=201,
             responses=error_responses(400, 401, 403, 404, 422))
def comment_hazard(hazard_id: HazardId, body: CommentIn, request: Request, s: Session = Depends(get_session),
                   rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("hazards.comment"))) -> dict:
    h = _get(s, rt, who, hazard_id)
    try:
        ledger.comment(s, rt.clock.now(), _actor(who, request), h, rt.ledger.region(h.institution_id), body.text)
    except LedgerError as exc:
        raise _errors(exc) from None
    s.commit()
    return _detail(s, rt, who, h)


@router.post("/api/hazards/{hazard_id:int}/supervise", response_model=HazardDetail,
             responses=error_responses(400, 401, 403, 404, 409, 422))
def supervise_hazard(hazard_id: HazardId, body: SuperviseIn, request: Request, s: Session = Depends(get_session),
                     rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("hazards.supervise"))) -> dict:
    """挂牌督办: list the hazard for supervision by the caller's region (an admin: the institution's county)."""
    h = _get(s, rt, who, hazard_id)
    region = rt.ledger.region(h.institution_id) or ""
    own = sorted(who.scope.regions)[0] if who.scope.regions else region.split("/")[0]
    try:
        ledger.supervise(s, rt.clock.now(), _actor(who, request), h, region or None, own, body.note)
    except IllegalTransition as exc:
        raise _errors(exc) from None
    s.commit()
    return _detail(s, rt, who, h)


PHOTO_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["photo"], "title": "Hazard photo", "properties": {  # other fields are ignored
        "photo": {"type": "string", "format": "binary", "description": "A JPEG, PNG or WebP picture."},
        "kind": {"type": "string", "enum": ["before", "after", "inspection"], "default": "after",
                 "description": "before, after (the rectification) or inspection."}}}}}}}


@router.post("/api/hazards/{hazard_id:int}/photos", response_model=PhotoOut, status_code=201, openapi_extra=PHOTO_FORM,
             responses=error_responses(400, 401, 403, 404, 409, 413, 422, e409={
                 "description": "The hazard is closed, or has as many photos as `hazards.uploads.max_per_hazard`"}))
def upload_photo(hazard_id: HazardId, request: Request, photo: UploadFile = File(description="JPEG, PNG or WebP"),
                 kind: PhotoKind = Form("after", description="before, after (the rectification) or inspection"),
                 s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
                 who: Principal = Depends(require("hazards.comment"))) -> dict:
    """A photo kept with the hazard (an officer's after-photo straight from a phone's camera)."""
    h = _get(s, rt, who, hazard_id)
    if h.state == "closed":
        raise HTTPException(409, f"hazard {hazard_id} is closed: reopen it to add photos")
    limit = rt.cfg.hazards.uploads.max_bytes
    data = photo.file.read(limit + 1)
    now = rt.clock.now()
    try:
        row = store_photo(s, rt.store.media_dir, now, data=data, kind=kind, uploaded_by=who.username,
                          hazard_id=h.id, max_bytes=limit, max_per_hazard=rt.cfg.hazards.uploads.max_per_hazard)
    except LedgerError as exc:
        raise _errors(exc) from None
    ledger.history(s, h, _actor(who, request), "photo", now, data={"photo_id": row.id, "kind": kind})
    audit.record(s, who, "hazard.photo", client=client_address(request), object_type="hazard", object_id=h.id,
                 institution_id=h.institution_id, region=rt.ledger.region(h.institution_id),
                 after={"photo_id": row.id, "kind": kind, "size": row.size})
    s.commit()
    return _photo_out(row)


@router.get("/api/hazards/{hazard_id:int}/photos/{photo_id:int}", response_class=FileResponse,
            responses={200: IMAGE, **error_responses(401, 403, 404, 422)})
def get_photo(hazard_id: HazardId, photo_id: PhotoId, request: Request, s: Session = Depends(get_session),
              rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("media.view"))) -> FileResponse:
    """A hazard's photo (audited like every view of evidence)."""
    h = _get(s, rt, who, hazard_id)
    row = s.get(HazardPhotoRow, photo_id)
    if row is None or row.hazard_id != h.id:
        raise HTTPException(404, f"photo {photo_id} of hazard {hazard_id} does not exist")
    path = photo_file(rt.store.media_dir, row)
    if path is None:
        raise HTTPException(404, f"the file of photo {photo_id} is missing (pruned after the hazard was closed?)")
    audit.record(s, who, "media.hazard_photo", client=client_address(request), object_type="hazard", object_id=h.id,
                 institution_id=h.institution_id, region=rt.ledger.region(h.institution_id), note=f"photo {photo_id}")
    s.commit()
    return FileResponse(path, media_type=row.content_type, headers={"Cache-Control": "private, no-store"})
