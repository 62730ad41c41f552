"""Complaints (tip-offs): the public intake (an HTML form and an endpoint, guarded by an intake token, rate-limited),
the supervisors' list and triage, and the intake tokens. The logic is vigil/ledger/complaints.py.

Public, without a login: `GET /intake/{token}` (the form, zh-CN, no script, no external resource) and
`POST /api/intake/complaints` (JSON, or multipart with a photo; the form's posts get HTML pages back). A bad or
revoked token answers 404. Everything else needs `complaints.triage` or `intake.manage` (admins; supervisors within
their region); a complaint outside the caller's scope answers 404.
"""
from __future__ import annotations

import html
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from vigil.access import Principal
from vigil.api import intake_http as ih
from vigil.api.db_ledger import IntakeTokenRow
from vigil.api.deps import get_runtime, get_session
from vigil.api.errors import error_responses
from vigil.api.schemas import ID_PATTERN, MAX_ID, TEXT_PATTERN, ErrorOut
from vigil.api.security import client_address, require, visible_institutions
from vigil.config import REGION_PATTERN
from vigil.ledger import complaints as cm
from vigil.ledger import photos
from vigil.ledger.config import Category, Severity
from vigil.ledger.hazards import Actor
from vigil.ledger.states import IllegalTransition, LedgerError
from vigil.service import Runtime

router = APIRouter(tags=["complaints"])
NONBLANK = r"^[ \t\r\n]*[^ \t\r\n\x00][^\x00]*$"  # something besides blanks, no NUL
ComplaintId = Annotated[int, Path(ge=1, le=MAX_ID, description="Complaint id.", examples=[1])]
TokenId = Annotated[int, Path(ge=1, le=MAX_ID, description="Intake token id.", examples=[1])]
HTML = {"text/html": {"schema": {"type": "string"}}}
JSON_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}  # beside an HTML page
IMAGES = {t: {"schema": {"type": "string", "format": "binary"}} for t in ("image/jpeg", "image/png", "image/webp")}
RETRY = {"Retry-After": {"description": "Seconds until the next complaint is accepted", "schema": {"type": "integer"}}}


class ComplaintIn(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Complaint filed")
    token: str = Field(min_length=1, max_length=200, description="The intake token (`vgc_...`) of the form.")
    institution_id: str = Field(pattern=ID_PATTERN, description="The institution the complaint is about.")
    text: str = Field(min_length=1, max_length=20_000, pattern=NONBLANK, description=(
        "What is wrong and where (at most `hazards.complaints.max_text` characters, 2000 by default)."))
    contact: str | None = Field(None, max_length=120, pattern=TEXT_PATTERN, description=(
        "Optional: how to reach the sender (kept with the complaint, never in the audit log or notifications)."))
    reply: Literal["json", "html"] = Field("json", description="html: answer with a page (what the public form sends).")


_FORM_SCHEMA = {"type": "object", "required": ["token", "institution_id", "text"], "properties": {
    **{k: v for k, v in ComplaintIn.model_json_schema()["properties"].items() if k != "contact"},
    "contact": {"type": "string", "maxLength": 120, "pattern": TEXT_PATTERN, "description": "Optional contact."},
    "photo": {"type": "string", "format": "binary", "description": "Optional JPEG, PNG or WebP photo."}},
    "additionalProperties": False}
_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": ComplaintIn.model_json_schema()},
    "multipart/form-data": {"schema": _FORM_SCHEMA}}}}


class ComplaintReceipt(BaseModel):
    model_config = ConfigDict(title="Complaint receipt")
    id: int = Field(description="The complaint's number (quote it when asking about it).")
    institution_id: str
    received_at: datetime
    photo: bool = Field(description="Whether a photo came with it.")
    receipt: str = Field(description="The receipt in words (zh-CN).")


class ComplaintOut(BaseModel):
    model_config = ConfigDict(title="Complaint")
    id: int
    institution_id: str
    institution_name: str | None
    text: str
    contact: str | None = Field(description="The sender's contact, if given (personal data: not in the audit log).")
    received_at: datetime
    via: Literal["form", "api"]
    token_id: int | None
    token_name: str | None
    status: Literal["new", "hazard", "dismissed"]
    triaged_by: str | None
    triaged_at: datetime | None
    reason: str | None = Field(description="Why it was dismissed.")
    hazard_id: int | None
    photo_url: str | None
    hazard_url: str | None


