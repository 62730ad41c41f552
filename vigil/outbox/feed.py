"""Reading the outbox for people (no web framework here): the scoped event stream, dead letters, channel state.

`StreamHub` wakes the server-sent-events streams (coroutines in the API's event loop) when the dispatcher has
published rows; each stream then reads the published rows after its position, within the caller's scope. A
stream's position is a `seq`; its clients see delivery ids (`id:` lines), and a Last-Event-ID is turned back into
its `seq`, so a reconnecting client resumes exactly after the last notification it saw.
"""
from __future__ import annotations

import asyncio
import threading
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from vigil.api.db import as_utc, utcnow
from vigil.api.db_outbox import DeadLetterRow, OutboxChannelRow, OutboxRow
from vigil.outbox.messages import Notification


class StreamHub:
    def __init__(self) -> None:
        self._subs: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._lock = threading.Lock()
        self.last_seq = 0

    def subscribe(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Event]:
        """Call inside the stream's coroutine."""
        sub = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub) -> None:
        with self._lock:
            self._subs.discard(sub)

    def notify(self, seq: int) -> None:
        """From the dispatcher's thread: rows up to `seq` are published."""
        self.last_seq = max(self.last_seq, seq)
        with self._lock:
            subs = list(self._subs)
        for loop, ev in subs:
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:  # that loop is closed: its stream is gone
                self.unsubscribe((loop, ev))

    @property
    def subscribers(self) -> int:
        return len(self._subs)


def head_seq(s: Session) -> int:
    return s.scalar(select(func.max(OutboxRow.seq))) or 0


def seq_of(s: Session, delivery_id: str) -> int | None:
    """The position of a published notification (None: unknown, pruned or not yet published)."""
    return s.scalar(select(OutboxRow.seq).where(OutboxRow.delivery_id == delivery_id))


def scoped_after(s: Session, after_seq: int, institutions: frozenset[str] | None, limit: int = 200) -> tuple[list[Notification], int]:
    """Published notifications after `after_seq` that the scope may see (None: everything), oldest first, and
    the position reached (past rows outside the scope too)."""
    rows = s.scalars(select(OutboxRow).where(OutboxRow.seq > after_seq).order_by(OutboxRow.seq).limit(limit)).all()
    if not rows:
        return [], after_seq
    seen = [Notification.of(r) for r in rows
            if institutions is None or (r.institution_id is not None and r.institution_id in institutions)]
    return seen, rows[-1].seq


def sse_message(n: Notification) -> str:
    """One server-sent event: `id:` the delivery id, `event:` the kind, `data:` the JSON envelope (one line)."""
    return f"id: {n.delivery_id}\nevent: {n.kind}\ndata: {n.body().decode()}\n\n"


# -- dead letters and channels (admins) ------------------------------------------------------------------
DEAD_STATES = ("dead", "redeliver", "redelivered")


def dead_letter_view(d: DeadLetterRow, o: OutboxRow) -> dict:
    return {"id": d.id, "channel": d.channel, "delivery_id": o.delivery_id, "kind": o.kind,
            "institution_id": o.institution_id, "event_id": o.event_id, "attempts": d.attempts,
            "last_error": d.last_error, "status": d.status, "created_at": as_utc(d.created_at),
            "updated_at": as_utc(d.updated_at), "redelivered_at": as_utc(d.redelivered_at),
            "requested_by": d.requested_by, "notification_created_at": as_utc(o.created_at)}


def dead_letters(s: Session, status: str | None, channel: str | None, limit: int, offset: int) -> tuple[list[dict], int]:
    q = select(DeadLetterRow, OutboxRow).join(OutboxRow, OutboxRow.id == DeadLetterRow.outbox_id)
    if status is not None:
        q = q.where(DeadLetterRow.status == status)
    if channel is not None:
        q = q.where(DeadLetterRow.channel == channel)
    total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = s.execute(q.order_by(DeadLetterRow.id.desc()).limit(limit).offset(offset)).all()
    return [dead_letter_view(d, o) for d, o in rows], total


class RedeliverConflict(RuntimeError):
    """The dead letter was redelivered already (409)."""


def request_redelivery(s: Session, dead_id: int, username: str) -> dict | None:
    """Mark a dead letter for one more try by the dispatcher (None: no such dead letter). Does not commit."""
    d = s.get(DeadLetterRow, dead_id)
    if d is None:
        return None
    if d.status == "redelivered":
        raise RedeliverConflict(f"dead letter {dead_id} was redelivered at {as_utc(d.redelivered_at).isoformat()}")
    d.status, d.requested_by, d.updated_at = "redeliver", username, utcnow()
    s.flush()
    return dead_letter_view(d, s.get(OutboxRow, d.outbox_id))


def channel_views(s: Session, names: list[str]) -> list[dict]:
    """The configured channels' progress: position, waiting rows, failed tries of the head row, dead letters."""
    head = head_seq(s)
    unpublished = s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.seq.is_(None))) or 0
    out = []
    for name in names:
        st = s.get(OutboxChannelRow, name)
        open_dead = s.scalar(select(func.count()).select_from(DeadLetterRow).where(
            DeadLetterRow.channel == name, or_(DeadLetterRow.status == "dead", DeadLetterRow.status == "redeliver"))) or 0
        last = st.last_seq if st else head
        out.append({"name": name, "last_seq": last, "waiting": max(0, head - last) + unpublished,
                    "attempts": st.attempts if st else 0, "next_attempt_at": as_utc(st.next_attempt_at) if st else None,
                    "last_error": st.last_error if st else None, "delivered": st.delivered if st else 0,
                    "dead_letters": open_dead, "last_delivered_at": as_utc(st.last_delivered_at) if st else None})
    return out


def age_s(dt: datetime | None) -> float | None:
    return None if dt is None else (utcnow() - as_utc(dt)).total_seconds()
