"""The review workflow of flagged events (no web framework here): claims, verdicts, bulk review, queue counts.

- A reviewer **claims** an event: a lease of `CLAIM_S` seconds during which nobody else may claim or review it
  (the second gets a `ReviewConflict`, 409). Claims and verdicts are single conditional UPDATEs, so two clients
  racing for one event cannot both win, on SQLite or PostgreSQL.
- **Verdicts**: `confirmed` (a real hazard: the ledger of issue #16 starts here), `false_alarm` with a reason code,
  `needs_onsite_check` (someone must look on site; the event stays reviewable and is decided later).
- The reviewer is the logged-in user: name and id are taken from the `Principal`, never from the request body.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from vigil.access import Principal
from vigil.api.db import EventRow, as_utc

CLAIM_S = 300
VERDICTS = ("confirmed", "false_alarm", "needs_onsite_check")
REASONS = {
    "misdetection": "the detector saw something that is not there",
    "allowed_object": "the object is allowed there (e.g. a wheelchair parked by rule)",
    "drill_or_test": "a fire drill or a test",
    "camera_fault": "the camera's picture is faulty (glare, dirt, moved)",
    "other": "something else (the note says what)",
}
OPEN_FOR_REVIEW = ("pending", "needs_onsite_check")


class ReviewError(ValueError):
    """A verdict that does not make sense (422)."""


class ReviewConflict(RuntimeError):
    """Somebody else holds the event, or it is decided already (409)."""


def now() -> datetime:
    return datetime.now(timezone.utc)


def _free_for(who: Principal, t: datetime):
    """SQL condition: the event is not held by anybody else at `t`."""
    return or_(EventRow.claimed_by.is_(None), EventRow.claimed_by == who.user_id, EventRow.claimed_until <= t)


def _conflict(s: Session, event_id: int, who: Principal, names: dict[int, str]) -> ReviewConflict:
    row = s.get(EventRow, event_id)
    s.refresh(row)
    if row.review_status not in OPEN_FOR_REVIEW:
        when = as_utc(row.reviewed_at).isoformat() if row.reviewed_at else "?"
        return ReviewConflict(f"event {event_id} was already reviewed as '{row.review_status}' by "
                              f"{row.reviewer or '?'} at {when}")
    holder = names.get(row.claimed_by) or f"user {row.claimed_by}"
    return ReviewConflict(f"event {event_id} is claimed by {holder} until {as_utc(row.claimed_until).isoformat()}")


def claim(s: Session, event_id: int, who: Principal, names: dict[int, str], lease_s: int = CLAIM_S) -> EventRow:
    """Take (or extend) the lease on an event open for review; ReviewConflict when another holds it."""
    t = now()
    res = s.execute(update(EventRow).where(EventRow.id == event_id, EventRow.review_status.in_(OPEN_FOR_REVIEW),
                                           _free_for(who, t))
                    .values(claimed_by=who.user_id, claimed_until=t + timedelta(seconds=lease_s))
                    .execution_options(synchronize_session=False))
    if res.rowcount != 1:
        s.rollback()
        raise _conflict(s, event_id, who, names)
    s.commit()
    row = s.get(EventRow, event_id)
    s.refresh(row)
    return row


def release(s: Session, event_id: int, who: Principal) -> bool:
    """Give the lease back (its holder, or an admin). False when there was nothing to release."""
    cond = [EventRow.id == event_id, EventRow.claimed_by.is_not(None)]
    if who.role != "admin":
        cond.append(EventRow.claimed_by == who.user_id)
    res = s.execute(update(EventRow).where(*cond).values(claimed_by=None, claimed_until=None)
                    .execution_options(synchronize_session=False))
    s.commit()
    return res.rowcount == 1


def check_verdict(verdict: str, reason: str | None, note: str | None) -> None:
    if verdict not in VERDICTS:
        raise ReviewError(f"verdict must be one of {', '.join(VERDICTS)}")
    if verdict == "false_alarm":
        if reason not in REASONS:
            raise ReviewError(f"a false alarm needs a reason: one of {', '.join(REASONS)}")
    elif reason is not None:
        raise ReviewError(f"a reason code goes with false_alarm only, not with {verdict}")


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str | None = None
    note: str | None = None


def decide(s: Session, event_id: int, who: Principal, v: Verdict, names: dict[int, str]) -> EventRow:
    """Record a verdict (the lease, if any, ends with it); ReviewConflict when another holds the event or it
    is decided; ReviewError for a verdict that does not make sense. Does not commit (the caller adds the audit
    row and the notification in the same transaction)."""
    check_verdict(v.verdict, v.reason, v.note)
    t = now()
    res = s.execute(update(EventRow).where(EventRow.id == event_id, EventRow.review_status.in_(OPEN_FOR_REVIEW),
                                           _free_for(who, t))
                    .values(review_status=v.verdict, review_reason=v.reason, review_note=v.note,
                            reviewer=who.username, reviewer_id=who.user_id, reviewed_at=t,
                            claimed_by=None, claimed_until=None)
                    .execution_options(synchronize_session=False))
    if res.rowcount != 1:
        s.rollback()
        raise _conflict(s, event_id, who, names)
    row = s.get(EventRow, event_id)
    s.refresh(row)
    return row


def queue_counts(s: Session, who: Principal, institutions: frozenset[str] | None) -> dict:
    """What waits for review in the caller's scope, and the caller's own share."""
    t = now()
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    base = select(func.count()).select_from(EventRow)
    if institutions is not None:
        base = base.where(EventRow.institution_id.in_(sorted(institutions)))
    held = and_(EventRow.claimed_by.is_not(None), EventRow.claimed_until > t)

    def n(*cond) -> int:
        return int(s.scalar(base.where(*cond)) or 0)

    return {
        "pending": n(EventRow.review_status == "pending"),
        "needs_onsite_check": n(EventRow.review_status == "needs_onsite_check"),
        "claimed": n(EventRow.review_status.in_(OPEN_FOR_REVIEW), held),
        "unclaimed": n(EventRow.review_status.in_(OPEN_FOR_REVIEW), ~held),
        "mine_claimed": n(EventRow.review_status.in_(OPEN_FOR_REVIEW), held, EventRow.claimed_by == who.user_id),
        "mine_reviewed_today": n(EventRow.reviewer_id == who.user_id, EventRow.reviewed_at >= day),
    }