class ComplaintPage(BaseModel):
    model_config = ConfigDict(title="Complaints")
    items: list[ComplaintOut]
    total: int
    limit: int
    offset: int


class HazardTriage(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Triage: open a hazard")
    action: Literal["hazard"] = Field(description="Open a hazard (source complaint) from the complaint.")
    category: Category
    severity: Severity | None = Field(None, description="Default: the policy's for the category.")
    title: str = Field(max_length=200, pattern=NONBLANK, examples=["二楼安全出口堆放杂物"])
    description: str | None = Field(None, max_length=20_000, pattern=TEXT_PATTERN, description=(
        "Default: the complaint's text (the contact never leaves the complaint)."))


class DismissTriage(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Triage: dismiss")
    action: Literal["dismiss"]
    reason: str = Field(max_length=2000, pattern=NONBLANK, description="Why (kept and audited).")


TriageIn = Annotated[HazardTriage | DismissTriage, Field(discriminator="action")]


class InstitutionTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Intake token for an institution")
    kind: Literal["institution"]
    name: str = Field(max_length=80, pattern=NONBLANK, description="Where it is posted, e.g. 大门公告栏.")
    institution_id: str = Field(pattern=ID_PATTERN)


class RegionTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Intake token for a region")
    kind: Literal["region"]
    name: str = Field(max_length=80, pattern=NONBLANK)
    region: str = Field(max_length=255, pattern=REGION_PATTERN, description="Region path; covers everything below.")


TokenIn = Annotated[InstitutionTokenIn | RegionTokenIn, Field(discriminator="kind")]


class IntakeTokenOut(BaseModel):
    model_config = ConfigDict(title="Intake token")
    id: int
    name: str
    kind: Literal["institution", "region"]
    value: str = Field(description="The institution id or the region path.")
    created_by: str | None
    created_at: datetime
    revoked_at: datetime | None
    state: Literal["active", "revoked"]


class IntakeTokenCreated(IntakeTokenOut):
    model_config = ConfigDict(title="Intake token (created)")
    token: str = Field(description="The token, shown only this once (stored hashed).")
    form_url: str = Field(description="The public form's path (holds the token: hand it out as a link or QR code).")


def _errors(exc: Exception) -> HTTPException:
    if isinstance(exc, cm.RateLimited):
        return HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, photos.TooLarge):
        return HTTPException(413, str(exc))
    status = {cm.NotFound: 404, cm.OutOfScope: 403, IllegalTransition: 409, LedgerError: 422}
    return HTTPException(next(v for k, v in status.items() if isinstance(exc, k)), str(exc))


LEDGER_ERRORS = (cm.NotFound, cm.OutOfScope, cm.RateLimited, IllegalTransition, LedgerError)


# --- public: the form and the intake ------------------------------------------------------------------------

@router.get("/intake/{token}", response_class=HTMLResponse, tags=["intake"], summary="The public complaint form",
            responses={200: {"content": HTML, "description": "The form (zh-CN)"},
                       404: {"content": {**HTML, **JSON_ERROR}, "description": "Unknown or revoked token (a page)"},
                       422: {"content": JSON_ERROR, "description": "Invalid parameters"}})
def intake_form(token: str, s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime)) -> HTMLResponse:
    """A page without script or external resource: the institutions the token covers, the text, a contact, a photo.
    It posts to `POST /api/intake/complaints` and shows a thank-you page."""
    t = cm.verify_token(s, token)
    return ih.not_found_page() if t is None else ih.form_page(rt, t, token)


def _accept(s: Session, rt: Runtime, body: ComplaintIn, photo: bytes | None, via: str, client: str | None) -> dict:
    """Token, limits, the complaint: runs in a worker thread (database and image decoding)."""
    cfg = rt.cfg.hazards
    limiter = rt.intake_limiter
    t_now = rt.clock.now()
    ts = t_now.timestamp()
    try:
        limiter.check_address(client, cfg.complaints.per_address_per_hour, ts)
        t = cm.verify_token(s, body.token)
        if t is None:
            raise HTTPException(404, "this complaint form does not exist or was withdrawn (unknown or revoked token)")
        limiter.take(client, t.id, cfg.complaints.per_address_per_hour, cfg.complaints.per_token_per_hour, ts)
    except cm.RateLimited as exc:
        raise _errors(exc) from None
    try:
        c = cm.receive(s, t_now, t, rt.regions_by_institution(), institution_id=body.institution_id, text=body.text,
                       contact=body.contact, photo=photo, via=via, client=client, policy=cfg,
                       media_dir=rt.store.media_dir)
        s.commit()
    except LEDGER_ERRORS as exc:
        s.rollback()
        limiter.give_back(client, t.id, ts)
        raise _errors(exc) from None
    inst = rt.institutions.get(c.institution_id)
    name = inst.name if inst else c.institution_id
    when = t_now.astimezone(rt.tz).strftime("%Y-%m-%d %H:%M")
    return {"id": c.id, "institution_id": c.institution_id, "received_at": t_now, "photo": bool(photo),
            "receipt": f"已收到您对“{name}”的反映（编号 {c.id}，{when}）。民政部门将尽快核查处理，感谢您的监督。"}


