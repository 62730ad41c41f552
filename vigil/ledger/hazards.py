"""Hazards on the ledger: opening (from a confirmed event, an inspection or a complaint), sightings, the steps of
the state machine (vigil/ledger/states.py), assignment, comments and history (no web framework here).

Every function adds its rows to the caller's session and does not commit: the change, its history row, its audit
row and its notification (outbox) commit together. Times come from the caller (`now`: the runtime's clock), so a
test clock drives deadlines and escalation.

State changes are conditional UPDATEs on the state read before (`WHERE id = ? AND state = ?`), so two people acting
on one hazard at once cannot both win: the second gets IllegalTransition with the state the first left.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vigil import audit
from vigil.access import Principal
from vigil.api.db import EventRow, as_utc
from vigil.api.db_ledger import HazardEventRow, HazardHistoryRow, HazardRow
from vigil.ledger.config import CATEGORIES, RULE_CATEGORY, HazardsConfig
from vigil.ledger.states import OPEN_STATES, STEPS, IllegalTransition, LedgerError, NotAllowed, check_step
from vigil.outbox import messages as outbox


@dataclass(frozen=True)
class Actor:
    """Who acts: a logged-in user (`who`), or the service itself (`name`: 'camera', 'escalation', ...)."""

    who: Principal | None = None
    name: str | None = None
    client: str | None = None

    @property
    def username(self) -> str:
        return self.who.username if self.who else (self.name or "system")


def _iso(dt: datetime | None) -> str | None:
    return as_utc(dt).isoformat() if dt is not None else None


def hazard_data(h: HazardRow) -> dict[str, Any]:
    """The hazard as notifications carry it (no personal data beyond the responsible person's name)."""
    return {"id": h.id, "institution_id": h.institution_id, "camera_id": h.camera_id, "zone": h.zone, "rule": h.rule,
            "category": h.category, "severity": h.severity, "source": h.source, "title": h.title, "state": h.state,
            "deadline_at": _iso(h.deadline_at), "supervised": bool(h.supervised),
            "escalation_level": h.escalation_level, "recheck_status": h.recheck_status, "url": f"/api/hazards/{h.id}"}


def history(s: Session, h: HazardRow, actor: Actor, action: str, now: datetime, *, from_state: str | None = None,
            to_state: str | None = None, note: str | None = None, data: dict | None = None) -> HazardHistoryRow:
    row = HazardHistoryRow(hazard_id=h.id, at=now, user_id=actor.who.user_id if actor.who else None,
                           username=actor.username, action=action, from_state=from_state, to_state=to_state,
                           note=note, data=data)
    s.add(row)
    return row


def audit_step(s: Session, h: HazardRow, actor: Actor, action: str, region: str | None, *, before: dict | None = None,
           after: dict | None = None, note: str | None = None) -> None:
    audit.record(s, actor.who, f"hazard.{action}", client=actor.client or (None if actor.who else "service"),
                 object_type="hazard", object_id=h.id, institution_id=h.institution_id, region=region, before=before,
                 after=after, note=note, username=None if actor.who else actor.username)


def announce(s: Session, h: HazardRow, kind: str, region: str | None, **extra: Any) -> None:
    outbox.add(s, kind, dict(hazard_data(h), **extra), institution_id=h.institution_id, region=region,
               camera_id=h.camera_id)


def deadline_for(policy: HazardsConfig, category: str, severity: str, opened_at: datetime) -> datetime:
    return opened_at + timedelta(hours=policy.deadline_hours(category, severity))


def open_hazard(s: Session, policy: HazardsConfig, now: datetime, actor: Actor, *, institution_id: str,
                region: str | None, category: str, title: str, source: str, severity: str | None = None,
                description: str | None = None, location: str | None = None, camera_id: str | None = None,
                zone: str | None = None, rule: str | None = None, complaint_id: int | None = None,
                responsible: str | None = None, deadline_at: datetime | None = None) -> HazardRow:
    """A new hazard on the ledger (state open), its deadline from the policy unless given."""
    if category not in CATEGORIES:
        raise LedgerError(f"unknown category {category!r} (categories: {', '.join(CATEGORIES)})")
    severity = severity or policy.severity_for(category)
    if severity not in ("major", "general"):
        raise LedgerError("severity must be 'major' or 'general'")
    h = HazardRow(institution_id=institution_id, camera_id=camera_id, zone=zone, rule=rule, category=category,
                  severity=severity, source=source, title=title[:200], description=description, location=location,
                  state="open", responsible=responsible, opened_at=now, opened_by=actor.username,
                  deadline_at=deadline_at or deadline_for(policy, category, severity, now), last_seen_at=now,
                  sightings=1, reopened=0, escalation_level=0, supervised=False, complaint_id=complaint_id,
                  updated_at=now)
    s.add(h)
    s.flush()
    history(s, h, actor, "opened", now, to_state="open", note=description,
            data={"source": source, "deadline_at": _iso(h.deadline_at), "severity": severity})
    audit_step(s, h, actor, "open", region, after={"category": category, "severity": severity, "source": source,
                                               "deadline_at": _iso(h.deadline_at)})
    announce(s, h, "hazard.opened", region)
    return h


def open_hazard_of(s: Session, camera_id: str, zone: str | None, rule: str) -> HazardRow | None:
    """The hazard not yet closed of this camera, zone and rule (the one a new sighting joins)."""
    q = select(HazardRow).where(HazardRow.camera_id == camera_id, HazardRow.rule == rule,
                                HazardRow.state.in_(OPEN_STATES))
    q = q.where(HazardRow.zone.is_(None) if zone is None else HazardRow.zone == zone)
    return s.scalars(q.order_by(HazardRow.id.desc()).limit(1)).first()


def from_confirmed_event(s: Session, policy: HazardsConfig, now: datetime, actor: Actor, ev: EventRow,
                         region: str | None, title: str) -> tuple[HazardRow, bool]:
    """A confirmed event opens a hazard, or joins the open one of the same camera, zone and rule (one blocked exit
    seen every day is one hazard with many sightings). Returns (hazard, joined). A sighting of a verified hazard
    reopens it: the fix did not hold."""
    linked = s.scalar(select(HazardEventRow.hazard_id).where(HazardEventRow.event_id == ev.id))
    if linked is not None:
        return s.get(HazardRow, linked), True
    h = open_hazard_of(s, ev.camera_id, ev.zone, ev.rule)
    joined = h is not None
    if h is None:
        category = RULE_CATEGORY.get(ev.rule, "other")
        h = open_hazard(s, policy, now, actor, institution_id=ev.institution_id, region=region, category=category,
                        title=title, source="camera", camera_id=ev.camera_id, zone=ev.zone, rule=ev.rule)
    else:
        h.sightings = (h.sightings or 0) + 1
        h.last_seen_at = now
        h.updated_at = now
        history(s, h, actor, "sighting", now, data={"event_id": ev.id})
        if h.state == "verified":
            _set_state(s, h, "verified", "open", now, reopened=(h.reopened or 0) + 1, verified_at=None,
                       verified_by=None, verified_by_id=None, submitted_at=None, submitted_by_id=None,
                       recheck_status=None)
            history(s, h, actor, "reopened", now, from_state="verified", to_state="open",
                    note="seen again by the camera after verification", data={"event_id": ev.id})
            audit_step(s, h, actor, "reopen", region, before={"state": "verified"}, after={"state": "open"})
        announce(s, h, "hazard.changed", region, change="sighting", event_id=ev.id)
    s.add(HazardEventRow(hazard_id=h.id, event_id=ev.id, at=now))
    return h, joined


def _set_state(s: Session, h: HazardRow, from_state: str, to_state: str, now: datetime, **values: Any) -> None:
    res = s.execute(update(HazardRow).where(HazardRow.id == h.id, HazardRow.state == from_state)
                    .values(state=to_state, updated_at=now, **values).execution_options(synchronize_session=False))
    if res.rowcount != 1:
        s.rollback()
        current = s.scalar(select(HazardRow.state).where(HazardRow.id == h.id))
        raise IllegalTransition(f"hazard {h.id} changed meanwhile: it is '{current}' now, not '{from_state}'")
    s.refresh(h)


def take_step(s: Session, now: datetime, actor: Actor, h: HazardRow, step: str, region: str | None, *,
              note: str | None = None, override: bool = False) -> HazardRow:
    """One step of the state machine by a logged-in user. IllegalTransition (409) from the wrong state, NotAllowed
    (403) for a role without the permission or the submitter verifying, LedgerError (422) for a missing note."""
    who = actor.who
    st = check_step(step, h.state)
    if who is None or not who.can(st.permission):
        raise NotAllowed(f"a {who.role if who else 'caller'} may not {step} a hazard ({st.permission})")
    note = (note or "").strip() or None
    if st.note_required and not note:
        raise LedgerError(f"'{step}' needs a note saying why")
    values: dict[str, Any] = {}
    if step == "submit":
        values = {"submitted_at": now, "submitted_by_id": who.user_id,
                  "recheck_status": "pending" if h.camera_id and h.rule else None, "recheck_at": None,
                  "recheck_detail": None}
    elif step == "verify":
        if h.submitted_by_id is not None and h.submitted_by_id == who.user_id:
            raise NotAllowed("the person who submitted the rectification cannot verify it (four-eyes rule)")
        if h.recheck_status == "still_present" and not (override and note):
            raise IllegalTransition("the camera re-check still sees the hazard: verify only with override=true and a "
                                    "note saying why (or reject it)")
        if h.recheck_status == "pending" and not (override and note):
            raise IllegalTransition("the camera re-check is still running: wait for it, or verify with override=true "
                                    "and a note")
        values = {"verified_at": now, "verified_by_id": who.user_id, "verified_by": who.username}
    elif step == "close":
        values = {"closed_at": now}
    elif step == "reopen":
        values = {"reopened": (h.reopened or 0) + 1, "closed_at": None, "verified_at": None, "verified_by": None,
                  "verified_by_id": None, "submitted_at": None, "submitted_by_id": None, "recheck_status": None}
    elif step == "reject":
        values = {"submitted_at": None}
    before = h.state
    _set_state(s, h, before, st.target, now, **values)
    data = {"override": True, "recheck_status": h.recheck_status} if step == "verify" and override else None
    history(s, h, actor, STEPS[step].name, now, from_state=before, to_state=h.state, note=note, data=data)
    audit_step(s, h, actor, step, region, before={"state": before}, after={"state": h.state}, note=note)
    announce(s, h, "hazard.changed", region, change=step, by=who.username)
    return h


def assign(s: Session, now: datetime, actor: Actor, h: HazardRow, region: str | None, *, responsible: str | None = None,
           severity: str | None = None, deadline_at: datetime | None = None, policy: HazardsConfig | None = None,
           note: str | None = None) -> HazardRow:
    """Name the responsible person, change severity (the deadline follows the policy unless given) or deadline."""
    if h.state == "closed":
        raise IllegalTransition(f"hazard {h.id} is closed: reopen it first")
    before = {"responsible": h.responsible, "severity": h.severity, "deadline_at": _iso(h.deadline_at)}
    if responsible is not None:
        h.responsible = responsible.strip() or None
    if severity is not None and severity != h.severity:
        h.severity = severity
        if deadline_at is None and policy is not None:
            deadline_at = deadline_for(policy, h.category, severity, as_utc(h.opened_at))
    if deadline_at is not None:
        if as_utc(deadline_at) < as_utc(h.opened_at):
            raise LedgerError("the deadline cannot be before the hazard was opened")
        h.deadline_at = deadline_at
    h.updated_at = now
    after = {"responsible": h.responsible, "severity": h.severity, "deadline_at": _iso(h.deadline_at)}
    history(s, h, actor, "assigned", now, note=note, data={"before": before, "after": after})
    audit_step(s, h, actor, "assign", region, before=before, after=after, note=note)
    announce(s, h, "hazard.changed", region, change="assigned", by=actor.username)
    return h


def comment(s: Session, now: datetime, actor: Actor, h: HazardRow, region: str | None, text: str) -> HazardHistoryRow:
    text = text.strip(" \t\r\n")  # the API's pattern: something besides these blanks
    if not text:
        raise LedgerError("a comment needs text")
    row = history(s, h, actor, "comment", now, note=text)
    audit_step(s, h, actor, "comment", region, note=text[:200])
    return row


def supervise(s: Session, now: datetime, actor: Actor, h: HazardRow, region: str | None, supervised_region: str,
              note: str | None = None) -> HazardRow:
    """挂牌督办 by hand: a supervisor lists the hazard for supervision by their own region."""
    if h.state == "closed":
        raise IllegalTransition(f"hazard {h.id} is closed: nothing to supervise")
    h.supervised, h.supervised_region, h.supervisor, h.updated_at = True, supervised_region, actor.username, now
    history(s, h, actor, "supervised", now, note=note, data={"region": supervised_region})
    audit_step(s, h, actor, "supervise", region, after={"supervised_region": supervised_region}, note=note)
    announce(s, h, "hazard.escalated", region, change="supervised", supervised_region=supervised_region,
              supervisor=actor.username)
    return h


def is_overdue(h: HazardRow, now: datetime) -> bool:
    """Past its deadline and not yet handed in (open or rectifying)."""
    return h.state in ("open", "rectifying") and as_utc(h.deadline_at) < now


__all__ = ["Actor", "IllegalTransition", "LedgerError", "NotAllowed", "announce", "assign", "audit_step", "comment",
           "from_confirmed_event", "hazard_data", "history", "is_overdue", "open_hazard", "open_hazard_of", "supervise",
           "take_step"]
