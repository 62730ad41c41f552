"""Complaints (tip-offs) from the public, and the intake tokens that guard the public form (no web framework here).

- Intake tokens: `vgc_<id>_<secret>`, one per institution or per region path (covering every institution below it),
  made by an admin anywhere or a supervisor within their region; only the secret's SHA-256 is stored, and the token
  is shown once, at creation. A revoked token stops at once.
- `receive`: a complaint filed with a token, for one institution the token covers: text, optional contact, optional
  photo (checked by vigil/ledger/photos.py). Audited without the text or the contact (personal data stays in the
  complaint row), announced as `complaint.received` (id, institution, time: no text, no contact).
- `IntakeLimiter`: complaints per client address and per token in a sliding hour, in this process (429).
- `triage`: a supervisor turns a `new` complaint into a hazard (source `complaint`, the complaint's photo joins the
  hazard) or dismisses it with a reason. A conditional UPDATE on status `new` lets only one triage win (409 after).

Every function adds its rows to the caller's session and does not commit (the router commits once).
"""
from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vigil import audit
from vigil.access import Principal, normalise_region, region_covers
from vigil.api.db import as_utc
from vigil.api.db_ledger import ComplaintRow, HazardPhotoRow, IntakeTokenRow
from vigil.inventory import region_by_path
from vigil.ledger import photos
from vigil.ledger.config import HazardsConfig
from vigil.ledger.hazards import Actor, open_hazard
from vigil.ledger.states import IllegalTransition, LedgerError
from vigil.outbox import messages as outbox
from vigil.ratelimit import SlidingWindows

PREFIX = "vgc_"
BLANK = " \t\r\n"  # what counts as blank (the API's patterns say the same)
WINDOW_S = 3600.0
MAX_CONTACT = 120
MAX_REASON = 2000


class NotFound(LookupError):
    """No such object, or not in the caller's (or the token's) scope: the same answer (404)."""


class OutOfScope(PermissionError):
    """A supervisor acting outside their region (403)."""