@router.post("/api/intake/complaints", response_model=ComplaintReceipt, status_code=201, tags=["intake"],
             summary="File a complaint (public, with an intake token)", openapi_extra=_BODY, responses={
                 201: {"content": HTML, "description": "Received: the receipt (a thank-you page for reply=html)"},
                 **{code: {"model": ErrorOut, "content": HTML, "description": d} for code, d in {
                     400: "The body could not be parsed", 404: "Unknown or revoked token, or an institution it does "
                     "not cover", 413: "The photo or the request is too large", 415: "Not JSON nor a form",
                     422: "Invalid fields, or a photo that is no JPEG, PNG or WebP picture"}.items()},
                 429: {"model": ErrorOut, "content": HTML, "headers": RETRY, "description": (
                     "Too many complaints from this address or with this token within an hour; Retry-After says when")}})
async def file_complaint(request: Request, s: Session = Depends(get_session),
                         rt: Runtime = Depends(get_runtime)) -> Any:
    """No login: the intake token guards it. JSON, or multipart/form-data with an optional `photo` file. At most
    `hazards.complaints.per_address_per_hour` complaints an hour from one address and `per_token_per_hour` with one
    token (429 with Retry-After). A form with `reply=html` (the public form's) gets pages, errors too."""
    limit = rt.cfg.hazards.uploads.max_bytes + 512 * 1024  # the photo and the text fields
    # a browser's form post whose body cannot be read (too large) still gets a page
    html_reply = "text/html" in request.headers.get("accept", "") and \
        request.headers.get("content-type", "").startswith("multipart/form-data")
    try:
        fields, photo, via = await ih.parse_body(request, limit)
        html_reply = fields.get("reply") == "html"
        try:
            body = ComplaintIn.model_validate(fields)
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
        out = await run_in_threadpool(_accept, s, rt, body, photo, via, client_address(request))
        if not html_reply:
            return JSONResponse(ComplaintReceipt(**out).model_dump(mode="json"), status_code=201)
        return ih.page("已提交", f"<h1>已提交，谢谢</h1><p>{html.escape(out['receipt'])}</p><p>请记下编号以便查询。"
                              "您可以关闭此页面。</p>", 201)
    except HTTPException as exc:
        if not html_reply:
            raise
        return ih.html_error(exc.status_code, str(exc.detail), exc.headers)
    except RequestValidationError as exc:
        if not html_reply:
            raise
        return ih.html_error(422, "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors()))


# --- logged in: complaints ----------------------------------------------------------------------------------

def _get(s: Session, rt: Runtime, who: Principal, complaint_id: int):
    try:
        return cm.get_complaint(s, who, rt.regions_by_institution(), complaint_id)
    except cm.NotFound as exc:
        raise HTTPException(404, str(exc)) from None


def _view(s: Session, rt: Runtime, c) -> dict:
    inst = rt.institutions.get(c.institution_id)
    t = s.get(IntakeTokenRow, c.token_id) if c.token_id is not None else None
    return cm.complaint_view(c, cm.photo_of(s, c.id), inst.name if inst else None, t.name if t else None)


@router.get("/api/complaints", response_model=ComplaintPage, summary="Complaints in the caller's scope, newest first",
            responses=error_responses(401, 403, 422))
def list_complaints(
    status: Literal["new", "hazard", "dismissed"] | None = Query(None, description="new: not yet triaged."),
    institution: str | None = Query(None, pattern=ID_PATTERN, description="Institution id."),
    limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_ID),
    s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
    who: Principal = Depends(require("complaints.triage")),
) -> dict:
    rows, total = cm.list_complaints(s, visible_institutions(rt, who), status=status, institution=institution,
                                     limit=limit, offset=offset)
    return {"items": [_view(s, rt, c) for c in rows], "total": total, "limit": limit, "offset": offset}