class RateLimited(RuntimeError):
    """Too many complaints from one address or with one token (429 with Retry-After)."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _clean(value: str | None, what: str, limit: int, *, required: bool) -> str | None:
    value = (value or "").strip(BLANK)
    if "\x00" in value:
        raise LedgerError(f"{what} must not contain NUL characters")
    if not value:
        if required:
            raise LedgerError(f"{what} is empty")
        return None
    if len(value) > limit:
        raise LedgerError(f"{what} is {len(value)} characters long; at most {limit}")
    return value


# --- intake tokens ------------------------------------------------------------------------------------------

def token_covers(t: IntakeTokenRow, institution_id: str, regions: Mapping[str, str]) -> bool:
    """Whether complaints about `institution_id` may be filed with this token (the institution must exist)."""
    if institution_id not in regions:
        return False
    if t.kind == "institution":
        return t.value == institution_id
    return region_covers(t.value, regions[institution_id])


def covered_institutions(t: IntakeTokenRow, regions: Mapping[str, str]) -> list[str]:
    return sorted(i for i in regions if token_covers(t, i, regions))


def _token_region(t: IntakeTokenRow, regions: Mapping[str, str]) -> str | None:
    return regions.get(t.value) if t.kind == "institution" else t.value


def token_visible(who: Principal, t: IntakeTokenRow, regions: Mapping[str, str]) -> bool:
    """An admin sees every token; a supervisor those of the institutions and regions inside their scope."""
    if who.scope.everything:
        return True
    if t.kind == "institution":
        return who.scope.covers(t.value, regions.get(t.value))
    return any(region_covers(r, t.value) for r in who.scope.regions)


def create_token(s: Session, now: datetime, who: Principal, regions: Mapping[str, str], *, name: str, kind: str,
                 value: str, client: str | None = None) -> tuple[IntakeTokenRow, str]:
    """A new intake token: (row, the token `vgc_<id>_<secret>`, shown only this once)."""
    name = _clean(name, "the token's name", 80, required=True)
    if kind == "institution":
        if value not in regions or not who.scope.covers(value, regions.get(value)):
            raise NotFound(f"institution '{value}' does not exist")
        region = regions[value]
    elif kind == "region":
        value = normalise_region(value)
        if not value or len(value) > 255 or region_by_path(s, value) is None:
            raise NotFound(f"region '{value}' does not exist")
        if not (who.scope.everything or any(region_covers(r, value) for r in who.scope.regions)):
            raise OutOfScope(f"region {value} lies outside {who.scope.describe()}: a {who.role} hands out intake "
                             f"tokens only there")
        region = value
    else:
        raise LedgerError("an intake token is for an 'institution' or a 'region'")
    secret = secrets.token_urlsafe(32)
    row = IntakeTokenRow(name=name, kind=kind, value=value, secret_hash=_digest(secret), created_by=who.username,
                         created_at=now)
    s.add(row)
    s.flush()
    audit.record(s, who, "intake_token.create", client=client, object_type="intake_token", object_id=row.id,
                 institution_id=value if kind == "institution" else None, region=region,
                 after={"name": name, "kind": kind, "value": value})
    return row, f"{PREFIX}{row.id}_{secret}"


def list_tokens(s: Session, who: Principal, regions: Mapping[str, str]) -> list[IntakeTokenRow]:
    rows = s.scalars(select(IntakeTokenRow).order_by(IntakeTokenRow.id)).all()
    return [r for r in rows if token_visible(who, r, regions)]


def revoke_token(s: Session, now: datetime, who: Principal, regions: Mapping[str, str], token_id: int,
                 client: str | None = None) -> IntakeTokenRow:
    """Revoke a token (it stops at once); revoking a revoked token changes nothing."""
    row = s.get(IntakeTokenRow, token_id)
    if row is None or not token_visible(who, row, regions):
        raise NotFound(f"intake token {token_id} does not exist")
    if row.revoked_at is None:
        row.revoked_at = now
        audit.record(s, who, "intake_token.revoke", client=client, object_type="intake_token", object_id=row.id,
                     institution_id=row.value if row.kind == "institution" else None,
                     region=_token_region(row, regions), after={"name": row.name, "kind": row.kind, "value": row.value})
    return row


def verify_token(s: Session, presented: str | None) -> IntakeTokenRow | None:
    """The active token row behind `vgc_<id>_<secret>`, or None (unknown, malformed or revoked)."""
    if not presented or len(presented) > 200 or not presented.startswith(PREFIX):
        return None
    token_id, _, secret = presented[len(PREFIX):].partition("_")
    if not token_id.isdigit() or len(token_id) > 9 or not secret:
        return None
    row = s.get(IntakeTokenRow, int(token_id))
    if row is None or row.revoked_at is not None:
        return None
    return row if hmac.compare_digest(row.secret_hash, _digest(secret)) else None


def token_view(t: IntakeTokenRow) -> dict[str, Any]:
    """The token as the API shows it: never the secret (nor its hash)."""
    return {"id": t.id, "name": t.name, "kind": t.kind, "value": t.value, "created_by": t.created_by,
            "created_at": as_utc(t.created_at), "revoked_at": as_utc(t.revoked_at),
            "state": "revoked" if t.revoked_at is not None else "active"}


# --- the rate limit -----------------------------------------------------------------------------------------

class IntakeLimiter:
    """Complaints per client address and per token within a sliding window, in this process (thread-safe).
    `take` reserves a place under both limits at once (or raises RateLimited); `give_back` returns it when the
    complaint was refused after all (a photo too big), so a mistake does not cost the sender a place."""

    def __init__(self, window_s: float = WINDOW_S):
        self.window_s = window_s
        self._windows = SlidingWindows(window_s)
        self._lock = threading.Lock()

    @staticmethod
    def _retry(wait: float) -> int:
        return max(1, math.ceil(wait))

    def check_address(self, address: str | None, limit: int, t: float) -> None:
        """Refuse an address at its limit before anything else is looked at."""
        with self._lock:
            wait = self._windows.wait(f"addr:{address}", limit, t)
        if wait > 0:
            raise RateLimited(f"too many complaints from this address: try again in {self._retry(wait)} s",
                              self._retry(wait))

    def take(self, address: str | None, token_id: int, per_address: int, per_token: int, t: float) -> None:
        with self._lock:
            wa = self._windows.wait(f"addr:{address}", per_address, t)
            wt = self._windows.wait(f"token:{token_id}", per_token, t)
            if wa <= 0 and wt <= 0:
                self._windows.record(f"addr:{address}", t)
                self._windows.record(f"token:{token_id}", t)
                return
        who = "this address" if wa >= wt else "this form (its token)"
        raise RateLimited(f"too many complaints from {who}: try again in {self._retry(max(wa, wt))} s",
                          self._retry(max(wa, wt)))

    def give_back(self, address: str | None, token_id: int, t: float) -> None:
        with self._lock:
            for key in (f"addr:{address}", f"token:{token_id}"):
                q = self._windows.seen.get(key)
                if q is not None and t in q:
                    q.remove(t)


# --- complaints ---------------------------------------------------------------------------------------------

def receive(s: Session, now: datetime, t: IntakeTokenRow, regions: Mapping[str, str], *, institution_id: str,
            text: str, contact: str | None, photo: bytes | None, via: str, client: str | None, policy: HazardsConfig,
            media_dir: Path) -> ComplaintRow:
    """Store a complaint filed with token `t` (and its photo). NotFound when the token does not cover the
    institution, LedgerError for bad text or a picture that is none, photos.TooLarge for a photo too big."""
    if via not in ("form", "api"):
        raise LedgerError("via must be 'form' or 'api'")
    if not token_covers(t, institution_id, regions):
        raise NotFound(f"institution '{institution_id}' cannot be named with this form")
    text = _clean(text, "the complaint's text", policy.complaints.max_text, required=True)
    contact = _clean(contact, "the contact", MAX_CONTACT, required=False)
    if photo:
        photos.check_image(photo, policy.uploads.max_bytes)  # before anything is stored
    region = regions.get(institution_id)
    c = ComplaintRow(institution_id=institution_id, text=text, contact=contact, received_at=now, via=via,
                     token_id=t.id, client=(client or "")[:64] or None, status="new")
    s.add(c)
    s.flush()
    if photo:
        photos.store_photo(s, media_dir, now, data=photo, kind="complaint", uploaded_by="public", complaint_id=c.id,
                           max_bytes=policy.uploads.max_bytes)
    audit.record(s, None, "complaint.receive", client=client, object_type="complaint", object_id=c.id,
                 institution_id=institution_id, region=region, username="public",
                 after={"via": via, "token_id": t.id, "chars": len(text), "photo": bool(photo),
                        "contact_given": contact is not None})
    outbox.add(s, "complaint.received", {"id": c.id, "institution_id": institution_id,
                                         "received_at": as_utc(now).isoformat(), "via": via, "photo": bool(photo),
                                         "url": f"/api/complaints/{c.id}"},
               institution_id=institution_id, region=region)
    return c


def get_complaint(s: Session, who: Principal, regions: Mapping[str, str], complaint_id: int) -> ComplaintRow:
    c = s.get(ComplaintRow, complaint_id)
    if c is None or not who.scope.covers(c.institution_id, regions.get(c.institution_id)):
        raise NotFound(f"complaint {complaint_id} does not exist")
    return c


def list_complaints(s: Session, visible: frozenset[str] | None, *, status: str | None = None,
                    institution: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[ComplaintRow], int]:
    """Newest first; `visible`: the caller's institution ids (None: all)."""
    q = select(ComplaintRow)
    if visible is not None:
        q = q.where(ComplaintRow.institution_id.in_(sorted(visible)))
    if status is not None:
        q = q.where(ComplaintRow.status == status)
    if institution is not None:
        q = q.where(ComplaintRow.institution_id == institution)
    total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = s.scalars(q.order_by(ComplaintRow.received_at.desc(), ComplaintRow.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def photo_of(s: Session, complaint_id: int) -> HazardPhotoRow | None:
    return s.scalars(select(HazardPhotoRow).where(HazardPhotoRow.complaint_id == complaint_id,
                                                  HazardPhotoRow.kind == "complaint")
                     .order_by(HazardPhotoRow.id).limit(1)).first()


def photo_viewed(s: Session, who: Principal, c: ComplaintRow, regions: Mapping[str, str], client: str | None) -> None:
    audit.record(s, who, "media.complaint_photo", client=client, object_type="complaint", object_id=c.id,
                 institution_id=c.institution_id, region=regions.get(c.institution_id))


def triage(s: Session, policy: HazardsConfig, now: datetime, actor: Actor, c: ComplaintRow,
           regions: Mapping[str, str], *, action: str, category: str | None = None, severity: str | None = None,
           title: str | None = None, description: str | None = None, reason: str | None = None) -> ComplaintRow:
    """`hazard`: open a hazard from the complaint (its text is the description unless one is given; the contact
    stays with the complaint); `dismiss`: with a reason. IllegalTransition (409) when it was triaged already."""
    if action == "dismiss":
        reason = _clean(reason, "the reason", MAX_REASON, required=True)
    elif action == "hazard":
        title = _clean(title, "the title", 200, required=True)
        description = _clean(description, "the description", 20_000, required=False) or c.text
        if not category:
            raise LedgerError("a hazard needs a category")
    else:
        raise LedgerError("action must be 'hazard' or 'dismiss'")
    region = regions.get(c.institution_id)
    status = "hazard" if action == "hazard" else "dismissed"
    res = s.execute(update(ComplaintRow).where(ComplaintRow.id == c.id, ComplaintRow.status == "new")
                    .values(status=status, triaged_by=actor.username, triaged_at=now,
                            reason=reason if action == "dismiss" else None)
                    .execution_options(synchronize_session=False))
    if res.rowcount != 1:
        s.rollback()
        current = s.scalar(select(ComplaintRow.status).where(ComplaintRow.id == c.id))
        raise IllegalTransition(f"complaint {c.id} was triaged already: it is '{current}'")
    after: dict[str, Any] = {"status": status}
    if action == "hazard":
        h = open_hazard(s, policy, now, actor, institution_id=c.institution_id, region=region, category=category,
                        title=title, source="complaint", severity=severity, description=description,
                        complaint_id=c.id)
        s.execute(update(ComplaintRow).where(ComplaintRow.id == c.id).values(hazard_id=h.id)
                  .execution_options(synchronize_session=False))
        s.execute(update(HazardPhotoRow).where(HazardPhotoRow.complaint_id == c.id, HazardPhotoRow.hazard_id.is_(None))
                  .values(hazard_id=h.id).execution_options(synchronize_session=False))
        after.update(hazard_id=h.id, category=h.category, severity=h.severity)
    audit.record(s, actor.who, "complaint.triage", client=actor.client, object_type="complaint", object_id=c.id,
                 institution_id=c.institution_id, region=region, before={"status": "new"}, after=after,
                 note=reason)
    s.flush()
    s.refresh(c)
    return c


def complaint_view(c: ComplaintRow, photo: HazardPhotoRow | None, institution_name: str | None = None,
                   token_name: str | None = None) -> dict[str, Any]:
    return {"id": c.id, "institution_id": c.institution_id, "institution_name": institution_name, "text": c.text,
            "contact": c.contact, "received_at": as_utc(c.received_at), "via": c.via, "token_id": c.token_id,
            "token_name": token_name, "status": c.status, "triaged_by": c.triaged_by,
            "triaged_at": as_utc(c.triaged_at), "reason": c.reason, "hazard_id": c.hazard_id,
            "photo_url": f"/api/complaints/{c.id}/photo" if photo is not None else None,
            "hazard_url": f"/api/hazards/{c.hazard_id}" if c.hazard_id is not None else None}


__all__ = ["IntakeLimiter", "NotFound", "OutOfScope", "RateLimited", "complaint_view", "covered_institutions",
           "create_token", "get_complaint", "list_complaints", "list_tokens", "photo_of",
           "photo_viewed", "receive", "revoke_token", "token_covers", "token_view", "token_visible", "triage",
           "verify_token"]