@router.get("/api/complaints/{complaint_id:int}", response_model=ComplaintOut,
            responses=error_responses(401, 403, 404, 422))
def get_complaint(complaint_id: ComplaintId, s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
                  who: Principal = Depends(require("complaints.triage"))) -> dict:
    return _view(s, rt, _get(s, rt, who, complaint_id))


@router.get("/api/complaints/{complaint_id:int}/photo", response_class=FileResponse, responses={
    200: {"content": IMAGES, "description": "The complaint's photo"},
    **error_responses(401, 403, 404, 422, e404={"description": "No such complaint in the caller's scope, or no photo"})})
def complaint_photo(complaint_id: ComplaintId, request: Request, s: Session = Depends(get_session),
                    rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("complaints.triage"))):
    """The photo sent with the complaint; each view is audited."""
    c = _get(s, rt, who, complaint_id)
    row = cm.photo_of(s, c.id)
    path = photos.photo_file(rt.store.media_dir, row) if row is not None else None
    if path is None:
        raise HTTPException(404, f"complaint {complaint_id} has no photo")
    cm.photo_viewed(s, who, c, rt.regions_by_institution(), client_address(request))
    s.commit()
    return FileResponse(path, media_type=row.content_type, headers={"Cache-Control": "private, no-store"})


@router.post("/api/complaints/{complaint_id:int}/triage", response_model=ComplaintOut, responses=error_responses(
    400, 401, 403, 404, 409, 422, e409={"description": "Triaged already (detail names its status)"}))
def triage_complaint(complaint_id: ComplaintId, body: TriageIn, request: Request, s: Session = Depends(get_session),
                     rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("complaints.triage"))) -> dict:
    """`hazard`: open a hazard (source complaint; the complaint's photo joins it); `dismiss`: with a reason."""
    c = _get(s, rt, who, complaint_id)
    fields = body.model_dump(exclude={"action"})
    try:
        c = cm.triage(s, rt.cfg.hazards, rt.clock.now(), Actor(who=who, client=client_address(request)), c,
                      rt.regions_by_institution(), action=body.action, **fields)
        s.commit()
    except LEDGER_ERRORS as exc:
        s.rollback()
        raise _errors(exc) from None
    return _view(s, rt, c)


# --- logged in: intake tokens -------------------------------------------------------------------------------

@router.get("/api/intake/tokens", response_model=list[IntakeTokenOut], tags=["intake"],
            responses=error_responses(401, 403), summary="Intake tokens in the caller's scope (never their secrets)")
def list_tokens(s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
                who: Principal = Depends(require("intake.manage"))) -> list[dict]:
    return [cm.token_view(t) for t in cm.list_tokens(s, who, rt.regions_by_institution())]


@router.post("/api/intake/tokens", response_model=IntakeTokenCreated, status_code=201, tags=["intake"],
             responses=error_responses(400, 401, 403, 404, 422, e403={"description": (
                 "The role may not hand out intake tokens, or the region lies outside the supervisor's")},
                 e404={"description": "No such institution or region in the caller's scope"}))
def create_token(body: TokenIn, request: Request, s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime),
                 who: Principal = Depends(require("intake.manage"))) -> dict:
    """A token for one institution or a region (every institution below it). The token is shown only this once."""
    value = body.institution_id if body.kind == "institution" else body.region
    try:
        t, token = cm.create_token(s, rt.clock.now(), who, rt.regions_by_institution(), name=body.name,
                                   kind=body.kind, value=value, client=client_address(request))
        s.commit()
    except LEDGER_ERRORS as exc:
        s.rollback()
        raise _errors(exc) from None
    return {**cm.token_view(t), "token": token, "form_url": f"/intake/{token}"}


@router.delete("/api/intake/tokens/{token_id:int}", response_model=IntakeTokenOut, tags=["intake"],
               responses=error_responses(401, 403, 404, 422))
def revoke_token(token_id: TokenId, request: Request, s: Session = Depends(get_session),
                 rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("intake.manage"))) -> dict:
    """The form and the endpoint refuse the token at once (404)."""
    try:
        t = cm.revoke_token(s, rt.clock.now(), who, rt.regions_by_institution(), token_id, client_address(request))
        s.commit()
    except LEDGER_ERRORS as exc:
        s.rollback()
        raise _errors(exc) from None
    return cm.token_view(t)
